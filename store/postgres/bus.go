package postgres

import (
	"context"
	"database/sql"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lib/pq"

	"github.com/authv2/authv2/permission"
)

// PolicyBus carries policy-version announcements between instances over
// PostgreSQL LISTEN/NOTIFY. Publishing uses the application's pool;
// listening needs a dedicated connection, which lib/pq opens from the DSN
// and re-opens after a failure. Notifications sent while a listener was
// reconnecting are lost: the permission engine's periodic version check
// bounds how long that can leave an instance stale.
type PolicyBus struct {
	db      *sql.DB
	dsn     string
	channel string
	log     *slog.Logger
}

var _ permission.PolicyBus = (*PolicyBus)(nil)

// NewPolicyBus returns a bus on the schema's channel (instances with
// different schemas do not hear each other). dsn is the connection string
// the listener dials; db publishes.
func NewPolicyBus(db *sql.DB, dsn string, opts ...Option) (*PolicyBus, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return &PolicyBus{db: db, dsn: dsn, channel: "authv2_policy_" + strings.ToLower(c.schema), log: slog.Default()}, nil
}

// Publish announces tenantID's new version to every listener.
func (b *PolicyBus) Publish(ctx context.Context, tenantID string, version int64) error {
	payload := strconv.FormatInt(version, 10) + " " + tenantID
	if _, err := b.db.ExecContext(ctx, "SELECT pg_notify($1, $2)", b.channel, payload); err != nil {
		return translate("policy_bus.publish", err)
	}
	return nil
}

// Subscribe calls fn for every announcement until stop is called. It
// returns once the listener is connected, so announcements published after
// it returns are heard.
func (b *PolicyBus) Subscribe(ctx context.Context, fn func(tenantID string, version int64)) (func(), error) {
	l := pq.NewListener(b.dsn, 100*time.Millisecond, 10*time.Second, func(ev pq.ListenerEventType, err error) {
		if err != nil {
			b.log.Warn("authv2/postgres: policy bus listener", "event", ev, "error", err)
		}
	})
	if err := l.Listen(b.channel); err != nil {
		_ = l.Close()
		return nil, translate("policy_bus.listen", err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case n, ok := <-l.Notify:
				if !ok {
					return
				}
				if n == nil { // reconnected: announcements may have been missed; polling covers them
					continue
				}
				v, tenant, found := strings.Cut(n.Extra, " ")
				version, err := strconv.ParseInt(v, 10, 64)
				if !found || err != nil {
					continue
				}
				fn(tenant, version)
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			_ = l.Close()
			wg.Wait()
		})
	}, nil
}
