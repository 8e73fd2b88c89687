package authv2

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/internal/randid"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/store"
	"github.com/authv2/authv2/user"
)

const (
	// DomainRecordPrefix is prepended to a claimed domain to name the DNS
	// TXT record that proves it: _authv2-challenge.example.com. An
	// underscore name cannot be a host, so it collides with nothing.
	DomainRecordPrefix = "_authv2-challenge."
	// domainValuePrefix starts the record's value, so one name can hold
	// the records of several services.
	domainValuePrefix = "authv2-domain-verification="
	// domainLookupTimeout bounds one DNS lookup: a resolver that hangs
	// must not hold an administrator's request for long.
	domainLookupTimeout = 10 * time.Second
)

// DefaultRefusedDomains returns the public email domains DefaultConfig
// refuses to let a tenant claim: the largest free mail providers. The
// list is short on purpose: it catches the common mistake; the DNS proof
// is what keeps a tenant from claiming a domain it does not control.
func DefaultRefusedDomains() []string {
	return []string{
		"126.com", "163.com", "aol.com", "fastmail.com", "gmail.com", "gmx.com", "gmx.de", "gmx.net",
		"googlemail.com", "hotmail.com", "icloud.com", "live.com", "mac.com", "mail.com", "mail.ru",
		"me.com", "msn.com", "outlook.com", "pm.me", "proton.me", "protonmail.com", "qq.com",
		"tutanota.com", "web.de", "yahoo.com", "yandex.com", "yandex.ru", "zoho.com",
	}
}

// domainProfile maps a name as a DNS lookup does (UTS #46: case folded,
// full-width forms and ideographic dots mapped, Unicode labels to
// A-labels) and checks it: letters, digits and hyphens only, labels of at
// most 63 bytes. It holds no state and is safe for concurrent use.
var domainProfile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.StrictDomainName(true), idna.VerifyDNSLength(true))

// transitionalProfile maps the four deviation characters (ß, ς, ZWJ,
// ZWNJ) as IDNA2003 did: a mail system that still does sends "straße.de"
// to strasse.de.
var transitionalProfile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.StrictDomainName(true),
	idna.VerifyDNSLength(true), idna.Transitional(true))

// normalizeDomain returns the form a domain is stored and compared in:
// lower case ASCII, A-labels, without the root's trailing dot. ok is
// false for anything else than a name of two or more labels whose last
// is not a number (an IP address is no email domain).
func normalizeDomain(s string) (string, bool) {
	return normalizeWith(domainProfile, s)
}

func normalizeWith(p *idna.Profile, s string) (string, bool) {
	// IDNA would map an invalid byte to U+FFFD, and take that as a letter.
	if !utf8.ValidString(s) || strings.ContainsRune(s, utf8.RuneError) {
		return "", false
	}
	a, err := p.ToASCII(strings.TrimSuffix(s, "."))
	if err != nil || len(a) > 253 || strings.HasSuffix(a, ".") {
		return "", false
	}
	labels := strings.Split(a, ".")
	if len(labels) < 2 || slices.Contains(labels, "") {
		return "", false
	}
	tld := labels[len(labels)-1]
	if strings.Trim(tld, "0123456789") == "" {
		return "", false
	}
	return a, true
}

// emailDomain returns the normalized domain of an email address, or ""
// when it has none, or when IDNA2003 and IDNA2008 disagree on it (mail
// to it may reach another domain than the one compared).
func emailDomain(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return ""
	}
	d, ok := normalizeDomain(email[at+1:])
	if !ok {
		return ""
	}
	if t, ok := normalizeWith(transitionalProfile, email[at+1:]); !ok || t != d {
		return ""
	}
	return d
}

// refusedDomains normalizes Config.DomainCapture.RefusedDomains (checked
// by Validate).
func refusedDomains(ds []string) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		if n, ok := normalizeDomain(d); ok {
			out = append(out, n)
		}
	}
	return out
}

