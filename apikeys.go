package authv2

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authv2/authv2/apikey"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/internal/token"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store"
	"github.com/authv2/authv2/user"
)

// This file holds service accounts and API keys: their administration
// and authenticating with a key (Authenticate hands av2k_ tokens here).

// ReasonOutsideAPIKey is the reason of a decision the owner's policy
// allowed but the API key's permissions do not cover.
const ReasonOutsideAPIKey permission.Reason = "outside the API key's permissions"

// Reasons of apikey.denied events.
const (
	keyMalformed      = "malformed"
	keyUnknown        = "unknown"
	keySecretMismatch = "secret_mismatch"
	keyRevoked        = "revoked"
	keyExpired        = "expired"
)

// CreateAPIKeyInput describes a key to create.
type CreateAPIKeyInput struct {
	// OwnerID is the user or service account the key acts as; "" means
	// the actor (the caller's own key).
	OwnerID string `json:"owner_id"`
	// TenantID is the one tenant the key acts in; "" means the actor's
	// session tenant, or a service account's own tenant.
	TenantID string `json:"tenant_id"`
	// Scope narrows the key below the tenant, as a session's scope does.
	Scope string `json:"scope"`
	// Permissions are "resource:action" patterns ("orders:read",
	// "orders:*", "*"), each meeting something the owner holds when the
	// key is created.
	Permissions []string `json:"permissions"`
	Name        string   `json:"name"`
	// ExpiresAt is when the key stops working; zero for never.
	ExpiresAt time.Time `json:"expires_at"`
}

// CreatedAPIKey is a new key: Secret is the whole key, shown this once
// (only its hash is stored).
type CreatedAPIKey struct {
	Secret string
	Key    *apikey.Key
}

// maxKeyPermissions bounds the patterns of one key.
const maxKeyPermissions = 64

// CreateAPIKey issues an API key for a user or a service account. The
// actor in ctx must be a session (ErrSessionRequired for a key: a key
// never mints keys). The owner must be an active user with access to the
// tenant, or an enabled service account of it, and each pattern asked for
// must meet a grant the owner holds at the key's scope (a
// *ValidationError names the others); at each check the owner's policy
// is evaluated again, so a key never outlives its owner's rights. A key
// of a user in a tenant whose MFA policy requires a factor of them needs
// an actor at AAL2 (a *StepUpError otherwise).
// Authorizing who may create a key for whom is the application's
// (Require).
func (m *Manager) CreateAPIKey(ctx context.Context, in CreateAPIKeyInput) (*CreatedAPIKey, error) {
	actor := actorFrom(ctx)
	if actor != nil {
		if err := personOnly(actor); err != nil {
			return nil, err // a key never mints keys, nor an impersonator
		}
	}
	if in.OwnerID == "" && actor != nil {
		in.OwnerID = actor.UserID
	}
	if err := m.checkKeyInput(in); err != nil {
		return nil, err
	}
	now := m.clock.Now()
	owner, err := m.keyOwner(ctx, &in, actor)
	if err != nil {
		return nil, err
	}
	if owner.kind == apikey.OwnerUser && actor != nil {
		// A key is a way into the tenant: one whose policy requires a
		// second factor of the owner needs it proven by the minting session.
		if err := m.tenantAssurance(ctx, in.OwnerID, in.TenantID, actor); err != nil {
			return nil, err
		}
	}
	if err := m.ownerHolds(ctx, in); err != nil {
		return nil, err
	}
	in.Permissions = canonicalPatterns(in.Permissions)
	id := apikey.NewID()
	secret, raw, err := token.NewKey(id)
	if err != nil {
		return nil, err
	}
	k := &apikey.Key{ID: id, SecretHash: session.HashSecret(raw), OwnerID: in.OwnerID, OwnerKind: owner.kind,
		TenantID: in.TenantID, Scope: in.Scope, Permissions: in.Permissions, Name: in.Name, CreatedAt: now, ExpiresAt: in.ExpiresAt}
	if actor != nil {
		k.CreatedBy = actor.UserID
	}
	if err := m.apiKeys.CreateKey(ctx, k); err != nil {
		return nil, translate("apikey.create", err)
	}
	// An owner disabled, deleted or changed while the key was written:
	// that change revokes the owner's keys after it takes effect, so either
	// it found this key, or the re-read below sees it (as Login does with
	// the security stamp).
	if err := owner.recheck(ctx, m, in.TenantID); err != nil {
		if rerr := m.apiKeys.RevokeKey(ctx, id, now, session.ReasonAccountChanged); rerr != nil {
			return nil, translate("apikey.revoke", rerr)
		}
		return nil, err
	}
	if err := m.emit(ctx, withActor(ctx, keyEvent(audit.TypeAPIKeyCreated, k, ""))); err != nil {
		return nil, err
	}
	return &CreatedAPIKey{Secret: secret, Key: k}, nil
}

