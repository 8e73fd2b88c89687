package audit

import "context"

// Journal is the durable copy of audit events between the moment a flow
// records them and the moment every sink has them. The Manager appends an
// event of an account, session or administrative flow before the flow
// answers, delivers it through its Dispatcher, removes it once every sink
// has it, and on start delivers again what an earlier process left behind:
// a crash loses no event the flow had answered for, and a sink that is not
// a store (a log, a SIEM forwarder) receives every event at least once
// across restarts.
//
// Implementations are safe for concurrent use and pass
// storetest.RunJournal; store/spool is one, on a local bbolt file, and
// store/postgres's Journal another, shared by the instances on one
// database (it also passes storetest.RunSharedJournal), into which the
// PostgreSQL stores can commit a flow's events with its change.
type Journal interface {
	// Append stores events durably (on stable storage: a crash of the
	// process or the machine after Append returns nil loses none) and
	// keeps them until Remove. An error means none may be stored. An
	// event whose ID is already kept is stored once.
	Append(ctx context.Context, events []Event) error
	// Leftover returns one page of the events appended before this
	// Journal was opened, by an earlier process (or, for a journal
	// several instances share, by an instance that is gone: never by one
	// still alive), and not removed since, in the order they were
	// appended: at most limit of them (limit > 0),
	// after the position after ("" for the first page). next is the
	// position to pass for the following page, "" after the last. Events
	// appended since the Journal was opened are never returned: their own
	// process delivers them.
	Leftover(ctx context.Context, after string, limit int) (events []Event, next string, err error)
	// Remove forgets the events with these IDs: every sink has them.
	// Unknown IDs are ignored. A crash may lose a Remove, so an event may
	// be delivered again after a restart: delivery is at least once.
	Remove(ctx context.Context, ids []string) error
}
