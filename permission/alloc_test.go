package permission_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/permission"
)

// The hot path must not allocate: a regression here costs every request.
func TestWarmCheckDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	f := newFixture(t, "acme")
	f.role("acme", "viewer", nil, allow("orders:read"), deny("orders:delete"), allow("*:list"))
	f.bind("acme", "u", "viewer", "region:eu")
	e := f.engine()
	ctx := context.Background()
	s, r := subject("acme", "u"), resource("acme", "orders", "region:eu/store:1")
	require.True(t, e.Check(ctx, s, "read", r, noReq))
	for _, action := range []string{"read", "delete", "list", "write"} {
		allocs := testing.AllocsPerRun(1000, func() {
			_, _ = e.Authorize(ctx, s, action, r, permission.Request{})
		})
		assert.Zero(t, allocs, action)
	}
}
