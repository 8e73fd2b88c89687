package authv2_test

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/apikey"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/user"
)

// fakeDNS is a TXTResolver over a map of published records.
type fakeDNS struct {
	mu      sync.Mutex
	records map[string][]string
	err     error // returned by every lookup when set
	// deadline is the last lookup's context deadline.
	deadline time.Time
	// during, when set, runs inside the next lookup (once).
	during func()
}

func newFakeDNS() *fakeDNS { return &fakeDNS{records: map[string][]string{}} }

func (f *fakeDNS) LookupTXT(ctx context.Context, name string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deadline, _ = ctx.Deadline()
	if f.during != nil {
		during := f.during
		f.during = nil
		f.mu.Unlock()
		during()
		f.mu.Lock()
	}
	if f.err != nil {
		return nil, f.err
	}
	txt, ok := f.records[strings.TrimSuffix(name, ".")]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	return append([]string(nil), txt...), nil
}

// publish adds the TXT record that proves d.
func (f *fakeDNS) publish(d *permission.TenantDomain) {
	name, value := authv2.DomainRecord(d)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.records[name] = append(f.records[name], value)
}

// domainOrg is an org (tenant acme) whose new users verify their address,
// with a second tenant, globex, and a fake DNS.
type domainOrg struct {
	*org
	dns     *fakeDNS
	globexP *authv2.Principal
	signUps atomic.Int64 // numbers capture's first addresses
}

func verifyingConfig() authv2.Config {
	cfg := authv2test.Config()
	cfg.RequireEmailVerification = true
	return cfg
}

func newDomainOrg(t *testing.T, opts ...authv2.Option) *domainOrg {
	t.Helper()
	dns := newFakeDNS()
	o := &domainOrg{org: newOrg(t, append([]authv2.Option{authv2.WithConfig(verifyingConfig()), authv2.WithTXTResolver(dns)}, opts...)...), dns: dns}
	ctx := t.Context()
	_, err := o.m.CreateTenant(ctx, "globex", "Globex")
	require.NoError(t, err)
	for _, name := range []string{permission.OwnerRole, "viewer"} {
		require.NoError(t, o.m.PutRole(ctx, &permission.Role{TenantID: "globex", Name: name,
			Grants: []permission.Grant{{Permission: "*", Effect: permission.Allow}}}))
	}
	boss := o.register(t, "boss@globex.example")
	require.NoError(t, o.m.AddMember(ctx, "globex", boss.ID))
	require.NoError(t, o.m.Bind(ctx, permission.Binding{UserID: boss.ID, TenantID: "globex", Role: permission.OwnerRole}))
	o.globexP = &authv2.Principal{UserID: boss.ID, TenantID: "globex", SessionID: "boss-session"}
	return o
}

// claim adds and verifies a domain for the principal's tenant.
func (o *domainOrg) claim(t *testing.T, p *authv2.Principal, domain, role, scope string) *permission.TenantDomain {
	t.Helper()
	d, err := o.m.AddTenantDomain(as(t, p), authv2.TenantDomainInput{TenantID: p.TenantID, Domain: domain, Role: role, Scope: scope})
	require.NoError(t, err)
	o.dns.publish(d)
	d, err = o.m.VerifyTenantDomain(as(t, p), p.TenantID, domain)
	require.NoError(t, err)
	return d
}

// signUp registers email and verifies it with the token sent.
func (o *domainOrg) signUp(t *testing.T, email string) *user.User {
	t.Helper()
	u := o.register(t, email)
	_, err := o.m.VerifyEmail(t.Context(), o.n.wait(t, o.n.verify, email))
	require.NoError(t, err)
	return u
}

// moveTo changes the address of the account signed in as from to email
// and returns the token sent to email with the principal of the account's
// rotated session, in which VerifyEmail captures.
func (o *domainOrg) moveTo(t *testing.T, from, email string) (string, *authv2.Principal) {
	t.Helper()
	res, err := o.m.ChangeEmail(t.Context(), o.principal(t, from), email)
	require.NoError(t, err)
	p, err := o.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	require.NoError(t, err)
	return o.n.wait(t, o.n.verify, email), p
}

// capture makes an account that proves email in its own session: it
// signs up at an address no tenant claims, signs in, changes to email and
// verifies it signed in. It returns the user as VerifyEmail left them.
func (o *domainOrg) capture(t *testing.T, email string) *user.User {
	t.Helper()
	u, err := o.captureErr(t, email)
	require.NoError(t, err)
	return u
}

// captureErr is capture returning ChangeEmail's refusal of email.
func (o *domainOrg) captureErr(t *testing.T, email string) (*user.User, error) {
	t.Helper()
	first := fmt.Sprintf("first%d@signup.test", o.signUps.Add(1))
	o.signUp(t, first)
	res, err := o.m.ChangeEmail(t.Context(), o.principal(t, first), email)
	if err != nil {
		return nil, err
	}
	p, err := o.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	require.NoError(t, err)
	u, err := o.m.VerifyEmail(authv2.WithPrincipal(t.Context(), p), o.n.wait(t, o.n.verify, email))
	require.NoError(t, err)
	return u, nil
}

