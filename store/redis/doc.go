// Package redis implements authv2's session store, login rate limiter and
// policy bus on Redis with github.com/redis/rueidis, on a single node,
// Sentinel or Redis Cluster alike: it takes a rueidis.Client the
// application built and never opens one of its own.
//
// # Keys
//
// Every key of one user carries the user's tag (session.UserTag) as a
// Redis Cluster hash tag, so all of them live in one slot:
//
//	<prefix>{<tag>}:s:<session ID>   hash: the session
//	<prefix>{<tag>}:u:<user ID>      sorted set: the user's live session IDs by creation time
//
// A session ID starts with its user's tag, so a session's slot is known
// from its ID alone. Creating a session under a per-user limit, revoking
// all of a user's sessions and listing them each run as one Lua script on
// that slot: atomic, one round trip, on a single node and on a cluster.
//
// Sessions expire through Redis TTLs (PEXPIREAT at the earlier of the
// idle and absolute deadlines, moved by Touch); revoked sessions keep their
// TTL so that Get can still say "revoked". A sorted set of expiry times,
// <prefix>{expiry}, lets DeleteExpired and Stats find sessions without
// SCAN; it is updated in the same pipeline as each write.
//
// # Failures
//
// A Redis nil is store.ErrNotFound. Every other failure — refused
// connection, timeout, cluster down — is a *store.UnavailableError whose
// message hides the cause, returned within the caller's context deadline:
// authentication fails closed. The next call after Redis is back succeeds.
package redis
