package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/handlers"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/user"
)

// server is the example API. The Manager does the authentication and
// authorization, the handler kit serves the account routes; server adds
// what is particular to this application: registration into a tenant of
// one's own, and orders.
type server struct {
	m      *authv2.Manager
	orders *orderBook
	log    *slog.Logger
}

// newServer builds the API's handler without listening, so tests can
// serve it with httptest. The middleware's values (cookie name, trusted
// proxies, development mode...) are m's Config.HTTP.
func newServer(m *authv2.Manager, orders *orderBook, log *slog.Logger) http.Handler {
	s := &server{m: m, orders: orders, log: log}
	required := m.Middleware(authv2.RequireAuthentication())
	mux := http.NewServeMux()
	// The account routes (/register, /login, /logout, /me, /sessions,
	// /switch-tenant...) are the kit's, mounted at the root to keep this
	// API's paths. It sits behind the middleware without
	// RequireAuthentication: it derives the client IP (for throttling and
	// audit), applies CSRF protection, and the kit refuses anonymous
	// callers on the routes that need one. The more specific order routes
	// below win over this catch-all.
	kit := handlers.New(m, handlers.WithLogger(log), handlers.WithRegister(s.register))
	mux.Handle("/", m.Middleware()(kit))

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

// register is the kit's RegisterFunc: it creates the account in a tenant
// of its own, where the registrant is a manager. Registration is
// anonymous, so it must never grant anything in an existing tenant (the
// kit passes no tenant from the client). Joining another tenant is an
// administrator's act (Manager.AddMember, Manager.Bind).
func (s *server) register(ctx context.Context, in authv2.RegisterInput) (*user.User, error) {
	// Register needs the tenant to exist; it is removed again when
	// registration fails (a taken email, a weak password).
	in.TenantID = "personal-" + rand.Text()
	if _, err := s.m.CreateTenant(ctx, in.TenantID, "Personal workspace"); err != nil {
		return nil, err
	}
	u, err := s.createAccount(ctx, in)
	if err != nil {
		if derr := s.m.DeleteTenant(context.WithoutCancel(ctx), in.TenantID); derr != nil {
			s.log.ErrorContext(ctx, "removing the tenant of a failed registration", "tenant_id", in.TenantID, "error", derr)
		}
		return nil, err
	}
	return u, nil
}

// createAccount creates the user as a member, manager and owner of
// in.TenantID: they invite others to it (the kit's /invitations).
func (s *server) createAccount(ctx context.Context, in authv2.RegisterInput) (*user.User, error) {
	if err := putRoles(ctx, s.m, in.TenantID); err != nil {
		return nil, err
	}
	u, err := s.m.Register(ctx, in)
	if err != nil {
		return nil, err
	}
	for _, role := range []string{roleManager, roleOwner} {
		if err := s.m.Bind(ctx, permission.Binding{UserID: u.ID, TenantID: in.TenantID, Role: role}); err != nil {
			return nil, err
		}
	}
	return u, nil
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