// principal logs email in and returns its principal, freshly
// authenticated.
func (o *domainOrg) principal(t *testing.T, email string) *authv2.Principal {
	t.Helper()
	res := o.login(t, email)
	p, err := o.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	require.NoError(t, err)
	return p
}

func tenantsOf(t *testing.T, s permission.Store, userID string) []string {
	t.Helper()
	ms, err := s.ListMemberships(t.Context(), userID)
	require.NoError(t, err)
	out := []string{}
	for _, mb := range ms {
		out = append(out, mb.TenantID)
	}
	return out
}

// TestDomainCaptureJoinsUsersVerifiedAfterTheDomain: a verified domain
// makes a user whose address there becomes verified, in their own
// session, a member with the domain's role and scope, audited as member.joined (domain_capture).
// An unverified claim captures nobody; users verified before the domain
// are not swept in; a subdomain is another domain.
func TestDomainCaptureJoinsUsersVerifiedAfterTheDomain(t *testing.T) {
	o := newDomainOrg(t)
	ctx := as(t, o.adminP)
	d, err := o.m.AddTenantDomain(ctx, authv2.TenantDomainInput{TenantID: "acme", Domain: "Example.ORG.", Role: "viewer", Scope: "region:eu"})
	require.NoError(t, err)
	assert.Equal(t, "example.org", d.Domain, "lower case, no root dot")
	assert.False(t, d.Verified())
	assert.Equal(t, o.admin.ID, d.CreatedBy)
	name, value := authv2.DomainRecord(d)
	assert.Equal(t, "_authv2-challenge.example.org", name)
	assert.Equal(t, "authv2-domain-verification="+d.Token, value)

	early := o.capture(t, "early@example.org")
	assert.Empty(t, tenantsOf(t, o.stores.Permissions, early.ID), "an unverified claim captures nobody")

	o.dns.publish(d)
	d, err = o.m.VerifyTenantDomain(ctx, "acme", "EXAMPLE.org")
	require.NoError(t, err)
	assert.True(t, d.Verified())
	assert.Equal(t, o.admin.ID, d.VerifiedBy)

	u := o.capture(t, "New@Example.Org")
	assert.Equal(t, []string{"acme"}, tenantsOf(t, o.stores.Permissions, u.ID))
	bs, err := o.m.ListBindings(t.Context(), "acme", u.ID)
	require.NoError(t, err)
	require.Len(t, bs, 1)
	assert.Equal(t, "viewer", bs[0].Role)
	assert.Equal(t, "region:eu", bs[0].Scope)
	assert.True(t, o.m.Can(t.Context(), &authv2.Principal{UserID: u.ID, TenantID: "acme"}, "read",
		permission.Resource{Type: "docs", TenantID: "acme", Scope: "region:eu"}), "the binding works at once")

	assert.Empty(t, tenantsOf(t, o.stores.Permissions, early.ID), "verified before the domain: not swept in")
	sub := o.capture(t, "x@eng.example.org")
	assert.Empty(t, tenantsOf(t, o.stores.Permissions, sub.ID), "a subdomain is not the domain")

	joined := o.sink.OfType(audit.TypeMemberJoined)
	require.Len(t, joined, 1)
	assert.Equal(t, audit.Success, joined[0].Outcome)
	assert.Equal(t, audit.ReasonDomainCapture, joined[0].Reason)
	assert.Equal(t, "acme", joined[0].TenantID)
	assert.Equal(t, u.ID, joined[0].ActorUserID)
	assert.Equal(t, "example.org", joined[0].Attributes["domain"])
	assert.Equal(t, "viewer", joined[0].Attributes["role"])
	actions := map[string]audit.Event{}
	for _, ev := range o.sink.OfType(audit.TypeAdminChange) {
		actions[ev.Attributes["action"]] = ev
	}
	for _, a := range []string{"domain.add", "domain.verify"} {
		assert.Equal(t, o.admin.ID, actions[a].ActorUserID, a)
		assert.Equal(t, "domain:example.org", actions[a].Target, a)
		assert.NotContains(t, actions[a].Attributes["after"], d.Token, "the trail keeps no token")
	}
}