func (m *Manager) checkKeyInput(in CreateAPIKeyInput) error {
	if err := checkText("OwnerID", in.OwnerID, "TenantID", in.TenantID, "Name", in.Name); err != nil {
		return err
	}
	var fields []FieldError
	if in.OwnerID == "" {
		fields = append(fields, FieldError{"OwnerID", "is required"})
	}
	if strings.TrimSpace(in.Name) == "" || len(in.Name) > 200 {
		fields = append(fields, FieldError{"Name", "is required, at most 200 bytes"})
	}
	if in.Scope != "" {
		if err := permission.ValidateScope(in.Scope); err != nil {
			fields = append(fields, FieldError{"Scope", "is not a valid scope"})
		}
	}
	if len(in.Permissions) == 0 || len(in.Permissions) > maxKeyPermissions {
		fields = append(fields, FieldError{"Permissions", "needs 1 to 64 patterns"})
	}
	for _, p := range in.Permissions {
		if _, err := permission.ParsePermission(p); err != nil {
			fields = append(fields, FieldError{"Permissions", "has a malformed pattern: " + quoteShort(p)})
			break
		}
	}
	if !in.ExpiresAt.IsZero() && !in.ExpiresAt.After(m.clock.Now()) {
		fields = append(fields, FieldError{"ExpiresAt", "must be in the future"})
	}
	if len(fields) > 0 {
		return &ValidationError{Fields: fields}
	}
	return nil
}

// canonicalPatterns returns the patterns in their canonical form ("*:*"
// is "*"), sorted, without duplicates; they were checked by
// checkKeyInput.
func canonicalPatterns(ps []string) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		parsed, _ := permission.ParsePermission(p)
		out = append(out, parsed.String())
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// keyOwnerState is what CreateAPIKey read of the owner, to check again
// once the key is written.
type keyOwnerState struct {
	kind  apikey.OwnerKind
	id    string
	stamp string
}

// keyOwner checks the owner can hold a key in the tenant (filling in a
// missing tenant) and returns what recheck compares.
func (m *Manager) keyOwner(ctx context.Context, in *CreateAPIKeyInput, actor *Principal) (keyOwnerState, error) {
	st := keyOwnerState{id: in.OwnerID}
	sa, err := m.apiKeys.GetServiceAccount(ctx, in.OwnerID)
	switch {
	case err == nil:
		st.kind = apikey.OwnerServiceAccount
		if in.TenantID == "" {
			in.TenantID = sa.TenantID
		}
		if sa.Disabled {
			return st, &ValidationError{Fields: []FieldError{{"OwnerID", "the service account is disabled"}}}
		}
		if sa.TenantID != in.TenantID {
			return st, ErrNotMember
		}
		return st, nil
	case !errors.Is(err, store.ErrNotFound):
		return st, translate("service_account.get", err)
	}
	st.kind = apikey.OwnerUser
	if in.TenantID == "" && actor != nil && actor.UserID == in.OwnerID {
		in.TenantID = actor.TenantID
	}
	if in.TenantID == "" {
		return st, &ValidationError{Fields: []FieldError{{"TenantID", "is required"}}}
	}
	u, err := m.users.Get(ctx, in.OwnerID)
	if err != nil {
		return st, translate("user.get", err)
	}
	if u.Status != user.StatusActive {
		return st, &ValidationError{Fields: []FieldError{{"OwnerID", "the user is not active"}}}
	}
	st.stamp = u.SecurityStamp
	return st, m.checkTenantAccess(ctx, in.OwnerID, in.TenantID)
}

// recheck reads the owner again after its key was written: still active
// (or enabled), same security stamp, still in the tenant.
func (st keyOwnerState) recheck(ctx context.Context, m *Manager, tenantID string) error {
	if st.kind == apikey.OwnerServiceAccount {
		sa, err := m.apiKeys.GetServiceAccount(ctx, st.id)
		if err != nil {
			return translate("service_account.get", err)
		}
		if sa.Disabled {
			return ErrConflict
		}
		return nil
	}
	u, err := m.users.Get(ctx, st.id)
	if err != nil {
		return translate("user.get", err)
	}
	if u.Status != user.StatusActive || u.SecurityStamp != st.stamp {
		return ErrConflict
	}
	return m.checkTenantAccess(ctx, st.id, tenantID)
}

