package authv2_test

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store/memory"
	"github.com/authv2/authv2/store/spool"
)

// journalManager is a Manager on stores that outlive it (a restart keeps
// them) with a spool journal at path and one sink.
func journalManager(t *testing.T, stores *memory.Stores, j audit.Journal, sink audit.Sink) *authv2.Manager {
	t.Helper()
	return journalManagerWith(t, fastRetries(), stores, j, sink)
}

func journalManagerWith(t *testing.T, cfg authv2.Config, stores *memory.Stores, j audit.Journal, sink audit.Sink) *authv2.Manager {
	t.Helper()
	m, err := authv2.New(authv2.WithConfig(cfg), authv2.WithInsecurePasswordHashing(), authv2.WithLogger(discardLogger()),
		authv2.WithUserStore(stores.Users), authv2.WithSessionStore(stores.Sessions), authv2.WithPermissionStore(stores.Permissions),
		authv2.WithAuditJournal(j), authv2.WithAuditSink(sink))
	require.NoError(t, err)
	return m
}

func openSpool(t *testing.T, path string) *spool.Journal {
	t.Helper()
	j, err := spool.Open(path)
	require.NoError(t, err)
	return j
}

func typesOf(events []audit.Event) []audit.Type {
	out := make([]audit.Type, len(events))
	for i := range events {
		out[i] = events[i].Type
	}
	return out
}

// TestJournalKeepsAnsweredEventsAcrossARestart: the sink (a log, say)
// receives nothing before the process ends; every event of a flow that
// answered is in the journal, and the next process delivers it to a sink
// that is not a store, once, then forgets it.
func TestJournalKeepsAnsweredEventsAcrossARestart(t *testing.T) {
	stores := memory.New()
	path := filepath.Join(t.TempDir(), "audit.spool")

	j1 := openSpool(t, path)
	m1 := journalManager(t, stores, j1, failingSink{})
	_, err := m1.Register(t.Context(), authv2.RegisterInput{Email: "j@example.com", Password: goodPassword})
	require.NoError(t, err)
	res, err := m1.Login(t.Context(), authv2.LoginInput{Email: "j@example.com", Password: goodPassword})
	require.NoError(t, err)
	_, err = m1.Login(t.Context(), authv2.LoginInput{Email: "j@example.com", Password: "wrong password!"})
	require.ErrorIs(t, err, authv2.ErrInvalidCredentials)
	require.NoError(t, m1.Logout(t.Context(), res.Token))
	// The sink never took an event: Close gives up on them.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	var undelivered *audit.UndeliveredError
	require.ErrorAs(t, m1.Close(ctx), &undelivered)
	require.NoError(t, j1.Close())

	want := []audit.Type{audit.TypeRegister, audit.TypeSessionCreated, audit.TypeLoginSuccess, audit.TypeLoginFailure, audit.TypeLogout}
	j2 := openSpool(t, path)
	sink := audit.NewMemorySink()
	m2 := journalManager(t, stores, j2, sink)
	require.NoError(t, m2.FlushAudit(t.Context()))
	got := sink.Events()
	assert.Equal(t, want, typesOf(got), "replayed in the order they were answered")
	assert.Equal(t, res.Session.ID, got[2].ActorSessionID)
	n, err := j2.Len()
	require.NoError(t, err)
	assert.Zero(t, n, "delivered events leave the journal")
	require.NoError(t, m2.Close(context.Background()))
	require.NoError(t, j2.Close())

	j3 := openSpool(t, path)
	defer j3.Close()
	left, _, err := j3.Leftover(t.Context(), "", 10)
	require.NoError(t, err)
	assert.Empty(t, left, "nothing to replay twice")
}

// brokenJournal refuses every event, as a full disk would.
type brokenJournal struct{}