// TestDomainCaptureLeavesAMemberAsTheyAre: a member of the tenant whose
// new address at its domain is verified keeps their roles (idempotent);
// their change of address is captured like a sign-up otherwise.
func TestDomainCaptureLeavesAMemberAsTheyAre(t *testing.T) {
	o := newDomainOrg(t)
	o.claim(t, o.adminP, "example.org", "viewer", "")
	// The admin (a member with the admin role) verifies their first
	// address, then moves to the captured domain.
	_, err := o.m.VerifyEmail(t.Context(), o.n.wait(t, o.n.verify, "admin@example.com"))
	require.NoError(t, err)
	tok, p := o.moveTo(t, "admin@example.com", "admin@example.org")
	_, err = o.m.VerifyEmail(authv2.WithPrincipal(t.Context(), p), tok)
	require.NoError(t, err)
	bs, err := o.m.ListBindings(t.Context(), "acme", o.admin.ID)
	require.NoError(t, err)
	require.Len(t, bs, 1)
	assert.Equal(t, "admin", bs[0].Role, "no viewer binding added to a member")
	assert.Empty(t, o.sink.OfType(audit.TypeMemberJoined))

	// A globex user moving to the domain joins acme.
	boss := o.globexP.UserID
	_, err = o.m.VerifyEmail(t.Context(), o.n.wait(t, o.n.verify, "boss@globex.example"))
	require.NoError(t, err)
	tok, p = o.moveTo(t, "boss@globex.example", "boss@example.org")
	assert.Equal(t, []string{"globex"}, tenantsOf(t, o.stores.Permissions, boss), "an unverified new address captures nothing")
	_, err = o.m.VerifyEmail(authv2.WithPrincipal(t.Context(), p), tok)
	require.NoError(t, err)
	assert.Equal(t, []string{"acme", "globex"}, tenantsOf(t, o.stores.Permissions, boss))
}

// TestRegistrantOfTheTenantGetsTheDomainRole: Register with TenantID (a
// sign-up page of the tenant) makes a bare membership, no binding; a
// user who then verifies an address at the tenant's captured domain
// holds the domain's role: only a binding in the tenant keeps capture
// away.
func TestRegistrantOfTheTenantGetsTheDomainRole(t *testing.T) {
	o := newDomainOrg(t)
	o.claim(t, o.adminP, "example.org", "viewer", "")
	u, err := o.m.Register(t.Context(), authv2.RegisterInput{Email: "new@signup.test", Password: goodPassword, TenantID: "acme"})
	require.NoError(t, err)
	_, err = o.m.VerifyEmail(t.Context(), o.n.wait(t, o.n.verify, "new@signup.test"))
	require.NoError(t, err)
	tok, p := o.moveTo(t, "new@signup.test", "new@example.org")
	_, err = o.m.VerifyEmail(authv2.WithPrincipal(t.Context(), p), tok)
	require.NoError(t, err)
	assert.Equal(t, []string{"acme"}, tenantsOf(t, o.stores.Permissions, u.ID))
	bs, err := o.m.ListBindings(t.Context(), "acme", u.ID)
	require.NoError(t, err)
	require.Len(t, bs, 1, "a verified address at acme's domain gets the domain's role")
	assert.Equal(t, "viewer", bs[0].Role)
	assert.True(t, o.m.Can(t.Context(), &authv2.Principal{UserID: u.ID, TenantID: "acme"}, "read",
		permission.Resource{Type: "docs", TenantID: "acme"}))
}

// TestAddTenantDomainNormalizesAndRefuses: a domain is stored in one
// form (case, root dot, full-width and Unicode forms mapped as DNS does);
// what is no domain name is ErrInvalidDomain, a public mail domain or one
// under it ErrPublicDomain, both validation errors on Domain.
func TestAddTenantDomainNormalizesAndRefuses(t *testing.T) {
	o := newDomainOrg(t)
	ctx := as(t, o.adminP)
	add := func(domain string) (*permission.TenantDomain, error) {
		return o.m.AddTenantDomain(ctx, authv2.TenantDomainInput{TenantID: "acme", Domain: domain, Role: "viewer"})
	}
	for in, want := range map[string]string{
		"Example.COM.":   "example.com",
		"bücher.example": "xn--bcher-kva.example",
		"ｆｕｌｌ．ｗｉｄｔｈ．ｅｘａｍｐｌｅ": "full.width.example",
		"a.b.c.example": "a.b.c.example",
	} {
		d, err := add(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, d.Domain, in)
	}
	for _, same := range []string{"example.com", "EXAMPLE.COM", "ｅｘａｍｐｌｅ.com", "xn--bcher-kva.example", "BÜCHER.example."} {
		_, err := add(same)
		assert.ErrorIs(t, err, authv2.ErrConflict, "%q is a domain the tenant claims", same)
	}
	for _, bad := range []string{"com", "localhost", "1.2.3.4", "exa mple.com", "a_b.example", "-x.example", "x..example",
		"example.com..", ".example.com", "https://example.com", "user@example.com", "xn--zz.example", "*.example.com",
		"\u202eexample.com", "\x00.example", "\xff.example", "\ufffd.example", strings.Repeat("a", 64) + ".example",
		strings.Repeat("a.", 127) + "example", ""} {
		_, err := add(bad)
		assert.ErrorIs(t, err, authv2.ErrValidation, "%q", bad)
		if !assert.ErrorIs(t, err, authv2.ErrInvalidDomain, "%q", bad) {
			continue
		}
		var ve *authv2.ValidationError
		require.ErrorAs(t, err, &ve)
		assert.NotEmpty(t, ve.Field("Domain"))
	}
	for _, public := range []string{"gmail.com", "GMail.com.", "ｇｍａｉｌ.com", "mail.gmail.com", "outlook.com"} {
		_, err := add(public)
		assert.ErrorIs(t, err, authv2.ErrPublicDomain, "%q", public)
		assert.ErrorIs(t, err, authv2.ErrValidation)
	}
	_, err := add("notgmail.com")
	assert.NoError(t, err, "a suffix is not a subdomain")
	ds, err := o.m.ListTenantDomains(t.Context(), "acme")
	require.NoError(t, err)
	var names []string
	for _, d := range ds {
		names = append(names, d.Domain)
	}
	assert.Equal(t, []string{"a.b.c.example", "example.com", "full.width.example", "notgmail.com", "xn--bcher-kva.example"}, names)

	_, err = o.m.AddTenantDomain(ctx, authv2.TenantDomainInput{TenantID: "nope", Domain: "x.example", Role: "viewer"})
	assert.Error(t, err)
	_, err = o.m.AddTenantDomain(ctx, authv2.TenantDomainInput{TenantID: "acme", Domain: "x.example", Role: "nope"})
	assert.ErrorIs(t, err, authv2.ErrValidation, "no such role")
}

