package authv2_test

import (
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/authv2/authv2"
)

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