func (brokenJournal) Append(context.Context, []audit.Event) error { return assert.AnError }
func (brokenJournal) Leftover(context.Context, string, int) ([]audit.Event, string, error) {
	return nil, "", nil
}
func (brokenJournal) Remove(context.Context, []string) error { return nil }

// TestJournalRefusalFailsTheFlow: no flow answers success without its
// event; a login whose event cannot be kept leaves no usable session.
func TestJournalRefusalFailsTheFlow(t *testing.T) {
	stores := memory.New()
	plain := journalManager(t, stores, openSpool(t, filepath.Join(t.TempDir(), "audit.spool")), audit.NewMemorySink())
	u, err := plain.Register(t.Context(), authv2.RegisterInput{Email: "b@example.com", Password: goodPassword})
	require.NoError(t, err)
	ok, err := plain.Login(t.Context(), authv2.LoginInput{Email: "b@example.com", Password: goodPassword})
	require.NoError(t, err)
	require.NoError(t, plain.Close(context.Background()))

	m := journalManager(t, stores, brokenJournal{}, audit.NewMemorySink())
	defer m.Close(context.Background())
	_, err = m.Login(t.Context(), authv2.LoginInput{Email: "b@example.com", Password: goodPassword})
	require.ErrorIs(t, err, authv2.ErrStoreUnavailable)
	live, err := stores.Sessions.ListByUser(t.Context(), u.ID, time.Now())
	require.NoError(t, err)
	require.Len(t, live, 1, "the failed login's session was ended")
	assert.Equal(t, ok.Session.ID, live[0].ID)
	assert.ErrorIs(t, m.Logout(t.Context(), ok.Token), authv2.ErrStoreUnavailable)
	_, err = m.Register(t.Context(), authv2.RegisterInput{Email: "c@example.com", Password: goodPassword})
	assert.ErrorIs(t, err, authv2.ErrStoreUnavailable)
	_, err = m.CreateTenant(t.Context(), "acme", "Acme")
	assert.ErrorIs(t, err, authv2.ErrStoreUnavailable)
}

// TestJournalRefusalKeepsTheEventOfACommittedChange: when the journal
// refuses, Register and Logout answer ErrStoreUnavailable although the
// user was created and the session ended; the event of that committed
// change still reaches the sinks (best effort, from the queue).
func TestJournalRefusalKeepsTheEventOfACommittedChange(t *testing.T) {
	stores := memory.New()
	plain := journalManager(t, stores, openSpool(t, filepath.Join(t.TempDir(), "audit.spool")), audit.NewMemorySink())
	_, err := plain.Register(t.Context(), authv2.RegisterInput{Email: "a@example.com", Password: goodPassword})
	require.NoError(t, err)
	ok, err := plain.Login(t.Context(), authv2.LoginInput{Email: "a@example.com", Password: goodPassword})
	require.NoError(t, err)
	require.NoError(t, plain.Close(context.Background()))

	sink := audit.NewMemorySink()
	m := journalManager(t, stores, brokenJournal{}, sink)
	defer m.Close(context.Background())
	_, err = m.Register(t.Context(), authv2.RegisterInput{Email: "c@example.com", Password: goodPassword})
	require.ErrorIs(t, err, authv2.ErrStoreUnavailable)
	_, err = stores.Users.GetByEmail(t.Context(), "c@example.com")
	require.NoError(t, err, "the refused Register created the user all the same")
	require.ErrorIs(t, m.Logout(t.Context(), ok.Token), authv2.ErrStoreUnavailable)
	_, err = m.Authenticate(t.Context(), ok.Token, session.ClientInfo{})
	require.Error(t, err, "the refused Logout ended the session all the same")

	require.NoError(t, m.FlushAudit(t.Context()))
	got := typesOf(sink.Events())
	assert.Contains(t, got, audit.TypeRegister, "a user exists whose creation no sink ever sees")
	assert.Contains(t, got, audit.TypeLogout, "a session ended whose logout no sink ever sees")
}