// TestTenantDomainRefusesRightsTheActorLacks: the actor hands out through
// a domain only what they hold, as for invitations, and only in their own
// tenant; verifying checks again.
func TestTenantDomainRefusesRightsTheActorLacks(t *testing.T) {
	o := newDomainOrg(t)
	in := authv2.TenantDomainInput{TenantID: "acme", Domain: "example.org", Role: "billing"}
	_, err := o.m.AddTenantDomain(as(t, o.adminP), in)
	assert.ErrorIs(t, err, authv2.ErrExceedsOwnRights, "the admin holds no billing rights")
	_, err = o.m.AddTenantDomain(as(t, o.globexP), in)
	assert.ErrorIs(t, err, authv2.ErrNotMember, "another tenant's session")
	_, err = o.m.AddTenantDomain(t.Context(), in)
	assert.ErrorIs(t, err, authv2.ErrUnauthenticated)

	// The owner claims it; the admin cannot arm it.
	d, err := o.m.AddTenantDomain(as(t, o.ownerP), in)
	require.NoError(t, err)
	o.dns.publish(d)
	_, err = o.m.VerifyTenantDomain(as(t, o.adminP), "acme", "example.org")
	assert.ErrorIs(t, err, authv2.ErrExceedsOwnRights)
	_, err = o.m.VerifyTenantDomain(as(t, o.ownerP), "acme", "example.org")
	assert.NoError(t, err)
}

// TestVerifyTenantDomainNeedsTheClaimsOwnRecord: without the claim's TXT
// record (none, another value, another tenant's token, a DNS failure)
// the domain stays unverified; another tenant's verified claim is
// ErrDomainClaimed until it is removed.
func TestVerifyTenantDomainNeedsTheClaimsOwnRecord(t *testing.T) {
	o := newDomainOrg(t)
	acme, err := o.m.AddTenantDomain(as(t, o.adminP), authv2.TenantDomainInput{TenantID: "acme", Domain: "example.org", Role: "viewer"})
	require.NoError(t, err)
	globex, err := o.m.AddTenantDomain(as(t, o.globexP), authv2.TenantDomainInput{TenantID: "globex", Domain: "example.org", Role: "viewer"})
	require.NoError(t, err, "a pending claim blocks nobody")
	assert.NotEqual(t, acme.Token, globex.Token)

	verify := func(p *authv2.Principal) error {
		_, err := o.m.VerifyTenantDomain(as(t, p), p.TenantID, "example.org")
		return err
	}
	assert.ErrorIs(t, verify(o.adminP), authv2.ErrDomainNotVerified, "no record")
	name, _ := authv2.DomainRecord(acme)
	o.dns.records[name] = []string{"authv2-domain-verification=wrong", "v=spf1 -all"}
	assert.ErrorIs(t, verify(o.adminP), authv2.ErrDomainNotVerified, "another value")
	o.dns.publish(acme)
	assert.ErrorIs(t, verify(o.globexP), authv2.ErrDomainNotVerified, "acme's record proves nothing for globex")
	o.dns.err = &net.DNSError{Err: "server misbehaving", IsTemporary: true}
	assert.ErrorIs(t, verify(o.adminP), authv2.ErrDomainNotVerified, "DNS unreadable")
	o.dns.err = nil
	require.NoError(t, verify(o.adminP))
	require.NoError(t, verify(o.adminP), "verified already: as it is")

	assert.ErrorIs(t, verify(o.globexP), authv2.ErrDomainNotVerified,
		"acme's hold is told only to a tenant that proved the domain")
	o.dns.publish(globex)
	assert.ErrorIs(t, verify(o.globexP), authv2.ErrDomainClaimed)
	u := o.capture(t, "a@example.org")
	assert.Equal(t, []string{"acme"}, tenantsOf(t, o.stores.Permissions, u.ID))

	require.NoError(t, o.m.RemoveTenantDomain(as(t, o.adminP), "acme", "Example.org"))
	assert.ErrorIs(t, o.m.RemoveTenantDomain(as(t, o.adminP), "acme", "example.org"), authv2.ErrNotFound)
	assert.Equal(t, []string{"acme"}, tenantsOf(t, o.stores.Permissions, u.ID), "members stay")
	require.NoError(t, verify(o.globexP), "free once acme removed it")
	v := o.capture(t, "b@example.org")
	assert.Equal(t, []string{"globex"}, tenantsOf(t, o.stores.Permissions, v.ID))

	_, err = o.m.VerifyTenantDomain(as(t, o.adminP), "acme", "example.org")
	assert.ErrorIs(t, err, authv2.ErrNotFound, "removed")
	_, err = o.m.VerifyTenantDomain(as(t, o.adminP), "acme", "not a domain")
	assert.ErrorIs(t, err, authv2.ErrNotFound)
}