// ownerHolds checks that each pattern asked for meets something the
// owner's policy grants at the key's scope: "orders:*" needs some grant of
// an orders action, "users:delete" a grant covering it. What a key can do
// is never more than its owner can at the time of the check, whatever its
// patterns (each check evaluates both); this refuses, when the key is
// made, a pattern that would grant nothing. Conditions are not evaluated
// here (they depend on the request).
func (m *Manager) ownerHolds(ctx context.Context, in CreateAPIKeyInput) error {
	rules, err := m.engine.EffectivePermissions(ctx, in.TenantID, in.OwnerID, in.Scope)
	if err != nil {
		return authzError(err)
	}
	meets := func(a, b string) bool { return a == permission.Wildcard || b == permission.Wildcard || a == b }
	var missing []string
	for _, want := range in.Permissions {
		w, _ := permission.ParsePermission(want) // checked by checkKeyInput
		held := false
		for _, r := range rules {
			g, err := permission.ParsePermission(r.Permission)
			if err == nil && r.Effect == permission.Allow && meets(g.Resource, w.Resource) && meets(g.Action, w.Action) {
				held = true
				break
			}
		}
		if !held {
			missing = append(missing, w.String())
		}
	}
	if len(missing) > 0 {
		return &ValidationError{Fields: []FieldError{{"Permissions", "not held by the owner: " + strings.Join(missing, ", ")}}}
	}
	return nil
}

// keyCovers reports whether one of the key's patterns covers the
// permission resType:action. It runs on every check of a key, so it
// compares strings in place rather than parsing.
func keyCovers(patterns []string, resType, action string) bool {
	for _, p := range patterns {
		if p == permission.Wildcard {
			return true
		}
		r, a, ok := strings.Cut(p, ":")
		if ok && (r == permission.Wildcard || r == resType) && (a == permission.Wildcard || a == action) {
			return true
		}
	}
	return false
}

// narrowToKey turns an allow into a deny when the principal's API key
// does not cover the permission: a key does what its owner may, and only
// what the key names.
func narrowToKey(p *Principal, action string, res *permission.Resource, d *permission.Decision) {
	if p.APIKey == nil || !d.Allowed || keyCovers(p.APIKey.Permissions, res.Type, action) {
		return
	}
	*d = permission.Decision{Effect: permission.Deny, ID: d.ID, Reason: ReasonOutsideAPIKey, Version: d.Version}
}

// keyEvent is the audit event of a key's life or use.
func keyEvent(typ audit.Type, k *apikey.Key, reason string) audit.Event {
	return audit.Event{Type: typ, Outcome: audit.Success, Target: "apikey:" + k.ID, TenantID: k.TenantID, Reason: reason,
		Attributes: map[string]string{audit.AttrUser: k.OwnerID, "owner_kind": string(k.OwnerKind)}}
}

// APIKey returns one key's record (never its secret), or ErrNotFound.
func (m *Manager) APIKey(ctx context.Context, id string) (*apikey.Key, error) {
	if err := checkText("ID", id); err != nil {
		return nil, err
	}
	k, err := m.apiKeys.GetKey(ctx, id)
	if err != nil {
		return nil, translate("apikey.get", err)
	}
	return k.Clone(), nil
}

// ListAPIKeys lists the keys of an owner, of a tenant, or of an owner in
// a tenant (f.OwnerID or f.TenantID is required), revoked and expired
// ones included, newest first, with their last-used time.
func (m *Manager) ListAPIKeys(ctx context.Context, f apikey.KeyFilter) ([]*apikey.Key, error) {
	if err := checkText("OwnerID", f.OwnerID, "TenantID", f.TenantID); err != nil {
		return nil, err
	}
	if f.OwnerID == "" && f.TenantID == "" {
		return nil, &ValidationError{Fields: []FieldError{{"OwnerID", "an owner or a tenant is required"}}}
	}
	ks, err := m.apiKeys.ListKeys(ctx, f)
	return ks, translate("apikey.list", err)
}

