package authv2_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/session"
)

func TestSessionTimeoutsOption(t *testing.T) {
	cfg := authv2test.Config()
	cfg.Session.IdleTimeout = 5 * time.Minute
	cfg.Session.AbsoluteTimeout = time.Hour
	e := newEnv(t, authv2.WithConfig(cfg))
	e.register(t, "short@example.com")
	res := e.login(t, "short@example.com")
	e.clock.Advance(5*time.Minute + time.Second)
	_, err := e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	assert.ErrorIs(t, err, authv2.ErrSessionExpired)
}
