package authv2

import (
	"errors"
	"strings"
	"unicode"

	"github.com/go-playground/validator/v10"

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
	if strings.IndexFunc(in.DisplayName, unicode.IsControl) >= 0 {
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

// email checks one email address.
func (iv *inputValidator) email(email string) error {
	if err := iv.v.Var(email, "required,max=254,email"); err != nil || strings.TrimSpace(email) != email {
		return &ValidationError{Fields: []FieldError{{Field: "Email", Reason: "must be a valid email address"}}}
	}
	return nil
}
