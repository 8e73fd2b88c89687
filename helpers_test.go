package authv2_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/authv2/authv2/store/memory"
	"github.com/authv2/authv2/user"
)

func memoryUsers() user.Store { return memory.NewUserStore() }

func bcryptHash(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), 10)
	require.NoError(t, err)
	return string(h)
}

// splitToken returns a token's session ID and secret parts.
func splitToken(tok string) (id, secret string) { return tok[4:36], tok[36:79] }

// forge builds a well-formed token from a session ID and another token's secret.
func forge(t *testing.T, sessionID, other string) string {
	t.Helper()
	_, secret := splitToken(other)
	body := "av2_" + sessionID + secret
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.ChecksumIEEE([]byte(body)))
	return body + base64.RawURLEncoding.EncodeToString(sum[:])
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// captureNotifier records the tokens authv2 asks the application to send.
type captureNotifier struct {
	mu     sync.Mutex
	resets map[string]string // email -> token
	verify map[string]string
}

func newCaptureNotifier() *captureNotifier {
	return &captureNotifier{resets: map[string]string{}, verify: map[string]string{}}
}

func (c *captureNotifier) PasswordReset(_ context.Context, u *user.User, tok string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resets[u.Email] = tok
	return nil
}

func (c *captureNotifier) EmailVerification(_ context.Context, u *user.User, tok string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.verify[u.Email] = tok
	return nil
}

// wait returns the token sent to email, waiting for the background notifier.
func (c *captureNotifier) wait(t *testing.T, m map[string]string, email string) string {
	t.Helper()
	var tok string
	require.Eventually(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		tok = m[email]
		return tok != ""
	}, 5*time.Second, time.Millisecond)
	return tok
}
