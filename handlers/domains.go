package handlers

import (
	"net/http"
	"time"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/permission"
)

// domainJSON is a tenant's claim of an email domain, with the DNS record
// that proves it (public by nature: it is published in DNS).
type domainJSON struct {
	Domain     string     `json:"domain"`
	Role       string     `json:"role"`
	Scope      string     `json:"scope,omitempty"`
	Verified   bool       `json:"verified"`
	VerifiedAt *time.Time `json:"verified_at,omitempty"`
	CreatedBy  string     `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	Record     struct {
		Type  string `json:"type"`
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"record"`
}

func newDomainJSON(d *permission.TenantDomain) domainJSON {
	j := domainJSON{Domain: d.Domain, Role: d.Role, Scope: d.Scope, Verified: d.Verified(), CreatedBy: d.CreatedBy, CreatedAt: d.CreatedAt}
	if d.Verified() {
		j.VerifiedAt = &d.VerifiedAt
	}
	j.Record.Type = "TXT"
	j.Record.Name, j.Record.Value = authv2.DomainRecord(d)
	return j
}

// handleAddDomain claims an email domain for the caller's tenant; the
// answer carries the TXT record to publish before verifying.
func (k *kit) handleAddDomain(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	var in struct {
		Domain string `json:"domain"`
		Role   string `json:"role"`
		Scope  string `json:"scope"`
	}
	if !k.decode(w, r, &in) {
		return
	}
	d, err := k.m.AddTenantDomain(r.Context(), authv2.TenantDomainInput{TenantID: p.TenantID, Domain: in.Domain, Role: in.Role, Scope: in.Scope})
	if err != nil {
		k.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, newDomainJSON(d))
}

// handleListDomains lists the tenant's domain claims.
func (k *kit) handleListDomains(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	ds, err := k.m.ListTenantDomains(r.Context(), p.TenantID)
	if err != nil {
		k.fail(w, r, err)
		return
	}
	out := make([]domainJSON, len(ds))
	for i, d := range ds {
		out[i] = newDomainJSON(d)
	}
	writeJSON(w, http.StatusOK, out)
}

// handleVerifyDomain checks the claim's TXT record: 400
// domain-not-verified until it is published, 409 domain-claimed while
// another tenant holds the domain.
func (k *kit) handleVerifyDomain(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	d, err := k.m.VerifyTenantDomain(r.Context(), p.TenantID, r.PathValue("domain"))
	if err != nil {
		k.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newDomainJSON(d))
}

// handleRemoveDomain removes a claim: nobody joins through it any more.
func (k *kit) handleRemoveDomain(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	if err := k.m.RemoveTenantDomain(r.Context(), p.TenantID, r.PathValue("domain")); err != nil {
		k.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
