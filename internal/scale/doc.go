// Package scale measures the session stores at production populations:
// Redis memory per session, and Authenticate, ListSessions, RevokeUser,
// DeleteExpired and Stats (the active-sessions gauge's read) with a
// million sessions in Redis and a million rows in PostgreSQL. Its tests
// load the population into keys and a schema of their own, measure, and
// delete everything they wrote.
//
// By default they load a small population, so CI keeps the code
// compiling and correct in seconds; AUTHV2_SCALE sets the number of
// sessions for a real measurement:
//
//	AUTHV2_SCALE=1000000 go test -run 'TestSessionScaleRedis|TestSessionScalePostgres' -v -timeout 1h ./internal/scale
//
// Figures and their reading are in docs/BENCHMARKS.md.
package scale
