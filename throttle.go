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

// loginKeys are the rate-limiter keys of a login email's two failure
// budgets (AfterFailures per MaxDelay, MaxFailures per FailureWindow). An
// email with an account and one without have the same keys and budgets,
// reserved by the same calls: their throttles answer alike at every
// moment and cost the same store round trips, so neither the answers nor
// their timing tell which emails have accounts. They are hashed so the
// limiter does not collect typed-in emails.
func loginKeys(email string) [2]string {
	sum := sha256.Sum256([]byte(user.NormalizeEmail(email)))
	h := hex.EncodeToString(sum[:16])
	return [2]string{"login-email:" + h, "login-email-long:" + h}
}

// An attempt is one password check and the places it reserved in the
// throttles before hashing: a check is counted as failed before it runs,
// so however many run at once, no more than the limits are ever hashed.
// A failure keeps the reservations; a success gives them back.
type attempt struct {
	m   *Manager
	now time.Time
	// ipKey is the client's reserved limiter key, "" when no per-IP
	// limit applies.
	ipKey string
	// email is the email whose budgets (loginKeys) an untrusted client
	// reserved in, "" if none.
	email string
	// device is the slot of the valid device token the client presented
	// (presented), "" if none; deviceKey its reserved failure budget, ""
	// unless the attempt is trusted (exempt from the email's budget).
	device, presented, deviceKey string
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
	if retry, err := m.reserve(ctx, key, t.IPLimit, t.IPWindow, now); err != nil || retry > 0 {
		return nil, retry, err
	}
	a.ipKey = key
	return a, 0, nil
}

// reserveEmail reserves an attempt in both of the email's failure
// budgets, or in neither, whether or not the email has an account. A
// positive retry means refused: it is when both budgets have a place
// again, so that a client told to wait is not refused once more.
func (m *Manager) reserveEmail(ctx context.Context, email string, now time.Time) (time.Duration, error) {
	t, keys := m.cfg.Throttle, loginKeys(email)
	retry, err := m.reserve(ctx, keys[0], t.AfterFailures, t.MaxDelay, now)
	if err != nil {
		return 0, err
	}
	if retry > 0 {
		long, err := m.wait(ctx, keys[1], t.MaxFailures, t.FailureWindow, now)
		return max(retry, long), err
	}
	retry, err = m.reserve(ctx, keys[1], t.MaxFailures, t.FailureWindow, now)
	if err != nil || retry > 0 {
		// A refused attempt spends nothing: give back the first place.
		if rerr := m.limiter.Release(ctx, keys[0], now); rerr != nil {
			m.log.Warn("authv2: giving back a login reservation failed", "error", rerr)
		}
	}
	return retry, err
}

// wait is how long until key has a place, 0 if it has one now.
func (m *Manager) wait(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (time.Duration, error) {
	n, oldest, err := m.limiter.Count(ctx, key, limit, window, now)
	if err != nil {
		return 0, translate("limiter.count", err)
	}
	if n < limit {
		return 0, nil
	}
	return max(oldest.Add(window).Sub(now), time.Second), nil
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
// device's own budget (AfterFailures within MaxDelay) and ignores the
// email's; once the device budget is spent it is one more untrusted
// client. An untrusted client reserves in the email's budget, exactly as
// an email without an account does (reserveEmail). A positive retry means
// refused.
func (a *attempt) reserveAccount(ctx context.Context, u *user.User, email, deviceToken string) (time.Duration, error) {
	t := a.m.cfg.Throttle
	if slot := trustedSlot(u, deviceToken, a.now); slot != "" {
		a.device, a.presented = slot, deviceToken
		key := deviceKey(u.ID, slot)
		retry, err := a.m.reserve(ctx, key, t.AfterFailures, t.MaxDelay, a.now)
		if err != nil || retry == 0 {
			if err == nil {
				a.deviceKey = key
			}
			return 0, err
		}
	}
	retry, err := a.m.reserveEmail(ctx, email, a.now)
	if err == nil && retry == 0 {
		a.email = email
	}
	return retry, err
}

// proven records a right password in x, inside the update that records
// the login: the client becomes, or stays, a trusted device.
func (a *attempt) proven(x *user.User) {
	a.issued = trustDevice(x, a.presented, a.device, a.now)
}

// succeeded gives back the limiter reservations of an attempt whose
// password was right, after proven was saved. An untrusted client's
// success resets the email's budget; a trusted device's does not (the
// failures were another client's, and the owner logging in must not hand
// the guesser a fresh budget). A limiter outage is logged, not fatal: the
// client keeps one failure too many.
func (a *attempt) succeeded(ctx context.Context) {
	for _, key := range []string{a.ipKey, a.deviceKey} {
		if key == "" {
			continue
		}
		if err := a.m.limiter.Release(ctx, key, a.now); err != nil {
			a.m.log.Warn("authv2: giving back a login reservation failed", "error", err)
		}
	}
	if a.email != "" {
		a.m.resetLoginThrottle(ctx, a.email)
	}
}

// resetLoginThrottle empties an email's failure budgets (a proven
// password, a password reset, an unlock). A limiter outage is logged, not
// fatal: the owner waits out the failures.
func (m *Manager) resetLoginThrottle(ctx context.Context, email string) {
	for _, key := range loginKeys(email) {
		if err := m.limiter.Reset(ctx, key); err != nil {
			m.log.Warn("authv2: resetting a login throttle failed", "error", err)
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
func reauthKey(userID string) string {
	sum := sha256.Sum256([]byte(userID))
	return "reauth:" + hex.EncodeToString(sum[:16])
}

// recoveryKey is the limiter key of a recovery flow's target (an address
// or a user ID), hashed so the limiter does not collect what was typed.
func recoveryKey(flow, target string) string {
	sum := sha256.Sum256([]byte(target))
	return "recovery-" + flow + ":" + hex.EncodeToString(sum[:16])
}

// recoveryReservation is what a recovery flow reserved in the limiter; a
// token use that succeeds gives it back, as a login's right password does.
type recoveryReservation struct {
	m    *Manager
	now  time.Time
	keys []string
}

func (r recoveryReservation) release(ctx context.Context) {
	for _, key := range r.keys {
		if err := r.m.limiter.Release(ctx, key, r.now); err != nil {
			r.m.log.Warn("authv2: giving back a recovery reservation failed", "error", err)
		}
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

// reserveBudgets reserves one place in each budget, or none: a refused
// attempt spends nothing.
func (m *Manager) reserveBudgets(ctx context.Context, budgets []budget) (recoveryReservation, error) {
	r := recoveryReservation{m: m, now: m.clock.Now()}
	for _, b := range budgets {
		retry, err := m.reserve(ctx, b.key, b.limit, b.window, r.now)
		if err == nil && retry > 0 {
			err = &ThrottledError{RetryAfter: retry}
		}
		if err != nil {
			r.release(ctx)
			return recoveryReservation{}, err
		}
		r.keys = append(r.keys, b.key)
	}
	return r, nil
}
