package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/user"
)

// maxBody bounds request bodies: every body here is a small JSON object.
const maxBody = 64 << 10

// server is the example API. The Manager does the authentication and
// authorization; server only translates HTTP to Manager calls.
type server struct {
	m      *authv2.Manager
	orders *orderBook
	log    *slog.Logger
}

// newServer builds the API's handler without listening, so tests can
// serve it with httptest. httpOpts configure the middleware (cookie name,
// trusted proxies, development mode...).
func newServer(m *authv2.Manager, orders *orderBook, log *slog.Logger, httpOpts ...authv2.MiddlewareOption) http.Handler {
	s := &server{m: m, orders: orders, log: log}
	required := m.Middleware(append(slices.Clip(httpOpts), authv2.RequireAuthentication())...)
	authed := func(h http.HandlerFunc) http.Handler { return required(h) }
	mux := http.NewServeMux()
	// Public routes still go through the middleware: it derives the client
	// IP (for throttling and audit) and applies CSRF protection to them.
	public := m.Middleware(httpOpts...)
	mux.Handle("POST /register", public(http.HandlerFunc(s.register)))
	mux.Handle("POST /login", public(http.HandlerFunc(s.login)))

	mux.Handle("POST /logout", authed(s.logout))
	mux.Handle("GET /me", authed(s.me))
	mux.Handle("GET /sessions", authed(s.listSessions))
	mux.Handle("DELETE /sessions/{id}", authed(s.revokeSession))
	mux.Handle("POST /switch-tenant", authed(s.switchTenant))

	// Orders: listing needs orders:read in the session's tenant; a refund
	// needs orders:refund on that very order, whose tenant comes from the
	// order book, never from the client. The CEL condition on the clerk's
	// grant (resource.amount <= 500.0) is the business rule.
	readOrders := m.Require("read", func(r *http.Request) permission.Resource {
		p := authv2.MustPrincipal(r.Context())
		return permission.Resource{Type: "orders", TenantID: p.TenantID}
	})
	refund := m.Require("refund", func(r *http.Request) permission.Resource {
		o, ok := orders.get(r.PathValue("id"))
		if !ok {
			// Unknown orders are denied like another tenant's: no existence oracle.
			return permission.Resource{Type: "orders", ID: r.PathValue("id")}
		}
		return permission.Resource{Type: "orders", ID: o.ID, TenantID: o.TenantID,
			Attributes: map[string]any{"amount": o.Amount}}
	})
	mux.Handle("GET /orders", required(readOrders(http.HandlerFunc(s.listOrders))))
	mux.Handle("POST /orders/{id}/refund", required(refund(http.HandlerFunc(s.refundOrder))))
	return mux
}

func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	p := authv2.ProblemFor(err)
	if p.Status >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "error", err)
	}
	authv2.WriteProblem(w, p, err)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body into v. Fields v does not declare are ignored,
// so a smuggled "role": "admin" has nowhere to go.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(v); err != nil {
		authv2.WriteProblem(w, authv2.Problem{Type: "urn:authv2:problem:validation", Title: "Malformed JSON body", Status: http.StatusBadRequest}, err)
		return false
	}
	return true
}

type userJSON struct {
	ID          string `json:"id"`
	Email       string `json:"email"`
	DisplayName string `json:"display_name,omitempty"`
	Status      string `json:"status"`
}

// register creates an account in a tenant of its own, where the
// registrant is a manager. Registration is anonymous, so it must never
// grant anything in an existing tenant: a tenant_id in the body is
// ignored, like a smuggled role. Joining another tenant is an
// administrator's act (Manager.AddMember, Manager.Bind).
func (s *server) register(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email       string `json:"email"`
		Password    string `json:"password"`
		DisplayName string `json:"display_name"`
	}
	if !decode(w, r, &in) {
		return
	}
	// Register needs the tenant to exist; it is removed again when
	// registration fails (a taken email, a weak password).
	tenantID := "personal-" + rand.Text()
	if _, err := s.m.CreateTenant(r.Context(), tenantID, "Personal workspace"); err != nil {
		s.fail(w, r, err)
		return
	}
	u, err := s.createAccount(r.Context(), tenantID, in.Email, in.Password, in.DisplayName)
	if err != nil {
		if derr := s.m.DeleteTenant(context.WithoutCancel(r.Context()), tenantID); derr != nil {
			s.log.ErrorContext(r.Context(), "removing the tenant of a failed registration", "tenant_id", tenantID, "error", derr)
		}
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		userJSON
		TenantID string `json:"tenant_id"`
	}{userJSON{u.ID, u.Email, u.DisplayName, string(u.Status)}, tenantID})
}

// createAccount creates the user as a member and manager of tenantID.
func (s *server) createAccount(ctx context.Context, tenantID, email, password, displayName string) (*user.User, error) {
	if err := putRoles(ctx, s.m, tenantID); err != nil {
		return nil, err
	}
	u, err := s.m.Register(ctx, authv2.RegisterInput{Email: email, Password: password, DisplayName: displayName, TenantID: tenantID})
	if err != nil {
		return nil, err
	}
	return u, s.m.Bind(ctx, permission.Binding{UserID: u.ID, TenantID: tenantID, Role: roleManager})
}

