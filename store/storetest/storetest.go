// Package storetest is the conformance suite every authv2 store runs, the
// way database drivers run a shared test kit: the in-memory, PostgreSQL and
// Redis stores all pass these very cases, and so must a custom store.
//
// There is one Run function per contract: RunUserStore, RunSessionStore,
// RunPermissionStore, RunRateLimiter and RunAuditStore. Each groups its
// cases by the method they exercise, so a failing case names the method
// to look at:
//
//	--- FAIL: TestConformance/Session/Rotate/IsAtomic
//
// A case that needs several methods sits under the one it checks (the
// per-user session limit is a Create case). Run one method's cases with
// go test -run 'TestConformance/Session/Rotate/'.
//
// Usage, in an adapter's test file:
//
//	func TestConformance(t *testing.T) {
//		storetest.RunUserStore(t, func(t *testing.T) user.Store { return newIsolatedStore(t) })
//	}
//
// A factory must return a fresh, empty store isolated from every other call
// (its own schema, key prefix or instance), and register its cleanup with
// t.Cleanup. Methods and cases call t.Parallel, so the factory must be safe
// to call concurrently.
package storetest

import (
	"context"
	"testing"
	"time"
)

// base is a fixed instant the cases measure time from; stores receive "now"
// explicitly, so no case depends on the wall clock — except TTL-based
// stores, which is why base is near the present and expiries lie ahead.
var base = time.Now().UTC().Truncate(time.Second)

// method runs cases as the subtest name (a method of the store under
// test), in parallel with the other methods' subtests.
func method[F any](t *testing.T, name string, newStore F, cases func(*testing.T, F)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		cases(t, newStore)
	})
}

func ctx(t *testing.T) context.Context { return t.Context() }

// canceled returns a context that is already canceled.
func canceled(t *testing.T) context.Context {
	c, cancel := context.WithCancel(t.Context())
	cancel()
	return c
}

// assertTimeEqual compares instants at microsecond precision, the finest
// PostgreSQL keeps; zero must stay zero.
func assertTimeEqual(t *testing.T, want, got time.Time) {
	t.Helper()
	if want.IsZero() {
		if !got.IsZero() {
			t.Errorf("time: want zero, got %v", got)
		}
		return
	}
	if !want.Truncate(time.Microsecond).Equal(got.Truncate(time.Microsecond)) {
		t.Errorf("time: want %v, got %v", want, got)
	}
}