// TestInvitationSignUpIsNotCaptured: an invitation is the way into its
// own tenant only. Its link proves nothing about who reads the address
// (an application may show it to the inviter to copy), so globex's
// administrator who invites a made-up address at acme's domain and
// accepts the invitation himself is a member of globex, not of acme.
func TestInvitationSignUpIsNotCaptured(t *testing.T) {
	o := newDomainOrg(t)
	o.claim(t, o.adminP, "example.org", "viewer", "")
	_, err := o.m.Invite(as(t, o.globexP), authv2.InviteInput{TenantID: "globex", Email: "ghost@example.org", Role: "viewer"})
	require.NoError(t, err)
	tok := o.n.wait(t, o.n.invites, "ghost@example.org") // the link the inviter copies
	u, err := o.m.AcceptInvitation(t.Context(), nil, authv2.AcceptInvitationInput{Token: tok, Password: goodPassword})
	require.NoError(t, err)
	assert.Equal(t, []string{"globex"}, tenantsOf(t, o.stores.Permissions, u.ID), "another tenant's invitation captured into acme")
	assert.Empty(t, o.sink.OfType(audit.TypeMemberJoined))
}

// TestVerifyTenantDomainRefusesAClaimReplacedDuringTheLookup: a claim
// removed and claimed again (another token, another role) while its old
// record was read is not verified with that proof.
func TestVerifyTenantDomainRefusesAClaimReplacedDuringTheLookup(t *testing.T) {
	o := newDomainOrg(t)
	ctx := as(t, o.ownerP)
	d, err := o.m.AddTenantDomain(ctx, authv2.TenantDomainInput{TenantID: "acme", Domain: "example.org", Role: "viewer"})
	require.NoError(t, err)
	o.dns.publish(d)
	o.dns.during = func() {
		require.NoError(t, o.m.RemoveTenantDomain(ctx, "acme", "example.org"))
		_, err := o.m.AddTenantDomain(ctx, authv2.TenantDomainInput{TenantID: "acme", Domain: "example.org", Role: "billing"})
		require.NoError(t, err)
	}
	_, err = o.m.VerifyTenantDomain(ctx, "acme", "example.org")
	assert.ErrorIs(t, err, authv2.ErrConflict)
	got, err := o.m.ListTenantDomains(t.Context(), "acme")
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.False(t, got[0].Verified())
	assert.Equal(t, "billing", got[0].Role)
}

// TestDomainCaptureFailureDoesNotFailTheVerification: when the join
// cannot be made (the domain's role was deleted), the address is still
// verified, and the failure is audited for an administrator.
func TestDomainCaptureFailureDoesNotFailTheVerification(t *testing.T) {
	o := newDomainOrg(t)
	require.NoError(t, o.m.PutRole(t.Context(), &permission.Role{TenantID: "acme", Name: "temp",
		Grants: []permission.Grant{{Permission: "docs:read", Effect: permission.Allow}}}))
	o.claim(t, o.adminP, "example.org", "temp", "")
	require.NoError(t, o.m.DeleteRole(t.Context(), "acme", "temp"))
	u := o.capture(t, "a@example.org")
	got, err := o.stores.Users.Get(t.Context(), u.ID)
	require.NoError(t, err)
	assert.Equal(t, "a@example.org", got.Email, "verified")
	assert.Empty(t, tenantsOf(t, o.stores.Permissions, u.ID))
	joined := o.sink.OfType(audit.TypeMemberJoined)
	require.Len(t, joined, 1)
	assert.Equal(t, audit.Failure, joined[0].Outcome)
	assert.Equal(t, "acme", joined[0].TenantID)
	assert.Equal(t, "not_found", joined[0].Attributes["error"])
}

// TestDomainCaptureIgnoresLookalikeAddresses: only an address whose
// domain maps to exactly the verified one is captured: a homograph
// (Cyrillic letters), a parent's subdomain or a name IDNA2003 would send
// elsewhere (ß) is not.
func TestDomainCaptureIgnoresLookalikeAddresses(t *testing.T) {
	o := newDomainOrg(t)
	o.claim(t, o.adminP, "example.org", "viewer", "")
	o.claim(t, o.adminP, "xn--strae-oqa.example", "viewer", "") // straße.example
	for email, captured := range map[string]bool{
		"a@EXAMPLE.ORG":           true,
		"b@exаmple.org":           false, // Cyrillic а
		"c@example.org.evil.test": false,
		"d@eng.example.org":       false,
		"e@example.org.":          true, // the root's dot, if the address validator lets it through
		"f@straße.example":        false,
		"g@xn--strae-oqa.example": true,
	} {
		u, err := o.captureErr(t, email)
		if err != nil {
			assert.ErrorIs(t, err, authv2.ErrValidation, email)
			t.Logf("%q: refused as an address", email)
			continue
		}
		assert.Equal(t, captured, len(tenantsOf(t, o.stores.Permissions, u.ID)) == 1, email)
	}
}

