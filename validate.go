package authv2

import (
	"cmp"
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/go-playground/validator/v10"

	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/user"
)

// inputValidator checks flow inputs. The struct tags live here rather than
// on the public input types so that the rules (which depend on Config)
// stay in one place.
type inputValidator struct {
	v                *validator.Validate
	minPass, maxPass int
}

func newInputValidator(c Config) *inputValidator {
	return &inputValidator{v: validator.New(validator.WithRequiredStructEnabled()), minPass: c.PasswordMinLength, maxPass: c.PasswordMaxLength}
}

// registerRules mirrors RegisterInput with validation tags. validator
// counts string lengths in code points, as NIST asks.
type registerRules struct {
	Email       string `validate:"required,max=254,email"`
	DisplayName string `validate:"max=100"`
	TenantID    string `validate:"max=128"`
}

var reasons = map[string]string{
	"required": "is required",
	"email":    "must be a valid email address",
	"max":      "is too long",
}

func (iv *inputValidator) register(in RegisterInput) error {
	var fields []FieldError
	err := iv.v.Struct(registerRules{Email: in.Email, DisplayName: in.DisplayName, TenantID: in.TenantID})
	var verrs validator.ValidationErrors
	if errors.As(err, &verrs) {
		for _, fe := range verrs {
			reason, ok := reasons[fe.Tag()]
			if !ok {
				reason = "is invalid"
			}
			fields = append(fields, FieldError{Field: fe.Field(), Reason: reason})
		}
	} else if err != nil {
		return err
	}
	if strings.TrimSpace(in.Email) != in.Email && len(fields) == 0 {
		fields = append(fields, FieldError{Field: "Email", Reason: "must not start or end with spaces"})
	}
	for _, f := range []struct{ name, value string }{{"Email", in.Email}, {"DisplayName", in.DisplayName}, {"TenantID", in.TenantID}} {
		if reason := textProblem(f.value); reason != "" && !hasField(fields, f.name) {
			fields = append(fields, FieldError{Field: f.name, Reason: reason})
		}
	}
	fields = append(fields, checkAttributes("Attributes", in.Attributes)...)
	if strings.IndexFunc(in.DisplayName, unicode.IsControl) >= 0 && !hasField(fields, "DisplayName") {
		fields = append(fields, FieldError{Field: "DisplayName", Reason: "must not contain control characters"})
	}
	if reason := user.CheckPassword(in.Password, iv.minPass, iv.maxPass); reason != "" {
		fields = append(fields, FieldError{Field: "Password", Reason: reason})
	}
	if len(fields) > 0 {
		return &ValidationError{Fields: fields}
	}
	return nil
}

func hasField(fields []FieldError, name string) bool {
	for _, f := range fields {
		if f.Field == name {
			return true
		}
	}
	return false
}

// email checks one email address.
func (iv *inputValidator) email(email string) error {
	if err := iv.v.Var(email, "required,max=254,email"); err != nil || strings.TrimSpace(email) != email || textProblem(email) != "" {
		return &ValidationError{Fields: []FieldError{{Field: "Email", Reason: "must be a valid email address"}}}
	}
	return nil
}

// textProblem says why s cannot be stored as text, or "". SQL databases
// refuse NUL bytes and invalid UTF-8 (SQLSTATE class 22); refusing them
// here makes them bad input on every store, before any store is asked.
func textProblem(s string) string {
	switch {
	case !utf8.ValidString(s):
		return "must be valid UTF-8"
	case strings.IndexByte(s, 0) >= 0:
		return "must not contain NUL bytes"
	}
	return ""
}

// checkText checks caller text given as field name, value pairs, and
// returns a *ValidationError naming every field that cannot be stored.
func checkText(pairs ...string) error {
	var fields []FieldError
	for i := 0; i+1 < len(pairs); i += 2 {
		if reason := textProblem(pairs[i+1]); reason != "" {
			fields = append(fields, FieldError{Field: pairs[i], Reason: reason})
		}
	}
	if len(fields) > 0 {
		return &ValidationError{Fields: fields}
	}
	return nil
}

// checkAttributes checks attribute names and values as checkText does.
func checkAttributes(field string, attrs map[string]string) []FieldError {
	var fields []FieldError
	for k, v := range attrs {
		if reason := cmp.Or(textProblem(k), textProblem(v)); reason != "" {
			fields = append(fields, FieldError{Field: field, Reason: reason})
			break
		}
	}
	return fields
}

// checkScope refuses a scope that is not a path of kind:value segments
// (permission.ValidateScope). The *ValidationError it returns also
// matches permission.ErrInvalidScope.
func checkScope(field, scope string) error {
	err := permission.ValidateScope(scope)
	if err == nil {
		return nil
	}
	reason := "must be a path of kind:value segments"
	var se *permission.SyntaxError
	if errors.As(err, &se) {
		reason = se.Reason
	}
	return &ValidationError{Fields: []FieldError{{Field: field, Reason: reason}}, Err: err}
}
