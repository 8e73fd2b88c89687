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
// A session hash keeps what never changes and what only Update changes in
// two packed fields (length-prefixed values behind a format byte), next to
// the few fields the scripts move (last seen, idle expiry, revocation) and
// copies of those they read: Get is one HMGET of six fields, since a
// reply's cost grows with its number of fields. Only a session rotated
// away costs Get a second read, for its successor's ID. A record that does not
// unpack fails closed with ErrStoreUnavailable.
//
// Sessions expire through Redis TTLs (PEXPIREAT at the earlier of the
// idle and absolute deadlines, moved by Touch); revoked sessions keep their
// TTL so that Get can still say "revoked". The user index has no TTL: it
// must outlive every session it lists, and a session's deadline moves with
// each Touch. It is pruned of dead members inside the scripts that read or
// write it and by DeleteExpired, which drops each expired session from its
// user's index; Redis deletes an emptied index.
//
// # Eviction
//
// Under maxmemory, use noeviction or a volatile-* policy: these only evict
// keys with a TTL, which here are sessions (an eviction signs one out),
// never a user's index. An allkeys-* policy may evict the index while its
// sessions live on, out of reach of RevokeUser; SessionStore.Check reports
// such a policy (it skips servers that refuse CONFIG GET).
//
// Sorted sets of every stored session by expiry time, <prefix>{expiry:N}
// for N in 0..15 (the shard chosen by the user's tag, so a cluster spreads
// them over its nodes), let DeleteExpired and Stats find sessions without
// SCAN. They live in slots of their own, so they cannot join the scripts:
// Create pipelines its add (ZADD LT) with the script, one round trip;
// Rotate adds in a second, best-effort command; Touch does not move it.
// Each member is the session ID and its user's ID, so DeleteExpired can
// find the user's index after Redis has expired the session.
// The index is a hint, never the truth: DeleteExpired re-reads each
// candidate and deletes it only when its stored deadline has passed,
// re-indexing one touched since, and drops members whose key Redis
// already expired. Run DeleteExpired periodically (it looks at about
// 5,000 candidates per call, 313 per shard, a few round trips each) to
// keep the index from growing; the sessions themselves need no sweep.
//
// Stats is an admin query: it reads the whole expiry index (one shard when
// filtered by user), a shard at a time, and every session in it, 1,000
// per pipeline (per slot on a cluster), so it costs what the number of
// stored sessions costs while its memory stays one shard's members.
// Authenticate never calls it; the Manager's gauge caches it.
//
// # Client-side caching
//
// With WithClientSideCache, Get is served from rueidis's client-side
// cache; Redis tracks the keys each connection read and pushes an
// invalidation when any client writes them. The push is asynchronous: a
// revoke on one instance reaches another's cache some time after Revoke
// returned (measured p99 up to 180 ms, max up to 220 ms on a loaded VM; see
// WithClientSideCache), and until then that instance still accepts the
// session. The TTL bounds staleness should an invalidation be lost with
// its connection. Leave the cache off where a revoke must be strict.
//
// The stores need Redis 7.0 or later.
//
// # Failures
//
// A Redis nil is store.ErrNotFound. Every other failure — refused
// connection, timeout, cluster down — is a *store.UnavailableError whose
// message hides the cause, returned within the caller's context deadline:
// authentication fails closed. The next call after Redis is back succeeds.
package redis
