package authv2

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"time"

	"github.com/authv2/authv2/user"
)

// clientKey is the rate-limiter key of a client address: an IPv4 address
// (IPv4-mapped IPv6 included) stands for itself, an IPv6 address for its
// IPv6Prefix, since one host commonly holds a whole /64. ok is false when
// the address is not an IP: such clients all share the one key.
func (t ThrottleConfig) clientKey(addr string) (key string, ok bool) {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return "login-ip:" + addr, false
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(t.IPv6Prefix) // Validate keeps the length within 128
		return "login-ip:" + p.String(), true
	}
	return "login-ip:" + a.String(), true
}

// warnNonIP says, once per Manager, that the per-IP limit cannot tell
// clients apart: they come through a unix socket (or the application
// passes something else), so every one of them shares one budget.
func (m *Manager) warnNonIP(addr string) {
	m.nonIPOnce.Do(func() {
		m.log.Warn("authv2: the client address is not an IP address, so all such clients share one per-IP login limit; "+
			"behind a proxy, have it connect over TCP and list it in HTTPConfig.TrustedProxies (AUTHV2_TRUSTED_PROXIES), "+
			"or set ClientInfo.IP to the client's address yourself", "client_address", quoteShort(addr))
	})
}

// emailBudgets are a login email's two failure budgets: AfterFailures per
// MaxDelay and MaxFailures per FailureWindow. An email with an account and
// one without have the same budgets, reserved by the same calls: their
// throttles answer alike and cost the same store round trips, so neither
// the answers nor their timing tell which emails have accounts. The keys
// hash the normalized email so the limiter does not collect typed-in
// emails.
func (m *Manager) emailBudgets(email string) []budget {
	h, t := keyHash(user.NormalizeEmail(email)), m.cfg.Throttle
	return []budget{{"login-email:" + h, t.AfterFailures, t.MaxDelay}, {"login-email-long:" + h, t.MaxFailures, t.FailureWindow}}
}

// trustedBudgets are the failure budgets of a password check from a
// client the user trusts (a device of theirs, a live session of theirs):
// the client's own, AfterFailures per MaxDelay, and the user's long budget
// that all such clients share, MaxFailures per FailureWindow. Untrusted
// clients' failures do not spend them, so a guesser cannot lock the owner
// out of these; and whoever holds one such client gets no more than
// MaxFailures checks per FailureWindow.
func (m *Manager) trustedBudgets(clientKey, userID string) []budget {
	t := m.cfg.Throttle
	return []budget{{clientKey, t.AfterFailures, t.MaxDelay}, {"trusted-long:" + keyHash(userID), t.MaxFailures, t.FailureWindow}}
}

// keyHash is how a rate-limiter key names what a user typed or who they
// are (an email, a user ID, a recovery target): the first 16 bytes of its
// SHA-256, in hex, so the limiter does not collect them.
func keyHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

// An attempt is one password check and the places it reserved in the
// throttles before hashing: a check is counted as failed before it runs,
// so however many run at once, no more than the limits are ever hashed.
// A failure keeps the reservations; a success gives them back.
type attempt struct {
	m   *Manager
	now time.Time
	// held are the budgets the attempt holds a place in (reserved at now).
	held []budget
	// device is the slot of the valid device token the client presented
	// (presented), "" if none; set only when the attempt reserved in the
	// device's budgets (trusted).
	device, presented string
	// issued is the device token a successful attempt hands back.
	issued string
}

// reserveClient starts a login attempt by reserving it in the client's
// per-IP budget. A positive retry means the client is over its limit.
func (m *Manager) reserveClient(ctx context.Context, ip string, now time.Time) (*attempt, time.Duration, error) {
	a := &attempt{m: m, now: now}
	t := m.cfg.Throttle
	if t.IPLimit == 0 || ip == "" {
		return a, 0, nil
	}
	key, isIP := t.clientKey(ip)
	if !isIP {
		m.warnNonIP(ip)
	}
	client := []budget{{key, t.IPLimit, t.IPWindow}}
	if retry, err := m.reserveAll(ctx, client, now); err != nil || retry > 0 {
		return nil, retry, err
	}
	a.held = client
	return a, 0, nil
}

// reserveEmail reserves an attempt in the email's failure budgets, or in
// neither, whether or not the email has an account. A positive retry
// means refused.
func (m *Manager) reserveEmail(ctx context.Context, email string, now time.Time) (time.Duration, error) {
	return m.reserveAll(ctx, m.emailBudgets(email), now)
}

