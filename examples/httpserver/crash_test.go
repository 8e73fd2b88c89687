package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/handlers"
	"github.com/authv2/authv2/internal/pgtest"
)

// crashKills is how many times TestCrashKeepsEveryAnsweredEvent kills the
// service; the issue asks for at least 10.
const crashKills = 12

// crashLedger is what the clients saw: the actions whose answer reached
// them, and the logins left without one.
type crashLedger struct {
	mu         sync.Mutex
	registered map[string]bool   // user IDs answered 201
	loggedIn   map[string]string // user agent -> session ID, answered 200
	refused    map[string]int    // user agent -> status, login answered 4xx
	loggedOut  map[string]bool   // session IDs answered 204
	unanswered int
}

// TestCrashKeepsEveryAnsweredEvent runs the example service on PostgreSQL
// with its audit journal in PostgreSQL (the outbox: no local file), drives
// logins, failed logins, logouts and registrations from 8 clients, and
// kills it with SIGKILL at random points (crashKills times), restarting it
// each time. Then every action whose answer reached a client has its
// event, exactly once; no event is recorded twice; no refused login is
// recorded as a success; and a login.success without an answer (killed in
// flight) names a session that exists. AUTHV2_CRASH_JOURNAL=off runs the
// same without a journal, to show what is lost without it (the test then
// fails).
func TestCrashKeepsEveryAnsweredEvent(t *testing.T) {
	var vars []string
	if os.Getenv("AUTHV2_CRASH_JOURNAL") == "off" {
		vars = append(vars, "AUTHV2_AUDIT_JOURNAL=off")
	}
	runCrash(t, vars)
}

// TestCrashKeepsEveryAnsweredEventWithASpool is the same with a local
// spool (store/spool) as the journal, for deployments whose stores are not
// all in PostgreSQL.
func TestCrashKeepsEveryAnsweredEventWithASpool(t *testing.T) {
	runCrash(t, []string{"AUTHV2_AUDIT_SPOOL=" + filepath.Join(t.TempDir(), "audit.spool")})
}

func runCrash(t *testing.T, extra []string) {
	if testing.Short() {
		t.Skip("builds and kills the example service")
	}
	// The two variants overlap: most of their time is spent waiting for
	// a restart or a kill.
	t.Parallel()
	url := pgtest.URL(t)
	env := pgtest.New(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "httpserver")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run(), "building the example")

	addr := freeAddr(t)
	vars := append([]string{
		"AUTHV2_POSTGRES_URL=" + url, "AUTHV2_POSTGRES_SCHEMA=" + env.Schema,
		"AUTHV2_HTTP_ADDR=" + addr, "AUTHV2_METRICS_ADDR=off", "AUTHV2_DEV_MODE=true",
	}, extra...)
	start := func() *exec.Cmd {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), vars...)
		require.NoError(t, cmd.Start())
		waitServing(t, addr, 30*time.Second)
		return cmd
	}

	led := &crashLedger{registered: map[string]bool{}, loggedIn: map[string]string{}, refused: map[string]int{}, loggedOut: map[string]bool{}}
	const clients = 8
	accounts := make([][]string, clients) // emails each client registered
	seq := 0
	for k := range crashKills + 1 {
		cmd := start()
		if k == crashKills {
			// The last start replays what the last kill left; then a
			// graceful stop delivers the queue.
			waitQuiet(t, env.DB, env.Schema)
			require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
			require.NoError(t, cmd.Wait())
			break
		}
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		for c := range clients {
			seq++
			r := rand.New(rand.NewPCG(uint64(seq), 18))
			wg.Go(func() { crashClient(ctx, addr, c, k, r, &accounts[c], led) })
		}
		if k == 0 {
			// Every client first needs an account: argon2id at
			// production cost is slow on a busy machine.
			require.Eventually(t, func() bool {
				led.mu.Lock()
				defer led.mu.Unlock()
				return len(led.registered) >= clients
			}, 2*time.Minute, 50*time.Millisecond)
		}
		time.Sleep(time.Duration(1000+rand.IntN(3000)) * time.Millisecond)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
		cancel()
		wg.Wait()
	}

	require.NotEmpty(t, led.loggedIn, "no login was answered: the test proved nothing")
	events := readCrashEvents(t, env.DB, env.Schema)
	led.check(t, env.DB, env.Schema, events)
	t.Logf("crash: %d kills; answered: %d registrations, %d logins, %d refused logins, %d logouts; %d requests without an answer; %d events",
		crashKills, len(led.registered), len(led.loggedIn), len(led.refused), len(led.loggedOut), led.unanswered, len(events))
}