// TestJournalRefusalKeepsTheEventsOfUncheckedFlows: the events whose
// flow answers whatever their record (a failed login, a throttled one)
// reach the sinks when the journal refuses them.
func TestJournalRefusalKeepsTheEventsOfUncheckedFlows(t *testing.T) {
	stores := memory.New()
	cfg := fastRetries()
	cfg.Throttle.AfterFailures = 2
	plain := journalManagerWith(t, cfg, stores, openSpool(t, filepath.Join(t.TempDir(), "audit.spool")), audit.NewMemorySink())
	_, err := plain.Register(t.Context(), authv2.RegisterInput{Email: "l@example.com", Password: goodPassword})
	require.NoError(t, err)
	require.NoError(t, plain.Close(context.Background()))

	sink := audit.NewMemorySink()
	m := journalManagerWith(t, cfg, stores, brokenJournal{}, sink)
	defer m.Close(context.Background())
	for range cfg.Throttle.AfterFailures + 1 {
		_, err := m.Login(t.Context(), authv2.LoginInput{Email: "l@example.com", Password: "wrong password!"})
		require.ErrorIs(t, err, authv2.ErrInvalidCredentials)
	}
	require.NoError(t, m.FlushAudit(t.Context()))
	var reasons []string
	for _, ev := range sink.Events() {
		if ev.Type == audit.TypeLoginFailure {
			reasons = append(reasons, ev.Reason)
		}
	}
	assert.Equal(t, []string{audit.ReasonBadPassword, audit.ReasonBadPassword, audit.ReasonAccountThrottled}, reasons,
		"failures, and the throttled one, no sink would ever see")
}

// countingPermissions counts the permission store reads a failed login
// makes on the caller's time.
type countingPermissions struct {
	permission.Store
	reads atomic.Int64
}

func (c *countingPermissions) ListMemberships(ctx context.Context, userID string) ([]permission.Membership, error) {
	c.reads.Add(1)
	return c.Store.ListMemberships(ctx, userID)
}

func (c *countingPermissions) ListBindings(ctx context.Context, tenantID, userID string) ([]permission.Binding, error) {
	c.reads.Add(1)
	return c.Store.ListBindings(ctx, tenantID, userID)
}

// TestJournalFailedLoginReadsMatchUnknownEmail: with a journal, an
// unknown email pays unknownTenantRead (ListMemberships + ListBindings)
// so that its answer takes as long as a known account's failure; a known
// account's failure made 0 reads when it had no tenant and 1 when it was
// a member of its default tenant, so the unknown email was the slower
// answer by one or two store round trips.
func TestJournalFailedLoginReadsMatchUnknownEmail(t *testing.T) {
	stores := memory.New()
	perms := &countingPermissions{Store: stores.Permissions}
	m, err := authv2.New(authv2.WithConfig(fastRetries()), authv2.WithInsecurePasswordHashing(), authv2.WithLogger(discardLogger()),
		authv2.WithUserStore(stores.Users), authv2.WithSessionStore(stores.Sessions), authv2.WithPermissionStore(perms),
		authv2.WithAuditJournal(openSpool(t, filepath.Join(t.TempDir(), "audit.spool"))), authv2.WithAuditSink(audit.NewMemorySink()))
	require.NoError(t, err)
	defer m.Close(context.Background())
	_, err = m.CreateTenant(t.Context(), "acme", "Acme")
	require.NoError(t, err)
	_, err = m.Register(t.Context(), authv2.RegisterInput{Email: "none@example.com", Password: goodPassword})
	require.NoError(t, err)
	_, err = m.Register(t.Context(), authv2.RegisterInput{Email: "member@example.com", Password: goodPassword, TenantID: "acme"})
	require.NoError(t, err)
	require.NoError(t, m.FlushAudit(t.Context()))

	readsOf := func(email string) int64 {
		before := perms.reads.Load()
		_, err := m.Login(t.Context(), authv2.LoginInput{Email: email, Password: "wrong password!"})
		require.ErrorIs(t, err, authv2.ErrInvalidCredentials)
		return perms.reads.Load() - before
	}
	unknown := readsOf("nobody@example.com")
	for _, email := range []string{"none@example.com", "member@example.com"} {
		assert.Equal(t, unknown, readsOf(email), "%s: a known account's failed login makes as many store reads as an unknown email's", email)
	}
}