func TestDomainCaptureConfig(t *testing.T) {
	cfg := authv2test.Config()
	cfg.DomainCapture.RefusedDomains = []string{"not a domain"}
	_, err := authv2.New(authv2.WithConfig(cfg))
	var ce *authv2.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "DomainCapture.RefusedDomains", ce.Field)

	cfg = verifyingConfig()
	cfg.DomainCapture.RefusedDomains = []string{"Corp.Example."}
	o := newDomainOrg(t, authv2.WithConfig(cfg))
	_, err = o.m.AddTenantDomain(as(t, o.adminP), authv2.TenantDomainInput{TenantID: "acme", Domain: "team.corp.example", Role: "viewer"})
	assert.ErrorIs(t, err, authv2.ErrPublicDomain)
	_, err = o.m.AddTenantDomain(as(t, o.adminP), authv2.TenantDomainInput{TenantID: "acme", Domain: "gmail.com", Role: "viewer"})
	assert.NoError(t, err, "the list replaces the default")
}

// TestTenantsRacingToVerifyADomainOneWins: two tenants verify the same
// domain from hundreds of goroutines at once: one tenant wins (each of
// its calls succeeds), every call of the other is ErrDomainClaimed, and
// new users join the winner only. On memory and PostgreSQL.
func TestTenantsRacingToVerifyADomainOneWins(t *testing.T) {
	for _, b := range backends()[:2] { // the permission store decides: memory and PostgreSQL
		t.Run(b.name, func(t *testing.T) {
			st := b.stores(t)
			o := newDomainOrg(t, st.options()...)
			for _, p := range []*authv2.Principal{o.adminP, o.globexP} {
				d, err := o.m.AddTenantDomain(as(t, p), authv2.TenantDomainInput{TenantID: p.TenantID, Domain: "example.org", Role: "viewer"})
				require.NoError(t, err)
				o.dns.publish(d)
			}
			const n = 200
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				p := []*authv2.Principal{o.adminP, o.globexP}[i%2]
				wg.Go(func() { _, errs[i] = o.m.VerifyTenantDomain(as(t, p), p.TenantID, "example.org") })
			}
			wg.Wait()
			won := map[string]int{}
			for i, err := range errs {
				tenant := []string{"acme", "globex"}[i%2]
				if err == nil {
					won[tenant]++
					continue
				}
				assert.ErrorIs(t, err, authv2.ErrDomainClaimed)
			}
			require.Len(t, won, 1, "one tenant wins: %v", won)
			var winner string
			for tenant, calls := range won {
				winner = tenant
				assert.Equal(t, n/2, calls, "each of the winner's calls succeeds")
			}
			u := o.capture(t, "racer@example.org")
			assert.Equal(t, []string{winner}, tenantsOf(t, st.permissions, u.ID))
		})
	}
}

// TestEmailVerificationRacingDomainRemoval: users verify addresses at a
// captured domain while an administrator removes it. Each user either
// joined (with its member.joined event) or did not, never half; once the
// removal returned, nobody joins. On memory and PostgreSQL.
func TestEmailVerificationRacingDomainRemoval(t *testing.T) {
	for _, b := range backends()[:2] {
		t.Run(b.name, func(t *testing.T) {
			st := b.stores(t)
			o := newDomainOrg(t, st.options()...)
			o.claim(t, o.adminP, "example.org", "viewer", "")
			const n = 100
			users := make([]*user.User, n)
			tokens := make([]string, n)
			sessions := make([]*authv2.Principal, n)
			for i := range n {
				first := fmt.Sprintf("first%03d@signup.test", i)
				users[i] = o.signUp(t, first)
				tokens[i], sessions[i] = o.moveTo(t, first, fmt.Sprintf("u%03d@example.org", i))
			}
			var wg sync.WaitGroup
			var done atomic.Int32
			for i := range n {
				wg.Go(func() {
					_, err := o.m.VerifyEmail(authv2.WithPrincipal(t.Context(), sessions[i]), tokens[i])
					assert.NoError(t, err)
					done.Add(1)
				})
			}
			// The removal lands among the verifications: a quarter of them
			// are done, the rest in flight or yet to start.
			for done.Load() < n/4 {
				runtime.Gosched()
			}
			require.NoError(t, o.m.RemoveTenantDomain(as(t, o.adminP), "acme", "example.org"))
			late := o.capture(t, "late@example.org")
			assert.Empty(t, tenantsOf(t, st.permissions, late.ID), "removed: nobody joins")
			wg.Wait()

			joinedEvent := map[string]bool{}
			for _, e := range o.sink.OfType(audit.TypeMemberJoined) {
				require.Equal(t, audit.Success, e.Outcome)
				joinedEvent[e.ActorUserID] = true
			}
			members := 0
			for _, u := range users {
				in := tenantsOf(t, st.permissions, u.ID)
				bs, err := st.permissions.ListBindings(t.Context(), "acme", u.ID)
				require.NoError(t, err)
				if len(in) == 0 {
					assert.Empty(t, bs, "no binding without a membership")
					assert.False(t, joinedEvent[u.ID])
					continue
				}
				members++
				assert.Equal(t, []string{"acme"}, in)
				assert.Len(t, bs, 1)
				assert.True(t, joinedEvent[u.ID], "a join is audited")
			}
			assert.GreaterOrEqual(t, members, n/4, "those verified before the removal began joined")
			t.Logf("%d of %d joined before the removal", members, n)
		})
	}
}

