package doccheck

// The Go blocks of README.md, each verbatim inside a function that gives
// it the variables it uses (TestGoBlocksAreCompiledCode holds the README
// to them). The examples run the blocks that need no server.

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/redis/rueidis"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store/postgres"
	"github.com/authv2/authv2/store/redis"
	"github.com/authv2/authv2/store/spool"
)

// readmeUsage is README "Usage" (and the guide's first block).
func readmeUsage(ctx context.Context, pw, ip, ua string) error {
	m, err := authv2.New() // in-memory stores (PostgreSQL and Redis: README "Stores")
	if err != nil {
		return err
	}
	defer m.Close(ctx)

	if _, err := m.CreateTenant(ctx, "acme", "Acme Inc."); err != nil {
		return err
	}
	_, err = m.Register(ctx, authv2.RegisterInput{Email: "ada@example.com", Password: pw, TenantID: "acme"})
	if err != nil {
		return err // authv2.ErrUserExists for a taken email; a *ValidationError names what to fix
	}

	res, err := m.Login(ctx, authv2.LoginInput{Email: "ada@example.com", Password: pw,
		Client: session.ClientInfo{IP: ip, UserAgent: ua}})
	if err != nil {
		return err // authv2.ErrInvalidCredentials for an unknown email and a wrong password alike
	}
	// res.Token goes to the client (cookie or bearer header); only its hash is stored.

	p, err := m.Authenticate(ctx, res.Token, session.ClientInfo{IP: ip, UserAgent: ua})
	if err != nil {
		return err // ErrSessionExpired, ErrSessionRevoked, ErrUnauthenticated: 401
	}
	fmt.Println(p.UserID == res.User.ID, p.TenantID) // also p.Scope, p.SessionID, p.ExpiresAt

	return m.Logout(ctx, res.Token) // dead everywhere at once
}

func Example_readmeUsage() {
	if err := readmeUsage(context.Background(), "correct horse battery staple", "203.0.113.7", "example/1.0"); err != nil {
		fmt.Println(err)
	}
	// Output: true acme
}

// readmeAuthorization is README "Authorization", run on m.
func readmeAuthorization(ctx context.Context, m *authv2.Manager, pw string) error {
	if _, err := m.CreateTenant(ctx, "acme", "Acme Inc."); err != nil {
		return err
	}
	u, err := m.Register(ctx, authv2.RegisterInput{Email: "clerk@example.com", Password: pw, TenantID: "acme"})
	if err != nil {
		return err
	}
	err = m.PutRole(ctx, &permission.Role{TenantID: "acme", Name: "clerk", Grants: []permission.Grant{
		{Permission: "orders:read", Effect: permission.Allow},
		{Permission: "refunds:create", Effect: permission.Allow, Condition: "request.amount <= 500.0"},
	}})
	if err != nil {
		return err // a broken condition: *ValidationError holding a *permission.ConditionError
	}
	err = m.Bind(ctx, permission.Binding{UserID: u.ID, TenantID: "acme", Role: "clerk", Scope: "region:eu/store:42"})
	if err != nil {
		return err
	}

	res, err := m.Login(ctx, authv2.LoginInput{Email: "clerk@example.com", Password: pw}) // into acme, their tenant
	if err != nil {
		return err
	}
	p, err := m.Authenticate(ctx, res.Token, session.ClientInfo{})
	if err != nil {
		return err
	}
	for _, c := range []struct {
		tenant, scope string
		amount        float64
	}{
		{"acme", "region:eu/store:42", 120},
		{"acme", "region:eu/store:42", 900},
		{"acme", "region:eu/store:7", 120},
		{"globex", "region:eu/store:42", 120},
	} {
		refund := permission.Resource{Type: "refunds", ID: "r-9", TenantID: c.tenant, Scope: c.scope}
		d, err := m.AuthorizeRequest(ctx, p, "create", refund, permission.Request{Attributes: map[string]any{"amount": c.amount}})
		if err != nil {
			return err
		}
		// d.Rule() says which role, grant and scope decided; d.ID is carried by the audit event.
		fmt.Printf("%s %s %v: %v, %s\n", c.tenant, c.scope, c.amount, d.Allowed, d.Reason)
	}
	return nil
}

func Example_readmeAuthorization() {
	ctx := context.Background()
	m := exampleManager()
	defer m.Close(ctx)
	if err := readmeAuthorization(ctx, m, "correct horse battery staple"); err != nil {
		fmt.Println(err)
	}
	// Output:
	// acme region:eu/store:42 120: true, allowed by grant
	// acme region:eu/store:42 900: false, no grant matches
	// acme region:eu/store:7 120: false, no grant matches
	// globex region:eu/store:42 120: false, resource belongs to another tenant
}