// reserveAll reserves one place in each budget, or in none: a refused
// attempt spends nothing. A positive retry means refused; it is when
// every budget has a place again, so that a client told to wait is not
// refused once more (counted from each budget's oldest event: a budget
// whose limit was lowered since may hold more and refuse a little
// longer).
func (m *Manager) reserveAll(ctx context.Context, budgets []budget, now time.Time) (time.Duration, error) {
	for i, b := range budgets {
		retry, err := m.reserve(ctx, b.key, b.limit, b.window, now)
		if err == nil && retry == 0 {
			continue
		}
		m.releaseAll(ctx, budgets[:i], now)
		if err != nil {
			return 0, err
		}
		for _, later := range budgets[i+1:] {
			wait, err := m.wait(ctx, later, now)
			if err != nil {
				return 0, err
			}
			retry = max(retry, wait)
		}
		return retry, nil
	}
	return 0, nil
}

// giveBackTimeout bounds the give-backs and resets that run after the
// caller's context has ended.
const giveBackTimeout = 10 * time.Second

// releaseAll gives back the places reserved at now in budgets, even when
// the caller's context has ended: a client that hangs up must not leave a
// place taken. A limiter outage is logged, not fatal: the budget keeps
// one failure too many.
func (m *Manager) releaseAll(ctx context.Context, budgets []budget, now time.Time) {
	if len(budgets) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), giveBackTimeout)
	defer cancel()
	for _, b := range budgets {
		if err := m.limiter.Release(ctx, b.key, now); err != nil {
			m.log.Warn("authv2: giving back a throttle reservation failed", "error", err)
		}
	}
}

// wait is how long until b has a place, 0 if it has one now.
func (m *Manager) wait(ctx context.Context, b budget, now time.Time) (time.Duration, error) {
	n, oldest, err := m.limiter.Count(ctx, b.key, b.limit, b.window, now)
	if err != nil {
		return 0, translate("limiter.count", err)
	}
	if n < b.limit {
		return 0, nil
	}
	return max(oldest.Add(b.window).Sub(now), time.Second), nil
}

// reserve takes one place in a limiter key, or says how long until one
// is free.
func (m *Manager) reserve(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (time.Duration, error) {
	ok, retryAt, err := m.limiter.Reserve(ctx, key, limit, window, now)
	if err != nil {
		return 0, translate("limiter.reserve", err)
	}
	if ok {
		return 0, nil
	}
	// At least a second: a refusal must never read as "no wait".
	return max(retryAt.Sub(now), time.Second), nil
}

// reserveAccount counts the attempt as a failure before the password is
// hashed. A client presenting a valid device token of u reserves in that
// device's budgets (trustedBudgets) and not in the email's; once they are
// spent it is one more untrusted client. An untrusted client reserves in
// the email's budgets, exactly as an email without an account does
// (reserveEmail). A positive retry means refused.
func (a *attempt) reserveAccount(ctx context.Context, u *user.User, email, deviceToken string) (time.Duration, error) {
	if slot := trustedSlot(u, deviceToken, a.now); slot != "" {
		device := a.m.trustedBudgets(deviceKey(u.ID, slot), u.ID)
		retry, err := a.m.reserveAll(ctx, device, a.now)
		if err != nil {
			return 0, err
		}
		if retry == 0 {
			a.device, a.presented = slot, deviceToken
			a.held = append(a.held, device...)
			return 0, nil
		}
	}
	budgets := a.m.emailBudgets(email)
	retry, err := a.m.reserveAll(ctx, budgets, a.now)
	if err == nil && retry == 0 {
		a.held = append(a.held, budgets...)
	}
	return retry, err
}

// proven records a login in x, inside the update that records it: the
// client becomes, or stays, a trusted device.
func (a *attempt) proven(x *user.User) {
	a.issued = trustDevice(x, a.presented, a.device, a.now)
}

// succeeded gives back the places of an attempt whose password was right,
// after proven was saved: its own places only, whichever client it came
// from. Emptying the email's budgets on a success would tell a guesser who
// spent part of them that the email has an account (an unknown email's
// are never emptied), and hand them a fresh budget; a password reset and
// UnlockUser empty them (resetLoginThrottle).
func (a *attempt) succeeded(ctx context.Context) {
	a.m.releaseAll(ctx, a.held, a.now)
}

// resetLoginThrottle empties an email's failure budgets (a password
// reset, an unlock). A limiter outage is logged, not fatal: the owner
// waits out the failures, or is reset again.
func (m *Manager) resetLoginThrottle(ctx context.Context, email string) {
	m.resetBudgets(ctx, m.emailBudgets(email), "authv2: resetting a login throttle failed")
}

// resetTrustedThrottle empties the budgets a user's trusted clients share
// (the long one, and their sessions' re-authentication): a password reset
// forgets every device and ends every session, so no client that spent
// them is trusted any more, and their failures must not leave the owner's
// next devices no better than untrusted clients. An outage is logged, as
// in resetLoginThrottle.
func (m *Manager) resetTrustedThrottle(ctx context.Context, userID string) {
	m.resetBudgets(ctx, m.trustedBudgets(reauthKey(userID), userID), "authv2: resetting a trusted clients' throttle failed")
}

// resetBudgets empties bs, logging failure as msg: a reset runs after
// its flow's change is saved, which a limiter outage must not undo, nor
// the caller's cancellation cut short.
func (m *Manager) resetBudgets(ctx context.Context, bs []budget, msg string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), giveBackTimeout)
	defer cancel()
	for _, b := range bs {
		if err := m.limiter.Reset(ctx, b.key); err != nil {
			m.log.Warn(msg, "error", err)
		}
	}
}

