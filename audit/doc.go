// Package audit holds the audit event, the sinks that receive events, the
// Dispatcher that delivers them, and the Store contract for querying them.
//
// # Delivery
//
// A Dispatcher sits between the code that emits events and the sinks. Emit
// queues an event in a bounded buffer and returns; one goroutine per sink
// writes batches. When the buffer is full Emit blocks (backpressure) rather
// than losing the event, unless WithDropWhenFull says otherwise, and then
// every drop is counted. A sink that fails is retried with exponential
// backoff and every failure is reported (WithOnError, WithLogger). Close
// flushes what is queued and, if its context ends first, says how many
// events did not reach every sink.
//
// Each sink keeps its own position in the buffer, so a failing sink is
// retried alone: the others neither wait for it (until the buffer is full)
// nor receive an event twice. FanOut, by contrast, is a stateless Sink
// writing to several: a retry reaches all of them again.
//
// # Sinks
//
// SlogSink logs one record per event (one JSON line with a JSON handler,
// safe against log injection); MemorySink keeps events for tests; a Store
// (store/memory, store/postgres) keeps them for queries.
//
// # Queries and analytics
//
// Store.Query filters by tenant, actor, types, outcome and time range, newest
// first, with opaque keyset cursors. The analytics — login counts per time
// bucket, top denied permissions, unused grants, sessions per device — are
// shaped for GROUP BY and date_bin in SQL. The helpers here (Normalize,
// ParseCursor, NewBuckets, Rank, Covers, Unused) give every Store
// implementation the same rules.
package audit
