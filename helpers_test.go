package authv2_test

import (
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"log/slog"
	"testing"

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