// countingJournal counts the Appends (each one fsync on a spool) made on
// the caller's time.
type countingJournal struct {
	audit.Journal
	appends atomic.Int64
}

func (c *countingJournal) Append(ctx context.Context, events []audit.Event) error {
	c.appends.Add(1)
	return c.Journal.Append(ctx, events)
}

// TestJournalFailuresCostKnownAndUnknownEmailsAlike: each failed attempt,
// up to and past the throttle, is one journal Append (one fsync) for a
// known account as for an unknown email. (A known account's lockout event
// was once an Append of its own: one disk sync slower, on the very attempt
// an enumerating client controls.)
func TestJournalFailuresCostKnownAndUnknownEmailsAlike(t *testing.T) {
	stores := memory.New()
	j := &countingJournal{Journal: openSpool(t, filepath.Join(t.TempDir(), "audit.spool"))}
	cfg := fastRetries()
	cfg.Throttle.AfterFailures = 3
	m, err := authv2.New(authv2.WithConfig(cfg), authv2.WithInsecurePasswordHashing(), authv2.WithLogger(discardLogger()),
		authv2.WithUserStore(stores.Users), authv2.WithSessionStore(stores.Sessions), authv2.WithPermissionStore(stores.Permissions),
		authv2.WithAuditJournal(j), authv2.WithAuditSink(audit.NewMemorySink()))
	require.NoError(t, err)
	defer m.Close(context.Background())
	_, err = m.Register(t.Context(), authv2.RegisterInput{Email: "known@example.com", Password: goodPassword})
	require.NoError(t, err)

	appendsPerAttempt := func(email string) []int64 {
		var out []int64
		for i := range cfg.Throttle.AfterFailures + 2 {
			before := j.appends.Load()
			_, err := m.Login(t.Context(), authv2.LoginInput{Email: email, Password: "wrong password!",
				Client: session.ClientInfo{IP: "192.0.2." + string(rune('1'+i))}})
			require.ErrorIs(t, err, authv2.ErrInvalidCredentials)
			out = append(out, j.appends.Load()-before)
		}
		return out
	}
	unknown := appendsPerAttempt("nobody@example.com")
	known := appendsPerAttempt("known@example.com")
	assert.Equal(t, unknown, known, "journal syncs on the caller's time per failed attempt: unknown email vs known account")
}

// refusingJournal refuses any batch holding an event of type refuse.
type refusingJournal struct {
	audit.Journal
	refuse audit.Type
}

func (r *refusingJournal) Append(ctx context.Context, events []audit.Event) error {
	for _, e := range events {
		if e.Type == r.refuse {
			return assert.AnError
		}
	}
	return r.Journal.Append(ctx, events)
}

