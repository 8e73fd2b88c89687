package user

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// CheckPassword applies the length policy of NIST SP 800-63B: between min
// and max Unicode code points, any characters including spaces, no
// composition rules. It returns a reason safe to show, or "".
func CheckPassword(password string, minLen, maxLen int) string {
	if !utf8.ValidString(password) {
		return "must be valid UTF-8 text"
	}
	if strings.ContainsRune(password, 0) {
		return "must not contain NUL characters"
	}
	n := utf8.RuneCountInString(password)
	switch {
	case n < minLen:
		return fmt.Sprintf("must be at least %d characters", minLen)
	case n > maxLen || len(password) > MaxPasswordBytes:
		return fmt.Sprintf("must be at most %d characters", maxLen)
	}
	return ""
}
