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
	v := validator.New(validator.WithRequiredStructEnabled())
	// Text a store can keep (see textProblem), and single-line text.
	_ = v.RegisterValidation("storable", func(fl validator.FieldLevel) bool { return textProblem(fl.Field().String()) == "" })
	_ = v.RegisterValidation("nocontrol", func(fl validator.FieldLevel) bool {
		return strings.IndexFunc(fl.Field().String(), unicode.IsControl) < 0
	})
	_ = v.RegisterValidation("trimmed", func(fl validator.FieldLevel) bool {
		return strings.TrimSpace(fl.Field().String()) == fl.Field().String()
	})
	return &inputValidator{v: v, minPass: c.PasswordMinLength, maxPass: c.PasswordMaxLength}
}

// The shapes of the Manager's inputs, as validator tags on mirror structs
// (validator counts lengths in code points, as NIST asks). The grammars of
// scopes, role names and permissions live in package permission, which the
// engine needs on every check without a validator.
type registerRules struct {
	Email       string `validate:"required,max=254,storable,trimmed,email"`
	DisplayName string `validate:"max=100,storable,nocontrol"`
	TenantID    string `validate:"max=128,storable"`
}

type tenantRules struct {
	ID   string `validate:"required,max=128,storable"`
	Name string `validate:"max=200,storable"`
}

var reasons = map[string]string{
	"required":  "is required",
	"email":     "must be a valid email address",
	"max":       "is too long",
	"storable":  "must be valid UTF-8 without NUL bytes",
	"nocontrol": "must not contain control characters",
	"trimmed":   "must not start or end with spaces",
}

// check validates rules, a struct of the mirror types above, and lists
// every rejected field (the first rule each one breaks).
func (iv *inputValidator) check(rules any) []FieldError {
	var fields []FieldError
	var verrs validator.ValidationErrors
	if errors.As(iv.v.Struct(rules), &verrs) {
		for _, fe := range verrs {
			reason, ok := reasons[fe.Tag()]
			if !ok {
				reason = "is invalid"
			}
			fields = append(fields, FieldError{Field: fe.Field(), Reason: reason})
		}
	}
	return fields
}

// tenant checks the ID and name of a new tenant.
func (iv *inputValidator) tenant(id, name string) error {
	if fields := iv.check(tenantRules{ID: id, Name: name}); len(fields) > 0 {
		return &ValidationError{Fields: fields}
	}
	return nil
}

func (iv *inputValidator) register(in RegisterInput) error {
	fields := iv.check(registerRules{Email: in.Email, DisplayName: in.DisplayName, TenantID: in.TenantID})
	fields = append(fields, checkAttributes("Attributes", in.Attributes)...)
	if reason := user.CheckPassword(in.Password, iv.minPass, iv.maxPass); reason != "" {
		fields = append(fields, FieldError{Field: "Password", Reason: reason})
	}
	if len(fields) > 0 {
		return &ValidationError{Fields: fields}
	}
	return nil
}

// email checks one email address.
func (iv *inputValidator) email(email string) error {
	if err := iv.v.Var(email, "required,max=254,storable,trimmed,email"); err != nil {
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
