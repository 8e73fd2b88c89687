package user

import (
	"bufio"
	"context"
	_ "embed"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// PasswordContext is what a PasswordChecker may know about the account whose
// password is being chosen, so it can reject passwords built from it.
type PasswordContext struct {
	Email       string
	DisplayName string
	// Words are further context-specific words the application forbids,
	// such as the product, company or tenant name (ASVS 6.2.11).
	Words []string
}

// PasswordChecker decides whether a candidate password may be used. It runs
// on registration, password change and reset, after the length policy.
//
// A non-empty reason rejects the password; it is written for the user, e.g.
// "is too common", and fits a validation error for the password field. A
// non-nil error means the checker itself failed (for instance a breached
// password service is unreachable); the caller decides whether that fails
// closed.
type PasswordChecker interface {
	CheckPassword(ctx context.Context, password string, u PasswordContext) (reason string, err error)
}

// PasswordCheckerFunc adapts a function to PasswordChecker.
type PasswordCheckerFunc func(ctx context.Context, password string, u PasswordContext) (string, error)

// CheckPassword calls f.
func (f PasswordCheckerFunc) CheckPassword(ctx context.Context, password string, u PasswordContext) (string, error) {
	return f(ctx, password, u)
}

// CombineCheckers runs checkers in order and returns the first rejection or
// the first error; later checkers are not consulted, so put cheap local ones
// before remote ones. Nil checkers are skipped.
func CombineCheckers(checkers ...PasswordChecker) PasswordChecker {
	cs := make([]PasswordChecker, 0, len(checkers))
	for _, c := range checkers {
		if c != nil {
			cs = append(cs, c)
		}
	}
	return PasswordCheckerFunc(func(ctx context.Context, password string, u PasswordContext) (string, error) {
		for _, c := range cs {
			if reason, err := c.CheckPassword(ctx, password, u); err != nil || reason != "" {
				return reason, err
			}
		}
		return "", nil
	})
}

// Rejection reasons, shown to the user.
const (
	reasonCommon  = "is too common"
	reasonEmail   = "must not contain your email address"
	reasonName    = "must not contain your name"
	reasonContext = "must not contain words specific to this service"
)

//go:embed blocklist/common-passwords.txt
var commonPasswordsText string

// commonPasswordSet is built on first use rather than at init, so programs
// that never check passwords don't pay for a 10,000-entry map. It is never
// written after construction, so sharing it is safe.
var commonPasswordSet = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, 10000)
	sc := bufio.NewScanner(strings.NewReader(commonPasswordsText))
	for sc.Scan() {
		// Tolerate a list saved with CRLF line endings.
		p := strings.ToLower(strings.TrimRight(sc.Text(), "\r"))
		if p != "" {
			set[p] = struct{}{}
		}
	}
	return set
})

// CommonPasswords rejects the 10,000 most common passwords (SecLists,
// MIT licensed; see user/blocklist), as ASVS 6.2.4 and NIST SP 800-63B
// require.
//
// The match is the whole password, compared after Unicode lower-casing
// only: "Password" is rejected like "password", but "password " (with a
// space) and "mypassword" are not, because the password is otherwise taken
// exactly as typed (spaces are significant, ASVS 6.2.5). Most entries are
// shorter than the minimum length and are rejected earlier anyway; the list
// is applied to candidates of every length.
func CommonPasswords() PasswordChecker {
	return PasswordCheckerFunc(func(_ context.Context, password string, _ PasswordContext) (string, error) {
		if _, ok := commonPasswordSet()[strings.ToLower(password)]; ok {
			return reasonCommon, nil
		}
		return "", nil
	})
}

// Minimum lengths, in code points, of context words that are looked for.
// Shorter fragments ("al", "bob") occur in too many good passwords by
// accident to be worth rejecting.
const (
	minLocalPartLen = 3 // whole email local part, and extra Words
	minWordLen      = 4 // single words of the display name or local part
)

// ContextWords rejects passwords that contain, case-insensitively, the
// user's own details (ASVS 6.2.11):
//   - the email's local part ("alice.smith" of alice.smith+shop@example.com,
//     with or without the "+tag") when it is at least 3 characters, or any of
//     its words of at least 4 characters ("alice", "smith");
//   - any word of the display name of at least 4 characters;
//   - any of PasswordContext.Words of at least 3 characters.
func ContextWords() PasswordChecker {
	return PasswordCheckerFunc(func(_ context.Context, password string, u PasswordContext) (string, error) {
		pw := strings.ToLower(password)
		if containsAny(pw, emailWords(u.Email)) {
			return reasonEmail, nil
		}
		if containsAny(pw, words(u.DisplayName, minWordLen)) {
			return reasonName, nil
		}
		for _, w := range u.Words {
			if w = strings.ToLower(strings.TrimSpace(w)); utf8.RuneCountInString(w) >= minLocalPartLen && strings.Contains(pw, w) {
				return reasonContext, nil
			}
		}
		return "", nil
	})
}

// emailWords returns the lower-cased fragments of an address's local part
// that a password must not contain.
func emailWords(email string) []string {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return nil
	}
	local := strings.ToLower(email[:at])
	// The "+tag" of sub-addressing is left out of the word list: it is often
	// a shop or site name rather than something about the user.
	base, _, _ := strings.Cut(local, "+")
	var out []string
	for _, l := range []string{local, base} {
		if utf8.RuneCountInString(l) >= minLocalPartLen {
			out = append(out, l)
		}
	}
	return append(out, words(base, minWordLen)...)
}

// words splits s into lower-cased runs of letters and digits of at least
// minLen code points.
func words(s string, minLen int) []string {
	var out []string
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r)
	}) {
		if utf8.RuneCountInString(w) >= minLen {
			out = append(out, w)
		}
	}
	return out
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
