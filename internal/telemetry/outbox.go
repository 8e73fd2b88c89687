package telemetry

import (
	"context"
	"time"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/user"
)

// RecordingUsers is a user store whose writes can commit audit events in
// the transaction of the change they record (the outbox, see the root's
// outbox.go): store/postgres's once its journal is open.
type RecordingUsers interface {
	OutboxJournal() audit.Journal
	CreateRecorded(ctx context.Context, u *user.User, events []audit.Event) error
	UpdateRecorded(ctx context.Context, id string, fn func(*user.User) error, events []audit.Event) (*user.User, error)
}

// RecordingSessions is RecordingUsers' counterpart for sessions.
type RecordingSessions interface {
	OutboxJournal() audit.Journal
	RevokeRecorded(ctx context.Context, id string, at time.Time, reason string, events []audit.Event) error
	RevokeUserRecorded(ctx context.Context, userID string, f session.RevokeFilter, at time.Time, reason string, events func(ids []string) []audit.Event) ([]string, error)
}

// OutboxUsers instruments a RecordingUsers: a recording write is the
// operation it extends (user.create, user.update).
type OutboxUsers struct {
	S RecordingUsers
	T *T
}

func (w OutboxUsers) OutboxJournal() audit.Journal { return w.S.OutboxJournal() }

func (w OutboxUsers) CreateRecorded(ctx context.Context, u *user.User, events []audit.Event) error {
	return call0(w.T, ctx, opUserCreate, func(ctx context.Context) error { return w.S.CreateRecorded(ctx, u, events) })
}

func (w OutboxUsers) UpdateRecorded(ctx context.Context, id string, fn func(*user.User) error, events []audit.Event) (*user.User, error) {
	return call(w.T, ctx, opUserUpdate, func(ctx context.Context) (*user.User, error) { return w.S.UpdateRecorded(ctx, id, fn, events) })
}

// OutboxSessions instruments a RecordingSessions as OutboxUsers does.
type OutboxSessions struct {
	S RecordingSessions
	T *T
}

func (w OutboxSessions) OutboxJournal() audit.Journal { return w.S.OutboxJournal() }

func (w OutboxSessions) RevokeRecorded(ctx context.Context, id string, at time.Time, reason string, events []audit.Event) error {
	return call0(w.T, ctx, opSessRevoke, func(ctx context.Context) error { return w.S.RevokeRecorded(ctx, id, at, reason, events) })
}

func (w OutboxSessions) RevokeUserRecorded(ctx context.Context, userID string, f session.RevokeFilter, at time.Time, reason string, events func(ids []string) []audit.Event) ([]string, error) {
	return call(w.T, ctx, opSessRevokeUser, func(ctx context.Context) ([]string, error) {
		return w.S.RevokeUserRecorded(ctx, userID, f, at, reason, events)
	})
}
