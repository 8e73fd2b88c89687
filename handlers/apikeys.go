package handlers

import (
	"net/http"
	"time"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/apikey"
	"github.com/authv2/authv2/permission"
)

// ServiceAccountsPermission is what the service-account routes check, on
// a resource of type "service_accounts" in the caller's tenant (see
// Manager.Authorize): grant "service_accounts:manage" to the roles that
// administer them.
const ServiceAccountsPermission = "service_accounts:manage"

// apiKeyJSON is a key as listed: never its secret, which exists only in
// the answer that created it.
type apiKeyJSON struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	OwnerID     string     `json:"owner_id"`
	OwnerKind   string     `json:"owner_kind"`
	TenantID    string     `json:"tenant_id"`
	Scope       string     `json:"scope,omitempty"`
	Permissions []string   `json:"permissions"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	LastUsedAt  *time.Time `json:"last_used_at,omitempty"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
}

// createdKeyJSON is a new key: Key is the secret, shown this once.
type createdKeyJSON struct {
	apiKeyJSON
	Key string `json:"key"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func newAPIKeyJSON(k *apikey.Key) apiKeyJSON {
	return apiKeyJSON{ID: k.ID, Name: k.Name, OwnerID: k.OwnerID, OwnerKind: string(k.OwnerKind), TenantID: k.TenantID,
		Scope: k.Scope, Permissions: k.Permissions, CreatedAt: k.CreatedAt, ExpiresAt: optTime(k.ExpiresAt),
		LastUsedAt: optTime(k.LastUsedAt), RevokedAt: optTime(k.RevokedAt)}
}

func keysJSON(ks []*apikey.Key) []apiKeyJSON {
	out := make([]apiKeyJSON, 0, len(ks))
	for _, k := range ks {
		out = append(out, newAPIKeyJSON(k))
	}
	return out
}

// createKeyRequest is the body of the routes that create a key.
type createKeyRequest struct {
	Name        string    `json:"name"`
	Permissions []string  `json:"permissions"`
	Scope       string    `json:"scope"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// createKey creates a key for owner in the caller's tenant and answers
// it with its secret. The caller's session must be fresh: a key is a
// credential that outlives it.
func (k *kit) createKey(w http.ResponseWriter, r *http.Request, p *authv2.Principal, owner string) {
	if err := k.m.RequireFreshAuth(p); err != nil {
		k.fail(w, r, err)
		return
	}
	var in createKeyRequest
	if !k.decode(w, r, &in) {
		return
	}
	created, err := k.m.CreateAPIKey(r.Context(), authv2.CreateAPIKeyInput{OwnerID: owner, TenantID: p.TenantID,
		Scope: in.Scope, Permissions: in.Permissions, Name: in.Name, ExpiresAt: in.ExpiresAt})
	if err != nil {
		k.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, createdKeyJSON{apiKeyJSON: newAPIKeyJSON(created.Key), Key: created.Secret})
}

// handleCreateAPIKey creates a key of the caller in the caller's tenant.
func (k *kit) handleCreateAPIKey(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	k.createKey(w, r, p, p.UserID)
}

// handleListAPIKeys lists the caller's keys, in every tenant.
func (k *kit) handleListAPIKeys(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	ks, err := k.m.ListAPIKeys(r.Context(), apikey.KeyFilter{OwnerID: p.UserID})
	if err != nil {
		k.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, keysJSON(ks))
}

// revokeOwned revokes key id if owner owns it; another's key answers 404
// like an unknown one, so key IDs cannot be probed.
func (k *kit) revokeOwned(w http.ResponseWriter, r *http.Request, owner, id string) {
	key, err := k.m.APIKey(r.Context(), id)
	if err == nil && key.OwnerID != owner {
		err = authv2.ErrNotFound
	}
	if err == nil {
		err = k.m.RevokeAPIKey(r.Context(), id)
	}
	if err != nil {
		k.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleRevokeAPIKey revokes one of the caller's keys.
func (k *kit) handleRevokeAPIKey(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	k.revokeOwned(w, r, p.UserID, r.PathValue("id"))
}

// handleRevokeAPIKeys revokes every key of the caller.
func (k *kit) handleRevokeAPIKeys(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	ids, err := k.m.RevokeAPIKeys(r.Context(), p.UserID, "")
	if err != nil {
		k.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Revoked []string `json:"revoked"`
	}{append([]string{}, ids...)})
}

// serviceAccountJSON is a service account as the routes answer it.
type serviceAccountJSON struct {
	ID          string    `json:"id"`
	TenantID    string    `json:"tenant_id"`
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Disabled    bool      `json:"disabled"`
	CreatedAt   time.Time `json:"created_at"`
}

func newServiceAccountJSON(a *apikey.ServiceAccount) serviceAccountJSON {
	return serviceAccountJSON{ID: a.ID, TenantID: a.TenantID, Name: a.Name, Description: a.Description,
		Disabled: a.Disabled, CreatedAt: a.CreatedAt}
}

// admin lets through callers allowed ServiceAccountsPermission in their
// session's tenant; for a route naming a service account ({id}), the
// account must be of that tenant (else 404, as for an unknown one).
func (k *kit) admin(h func(http.ResponseWriter, *http.Request, *authv2.Principal, *apikey.ServiceAccount)) http.Handler {
	return k.authed(func(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
		res := permission.Resource{Type: "service_accounts", ID: r.PathValue("id"), TenantID: p.TenantID}
		d, err := k.m.Authorize(r.Context(), p, "manage", res)
		if err == nil && !d.Allowed {
			err = authv2.ErrForbidden
		}
		if err != nil {
			k.fail(w, r, err)
			return
		}
		var sa *apikey.ServiceAccount
		if id := r.PathValue("id"); id != "" {
			sa, err = k.m.ServiceAccount(r.Context(), id)
			if err == nil && sa.TenantID != p.TenantID {
				err = authv2.ErrNotFound
			}
			if err != nil {
				k.fail(w, r, err)
				return
			}
		}
		h(w, r, p, sa)
	})
}

func (k *kit) handleCreateServiceAccount(w http.ResponseWriter, r *http.Request, p *authv2.Principal, _ *apikey.ServiceAccount) {
	var in struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	if !k.decode(w, r, &in) {
		return
	}
	a, err := k.m.CreateServiceAccount(r.Context(), p.TenantID, in.Name, in.Description)
	if err != nil {
		k.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, newServiceAccountJSON(a))
}

func (k *kit) handleListServiceAccounts(w http.ResponseWriter, r *http.Request, p *authv2.Principal, _ *apikey.ServiceAccount) {
	as, err := k.m.ListServiceAccounts(r.Context(), p.TenantID)
	if err != nil {
		k.fail(w, r, err)
		return
	}
	out := make([]serviceAccountJSON, 0, len(as))
	for _, a := range as {
		out = append(out, newServiceAccountJSON(a))
	}
	writeJSON(w, http.StatusOK, out)
}

func (k *kit) handleDisableServiceAccount(w http.ResponseWriter, r *http.Request, _ *authv2.Principal, sa *apikey.ServiceAccount) {
	k.noContent(w, r, k.m.DisableServiceAccount(r.Context(), sa.ID))
}

func (k *kit) handleEnableServiceAccount(w http.ResponseWriter, r *http.Request, _ *authv2.Principal, sa *apikey.ServiceAccount) {
	k.noContent(w, r, k.m.EnableServiceAccount(r.Context(), sa.ID))
}

func (k *kit) handleDeleteServiceAccount(w http.ResponseWriter, r *http.Request, _ *authv2.Principal, sa *apikey.ServiceAccount) {
	k.noContent(w, r, k.m.DeleteServiceAccount(r.Context(), sa.ID))
}

func (k *kit) handleCreateServiceAccountKey(w http.ResponseWriter, r *http.Request, p *authv2.Principal, sa *apikey.ServiceAccount) {
	k.createKey(w, r, p, sa.ID)
}

func (k *kit) handleListServiceAccountKeys(w http.ResponseWriter, r *http.Request, _ *authv2.Principal, sa *apikey.ServiceAccount) {
	ks, err := k.m.ListAPIKeys(r.Context(), apikey.KeyFilter{OwnerID: sa.ID})
	if err != nil {
		k.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, keysJSON(ks))
}

func (k *kit) handleRevokeServiceAccountKey(w http.ResponseWriter, r *http.Request, _ *authv2.Principal, sa *apikey.ServiceAccount) {
	k.revokeOwned(w, r, sa.ID, r.PathValue("key"))
}

// noContent answers 204, or err as a problem.
func (k *kit) noContent(w http.ResponseWriter, r *http.Request, err error) {
	if err != nil {
		k.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
