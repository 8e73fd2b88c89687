package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"maps"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/internal/pgtest"
	"github.com/authv2/authv2/store/postgres"
)

// logBuffer collects what the example logs, for the operator-facing
// assertions below; slog handlers write from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Split(strings.TrimSpace(b.buf.String()), "\n")
}

func (b *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

// serveOnce runs the example with env until it serves /me, then shuts it
// down and returns what it logged.
func serveOnce(t *testing.T, env map[string]string) []string {
	t.Helper()
	addr := freeAddr(t)
	env["AUTHV2_HTTP_ADDR"] = addr
	env["AUTHV2_METRICS_ADDR"] = "off"
	var logs logBuffer
	shutdown := startRunLog(t, env, logs.logger())
	waitServing(t, addr, 20*time.Second)
	shutdown()
	return logs.lines()
}

// TestOperatorLog: development mode is announced as a warning, and the
// last line says the audit trail was flushed.
func TestOperatorLog(t *testing.T) {
	for _, dev := range []bool{false, true} {
		// run reads authv2's own variables from the process environment
		// (authv2.ConfigFromEnv), not from its getenv.
		t.Setenv("AUTHV2_DEV_MODE", strconv.FormatBool(dev))
		lines := serveOnce(t, map[string]string{})
		warned := false
		for _, l := range lines {
			if strings.Contains(l, "level=WARN") && strings.Contains(l, "DEVELOPMENT MODE") {
				warned = true
			}
		}
		assert.Equal(t, dev, warned, "dev=%v: development-mode warning in\n%s", dev, strings.Join(lines, "\n"))
		last := lines[len(lines)-1]
		assert.Contains(t, last, `msg="stopped; audit flushed"`, "dev=%v: last line", dev)
	}
}

// TestOperatorLogMigrations: on an empty schema the example logs every
// migration it applied, in order; on the next start, that there was
// nothing to apply.
func TestOperatorLogMigrations(t *testing.T) {
	env := map[string]string{"AUTHV2_POSTGRES_URL": pgtest.URL(t), "AUTHV2_POSTGRES_SCHEMA": freshSchema(t, pgtest.Open(t))}
	var want []string
	files, err := fs.Glob(postgres.Migrations, "migrations/*.sql")
	require.NoError(t, err)
	for _, f := range files {
		want = append(want, `msg="migration applied" name=`+path.Base(f))
	}

	var got []string
	for _, l := range serveOnce(t, maps.Clone(env)) {
		if i := strings.Index(l, `msg="migration applied"`); i >= 0 {
			got = append(got, l[i:])
		}
	}
	assert.Equal(t, want, got)

	again := strings.Join(serveOnce(t, maps.Clone(env)), "\n")
	assert.NotContains(t, again, "migration applied")
	assert.Contains(t, again, "schema up to date")
}

// TestStartupErrorNamesTheCause: a URL naming a database that does not
// exist fails start-up with the SQLSTATE and its meaning, not a bare
// "unavailable" nor the driver's text.
func TestStartupErrorNamesTheCause(t *testing.T) {
	u, err := url.Parse(pgtest.URL(t))
	require.NoError(t, err)
	u.Path = "/authv2_missing_" + randomHex(t)
	env := map[string]string{"AUTHV2_POSTGRES_URL": u.String(), "AUTHV2_HTTP_ADDR": freeAddr(t), "AUTHV2_METRICS_ADDR": "off"}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err = run(ctx, slog.New(slog.DiscardHandler), func(k string) string { return env[k] })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "3D000 (the database does not exist)")
	assert.NotContains(t, err.Error(), u.Path[1:], "the driver's text (naming the database) stays out")
}

// freshSchema names a schema that does not exist yet (the example's
// migrations create it), dropped when the test ends. A schema, not a
// database: PostgreSQL 15's DROP DATABASE forces an immediate checkpoint,
// which took over a minute while the benchmarks wrote in the same CI run.
func freshSchema(t *testing.T, admin *sql.DB) string {
	t.Helper()
	name := "authv2_oplog_" + randomHex(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := admin.ExecContext(ctx, `DROP SCHEMA IF EXISTS `+name+` CASCADE`)
		assert.NoError(t, err)
	})
	return name
}

func randomHex(t *testing.T) string {
	var b [6]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return hex.EncodeToString(b[:])
}
