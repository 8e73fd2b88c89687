package permission_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/authv2/authv2/permission"
)

func FuzzParsePermission(f *testing.F) {
	for _, s := range []string{"orders:read", "orders:*", "*:read", "*", "*:*", "", ":", "a:b:c", "Orders:read", "ä:b", "a\x00:b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := permission.ParsePermission(s)
		if err != nil {
			if !errors.Is(err, permission.ErrInvalidPermission) {
				t.Fatalf("error %v is not ErrInvalidPermission", err)
			}
			return
		}
		// Accepted input round-trips to a canonical form that parses the same.
		back, err := permission.ParsePermission(p.String())
		if err != nil || back != p {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, p, p.String(), back, err)
		}
		for _, part := range []string{p.Resource, p.Action} {
			if part == "" || (part != "*" && strings.ContainsAny(part, ":*/ \t\n")) {
				t.Fatalf("%q parsed to a bad part %q", s, part)
			}
		}
	})
}

func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"", "region:eu", "region:eu/store:42", "region:eu/", "a:b/c", "a:b//c:d", "x:y:z", "A:b"} {
		f.Add(s, "region:eu/store:42")
	}
	f.Fuzz(func(t *testing.T, s, other string) {
		segs, err := permission.ParseScope(s)
		if err != nil {
			if !errors.Is(err, permission.ErrInvalidScope) {
				t.Fatalf("error %v is not ErrInvalidScope", err)
			}
			if permission.ValidateScope(s) == nil {
				t.Fatalf("ParseScope and ValidateScope disagree on %q", s)
			}
			return
		}
		parts := make([]string, len(segs))
		for i, sg := range segs {
			if sg.Kind == "" || sg.Value == "" || strings.ContainsAny(sg.Kind+sg.Value, ":/*") {
				t.Fatalf("%q gave a bad segment %+v", s, sg)
			}
			parts[i] = sg.Kind + ":" + sg.Value
		}
		if strings.Join(parts, "/") != s {
			t.Fatalf("%q does not round-trip", s)
		}
		// Coverage is a prefix on segment boundaries: a valid scope covers
		// itself, and covers other only when other's segments extend it.
		if !permission.ScopeCovers(s, s) {
			t.Fatalf("%q does not cover itself", s)
		}
		if permission.ScopeCovers(s, other) && s != "" {
			if !strings.HasPrefix(other, s) || (len(other) > len(s) && other[len(s)] != '/') {
				t.Fatalf("%q covers %q without being a segment prefix", s, other)
			}
		}
	})
}

func FuzzCompileCondition(f *testing.F) {
	for _, s := range []string{"request.amount <= 500.0", "resource.owner == principal.id", "request.time.getHours() >= 8",
		"", "1 +", "principal.roles.exists(r, r == 'admin')", "'a' * 3", "true", "[1,2,3].map(x, x * 2).size() > 2"} {
		f.Add(s)
	}
	e, err := permission.NewEngine(newFixture(f).store)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = e.Close() })
	f.Fuzz(func(t *testing.T, src string) {
		err := e.CompileCondition(src)
		if err != nil && !errors.Is(err, permission.ErrInvalidCondition) {
			t.Fatalf("error %v is not ErrInvalidCondition", err)
		}
		var ce *permission.ConditionError
		if err != nil && (!errors.As(err, &ce) || len(ce.Issues) == 0) {
			t.Fatalf("no issues in %v", err)
		}
	})
}