// claimableDomain normalizes a domain a tenant claims, refusing what is
// not a domain name (ErrInvalidDomain) and public email domains with
// their subdomains (ErrPublicDomain), each inside a *ValidationError.
func (m *Manager) claimableDomain(s string) (string, error) {
	// No checkText first: IDNA refuses NUL bytes and invalid UTF-8 too,
	// and every refusal is then ErrInvalidDomain.
	d, ok := normalizeDomain(s)
	if !ok {
		return "", &ValidationError{Fields: []FieldError{{Field: "Domain", Reason: "must be a domain name such as example.com"}}, Err: ErrInvalidDomain}
	}
	for _, r := range m.refused {
		if d == r || strings.HasSuffix(d, "."+r) {
			return "", &ValidationError{Fields: []FieldError{{Field: "Domain", Reason: "is a public email domain"}}, Err: ErrPublicDomain}
		}
	}
	return d, nil
}

// DomainRecord returns the DNS TXT record that proves a tenant's claim
// of d.Domain: publish value at name, then call VerifyTenantDomain.
func DomainRecord(d *permission.TenantDomain) (name, value string) {
	return DomainRecordPrefix + d.Domain, domainValuePrefix + d.Token
}

// TenantDomainInput is what AddTenantDomain needs.
type TenantDomainInput struct {
	TenantID string
	// Domain is an email domain: "example.com" (or "Example.COM.", or a
	// Unicode name, stored as its A-labels).
	Domain string
	// Role and Scope are the binding users who join through the domain
	// get ("" is the whole tenant). The actor must hold every right the
	// role carries there.
	Role  string
	Scope string
}

// domainState is what the audit trail keeps of a claim.
type domainState struct {
	Domain     string    `json:"domain"`
	Role       string    `json:"role"`
	Scope      string    `json:"scope,omitempty"`
	VerifiedAt time.Time `json:"verified_at,omitzero"`
}

func domainStateOf(d *permission.TenantDomain) domainState {
	return domainState{Domain: d.Domain, Role: d.Role, Scope: d.Scope, VerifiedAt: d.VerifiedAt}
}

// AddTenantDomain claims an email domain for a tenant: once the claim is
// verified (VerifyTenantDomain, through a DNS TXT record, DomainRecord),
// a user whose address at exactly that domain becomes verified joins the
// tenant with the role at the scope. The actor (WithActor, else the
// request's principal) must hold every right the role gives at that
// scope (ErrExceedsOwnRights), as Invite requires; their session must be
// in that tenant or in none (ErrNotMember). A malformed domain is
// ErrInvalidDomain, a public email domain ErrPublicDomain (both inside a
// *ValidationError); a domain the tenant already claims, ErrConflict.
// Another tenant's claim, verified or not, is no obstacle here: only one
// can be verified at a time.
func (m *Manager) AddTenantDomain(ctx context.Context, in TenantDomainInput) (*permission.TenantDomain, error) {
	if err := checkText("TenantID", in.TenantID, "Role", in.Role, "Scope", in.Scope); err != nil {
		return nil, err
	}
	domain, err := m.claimableDomain(in.Domain)
	if err != nil {
		return nil, err
	}
	// The domain stands in for the users the binding will name.
	if err := m.validateBinding(permission.Binding{UserID: "domain:" + domain, TenantID: in.TenantID, Role: in.Role, Scope: in.Scope}); err != nil {
		return nil, err
	}
	actor := actorFrom(ctx)
	if err := m.checkGrantable(ctx, actor, in.TenantID, []permission.Binding{{TenantID: in.TenantID, Role: in.Role, Scope: in.Scope}}); err != nil {
		return nil, err
	}
	d := &permission.TenantDomain{TenantID: in.TenantID, Domain: domain, Role: in.Role, Scope: in.Scope,
		Token: randid.ID(), CreatedBy: actor.UserID, CreatedAt: m.clock.Now()}
	if err := m.permissions.CreateDomain(ctx, d); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, &ValidationError{Fields: []FieldError{{Field: "TenantID", Reason: "no such tenant"}}}
		}
		return nil, translate("domain.create", err)
	}
	return d.Clone(), m.adminEvent(ctx, "domain.add", in.TenantID, "domain:"+domain, nil, domainStateOf(d))
}

