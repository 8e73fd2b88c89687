// Command httpserver is a small JSON API protected by authv2. The account
// routes come from the handler kit (package handlers): register (into a
// tenant of one's own), log in (a session cookie for browsers, the token
// for clients that send Authv2-Auth-Mode: bearer), log out, who am I,
// list and revoke my sessions, switch tenant, change password. Its own
// routes are orders whose refunds follow a CEL business rule (a clerk
// refunds up to 500, a manager any amount).
//
//	go run ./examples/httpserver
//
// Everything is in memory by default. With AUTHV2_POSTGRES_URL set, users,
// sessions, permissions and the audit trail live in PostgreSQL (migrations
// are applied on start; AUTHV2_POSTGRES_SCHEMA names a schema other than
// the default), and so does the audit journal: every account, session
// and administrative event is committed before its request is answered,
// in the transaction of its change where that is one PostgreSQL write
// (login, logout, revocations, register, password change and reset), and
// what a crashed instance left is delivered when an instance starts: a
// crash loses none (see postgres.Journal; AUTHV2_AUDIT_JOURNAL=off turns
// it off). With AUTHV2_AUDIT_SPOOL set to a file path, events are written
// to that local spool instead (see store/spool), which also makes the
// in-memory stores' events durable. AUTHV2_HTTP_ADDR sets the listen address (127.0.0.1:8080).
// Metrics are served apart from the API, on AUTHV2_METRICS_ADDR
// (127.0.0.1:9464, loopback only; "off" serves none): they describe the
// service's traffic and must not be public. Every AUTHV2_* variable of authv2.ConfigFromEnv
// applies; set AUTHV2_DEV_MODE=true to get the
// session cookie over plain HTTP on localhost.
//
// Ctrl-C shuts down gracefully: requests in flight finish, then the
// Manager flushes the audit trail.
package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	_ "github.com/lib/pq" // the PostgreSQL driver

	"github.com/redis/rueidis"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/store/memory"
	"github.com/authv2/authv2/store/postgres"
	"github.com/authv2/authv2/store/redis"
	"github.com/authv2/authv2/store/spool"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, log, os.Getenv); err != nil {
		log.Error("httpserver stopped", "error", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then shuts down in order: stop accepting,
// finish requests in flight, close the Manager (flushing audit events),
// close the database.
func run(ctx context.Context, log *slog.Logger, getenv func(string) string) error {
	cfg, err := authv2.ConfigFromEnv()
	if err != nil {
		return err
	}
	mp, metrics, err := newMetrics()
	if err != nil {
		return err
	}
	defer func() { _ = mp.Shutdown(context.Background()) }()
	opts := []authv2.Option{
		authv2.WithConfig(cfg),
		authv2.WithMeterProvider(mp),
		authv2.WithLogger(log),
		// Audit events go to the log here; production sends them to an
		// audit.Store (PostgreSQL) or a SIEM.
		authv2.WithAuditSink(audit.NewSlogSink(log)),
		// Password resets, verification and invitations need a mailer.
		authv2.WithNotifier(newOutbox(log)),
	}
	journaled := false
	if path := getenv("AUTHV2_AUDIT_SPOOL"); path != "" {
		j, err := spool.Open(path)
		if err != nil {
			return err
		}
		// Closed after the Manager, which removes delivered events from it.
		defer func() { _ = j.Close() }()
		opts = append(opts, authv2.WithAuditJournal(j))
		journaled = true
		log.Info("audit events spooled before each answer", "spool", path)
	}
	closeStores := func() {}
	second := mfaStores{memory.NewMFAStore(), memory.NewChallengeStore(), memory.NewReplayGuard()}
	if url := getenv("AUTHV2_POSTGRES_URL"); url != "" {
		stores, db, err := openPostgres(ctx, log, url, getenv("AUTHV2_POSTGRES_SCHEMA"))
		if err != nil {
			return err
		}
		closeStores = func() { _ = db.Close() }
		opts = append(opts, authv2.WithUserStore(stores.Users), authv2.WithSessionStore(stores.Sessions),
			authv2.WithPermissionStore(stores.Permissions), authv2.WithRateLimiter(stores.Limiter),
			authv2.WithAuditStore(stores.Audit), authv2.WithAPIKeyStore(stores.APIKeys),
			authv2.WithImpersonationStore(stores.Impersonations))
		if !journaled && getenv("AUTHV2_AUDIT_JOURNAL") != "off" {
			j, err := stores.OpenJournal(ctx)
			if err != nil {
				_ = db.Close()
				return fmt.Errorf("opening the audit journal: %w", err)
			}
			// Closed after the Manager (deferred before it), before the pool.
			closeStores = func() { _ = j.Close(); _ = db.Close() }
			opts = append(opts, authv2.WithAuditJournal(j))
			log.Info("audit events committed in PostgreSQL before each answer")
		}
		second = mfaStores{stores.MFA, stores.Challenges, stores.ReplayGuard}
		log.Info("using PostgreSQL for users, sessions and permissions")
	} else {
		log.Info("using in-memory stores (set AUTHV2_POSTGRES_URL for PostgreSQL)")
	}
	defer closeStores()
	if addrs := getenv("AUTHV2_REDIS_ADDR"); addrs != "" {
		// One address: a single node; several (comma-separated): a cluster.
		client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: strings.Split(addrs, ",")})
		if err != nil {
			return fmt.Errorf("connecting to Redis: %w", err)
		}
		defer client.Close()
		sessions := redis.NewSessionStore(client)
		// An allkeys-* eviction policy could drop a user's session index
		// before the sessions it lists, leaving them unrevocable.
		if err := sessions.Check(ctx); err != nil {
			log.Warn("Redis is configured unsafely for sessions", "error", err)
		}
		opts = append(opts, authv2.WithSessionStore(sessions),
			authv2.WithRateLimiter(redis.NewRateLimiter(client)), authv2.WithPolicyBus(redis.NewPolicyBus(client)))
		log.Info("using Redis for sessions, rate limits and policy announcements")
	}

	withMFA, err := mfaOption(getenv, second)
	if err != nil {
		return err
	}
	if withMFA != nil {
		opts = append(opts, withMFA)
		log.Info("MFA on: TOTP, recovery codes and WebAuthn")
	} else {
		log.Info("MFA off (set AUTHV2_MFA_KEY and AUTHV2_MFA_RECOVERY_KEY to enable it)")
	}

	m, err := authv2.New(opts...)
	if err != nil {
		return err
	}
	defer func() {
		// Close after the server: handlers may still emit audit events.
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Close(cctx); err != nil {
			log.Error("stopped; audit events lost", "error", err) // an *audit.UndeliveredError counts them
			return
		}
		log.Info("stopped; audit flushed")
	}()
	orders, err := seed(ctx, m)
	if err != nil {
		return fmt.Errorf("seeding demo data: %w", err)
	}

	addr := getenv("AUTHV2_HTTP_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	srv := newHTTPServer(newServer(m, orders, log))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	log.Info("listening", "addr", "http://"+ln.Addr().String(), "dev_mode", cfg.HTTP.DevelopmentMode)
	if cfg.HTTP.DevelopmentMode {
		log.Warn("DEVELOPMENT MODE (AUTHV2_DEV_MODE=true): session cookies go over plain HTTP without " +
			"Secure and __Host-; anyone on the network path can steal sessions. Never run this in production.")
	}
	servers := []*http.Server{srv}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()

	metricsAddr := getenv("AUTHV2_METRICS_ADDR")
	if metricsAddr == "" {
		metricsAddr = defaultMetricsAddr
	}
	if metricsAddr != "off" {
		mln, err := net.Listen("tcp", metricsAddr)
		if err != nil {
			_ = srv.Close()
			<-errc
			return fmt.Errorf("metrics listener: %w", err)
		}
		log.Info("serving metrics", "addr", "http://"+mln.Addr().String()+"/metrics")
		msrv := newHTTPServer(metricsHandler(metrics))
		servers = append(servers, msrv)
		go func() { errc <- msrv.Serve(mln) }()
	}

	var served error
	select {
	case served = <-errc:
	case <-ctx.Done():
		log.Info("shutting down")
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, s := range servers {
		if err := s.Shutdown(sctx); err != nil {
			return err
		}
	}
	if served != nil {
		return served // one server stopped on its own: the error that stopped it
	}
	for range servers {
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	return nil
}

// newHTTPServer returns a server with timeouts, so slow clients cannot
// hold connections forever.
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
}

// openPostgres connects, applies the migrations (logging each one applied)
// and returns the stores. Its errors are *postgres.Error values: they name
// the SQLSTATE and what it means ("3D000 (the database does not exist)"),
// never the driver's text, so they are safe to log.
func openPostgres(ctx context.Context, log *slog.Logger, url, schema string) (*postgres.Stores, *sql.DB, error) {
	db, err := sql.Open("postgres", url)
	if err != nil {
		return nil, nil, err
	}
	var opts []postgres.Option
	if schema != "" {
		opts = append(opts, postgres.WithSchema(schema))
	}
	applied, err := postgres.Migrate(ctx, db, opts...)
	if err != nil {
		_ = db.Close()
		return nil, nil, fmt.Errorf("migrating PostgreSQL: %w", err)
	}
	for _, name := range applied {
		log.Info("migration applied", "name", name)
	}
	if len(applied) == 0 {
		log.Info("schema up to date: no migration to apply")
	}
	stores, err := postgres.New(db, opts...)
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	return stores, db, nil
}