type loginJSON struct {
	Token     string    `json:"token"`
	SessionID string    `json:"session_id"`
	TenantID  string    `json:"tenant_id,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
	// Cookie says whether the session cookie was set (not over plain HTTP
	// outside development mode).
	Cookie bool `json:"cookie"`
}

// issued sets the session cookie and returns the token for bearer clients.
func (s *server) issued(w http.ResponseWriter, r *http.Request, status int, res *authv2.LoginResult) {
	cookie := true
	if err := s.m.SetSessionCookie(w, r, res); err != nil {
		if !errors.Is(err, authv2.ErrInsecureCookie) {
			s.fail(w, r, err)
			return
		}
		// Bearer clients still work; browsers need TLS or AUTHV2_DEV_MODE.
		s.log.WarnContext(r.Context(), "session cookie not set on plain HTTP; serve over TLS or set AUTHV2_DEV_MODE=true locally")
		cookie = false
	}
	writeJSON(w, status, loginJSON{Token: res.Token, SessionID: res.Session.ID, TenantID: res.Session.TenantID,
		ExpiresAt: res.Session.ExpiresAt(), Cookie: cookie})
}

func (s *server) login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
		TenantID string `json:"tenant_id"`
		Device   string `json:"device"`
	}
	if !decode(w, r, &in) {
		return
	}
	client, _ := authv2.ClientFrom(r.Context())
	client.DeviceLabel = truncate(in.Device, 64)
	// The device cookie of an earlier login keeps this browser out of the
	// lock that other clients' failures impose on the account.
	res, err := s.m.Login(r.Context(), authv2.LoginInput{Email: in.Email, Password: in.Password, TenantID: in.TenantID, Client: client,
		DeviceToken: s.m.DeviceToken(r)})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.issued(w, r, http.StatusOK, res)
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	tok, _ := authv2.TokenFrom(r.Context())
	if err := s.m.Logout(r.Context(), tok); err != nil {
		s.fail(w, r, err)
		return
	}
	s.m.ClearSessionCookie(w, r)
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) me(w http.ResponseWriter, r *http.Request) {
	p := authv2.MustPrincipal(r.Context())
	u, err := s.m.User(r.Context(), p.UserID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	roles, err := s.m.Roles(r.Context(), p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		userJSON
		TenantID  string   `json:"tenant_id,omitempty"`
		SessionID string   `json:"session_id"`
		Roles     []string `json:"roles"`
	}{userJSON{u.ID, u.Email, u.DisplayName, string(u.Status)}, p.TenantID, p.SessionID, roles})
}

type sessionJSON struct {
	ID         string    `json:"id"`
	TenantID   string    `json:"tenant_id,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	Device     string    `json:"device,omitempty"`
	Current    bool      `json:"current"`
}

func (s *server) listSessions(w http.ResponseWriter, r *http.Request) {
	p := authv2.MustPrincipal(r.Context())
	list, err := s.m.ListSessions(r.Context(), p.UserID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]sessionJSON, 0, len(list))
	for _, x := range list {
		out = append(out, sessionJSON{ID: x.ID, TenantID: x.TenantID, CreatedAt: x.CreatedAt, LastSeenAt: x.LastSeenAt,
			ExpiresAt: x.ExpiresAt(), IP: x.Client.IP, UserAgent: x.Client.UserAgent, Device: x.Client.DeviceLabel,
			Current: x.ID == p.SessionID})
	}
	writeJSON(w, http.StatusOK, out)
}

// revokeSession ends one of the caller's own sessions. Another user's
// session ID answers 404, exactly like an unknown one.
func (s *server) revokeSession(w http.ResponseWriter, r *http.Request) {
	p := authv2.MustPrincipal(r.Context())
	id := r.PathValue("id")
	list, err := s.m.ListSessions(r.Context(), p.UserID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	owned := false
	for _, x := range list {
		owned = owned || x.ID == id
	}
	if !owned {
		s.fail(w, r, authv2.ErrNotFound)
		return
	}
	if err := s.m.RevokeSession(r.Context(), id, session.ReasonRevoked); err != nil {
		s.fail(w, r, err)
		return
	}
	if id == p.SessionID {
		s.m.ClearSessionCookie(w, r)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) switchTenant(w http.ResponseWriter, r *http.Request) {
	var in struct {
		TenantID string `json:"tenant_id"`
	}
	if !decode(w, r, &in) {
		return
	}
	tok, _ := authv2.TokenFrom(r.Context())
	res, err := s.m.SwitchTenant(r.Context(), tok, in.TenantID, "")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.issued(w, r, http.StatusOK, res)
}

func (s *server) listOrders(w http.ResponseWriter, r *http.Request) {
	p := authv2.MustPrincipal(r.Context())
	writeJSON(w, http.StatusOK, s.orders.list(p.TenantID))
}

func (s *server) refundOrder(w http.ResponseWriter, r *http.Request) {
	o, err := s.orders.refund(r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

// order is the example's business object. A real service keeps it in its
// own database, with the tenant in every row.
type order struct {
	ID       string  `json:"id"`
	TenantID string  `json:"tenant_id"`
	Amount   float64 `json:"amount"`
	Refunded bool    `json:"refunded"`
}

// orderBook is an in-memory order table.
type orderBook struct {
	mu     sync.Mutex
	orders map[string]order
}

func newOrderBook(orders ...order) *orderBook {
	b := &orderBook{orders: map[string]order{}}
	for _, o := range orders {
		b.orders[o.ID] = o
	}
	return b
}

func (b *orderBook) get(id string) (order, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.orders[id]
	return o, ok
}

func (b *orderBook) list(tenantID string) []order {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := []order{}
	for _, o := range b.orders {
		if o.TenantID == tenantID {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b order) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (b *orderBook) refund(id string) (order, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.orders[id]
	if !ok {
		return order{}, authv2.ErrNotFound
	}
	if o.Refunded {
		return order{}, authv2.ErrConflict
	}
	o.Refunded = true
	b.orders[id] = o
	return o, nil
}
