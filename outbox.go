package authv2

import (
	"context"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/internal/telemetry"
	"github.com/authv2/authv2/user"
)

// The transactional outbox. A flow whose commit point is one write to a
// store that can commit audit events in the same transaction (store/
// postgres's user and session stores, once their journal is open) hands
// its events to that write: the change and its events are committed
// together or not at all, so the trail and the state cannot disagree, and
// the events are durable when the write returns. They then only go to the
// audit queue; the journal rows are the Manager's like appended ones
// (removed once delivered, replayed after a crash). The Manager uses a
// store's recording writes only when they write into the journal it was
// given (WithAuditJournal): otherwise the rows would be nobody's to
// deliver. Any other store, or another journal, keeps the journal's
// Append before the answer (emitAll).

// outboxes returns the recording forms of the user and session stores
// whose outbox writes into journal, instrumented like the stores; nil for
// a store without one.
func outboxes(users, sessions any, journal audit.Journal, tel *telemetry.T) (telemetry.RecordingUsers, telemetry.RecordingSessions) {
	if journal == nil {
		return nil, nil
	}
	var u telemetry.RecordingUsers
	var s telemetry.RecordingSessions
	if r, ok := users.(telemetry.RecordingUsers); ok && r.OutboxJournal() == journal {
		u = telemetry.OutboxUsers{S: r, T: tel}
	}
	if r, ok := sessions.(telemetry.RecordingSessions); ok && r.OutboxJournal() == journal {
		s = telemetry.OutboxSessions{S: r, T: tel}
	}
	return u, s
}

// recorded commits events with a state change through write, an outbox
// write, and queues them for the sinks once it succeeded. A failed write
// recorded nothing, as it changed nothing: its error is returned as is.
func (m *Manager) recorded(ctx context.Context, events []audit.Event, write func([]audit.Event) error) error {
	m.stamp(ctx, events)
	if err := write(events); err != nil {
		return err
	}
	m.queue(ctx, events, true)
	return nil
}

// updateUser is users.Update committing events with the change when the
// user store has an outbox (recorded is then true: they are durable and
// queued); otherwise the caller records them after the update.
func (m *Manager) updateUser(ctx context.Context, id string, fn func(*user.User) error, events []audit.Event) (u *user.User, recorded bool, err error) {
	if m.usersOutbox == nil || len(events) == 0 {
		u, err = m.users.Update(ctx, id, fn)
		return u, false, err
	}
	err = m.recorded(ctx, events, func(events []audit.Event) error {
		u, err = m.usersOutbox.UpdateRecorded(ctx, id, fn, events)
		return err
	})
	return u, err == nil, err
}