// TestJournalRefusedReauthenticateLeavesNoOrphanSession: Reauthenticate
// rotated the session and journaled session.rotated, then journaled
// reauthenticate in a second Append. When the second was refused the flow
// answered ErrStoreUnavailable, but the successor session (freshly
// authenticated, its token never handed out) stayed live, counted against
// the user's session limit and listed among their devices. Now both
// events go in one Append, and a refusal ends the successor, as Login
// ends its session.
func TestJournalRefusedReauthenticateLeavesNoOrphanSession(t *testing.T) {
	stores := memory.New()
	j := &refusingJournal{Journal: openSpool(t, filepath.Join(t.TempDir(), "audit.spool"))}
	m := journalManager(t, stores, j, audit.NewMemorySink())
	defer m.Close(context.Background())
	u, err := m.Register(t.Context(), authv2.RegisterInput{Email: "r@example.com", Password: goodPassword})
	require.NoError(t, err)
	res, err := m.Login(t.Context(), authv2.LoginInput{Email: "r@example.com", Password: goodPassword})
	require.NoError(t, err)

	j.refuse = audit.TypeReauthenticate
	_, err = m.Reauthenticate(t.Context(), res.Token, goodPassword)
	require.ErrorIs(t, err, authv2.ErrStoreUnavailable)
	live, err := stores.Sessions.ListByUser(t.Context(), u.ID, time.Now())
	require.NoError(t, err)
	for _, s := range live {
		assert.Equal(t, res.Session.ID, s.ID, "a live session whose token no one was given: %s", s.ID)
	}
	_, err = m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	require.Error(t, err, "the caller's session was rotated away")

	counted := &countingJournal{Journal: j.Journal}
	m2 := journalManager(t, stores, counted, audit.NewMemorySink())
	defer m2.Close(context.Background())
	res, err = m2.Login(t.Context(), authv2.LoginInput{Email: "r@example.com", Password: goodPassword})
	require.NoError(t, err)
	before := counted.appends.Load()
	fresh, err := m2.Reauthenticate(t.Context(), res.Token, goodPassword)
	require.NoError(t, err)
	assert.Equal(t, int64(1), counted.appends.Load()-before, "one journal write per Reauthenticate")

	m3 := journalManager(t, stores, &refusingJournal{Journal: j.Journal, refuse: audit.TypeSessionRotated}, audit.NewMemorySink())
	defer m3.Close(context.Background())
	res, err = m3.Login(t.Context(), authv2.LoginInput{Email: "r@example.com", Password: goodPassword})
	require.NoError(t, err)
	_, err = m3.RotateSession(t.Context(), res.Token)
	require.ErrorIs(t, err, authv2.ErrStoreUnavailable)
	live, err = stores.Sessions.ListByUser(t.Context(), u.ID, time.Now())
	require.NoError(t, err)
	for _, s := range live {
		assert.Equal(t, fresh.Session.ID, s.ID, "a refused RotateSession leaves no successor: %s", s.ID)
	}
}

// gatedJournal holds every Append until its gate opens, like a slow disk.
type gatedJournal struct {
	audit.Journal
	mu   sync.Mutex
	gate chan struct{} // nil: open
}

func (g *gatedJournal) Append(ctx context.Context, events []audit.Event) error {
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return g.Journal.Append(ctx, events)
}

