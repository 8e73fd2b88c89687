package doccheck

// The Go blocks of docs/GUIDE.md "Adding MFA".

import (
	"context"
	"net/http"
	"time"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/mfa/totp"
	"github.com/authv2/authv2/mfa/webauthn"
	"github.com/authv2/authv2/store/memory"
)

// guideMFASetup is the guide's set-up of MFA; keys come from the
// application's secret store.
func guideMFASetup(totpKey, recoveryKey []byte) (*authv2.Manager, error) {
	factors, challenges, guard := memory.NewMFAStore(), memory.NewChallengeStore(), memory.NewReplayGuard()
	ring, err := mfa.NewKeyRing("2026-01", map[string][]byte{"2026-01": totpKey}) // 32 bytes; add keys to rotate
	if err != nil {
		return nil, err
	}
	tp, err := totp.New(totp.Config{Issuer: "Acme"}, ring, factors, guard)
	if err != nil {
		return nil, err
	}
	rp, err := webauthn.New(webauthn.Config{RPID: "acme.example", RPDisplayName: "Acme",
		RPOrigins: []string{"https://app.acme.example"}}, factors, challenges)
	if err != nil {
		return nil, err
	}
	cfg := authv2.DefaultConfig()
	// Refunds need a second factor proven within the last ten minutes.
	cfg.MFA.StepUp = map[string]authv2.Assurance{"orders:refund": {Level: mfa.AAL2, MaxAge: 10 * time.Minute}}
	return authv2.New(authv2.WithConfig(cfg), authv2.WithMFA(authv2.MFA{
		Store: factors, Challenges: challenges, TOTP: tp, WebAuthn: rp.JSON(), RecoveryKey: recoveryKey,
	}))
}

// guideMFALogin is the guide's two-step login.
func guideMFALogin(ctx context.Context, m *authv2.Manager, w http.ResponseWriter, r *http.Request, email, pw, code string) error {
	client, _ := authv2.ClientFrom(r.Context())
	res, err := m.Login(ctx, authv2.LoginInput{Email: email, Password: pw, Client: client})
	if err != nil {
		return err
	}
	if res.MFA != nil {
		// No session yet: ask for one of res.MFA.Factors, then finish with
		// the pending token (5 minutes, single use, never a session).
		res, err = m.CompleteLogin(ctx, authv2.CompleteLoginInput{PendingToken: res.MFA.Token,
			SecondFactor: authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: code}, Client: client})
		if err != nil {
			return err // ErrInvalidSecondFactor, ErrInvalidToken (expired, used), *ThrottledError
		}
	}
	return m.SetSessionCookie(w, r, res) // AAL2 when a factor was proven
}

var (
	_ = guideMFASetup
	_ = guideMFALogin
)