// TestVerifyTenantDomainBoundsTheLookup: a DNS lookup gets at most 10
// seconds, whatever the caller's context allows.
func TestVerifyTenantDomainBoundsTheLookup(t *testing.T) {
	o := newDomainOrg(t)
	d, err := o.m.AddTenantDomain(as(t, o.adminP), authv2.TenantDomainInput{TenantID: "acme", Domain: "example.org", Role: "viewer"})
	require.NoError(t, err)
	o.dns.publish(d)
	before := time.Now()
	_, err = o.m.VerifyTenantDomain(as(t, o.adminP), "acme", "example.org")
	require.NoError(t, err)
	require.False(t, o.dns.deadline.IsZero(), "the lookup has a deadline")
	assert.WithinDuration(t, before.Add(10*time.Second), o.dns.deadline, time.Second)
}

// TestDomainCaptureNeedsAProvenAddress: without
// Config.RequireEmailVerification a registration proves nothing, so
// nobody joins through a verified domain by registering.
func TestDomainCaptureNeedsAProvenAddress(t *testing.T) {
	o := newDomainOrg(t, authv2.WithConfig(authv2test.Config()))
	o.claim(t, o.adminP, "example.org", "viewer", "")
	u := o.register(t, "claimer@example.org")
	assert.Equal(t, user.StatusActive, u.Status)
	assert.Empty(t, tenantsOf(t, o.stores.Permissions, u.ID))
}

// TestPreRegisteredAddressDoesNotHandTheTenantToTheRegistrant: an
// attacker registers victim@<captured domain> with his own password; the
// victim, mailed a "verify your address" link, clicks it (signed out:
// the account is not theirs). The account is verified, but the attacker's
// password opens no tenant (account pre-hijacking, worth a tenant if the
// click captured).
func TestPreRegisteredAddressDoesNotHandTheTenantToTheRegistrant(t *testing.T) {
	o := newDomainOrg(t)
	o.claim(t, o.adminP, "example.org", "viewer", "")
	u := o.register(t, "victim@example.org")                                              // by the attacker, with his password
	_, err := o.m.VerifyEmail(t.Context(), o.n.wait(t, o.n.verify, "victim@example.org")) // by the victim
	require.NoError(t, err)
	assert.Empty(t, tenantsOf(t, o.stores.Permissions, u.ID))
	res, err := o.m.Login(t.Context(), authv2.LoginInput{Email: "victim@example.org", Password: goodPassword})
	require.NoError(t, err)
	p := &authv2.Principal{UserID: res.Session.UserID, TenantID: "acme"}
	assert.False(t, o.m.Can(t.Context(), p, "read", permission.Resource{Type: "docs", TenantID: "acme"}),
		"the registrant, who never proved the address, reads acme's documents")
	assert.Empty(t, o.sink.OfType(audit.TypeMemberJoined))
}

// TestDomainCaptureNeedsTheAccountsOwnSession: a verification captures
// only inside a session of the account itself. The same class as
// pre-registration: an attacker changes his own account's address to
// victim@<captured domain>, and the victim clicks the unsolicited link,
// signed out or signed in as someone else. An impersonation session (the
// support agent proves nothing of the mailbox) and an API key (no person)
// capture nobody either. Each verifies the address all the same.
func TestDomainCaptureNeedsTheAccountsOwnSession(t *testing.T) {
	o := newDomainOrg(t)
	o.claim(t, o.adminP, "example.org", "viewer", "")
	o.signUp(t, "someone@signup.test")
	other := o.principal(t, "someone@signup.test")
	for i, c := range []struct {
		name string
		ctx  func(own *authv2.Principal) context.Context
	}{
		{"signed out", func(*authv2.Principal) context.Context { return t.Context() }},
		{"another user's session", func(*authv2.Principal) context.Context { return authv2.WithPrincipal(t.Context(), other) }},
		{"impersonation", func(own *authv2.Principal) context.Context {
			imp := *own
			imp.Impersonator = &session.Impersonator{UserID: o.admin.ID, SessionID: other.SessionID}
			return authv2.WithPrincipal(t.Context(), &imp)
		}},
		{"API key", func(own *authv2.Principal) context.Context {
			return authv2.WithPrincipal(t.Context(), &authv2.Principal{UserID: own.UserID, APIKey: &apikey.Key{ID: "k"}})
		}},
	} {
		first := fmt.Sprintf("attacker%d@signup.test", i)
		u := o.signUp(t, first)
		email := fmt.Sprintf("victim%d@example.org", i)
		tok, own := o.moveTo(t, first, email)
		got, err := o.m.VerifyEmail(c.ctx(own), tok)
		require.NoError(t, err, c.name)
		assert.Equal(t, email, got.Email, "%s: the address is verified", c.name)
		assert.Empty(t, tenantsOf(t, o.stores.Permissions, u.ID), "%s: captured", c.name)
	}
	assert.Empty(t, o.sink.OfType(audit.TypeMemberJoined))
}