// ListTenantDomains returns the tenant's domain claims, verified or not,
// ordered by domain.
func (m *Manager) ListTenantDomains(ctx context.Context, tenantID string) ([]*permission.TenantDomain, error) {
	if err := checkText("TenantID", tenantID); err != nil {
		return nil, err
	}
	ds, err := m.permissions.ListDomains(ctx, tenantID)
	return ds, translate("domain.list", err)
}

// storedDomain normalizes a domain named to find a claim: one that
// cannot be stored is ErrNotFound (no claim has it).
func storedDomain(s string) (string, error) {
	if err := checkText("Domain", s); err != nil {
		return "", err
	}
	d, ok := normalizeDomain(s)
	if !ok {
		return "", ErrNotFound
	}
	return d, nil
}

// VerifyTenantDomain proves a tenant's claim of a domain: the domain's
// DNS must hold, at DomainRecordPrefix+domain, a TXT record with the
// claim's value (DomainRecord); otherwise, or when DNS cannot be read
// (a lookup gets 10 seconds), it is ErrDomainNotVerified; a caller's
// context canceled or past its deadline is its error (ctx.Err()), not a
// verdict on the record. The actor must still be able to hand out
// the claim's role (ErrExceedsOwnRights), as AddTenantDomain requires:
// verifying is what arms the capture. While another tenant has the domain
// verified it is ErrDomainClaimed, checked after the DNS proof, so only
// someone who controls the domain learns it. A claim already verified is
// returned as it is. Users verified before are not swept in: only
// addresses verified from now on join.
func (m *Manager) VerifyTenantDomain(ctx context.Context, tenantID, domain string) (*permission.TenantDomain, error) {
	if err := checkText("TenantID", tenantID); err != nil {
		return nil, err
	}
	domain, err := storedDomain(domain)
	if err != nil {
		return nil, err
	}
	cur, err := m.permissions.GetDomain(ctx, tenantID, domain)
	if err != nil {
		return nil, translate("domain.get", err)
	}
	if cur.Verified() {
		return cur, nil
	}
	actor := actorFrom(ctx)
	if err := m.checkGrantable(ctx, actor, tenantID, []permission.Binding{{TenantID: tenantID, Role: cur.Role, Scope: cur.Scope}}); err != nil {
		return nil, err
	}
	if err := m.lookupProof(ctx, cur); err != nil {
		return nil, err
	}
	d, err := m.permissions.VerifyDomain(ctx, tenantID, domain, actor.UserID, m.clock.Now(), func(d *permission.TenantDomain) error {
		// Removed and claimed again meanwhile: the proof read was the old
		// claim's (its token), and the rights checked were its role's.
		if d.Token != cur.Token || d.Role != cur.Role || d.Scope != cur.Scope {
			return errClaimChanged
		}
		if d.Verified() {
			return errAlreadyVerified // by a concurrent call: it stands, and was audited
		}
		return nil
	})
	switch {
	case errors.Is(err, errAlreadyVerified):
		d, err := m.permissions.GetDomain(ctx, tenantID, domain)
		return d, translate("domain.get", err)
	case errors.Is(err, errClaimChanged):
		return nil, ErrConflict
	case errors.Is(err, store.ErrConflict):
		return nil, ErrDomainClaimed // another tenant's claim is verified
	case err != nil:
		return nil, translate("domain.verify", err)
	}
	return d, m.adminEvent(ctx, "domain.verify", tenantID, "domain:"+domain, domainStateOf(cur), domainStateOf(d))
}

// errClaimChanged refuses to verify a claim that is no longer the one
// whose proof was read.
var errClaimChanged = errors.New("authv2: the domain claim changed during verification")

// errAlreadyVerified leaves a claim verified meanwhile as it is.
var errAlreadyVerified = errors.New("authv2: the domain claim was verified meanwhile")