// TestJournalEnumerationSafeRegistrationSameWaitOnTheJournal: with
// EnumerationSafeRegistration a taken address must answer as a new one,
// with the same work on the caller's time. With a journal, a new address
// waits for its user.register Append (an fsync: ~10 ms in
// docs/BENCHMARKS.md) before answering; a taken address's event is
// journaled in the background, after the answer. Here the journal is
// held shut: the taken address answered at once, the new one did not.
// Now both wait for one Append; the owner is named after the answer, in
// a second event pointing at the attempt.
func TestJournalEnumerationSafeRegistrationSameWaitOnTheJournal(t *testing.T) {
	n := &existsNotifier{captureNotifier: newCaptureNotifier(), exists: make(chan string, 4)}
	cfg := fastRetries()
	cfg.RequireEmailVerification = true
	cfg.EnumerationSafeRegistration = true
	stores := memory.New()
	j := &gatedJournal{Journal: openSpool(t, filepath.Join(t.TempDir(), "audit.spool"))}
	sink := audit.NewMemorySink()
	m, err := authv2.New(authv2.WithConfig(cfg), authv2.WithInsecurePasswordHashing(), authv2.WithLogger(discardLogger()),
		authv2.WithUserStore(stores.Users), authv2.WithSessionStore(stores.Sessions), authv2.WithPermissionStore(stores.Permissions),
		authv2.WithNotifier(n), authv2.WithAuditJournal(j), authv2.WithAuditSink(sink))
	require.NoError(t, err)
	defer m.Close(context.Background())
	_, err = m.Register(t.Context(), authv2.RegisterInput{Email: "owner@example.com", Password: goodPassword})
	require.NoError(t, err)
	require.NoError(t, m.FlushAudit(t.Context()))

	answersWhileJournalHeld := func(email string) bool {
		gate := make(chan struct{})
		j.mu.Lock()
		j.gate = gate
		j.mu.Unlock()
		done := make(chan error, 1)
		go func() {
			_, err := m.Register(context.Background(), authv2.RegisterInput{Email: email, Password: goodPassword})
			done <- err
		}()
		var answered bool
		select {
		case err := <-done:
			require.NoError(t, err)
			answered = true
		case <-time.After(time.Second):
		}
		j.mu.Lock()
		j.gate = nil
		j.mu.Unlock()
		close(gate)
		if !answered {
			require.NoError(t, <-done)
		}
		return answered
	}
	taken := answersWhileJournalHeld("owner@example.com")
	fresh := answersWhileJournalHeld("new@example.com")
	require.NoError(t, m.FlushAudit(t.Context()))
	assert.Equal(t, taken, fresh, "a taken address answered before the journal (%v), a new one (%v): the wait tells them apart", taken, fresh)

	owner, err := stores.Users.GetByEmail(t.Context(), "owner@example.com")
	require.NoError(t, err)
	var attempt, detail *audit.Event
	for _, e := range sink.Events() {
		if e.Type == audit.TypeRegister && e.Reason == audit.ReasonEmailTaken {
			if e.Target == "" {
				attempt = &e
			} else {
				detail = &e
			}
		}
	}
	require.NotNil(t, attempt, "the taken address's attempt")
	require.NotNil(t, detail, "the owner, named after the answer")
	assert.Equal(t, owner.ID, detail.Target)
	assert.Equal(t, attempt.ID, detail.Attributes[audit.AttrAttempt])
}

// TestJournalAccountChangesWriteOnce: a password or email change ends the
// user's other sessions, records the change and rotates the current
// session; all their events go in one journal write (one fsync per flow),
// where they took three.
func TestJournalAccountChangesWriteOnce(t *testing.T) {
	stores := memory.New()
	j := &countingJournal{Journal: openSpool(t, filepath.Join(t.TempDir(), "audit.spool"))}
	sink := audit.NewMemorySink()
	m := journalManager(t, stores, j, sink)
	defer m.Close(context.Background())
	_, err := m.Register(t.Context(), authv2.RegisterInput{Email: "w@example.com", Password: goodPassword})
	require.NoError(t, err)
	_, err = m.Login(t.Context(), authv2.LoginInput{Email: "w@example.com", Password: goodPassword})
	require.NoError(t, err)
	res, err := m.Login(t.Context(), authv2.LoginInput{Email: "w@example.com", Password: goodPassword})
	require.NoError(t, err)

	p, err := m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	require.NoError(t, err)
	before := j.appends.Load()
	res, err = m.ChangePassword(t.Context(), p, goodPassword, "a brand new passphrase")
	require.NoError(t, err)
	assert.Equal(t, int64(1), j.appends.Load()-before, "ChangePassword")

	p, err = m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	require.NoError(t, err)
	before = j.appends.Load()
	_, err = m.ChangeEmail(t.Context(), p, "w2@example.com")
	require.NoError(t, err)
	assert.Equal(t, int64(1), j.appends.Load()-before, "ChangeEmail")

	require.NoError(t, m.FlushAudit(t.Context()))
	got := typesOf(sink.Events())
	assert.Contains(t, got, audit.TypePasswordChange)
	assert.Contains(t, got, audit.TypeEmailChange)
	assert.Contains(t, got, audit.TypeSessionRevoked, "the other session's end")
}