// recordingDNS answers like fakeDNS (with or without the root's dot) but
// records the names asked, and can block until the lookup's context ends.
type recordingDNS struct {
	*fakeDNS
	mu    sync.Mutex
	names []string
	block bool
}

func (r *recordingDNS) LookupTXT(ctx context.Context, name string) ([]string, error) {
	r.mu.Lock()
	r.names = append(r.names, name)
	block := r.block
	r.mu.Unlock()
	if block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return r.fakeDNS.LookupTXT(ctx, strings.TrimSuffix(name, "."))
}

// TestDomainLookupNameIsRooted: the proof is read at exactly
// _authv2-challenge.<domain>. An unrooted name is tried with the host's
// resolv.conf search suffixes too, and first when it has fewer dots than
// ndots (5 in Kubernetes pods): whoever controls a zone in the search
// list could answer the proof.
func TestDomainLookupNameIsRooted(t *testing.T) {
	dns := &recordingDNS{fakeDNS: newFakeDNS()}
	o := newDomainOrg(t, authv2.WithTXTResolver(dns))
	d, err := o.m.AddTenantDomain(as(t, o.adminP), authv2.TenantDomainInput{TenantID: "acme", Domain: "example.org", Role: "viewer"})
	require.NoError(t, err)
	dns.publish(d)
	_, err = o.m.VerifyTenantDomain(as(t, o.adminP), "acme", "example.org")
	require.NoError(t, err)
	require.Len(t, dns.names, 1)
	assert.Equal(t, "_authv2-challenge.example.org.", dns.names[0], "a rooted name is never completed with search suffixes")
}

// TestCanceledDomainVerificationIsNotAFailedProof: a caller that hangs
// up gets its context's error, as other flows return ctx.Err(), not
// ErrDomainNotVerified (a 400 telling the administrator the record is
// wrong).
func TestCanceledDomainVerificationIsNotAFailedProof(t *testing.T) {
	dns := &recordingDNS{fakeDNS: newFakeDNS(), block: true}
	o := newDomainOrg(t, authv2.WithTXTResolver(dns))
	_, err := o.m.AddTenantDomain(as(t, o.adminP), authv2.TenantDomainInput{TenantID: "acme", Domain: "example.org", Role: "viewer"})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(as(t, o.adminP))
	go func() {
		for {
			dns.mu.Lock()
			n := len(dns.names)
			dns.mu.Unlock()
			if n > 0 {
				cancel()
				return
			}
			runtime.Gosched()
		}
	}()
	_, err = o.m.VerifyTenantDomain(ctx, "acme", "example.org")
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, authv2.ErrDomainNotVerified)
}

// TestConcurrentVerificationsOfOneClaimVerifyOnce: two administrators
// verify the same claim at once; the second neither overwrites
// VerifiedAt/VerifiedBy nor audits a second domain.verify. On memory and
// PostgreSQL.
func TestConcurrentVerificationsOfOneClaimVerifyOnce(t *testing.T) {
	for _, b := range backends()[:2] {
		t.Run(b.name, func(t *testing.T) {
			st := b.stores(t)
			o := newDomainOrg(t, st.options()...)
			d, err := o.m.AddTenantDomain(as(t, o.ownerP), authv2.TenantDomainInput{TenantID: "acme", Domain: "example.org", Role: "viewer"})
			require.NoError(t, err)
			o.dns.publish(d)
			var inner *permission.TenantDomain
			o.dns.during = func() {
				o.clock.Advance(1)
				var err error
				inner, err = o.m.VerifyTenantDomain(as(t, o.adminP), "acme", "example.org")
				require.NoError(t, err)
			}
			outer, err := o.m.VerifyTenantDomain(as(t, o.ownerP), "acme", "example.org")
			require.NoError(t, err)
			assert.Equal(t, inner.VerifiedBy, outer.VerifiedBy, "the first verification stands")
			assert.Equal(t, inner.VerifiedAt, outer.VerifiedAt)
			n := 0
			for _, ev := range o.sink.OfType(audit.TypeAdminChange) {
				if ev.Attributes["action"] == "domain.verify" {
					n++
				}
			}
			assert.Equal(t, 1, n, "one claim, one verification event")
		})
	}
}