// lookupProof reads the claim's TXT record.
func (m *Manager) lookupProof(ctx context.Context, d *permission.TenantDomain) error {
	name, want := DomainRecord(d)
	lctx, cancel := context.WithTimeout(ctx, domainLookupTimeout)
	defer cancel()
	// Rooted: an unrooted name is also tried with the host's search
	// suffixes (first, below ndots), so a zone in the search list could
	// answer the proof.
	txts, err := m.txt.LookupTXT(lctx, name+".")
	if err != nil {
		// The caller hung up or ran out of time: not a verdict on the
		// record. The lookup's own timeout is one (a resolver that hangs).
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		m.log.Info("authv2: reading a domain's verification record failed", "domain", d.Domain, "error", err)
		return ErrDomainNotVerified
	}
	for _, t := range txts {
		if strings.TrimSpace(t) == want {
			return nil
		}
	}
	return ErrDomainNotVerified
}

// RemoveTenantDomain removes a tenant's claim of a domain, verified or
// not: once it returns, nobody joins through it; members who joined
// through it stay (RemoveMember removes them). ErrNotFound if the tenant
// has no such claim.
func (m *Manager) RemoveTenantDomain(ctx context.Context, tenantID, domain string) error {
	if err := checkText("TenantID", tenantID); err != nil {
		return err
	}
	domain, err := storedDomain(domain)
	if err != nil {
		return err
	}
	before, err := m.permissions.DeleteDomain(ctx, tenantID, domain)
	if err != nil {
		return translate("domain.delete", err)
	}
	return m.adminEvent(ctx, "domain.remove", tenantID, "domain:"+domain, domainStateOf(before), nil)
}

// joinByDomain makes a user whose address was just proven a member of the
// tenant that verified its domain (exactly that domain, not a parent),
// with the claim's role, in one store step; a user who holds a binding in
// the tenant already is left as they are. It captures only when the
// verification runs in a signed-in session of that same user:
// a verification token proves that someone reads the mailbox, not that
// the account is theirs, and an account registered by another (its
// password his) would otherwise be handed the tenant by the mailbox's
// owner clicking an unsolicited link. It never fails the verification
// that called it: the address is verified either way, and its token
// spent, so a failure is logged and audited (member.joined, failure) for
// an administrator to act on.
func (m *Manager) joinByDomain(ctx context.Context, u *user.User) {
	if !capturer(ctx, u.ID) {
		m.log.Debug("authv2: an address verified outside the account's own session captures nobody", "user_id", u.ID)
		return
	}
	domain := emailDomain(u.Email)
	if domain == "" {
		return
	}
	d, joined, err := m.permissions.JoinDomain(ctx, domain, u.ID, m.clock.Now())
	if errors.Is(err, store.ErrNotFound) && d == nil {
		return // no tenant has verified the domain
	}
	e := audit.Event{Type: audit.TypeMemberJoined, Outcome: audit.Success, ActorUserID: u.ID, Target: "user:" + u.ID,
		Reason: audit.ReasonDomainCapture, Attributes: map[string]string{"domain": domain}}
	if d != nil {
		e.TenantID = d.TenantID
		e.Attributes["role"], e.Attributes["scope"] = d.Role, d.Scope
	}
	if err != nil {
		m.log.Error("authv2: joining a user to the tenant of their email domain failed", "user_id", u.ID, "domain", domain, "error", err)
		e.Outcome, e.Attributes["error"] = audit.Failure, outcomeName(translate("domain.join", err))
	} else if !joined {
		return
	} else {
		m.policyChanged(ctx, d.TenantID)
	}
	if err := m.emit(ctx, e); err != nil {
		m.log.Error("authv2: recording a domain capture failed", "user_id", u.ID, "error", err)
	}
}

// capturer reports whether ctx carries a session principal of userID
// itself: not an API key (no person at the keyboard), not an
// impersonation (the support agent did not prove the mailbox is the
// user's).
func capturer(ctx context.Context, userID string) bool {
	p, ok := PrincipalFrom(ctx)
	return ok && p.UserID == userID && p.Session != nil && p.APIKey == nil && p.Impersonator == nil
}