// crashClient registers an account, then logs in (1 in 10 with a wrong
// password) and out again until ctx ends or the service stops answering.
// Each login carries a user agent of its own, which its event records.
func crashClient(ctx context.Context, addr string, c, round int, r *rand.Rand, accounts *[]string, led *crashLedger) {
	hc := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	post := func(path, ua, token string, body any) (int, []byte, bool) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(handlers.AuthModeHeader, "bearer")
		req.Header.Set("User-Agent", ua)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			led.mu.Lock()
			led.unanswered++
			led.mu.Unlock()
			return 0, nil, false
		}
		defer resp.Body.Close()
		var out bytes.Buffer
		if _, err := out.ReadFrom(resp.Body); err != nil {
			led.mu.Lock()
			led.unanswered++
			led.mu.Unlock()
			return 0, nil, false
		}
		return resp.StatusCode, out.Bytes(), true
	}
	const password = "lighthouse keeper audits nightly"
	for n := 0; ctx.Err() == nil; n++ {
		ua := fmt.Sprintf("crash/%d/%d/%d", c, round, n)
		if len(*accounts) == 0 || r.IntN(20) == 0 {
			email := fmt.Sprintf("u%d.%d.%d@example.com", c, round, n)
			status, body, ok := post("/register", ua, "", map[string]string{"email": email, "password": password})
			if !ok {
				return
			}
			if status == http.StatusCreated {
				var u struct{ ID string }
				_ = json.Unmarshal(body, &u)
				led.mu.Lock()
				led.registered[u.ID] = true
				led.mu.Unlock()
				*accounts = append(*accounts, email)
			}
			continue
		}
		pw := password
		if r.IntN(10) == 0 {
			pw = "a wrong password"
		}
		email := (*accounts)[r.IntN(len(*accounts))]
		status, body, ok := post("/login", ua, "", map[string]string{"email": email, "password": pw})
		if !ok {
			return
		}
		if status != http.StatusOK {
			led.mu.Lock()
			led.refused[ua] = status
			led.mu.Unlock()
			continue
		}
		var s struct {
			SessionID string `json:"session_id"`
			Token     string `json:"token"`
		}
		_ = json.Unmarshal(body, &s)
		led.mu.Lock()
		led.loggedIn[ua] = s.SessionID
		led.mu.Unlock()
		status, _, ok = post("/logout", ua+"/logout", s.Token, nil)
		if !ok {
			return
		}
		if status == http.StatusNoContent {
			led.mu.Lock()
			led.loggedOut[s.SessionID] = true
			led.mu.Unlock()
		}
	}
}

// crashEvent is an audit event as the crash test reads it.
type crashEvent struct {
	ID, Type, Outcome, Session, Target, UserAgent string
}

func readCrashEvents(t *testing.T, db *sql.DB, schema string) []crashEvent {
	rows, err := db.QueryContext(t.Context(), `SELECT id, type, outcome, actor_session_id, target, user_agent FROM "`+schema+`".audit_events`)
	require.NoError(t, err)
	defer rows.Close()
	var out []crashEvent
	for rows.Next() {
		var e crashEvent
		require.NoError(t, rows.Scan(&e.ID, &e.Type, &e.Outcome, &e.Session, &e.Target, &e.UserAgent))
		out = append(out, e)
	}
	require.NoError(t, rows.Err())
	return out
}

// waitQuiet waits until the audit trail stops growing for a second (the
// replay of the spool is done), at most 30 seconds.
func waitQuiet(t *testing.T, db *sql.DB, schema string) {
	last, still := -1, 0
	for range 300 {
		var n int
		require.NoError(t, db.QueryRowContext(t.Context(), `SELECT count(*) FROM "`+schema+`".audit_events`).Scan(&n))
		if n == last {
			if still++; still == 10 {
				return
			}
		} else {
			last, still = n, 0
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// check compares the ledger with the events.
func (led *crashLedger) check(t *testing.T, db *sql.DB, schema string, events []crashEvent) {
	t.Helper()
	count := map[string]int{} // type + key -> events
	for _, e := range events {
		switch e.Type {
		case "login.success", "login.failure":
			count[e.Type+" "+e.UserAgent]++
		case "logout", "session.created":
			count[e.Type+" "+e.Session]++
		case "user.register":
			if e.Outcome == "success" {
				count[e.Type+" "+e.Target]++
			}
		}
	}
	for k, n := range count {
		if n > 1 {
			t.Errorf("%s: %d events, want one", k, n)
		}
	}
	missing := 0
	expect := func(key string) {
		if count[key] == 0 {
			missing++
			if missing <= 20 {
				t.Errorf("answered, without its event: %s", key)
			}
		}
	}
	for id := range led.registered {
		expect("user.register " + id)
	}
	for ua, sid := range led.loggedIn {
		expect("login.success " + ua)
		expect("session.created " + sid)
	}
	for ua := range led.refused {
		expect("login.failure " + ua)
		if count["login.success "+ua] > 0 {
			t.Errorf("login %s was refused, recorded as a success", ua)
		}
	}
	for sid := range led.loggedOut {
		expect("logout " + sid)
	}
	if missing > 0 {
		t.Errorf("%d answered actions without their event", missing)
	}
	// A login killed in flight may have its event; its session exists.
	for _, e := range events {
		if e.Type != "login.success" {
			continue
		}
		if _, answered := led.loggedIn[e.UserAgent]; answered {
			continue
		}
		var n int
		require.NoError(t, db.QueryRowContext(t.Context(), `SELECT count(*) FROM "`+schema+`".sessions WHERE id = $1`, e.Session).Scan(&n))
		if n != 1 {
			t.Errorf("login.success of %s names session %s, which does not exist", e.UserAgent, e.Session)
		}
	}
}