// RevokeAPIKey revokes one key: every instance refuses it from its next
// use on (each use reads the key store).
func (m *Manager) RevokeAPIKey(ctx context.Context, id string) error {
	if err := cmp.Or(notImpersonating(ctx), checkText("ID", id)); err != nil {
		return err
	}
	k, err := m.apiKeys.GetKey(ctx, id)
	if err != nil {
		return translate("apikey.get", err)
	}
	if err := m.apiKeys.RevokeKey(ctx, id, m.clock.Now(), apikey.ReasonRevoked); err != nil {
		return translate("apikey.revoke", err)
	}
	if !k.RevokedAt.IsZero() {
		return nil // already revoked: nothing happened to record
	}
	return m.emit(ctx, withActor(ctx, keyEvent(audit.TypeAPIKeyRevoked, k, apikey.ReasonRevoked)))
}

// RevokeAPIKeys revokes every live key of an owner (in one tenant when
// tenantID is set) in one atomic store step and returns their IDs.
func (m *Manager) RevokeAPIKeys(ctx context.Context, ownerID, tenantID string) ([]string, error) {
	if err := cmp.Or(notImpersonating(ctx), checkText("OwnerID", ownerID, "TenantID", tenantID)); err != nil {
		return nil, err
	}
	if ownerID == "" {
		return nil, &ValidationError{Fields: []FieldError{{"OwnerID", "is required"}}}
	}
	ids, events, err := m.revokeOwnerKeys(ctx, ownerID, tenantID, m.clock.Now(), apikey.ReasonRevoked)
	if err != nil {
		return nil, err
	}
	return ids, m.emitAll(ctx, events)
}

// revokeOwnerKeys revokes an owner's keys and returns their events for
// the caller to record (with its own, in one journal write).
func (m *Manager) revokeOwnerKeys(ctx context.Context, ownerID, tenantID string, now time.Time, reason string) ([]string, []audit.Event, error) {
	ids, err := m.apiKeys.RevokeKeys(ctx, apikey.KeyFilter{OwnerID: ownerID, TenantID: tenantID}, now, reason)
	if err != nil {
		return nil, nil, translate("apikey.revoke_all", err)
	}
	events := make([]audit.Event, len(ids))
	for i, id := range ids {
		events[i] = withActor(ctx, audit.Event{Type: audit.TypeAPIKeyRevoked, Outcome: audit.Success, Target: "apikey:" + id,
			TenantID: tenantID, Reason: reason, Attributes: map[string]string{audit.AttrUser: ownerID}})
	}
	return ids, events, nil
}

// endsKeys reports whether ending a user's sessions for reason ends the
// user's API keys too: every account change that rotates the security
// stamp (whoever held the account before it may have made a key), and
// losing the tenant. Signing out everywhere, eviction and token reuse
// end sessions only.
func endsKeys(reason string) bool {
	switch reason {
	case session.ReasonUserDisabled, session.ReasonUserLocked, session.ReasonUserDeleted, session.ReasonPasswordChange,
		session.ReasonEmailChange, session.ReasonMembershipRemoved, session.ReasonTenantDeleted:
		return true
	}
	return false
}

// authenticateKey is Authenticate for an API key: one read of the key
// store (plus, at most once per APIKeyLastUsedInterval, a write of the
// last-used time), never the user store: what must end a key revokes it.
// A client whose failed keys spent its budget (Throttle.IPLimit per
// IPWindow) is refused before the read.
func (m *Manager) authenticateKey(ctx context.Context, tok string, client session.ClientInfo) (*Principal, error) {
	now := m.clock.Now()
	if retry := m.keyBlocks.blocked(m.cfg.Throttle, client.IP, now); retry > 0 {
		return nil, &ThrottledError{RetryAfter: retry}
	}
	id, secret, err := token.ParseKey(tok)
	if err != nil {
		return nil, m.keyGuess(ctx, nil, keyMalformed, client, now)
	}
	k, err := m.apiKeys.GetKey(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, m.keyGuess(ctx, &apikey.Key{ID: id}, keyUnknown, client, now)
	}
	if err != nil {
		return nil, translate("apikey.get", err)
	}
	sum := sha256.Sum256(secret[:])
	if subtle.ConstantTimeCompare(sum[:], k.SecretHash) != 1 {
		return nil, m.keyGuess(ctx, &apikey.Key{ID: id}, keySecretMismatch, client, now)
	}
	switch {
	case !k.RevokedAt.IsZero():
		m.keyDenied(ctx, k, keyRevoked, client)
		return nil, ErrAPIKeyRevoked
	case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
		m.keyDenied(ctx, k, keyExpired, client)
		return nil, ErrAPIKeyExpired
	}
	if every := m.cfg.APIKeyLastUsedInterval; now.Sub(k.LastUsedAt) >= every {
		if err := m.apiKeys.TouchKey(ctx, id, now, now.Add(-every+1)); err != nil {
			// Fail closed, as a session's failed renewal does.
			return nil, translate("apikey.touch", err)
		}
		k.LastUsedAt = now
	}
	if rate := m.cfg.APIKeyUseAuditRate; rate > 0 && (rate >= 1 || rand.Float64() < rate) {
		e := keyEvent(audit.TypeAPIKeyUsed, k, "")
		e.ActorUserID, e.IP, e.UserAgent = k.OwnerID, client.IP, client.UserAgent
		_ = m.emit(ctx, e) // a refused record is logged by emit; the use stands
	}
	kind := PrincipalUser
	if k.OwnerKind == apikey.OwnerServiceAccount {
		kind = PrincipalServiceAccount
	}
	return &Principal{Kind: kind, UserID: k.OwnerID, TenantID: k.TenantID, Scope: k.Scope, ExpiresAt: k.ExpiresAt,
		Client: client, APIKey: k}, nil
}

