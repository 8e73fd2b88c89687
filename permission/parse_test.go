package permission_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/permission"
)

func TestParsePermission(t *testing.T) {
	good := map[string]permission.Permission{
		"orders:read":        {Resource: "orders", Action: "read"},
		"orders:*":           {Resource: "orders", Action: "*"},
		"*:read":             {Resource: "*", Action: "read"},
		"*":                  {Resource: "*", Action: "*"},
		"*:*":                {Resource: "*", Action: "*"},
		"billing.invoices:x": {Resource: "billing.invoices", Action: "x"},
		"a-b_c:d9":           {Resource: "a-b_c", Action: "d9"},
	}
	for in, want := range good {
		got, err := permission.ParsePermission(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "orders", ":read", "orders:", "Orders:read", "orders:Read", "or ders:read",
		"orders:read:x", "orders:re*", "**", "1orders:read", "orders:read\n", "ördérs:read"} {
		_, err := permission.ParsePermission(in)
		require.Error(t, err, "%q", in)
		assert.ErrorIs(t, err, permission.ErrInvalidPermission, in)
		var se *permission.SyntaxError
		require.True(t, errors.As(err, &se))
		assert.Equal(t, in, se.Input)
	}
	assert.Equal(t, "*", permission.Permission{Resource: "*", Action: "*"}.String())
	assert.Equal(t, "orders:*", permission.Permission{Resource: "orders", Action: "*"}.String())
}

func TestPermissionMatches(t *testing.T) {
	p := func(s string) permission.Permission {
		x, err := permission.ParsePermission(s)
		require.NoError(t, err)
		return x
	}
	assert.True(t, p("orders:read").Matches("orders", "read"))
	assert.False(t, p("orders:read").Matches("orders", "write"))
	assert.True(t, p("orders:*").Matches("orders", "write"))
	assert.False(t, p("orders:*").Matches("invoices", "write"))
	assert.True(t, p("*:read").Matches("invoices", "read"))
	assert.True(t, p("*").Matches("x", "y"))
}

func TestParseScope(t *testing.T) {
	segs, err := permission.ParseScope("region:eu/store:42")
	require.NoError(t, err)
	assert.Equal(t, []permission.ScopeSegment{{Kind: "region", Value: "eu"}, {Kind: "store", Value: "42"}}, segs)
	segs, err = permission.ParseScope("")
	require.NoError(t, err)
	assert.Empty(t, segs)
	for _, in := range []string{"region", "region:", ":eu", "region:eu/", "/region:eu", "region:eu//store:1",
		"Region:eu", "region:e u", "region:eu:x", "region:e*", "region:eu/store", "r:" + string(make([]byte, 200))} {
		err := permission.ValidateScope(in)
		require.Error(t, err, "%q", in)
		assert.ErrorIs(t, err, permission.ErrInvalidScope)
	}
	deep := "a:1"
	for range 16 {
		deep += "/a:1"
	}
	assert.ErrorIs(t, permission.ValidateScope(deep), permission.ErrInvalidScope)
}

func TestScopeCovers(t *testing.T) {
	cases := []struct {
		outer, inner string
		want         bool
	}{
		{"", "", true},
		{"", "region:eu/store:42", true},
		{"region:eu", "region:eu", true},
		{"region:eu", "region:eu/store:42", true},
		{"region:eu", "region:eu2", false},
		{"region:eu", "region:e", false},
		{"region:eu", "", false},
		{"region:eu/store:42", "region:eu", false},
		{"region:eu/store:4", "region:eu/store:42", false},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, permission.ScopeCovers(c.outer, c.inner), "%q covers %q", c.outer, c.inner)
	}
}

func TestValidateBinding(t *testing.T) {
	require.NoError(t, permission.ValidateBinding(permission.Binding{UserID: "u", TenantID: "t", Role: "clerk", Scope: "store:1"}))
	err := permission.ValidateBinding(permission.Binding{Role: "bad role", Scope: "store"})
	require.Error(t, err)
	assert.ErrorIs(t, err, permission.ErrInvalidRole)
	assert.ErrorIs(t, err, permission.ErrInvalidScope)
	var ie *permission.InvalidRoleError
	require.True(t, errors.As(err, &ie))
	fields := []string{}
	for _, p := range ie.Problems {
		fields = append(fields, p.Field)
	}
	assert.Equal(t, []string{"UserID", "TenantID", "Role", "Scope"}, fields)
}
