package handlers_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/permission"
)

type domainResp struct {
	Domain   string `json:"domain"`
	Role     string `json:"role"`
	Verified bool   `json:"verified"`
	Record   struct {
		Type  string `json:"type"`
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"record"`
}

// TestDomainRoutesClaimVerifyCaptureRemove: an owner claims a domain
// through the kit, publishes the TXT record it answers with, verifies it;
// a user who then verifies an address there signed in (the link's token
// posted with their session's) is a member with the domain's role, one
// who verifies signed out is not; a member without members:invite cannot manage
// domains; a public mail domain is refused; removal stops the capture.
func TestDomainRoutesClaimVerifyCaptureRemove(t *testing.T) {
	dns := &authv2test.TXTRecords{}
	cfg := authv2test.Config()
	cfg.RequireEmailVerification = true
	e := newEnv(t, authv2.WithConfig(cfg), authv2.WithTXTResolver(dns))
	ctx := t.Context()
	e.tenant("acme", map[string]string{permission.OwnerRole: "*", "viewer": "docs:read"})
	signUp := func(email string) userResp {
		u := e.register(email)
		e.api("").must("POST", "/email-verification/complete", map[string]string{"token": e.mail.token(t, "verify:"+email)}, http.StatusNoContent)
		return u
	}
	owner := signUp("owner@example.com")
	require.NoError(t, e.m.AddMember(ctx, "acme", owner.ID))
	require.NoError(t, e.m.Bind(ctx, permission.Binding{UserID: owner.ID, TenantID: "acme", Role: permission.OwnerRole}))
	login := func(email string) *client {
		s := decode[sessionResp](t, e.api("").must("POST", "/login", map[string]string{"email": email, "password": password, "tenant_id": "acme"}, http.StatusOK))
		return e.api(s.Token)
	}
	admin := login("owner@example.com")
	// capture signs up at first, signs in, changes to email and verifies
	// it in that session.
	capture := func(first, email string) userResp {
		u := signUp(first)
		a, _ := e.loginAPI(first)
		s := decode[sessionResp](t, a.must("POST", "/email", map[string]string{"email": email}, http.StatusOK))
		e.api(s.Token).must("POST", "/email-verification/complete", map[string]string{"token": e.mail.token(t, "verify:"+email)}, http.StatusNoContent)
		return u
	}

	d := decode[domainResp](t, admin.must("POST", "/domains", map[string]string{"domain": "Example.ORG", "role": "viewer"}, http.StatusCreated))
	assert.Equal(t, "example.org", d.Domain)
	assert.False(t, d.Verified)
	assert.Equal(t, "TXT", d.Record.Type)
	assert.Equal(t, "_authv2-challenge.example.org", d.Record.Name)
	resp, body := admin.do("POST", "/domains", map[string]string{"domain": "gmail.com", "role": "viewer"})
	p := requireProblem(t, resp, body, http.StatusBadRequest, "validation")
	assert.Equal(t, []string{"domain"}, fields(p))
	resp, body = admin.do("POST", "/domains/example.org/verify", nil)
	requireProblem(t, resp, body, http.StatusBadRequest, "domain-not-verified")

	dns.Publish(d.Record.Name, d.Record.Value)
	d = decode[domainResp](t, admin.must("POST", "/domains/example.org/verify", nil, http.StatusOK))
	assert.True(t, d.Verified)

	joined := capture("first@signup.test", "new@example.org")
	signedOut := signUp("signed-out@example.org")
	members := decode[[]memberResp](t, admin.must("GET", "/members", nil, http.StatusOK))
	var got *memberResp
	for i := range members {
		if members[i].UserID == joined.ID {
			got = &members[i]
		}
		assert.NotEqual(t, signedOut.ID, members[i].UserID, "verified signed out: no capture")
	}
	require.NotNil(t, got, "the verified address joined the tenant")
	require.Len(t, got.Roles, 1)
	assert.Equal(t, "viewer", got.Roles[0].Role)

	viewer := login("new@example.org")
	for _, r := range [][2]string{{"GET", "/domains"}, {"POST", "/domains"}, {"POST", "/domains/example.org/verify"}, {"DELETE", "/domains/example.org"}} {
		resp, body := viewer.do(r[0], r[1], map[string]string{"domain": "other.example", "role": "viewer"})
		requireProblem(t, resp, body, http.StatusForbidden, "forbidden")
	}

	list := decode[[]domainResp](t, admin.must("GET", "/domains", nil, http.StatusOK))
	require.Len(t, list, 1)
	admin.must("DELETE", "/domains/example.org", nil, http.StatusNoContent)
	resp, body = admin.do("DELETE", "/domains/example.org", nil)
	requireProblem(t, resp, body, http.StatusNotFound, "not-found")
	later := capture("later@signup.test", "later@example.org")
	members = decode[[]memberResp](t, admin.must("GET", "/members", nil, http.StatusOK))
	for _, mb := range members {
		assert.NotEqual(t, later.ID, mb.UserID, "removed: no capture")
	}
}