// throttledError is what a throttled login returns: the generic error
// unless the application opted into a distinct one.
func (m *Manager) throttledError(retry time.Duration) error {
	if m.cfg.Throttle.DistinctError {
		return &ThrottledError{RetryAfter: retry}
	}
	return ErrInvalidCredentials
}

// reauthKey is the limiter key of the user's re-authentication budget,
// which the user's live sessions share (see verifyPassword).
func reauthKey(userID string) string { return "reauth:" + keyHash(userID) }

// recoveryKey is the limiter key of a recovery flow's target (an address
// or a user ID).
func recoveryKey(flow, target string) string { return "recovery-" + flow + ":" + keyHash(target) }

// recoveryReservation is what a recovery flow reserved in the limiter; a
// token use that succeeds gives it back, as a login's right password does.
type recoveryReservation struct {
	m       *Manager
	now     time.Time
	budgets []budget
}

func (r recoveryReservation) release(ctx context.Context) {
	if r.m != nil {
		r.m.releaseAll(ctx, r.budgets, r.now)
	}
}

// reserveRecovery reserves one use of a recovery flow for its target and
// for the calling client (see reserveClientRecovery). A spent budget is a
// *ThrottledError: it depends on the input alone, never on whether an
// account exists, so it reveals none.
func (m *Manager) reserveRecovery(ctx context.Context, flow, target string, limit int, window time.Duration) (recoveryReservation, error) {
	return m.reserveBudgets(ctx, append([]budget{{recoveryKey(flow, target), limit, window}}, m.clientRecoveryBudget(ctx)...))
}

// reserveClientRecovery reserves one use of a recovery flow in the calling
// client's budget (ClientFrom(ctx): IPLimit per IPWindow, one budget for
// every recovery flow), when the context names a client.
func (m *Manager) reserveClientRecovery(ctx context.Context) (recoveryReservation, error) {
	return m.reserveBudgets(ctx, m.clientRecoveryBudget(ctx))
}

// budget is one limiter key with its limit.
type budget struct {
	key    string
	limit  int
	window time.Duration
}

func (m *Manager) clientRecoveryBudget(ctx context.Context) []budget {
	return m.clientBudget(ctx, "recovery-", m.cfg.Throttle.IPLimit)
}

// clientBudget is the calling client's budget (ClientFrom(ctx), keyed
// like the IP limit) of limit per Throttle.IPWindow under prefix; none
// when the context names no client or limit is 0.
func (m *Manager) clientBudget(ctx context.Context, prefix string, limit int) []budget {
	t := m.cfg.Throttle
	if c, ok := ClientFrom(ctx); ok && c.IP != "" && limit > 0 && t.IPWindow > 0 {
		key, _ := t.clientKey(c.IP)
		return []budget{{prefix + key, limit, t.IPWindow}}
	}
	return nil
}

// reserveBudgets reserves one place in each budget, or none (reserveAll);
// a refusal is a *ThrottledError.
func (m *Manager) reserveBudgets(ctx context.Context, budgets []budget) (recoveryReservation, error) {
	now := m.clock.Now()
	retry, err := m.reserveAll(ctx, budgets, now)
	if err != nil {
		return recoveryReservation{}, err
	}
	if retry > 0 {
		return recoveryReservation{}, &ThrottledError{RetryAfter: retry}
	}
	return recoveryReservation{m: m, now: now, budgets: budgets}, nil
}
