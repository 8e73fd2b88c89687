package authv2_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/user"
)

func TestASVS_6_2_4_CommonPasswordsRejectedEverywhere(t *testing.T) {
	n := newCaptureNotifier()
	e := newEnv(t, authv2.WithNotifier(n))
	_, err := e.m.Register(t.Context(), authv2.RegisterInput{Email: "c@example.com", Password: "Football1"})
	var ve *authv2.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "is too common", ve.Field("Password"))

	e.register(t, "change2@example.com")
	res := e.login(t, "change2@example.com")
	p, err := e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	require.NoError(t, err)
	_, err = e.m.ChangePassword(t.Context(), p, goodPassword, "qwertyuiop")
	require.ErrorAs(t, err, &ve, "on change")
	require.NoError(t, e.m.RequestPasswordReset(t.Context(), "change2@example.com"))
	tok := n.wait(t, n.resets, "change2@example.com")
	require.ErrorAs(t, e.m.ResetPassword(t.Context(), tok, "iloveyou1"), &ve, "on reset")
}

func TestASVS_6_2_11_ContextWordsRejected(t *testing.T) {
	cfg := authv2test.Config()
	cfg.PasswordWords = []string{"acmecorp"}
	e := newEnv(t, authv2.WithConfig(cfg))
	for _, c := range []struct{ email, name, password, reason string }{
		{"jonathan@example.com", "", "my jonathan secret", "must not contain your email address"},
		{"x1@example.com", "Margaret Hamilton", "hamilton rocks 42", "must not contain your name"},
		{"x2@example.com", "", "ACMECORP forever!", "must not contain words specific to this service"},
	} {
		_, err := e.m.Register(t.Context(), authv2.RegisterInput{Email: c.email, DisplayName: c.name, Password: c.password})
		var ve *authv2.ValidationError
		require.ErrorAs(t, err, &ve, c.password)
		assert.Equal(t, c.reason, ve.Field("Password"))
	}
}

func TestPasswordCheckerFailureFailsClosed(t *testing.T) {
	down := errors.New("breach service unreachable")
	e := newEnv(t, authv2.WithPasswordChecker(user.PasswordCheckerFunc(func(context.Context, string, user.PasswordContext) (string, error) {
		return "", down
	})))
	_, err := e.m.Register(t.Context(), authv2.RegisterInput{Email: "fc@example.com", Password: goodPassword})
	assert.ErrorIs(t, err, down)
	_, err = e.stores.Users.GetByEmail(t.Context(), "fc@example.com")
	assert.Error(t, err, "nothing was created")
}
