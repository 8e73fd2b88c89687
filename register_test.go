package authv2_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/user"
)

func TestRegisterValidates(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name  string
		in    authv2.RegisterInput
		field string
	}{
		{"bad email", authv2.RegisterInput{Email: "not-an-email", Password: goodPassword}, "Email"},
		{"missing email", authv2.RegisterInput{Password: goodPassword}, "Email"},
		{"seven code points", authv2.RegisterInput{Email: "a@example.com", Password: "ééééééé"}, "Password"},
		{"129 code points", authv2.RegisterInput{Email: "a@example.com", Password: strings.Repeat("ü", 129)}, "Password"},
		{"control char in name", authv2.RegisterInput{Email: "a@example.com", Password: goodPassword, DisplayName: "a\nb"}, "DisplayName"},
		{"long name", authv2.RegisterInput{Email: "a@example.com", Password: goodPassword, DisplayName: strings.Repeat("x", 101)}, "DisplayName"},
		{"unknown tenant", authv2.RegisterInput{Email: "a@example.com", Password: goodPassword, TenantID: "nope"}, "TenantID"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.m.Register(t.Context(), c.in)
			require.ErrorIs(t, err, authv2.ErrValidation)
			var ve *authv2.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.NotEmpty(t, ve.Field(c.field), "want field %s in %v", c.field, ve.Fields)
		})
	}
	_, err := e.m.Register(t.Context(), authv2.RegisterInput{Email: "ok@example.com", Password: "éééééééé"})
	assert.NoError(t, err, "eight code points, spaces and Unicode are fine")
}

func TestRegisterDuplicateEmail(t *testing.T) {
	e := newEnv(t)
	e.register(t, "dup@example.com")
	_, err := e.m.Register(t.Context(), authv2.RegisterInput{Email: "DUP@example.com", Password: goodPassword})
	assert.ErrorIs(t, err, authv2.ErrUserExists)
}

func TestRegisterIntoTenant(t *testing.T) {
	e := newEnv(t)
	_, err := e.m.CreateTenant(t.Context(), "acme", "Acme")
	require.NoError(t, err)
	_, err = e.m.Register(t.Context(), authv2.RegisterInput{Email: "a@acme.test", Password: goodPassword, TenantID: "acme"})
	require.NoError(t, err)
	res := e.login(t, "a@acme.test")
	assert.Equal(t, "acme", res.Session.TenantID, "login lands in the default tenant")
	p, err := e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	require.NoError(t, err)
	assert.Equal(t, "acme", p.TenantID)
}

// FuzzRegister feeds arbitrary registration input: it must never panic,
// must fail only with a validation error or ErrUserExists, and an accepted
// password must log in byte for byte.
func FuzzRegister(f *testing.F) {
	f.Add("ada@example.com", "correct horse battery staple", "Ada")
	f.Add("bad", "short", "")
	f.Add("a@b.c", "ééééééé\x00", "line\nbreak")
	f.Add("ADA@EXAMPLE.COM", "  spaces  count  ", "Ünïcødé 🦊")
	f.Add("x@example.com", "\xff\xfe invalid utf8 bytes", "name")
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, email, password, name string) {
		u, err := e.m.Register(t.Context(), authv2.RegisterInput{Email: email, Password: password, DisplayName: name})
		if err != nil {
			var ve *authv2.ValidationError
			if !errors.As(err, &ve) && !errors.Is(err, authv2.ErrUserExists) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return
		}
		if n := utf8.RuneCountInString(password); n < 8 || n > 128 || !utf8.ValidString(password) {
			t.Fatalf("accepted a password of %d code points (valid UTF-8: %v)", n, utf8.ValidString(password))
		}
		res, err := e.m.Login(t.Context(), authv2.LoginInput{Email: email, Password: password})
		if err != nil {
			t.Fatalf("registered %q cannot log in: %v", u.Email, err)
		}
		if res.User.ID != u.ID {
			t.Fatalf("logged in as %s, registered %s", res.User.ID, u.ID)
		}
	})
}

// existsNotifier also hears of registrations with a taken address.
type existsNotifier struct {
	*captureNotifier
	exists chan string
}

func (n *existsNotifier) AccountExists(_ context.Context, u *user.User) error {
	n.exists <- u.Email
	return nil
}

// TestEnumerationSafeRegistration: with the option on, registering a
// taken address answers exactly as a new one does, and the owner of the
// address hears of it through the Notifier; the new address gets its
// verification token.
func TestEnumerationSafeRegistration(t *testing.T) {
	n := &existsNotifier{captureNotifier: newCaptureNotifier(), exists: make(chan string, 1)}
	cfg := authv2test.Config()
	cfg.RequireEmailVerification = true
	cfg.EnumerationSafeRegistration = true
	e := newEnv(t, authv2.WithConfig(cfg), authv2.WithNotifier(n))
	owner, err := e.m.Register(t.Context(), authv2.RegisterInput{Email: "owner@example.com", Password: goodPassword})
	require.NoError(t, err)
	assert.Nil(t, owner, "the answer carries nothing that differs between new and taken addresses")
	_, err = e.m.VerifyEmail(t.Context(), n.wait(t, n.verify, "owner@example.com"))
	require.NoError(t, err)

	again, err := e.m.Register(t.Context(), authv2.RegisterInput{Email: "OWNER@example.com", Password: "another fine passphrase"})
	require.NoError(t, err, "a taken address answers like a new one")
	assert.Nil(t, again)
	assert.Equal(t, "owner@example.com", <-n.exists, "the owner is told")
	e.login(t, "owner@example.com") // the owner's password is untouched
	require.ErrorIs(t, loginAs(e, "owner@example.com", "another fine passphrase", ""), authv2.ErrInvalidCredentials)

	_, err = e.m.Register(t.Context(), authv2.RegisterInput{Email: "bad address", Password: goodPassword})
	require.ErrorIs(t, err, authv2.ErrValidation, "input errors still say what is wrong")
}

// TestEnumerationSafeRegistrationNeedsVerificationAndNotifier: the option
// is refused where it could not hold (an active account answers a login
// at once; nobody could tell the owner).
func TestEnumerationSafeRegistrationNeedsVerificationAndNotifier(t *testing.T) {
	cfg := authv2.DefaultConfig()
	cfg.EnumerationSafeRegistration = true
	_, err := authv2.New(authv2.WithConfig(cfg), authv2.WithNotifier(newCaptureNotifier()))
	require.ErrorIs(t, err, authv2.ErrInvalidConfig, "without RequireEmailVerification")
	cfg.RequireEmailVerification = true
	_, err = authv2.New(authv2.WithConfig(cfg), authv2.WithNotifier(newCaptureNotifier()))
	require.ErrorIs(t, err, authv2.ErrInvalidConfig, "with a Notifier that cannot tell the owner")
}