// keyDenied audits a refused key.
func (m *Manager) keyDenied(ctx context.Context, k *apikey.Key, reason string, client session.ClientInfo) {
	e := audit.Event{Type: audit.TypeAPIKeyDenied, Outcome: audit.Denied, Reason: reason, IP: client.IP, UserAgent: client.UserAgent}
	if k != nil {
		e.Target, e.TenantID, e.ActorUserID = "apikey:"+k.ID, k.TenantID, k.OwnerID
	}
	_ = m.emit(ctx, e) // a refused record is logged by emit
}

// keyGuess audits a key that proves nothing (malformed, unknown, wrong
// secret) and counts it in the client's failure budget; the failure that
// overspends it blocks the client on this instance until the budget has
// room again. It returns what the caller answers.
func (m *Manager) keyGuess(ctx context.Context, k *apikey.Key, reason string, client session.ClientInfo, now time.Time) error {
	m.keyDenied(ctx, k, reason, client)
	t := m.cfg.Throttle
	if t.IPLimit == 0 || client.IP == "" {
		return ErrUnauthenticated
	}
	ck, _ := t.clientKey(client.IP)
	retry, err := m.reserve(ctx, "apikey-"+ck, t.IPLimit, t.IPWindow, now)
	if err != nil {
		return err // the limiter is down: fail closed, as Login does
	}
	if retry > 0 {
		m.keyBlocks.block(ck, now, now.Add(retry))
		m.keyDenied(ctx, k, audit.ReasonIPThrottled, client)
	}
	return ErrUnauthenticated
}

// maxKeyBlocks bounds the clients an instance remembers as blocked; past
// it, a client over its budget still has its failures counted by the
// limiter but is not refused before the key read.
const maxKeyBlocks = 100_000

// keyBlocks remembers, per instance, clients whose failed keys overspent
// their budget, so they are refused without a store read. Keys are
// checked on every request, and asking the shared limiter each time would
// be a second store round trip; the limiter still counts every failure
// across instances, so each instance lets at most one more guess through
// per block.
type keyBlocks struct {
	n     atomic.Int64 // entries in m; 0 skips the lookup entirely
	m     sync.Map     // client key → time.Time (blocked until)
	limit int64        // 0: maxKeyBlocks
}

// blocked returns how long the client stays blocked, or 0.
func (b *keyBlocks) blocked(t ThrottleConfig, ip string, now time.Time) time.Duration {
	if b.n.Load() == 0 || ip == "" {
		return 0
	}
	ck, _ := t.clientKey(ip)
	v, ok := b.m.Load(ck)
	if !ok {
		return 0
	}
	until := v.(time.Time)
	if now.Before(until) {
		return max(until.Sub(now), time.Second)
	}
	if b.m.CompareAndDelete(ck, v) {
		b.n.Add(-1)
	}
	return 0
}

func (b *keyBlocks) block(ck string, now, until time.Time) {
	limit := b.limit
	if limit == 0 {
		limit = maxKeyBlocks
	}
	if b.n.Load() >= limit {
		b.sweep(now)
		if b.n.Load() >= limit {
			return
		}
	}
	if _, loaded := b.m.Swap(ck, until); !loaded {
		b.n.Add(1)
	}
}

// sweep forgets the blocks that ended by now.
func (b *keyBlocks) sweep(now time.Time) {
	b.m.Range(func(k, v any) bool {
		if !now.Before(v.(time.Time)) && b.m.CompareAndDelete(k, v) {
			b.n.Add(-1)
		}
		return true
	})
}