// readmeHandlers is README "Middleware": the login and logout handlers.
func readmeHandlers(m *authv2.Manager) (login, logout http.Handler) {
	loginHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client, _ := authv2.ClientFrom(r.Context()) // the IP after trusted proxies, the user agent
		res, err := m.Login(r.Context(), authv2.LoginInput{
			Email: r.PostFormValue("email"), Password: r.PostFormValue("password"), Client: client})
		if err != nil {
			authv2.DefaultErrorHandler(w, r, err) // application/problem+json
			return
		}
		if err := m.SetSessionCookie(w, r, res); err != nil { // refused over plain HTTP but in development mode
			authv2.DefaultErrorHandler(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	logoutHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := authv2.TokenFrom(r.Context()) // the token the request authenticated with
		if err := m.Logout(r.Context(), tok); err != nil {
			authv2.DefaultErrorHandler(w, r, err)
			return
		}
		m.ClearSessionCookie(w, r)
		w.WriteHeader(http.StatusNoContent)
	})
	return loginHandler, logoutHandler
}

// readmeRoutes is README "Middleware": the routes.
func readmeRoutes(m *authv2.Manager, addr string, loginHandler, logoutHandler, meHandler, refundHandler http.Handler,
	loadOrderResource func(*http.Request) permission.Resource) error {
	public := m.Middleware()                               // anonymous requests pass on
	authed := m.Middleware(authv2.RequireAuthentication()) // 401 when anonymous
	refund := m.Require("refund", func(r *http.Request) permission.Resource {
		return loadOrderResource(r) // its tenant comes from where the order lives, never from a header
	})

	mux := http.NewServeMux()
	mux.Handle("POST /login", public(loginHandler))
	mux.Handle("POST /logout", authed(logoutHandler))
	mux.Handle("GET /me", authed(meHandler))
	mux.Handle("POST /orders/{id}/refund", authed(refund(refundHandler))) // 401 anonymous, 403 denied
	return http.ListenAndServe(addr, mux)
}

// readmePostgres is README "PostgreSQL".
func readmePostgres(ctx context.Context, serve func(*authv2.Manager) error) error {
	dsn := "postgres://app@db/app?sslmode=verify-full&binary_parameters=yes"
	db, err := sql.Open("postgres", dsn) // with the driver: import _ "github.com/lib/pq"
	if err != nil {
		return err
	}
	applied, err := postgres.Migrate(ctx, db) // idempotent; safe from every instance at once
	if err != nil {
		return err
	}
	for _, name := range applied { // what this call applied; none when the schema was up to date
		slog.Info("migration applied", "name", name)
	}
	stores, err := postgres.New(db) // postgres.WithSchema("x"): tables in another schema than "authv2"
	if err != nil {
		return err
	}
	bus, err := postgres.NewPolicyBus(db, dsn) // it listens on a connection of its own
	if err != nil {
		return err
	}
	m, err := authv2.New(authv2.WithUserStore(stores.Users), authv2.WithSessionStore(stores.Sessions),
		authv2.WithPermissionStore(stores.Permissions), authv2.WithRateLimiter(stores.Limiter),
		authv2.WithAuditStore(stores.Audit), authv2.WithPolicyBus(bus), authv2.WithAPIKeyStore(stores.APIKeys))
	if err != nil {
		return err
	}
	defer m.Close(ctx)
	return serve(m)
}

// readmeRedis is README "Redis".
func readmeRedis(ctx context.Context, serve func(*authv2.Manager) error) error {
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{"redis-1:6379", "redis-2:6379", "redis-3:6379"}})
	if err != nil {
		return err
	}
	defer client.Close()
	m, err := authv2.New(authv2.WithSessionStore(redis.NewSessionStore(client)),
		authv2.WithRateLimiter(redis.NewRateLimiter(client)), authv2.WithPolicyBus(redis.NewPolicyBus(client)))
	if err != nil {
		return err
	}
	defer m.Close(ctx)
	return serve(m)
}

// The snippets that need a server are compiled, not run.
var (
	_ = readmeHandlers
	_ = readmeRoutes
	_ = readmePostgres
	_ = readmeRedis
	_ = readmeOutbox
)

// readmeOutbox is README "Crash-safe audit trail", on PostgreSQL.
func readmeOutbox(ctx context.Context, stores *postgres.Stores) error {
	j, err := stores.OpenJournal(ctx) // stores from postgres.New; holds one pooled connection
	if err != nil {
		return err
	}
	defer j.Close() // after m.Close
	m, err := authv2.New(authv2.WithUserStore(stores.Users), authv2.WithSessionStore(stores.Sessions),
		authv2.WithPermissionStore(stores.Permissions), authv2.WithAuditStore(stores.Audit),
		authv2.WithAuditJournal(j))
	if err != nil {
		return err
	}
	return m.Close(ctx)
}

// readmeJournal is README "Crash-safe audit trail", with a spool.
func readmeJournal(stores *postgres.Stores, logger *slog.Logger) error {
	j, err := spool.Open("/var/lib/myapp/audit.spool") // package store/spool
	if err != nil {
		return err
	}
	defer j.Close() // after m.Close
	m, err := authv2.New(authv2.WithAuditJournal(j), authv2.WithAuditStore(stores.Audit),
		authv2.WithAuditSink(audit.NewSlogSink(logger)))
	if err != nil {
		return err
	}
	return m.Close(context.Background())
}
