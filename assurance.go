package authv2

import (
	"fmt"
	"time"

	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/permission"
)

// Assurance is how strong, and how recent, a session's authentication
// must be for an action: Level (mfa.AAL1, mfa.AAL2), proven within MaxAge
// (0: at any time in the session). For AAL2 the freshness is that of a
// second factor (mfa.Proofs.Satisfies): the user is asked for the second
// factor again, not the password.
type Assurance struct {
	Level  mfa.AAL
	MaxAge time.Duration
}

// StepUpError is the denial of an action whose Assurance the principal's
// session does not reach: the application prompts for a second factor
// (StepUp) and retries. errors.Is(err, ErrStepUpRequired) is true for it.
type StepUpError struct {
	// Need is what the action demands.
	Need Assurance
	// Have is the session's level now (AALNone for no principal).
	Have mfa.AAL
	// Stale is true when the session reaches the level but not recently
	// enough.
	Stale bool
}

func (e *StepUpError) Error() string {
	if e.Stale {
		return fmt.Sprintf("authv2: step-up required: %s proven within %s", e.Need.Level, e.Need.MaxAge)
	}
	return fmt.Sprintf("authv2: step-up required: %s needed, session is %s", e.Need.Level, e.Have)
}

// Is makes errors.Is(err, ErrStepUpRequired) true.
func (e *StepUpError) Is(target error) bool { return target == ErrStepUpRequired }

// reasonStepUp is the decision reason of an allow turned down by
// Config.MFA.StepUp.
const reasonStepUp permission.Reason = "denied: step-up authentication required"

// CheckAssurance returns a *StepUpError unless the principal's session
// reaches need now. A session from before sessions kept their proofs
// counts as AAL1 proven at its AuthenticatedAt.
func (m *Manager) CheckAssurance(p *Principal, need Assurance) error {
	if need.Level <= mfa.AALNone {
		return nil
	}
	if p == nil {
		return &StepUpError{Need: need}
	}
	ps := p.proofs()
	now := m.clock.Now()
	if ps.Satisfies(need.Level, need.MaxAge, now) {
		return nil
	}
	have := ps.Level()
	return &StepUpError{Need: need, Have: have, Stale: have >= need.Level}
}

// proofs are the principal's session proofs; a session from before they
// were kept stands for a password proven at AuthenticatedAt.
func (p *Principal) proofs() mfa.Proofs {
	if p.Session != nil && len(p.Session.Proofs) > 0 {
		return p.Session.Proofs
	}
	if p.AuthLevel <= 0 {
		return nil
	}
	return mfa.Proofs{{Factor: mfa.FactorPassword, At: p.AuthenticatedAt}}
}

// refine applies to the engine's decision what the principal adds on
// top, in one order for single and batched checks: an API key's patterns
// first (a key that does not name the permission is denied outright),
// then the assurance Config.MFA.StepUp demands of an allow. The error is
// the *StepUpError of an allow that became a step-up denial.
func (m *Manager) refine(p *Principal, action string, res *permission.Resource, d *permission.Decision) error {
	narrowToKey(p, action, res, d)
	if !d.Allowed || len(m.cfg.MFA.StepUp) == 0 {
		return nil
	}
	return m.stepUpFor(p, res, action, d)
}

// stepUpFor applies Config.MFA.StepUp to an allowed decision: when the
// permission needs more than the principal's session has, the decision
// becomes a deny and the error says what is missing.
func (m *Manager) stepUpFor(p *Principal, res *permission.Resource, action string, d *permission.Decision) error {
	need, ok := m.cfg.MFA.StepUp[res.Type+":"+action]
	if !ok {
		return nil
	}
	err := m.CheckAssurance(p, need)
	if err != nil {
		d.Allowed, d.Effect, d.Reason = false, permission.Deny, reasonStepUp
	}
	return err
}

// validateStepUp checks Config.MFA.StepUp.
func validateStepUp(c MFAConfig) error {
	for perm, a := range c.StepUp {
		if a.Level < mfa.AAL1 || a.Level > mfa.AAL2 || a.MaxAge < 0 {
			return &ConfigError{Field: "MFA.StepUp", Reason: perm + ": level must be AAL1 or AAL2 and the age not negative"}
		}
	}
	return nil
}
