package permission

import (
	"strconv"
	"strings"
	"time"
)

// Limits on names, so stored policy stays small and a hostile admin input
// cannot make compilation or matching expensive.
const (
	maxNameLen       = 64
	maxRoleNameLen   = 128
	maxScopeLen      = 512
	maxScopeDepth    = 16
	maxScopeKindLen  = 32
	maxScopeValueLen = 128
	maxGrants        = 1000
	maxParents       = 64
	maxConditionLen  = 4096
)

// Wildcard matches any resource type or any action in a permission.
const Wildcard = "*"

// Permission is a parsed "resource:action" string. Either part may be
// Wildcard; "*" alone means every action on every resource.
type Permission struct {
	Resource string
	Action   string
}

// String returns the canonical form: "*" for all, else "resource:action".
func (p Permission) String() string {
	if p.Resource == Wildcard && p.Action == Wildcard {
		return Wildcard
	}
	return p.Resource + ":" + p.Action
}

// Matches reports whether the permission covers action on resource type.
func (p Permission) Matches(resource, action string) bool {
	return (p.Resource == Wildcard || p.Resource == resource) && (p.Action == Wildcard || p.Action == action)
}

// ParsePermission parses "resource:action", "resource:*", "*:action", "*"
// (or "*:*"). Names are lower-case ASCII letters, digits, '_', '-' and
// '.', start with a letter and are at most 64 bytes: matching is exact, so
// a strict alphabet keeps "Orders" and "orders" from meaning two things.
func ParsePermission(s string) (Permission, error) {
	if s == Wildcard {
		return Permission{Resource: Wildcard, Action: Wildcard}, nil
	}
	i := strings.IndexByte(s, ':')
	if i < 0 {
		return Permission{}, &SyntaxError{Kind: "permission", Input: s, Offset: -1, Reason: `want "resource:action"`}
	}
	res, act := s[:i], s[i+1:]
	if off, why := checkPermPart(res); why != "" {
		return Permission{}, &SyntaxError{Kind: "permission", Input: s, Offset: off, Reason: "resource " + why}
	}
	if off, why := checkPermPart(act); why != "" {
		if off >= 0 {
			off += i + 1
		}
		return Permission{}, &SyntaxError{Kind: "permission", Input: s, Offset: off, Reason: "action " + why}
	}
	return Permission{Resource: res, Action: act}, nil
}

// checkPermPart returns the offset and reason of the first fault in one
// half of a permission, or "" when it is well formed.
func checkPermPart(s string) (int, string) {
	if s == Wildcard {
		return 0, ""
	}
	if s == "" {
		return -1, "is empty"
	}
	if len(s) > maxNameLen {
		return -1, "is longer than 64 bytes"
	}
	if c := s[0]; c < 'a' || c > 'z' {
		return 0, "must start with a lower-case letter"
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' {
			continue
		}
		return i, "has a character outside [a-z0-9_.-]"
	}
	return 0, ""
}

// ScopeSegment is one "kind:value" step of a scope path.
type ScopeSegment struct {
	Kind  string
	Value string
}

// ParseScope splits a scope path such as "region:eu/store:42" into its
// segments; "" (the whole tenant) has none. Kinds are lower-case
// identifiers; values are ASCII letters, digits and "_.-@+". Neither may
// contain ':', '/' or '*', so prefix matching on segment boundaries is
// unambiguous.
func ParseScope(s string) ([]ScopeSegment, error) {
	if s == "" {
		return nil, nil
	}
	if err := ValidateScope(s); err != nil {
		return nil, err
	}
	parts := strings.Split(s, "/")
	segs := make([]ScopeSegment, len(parts))
	for i, p := range parts {
		kind, value, _ := strings.Cut(p, ":")
		segs[i] = ScopeSegment{Kind: kind, Value: value}
	}
	return segs, nil
}

// ValidateScope reports whether s is a well-formed scope path, without
// allocating the segments.
func ValidateScope(s string) error {
	if s == "" {
		return nil
	}
	bad := func(off int, why string) error {
		return &SyntaxError{Kind: "scope", Input: s, Offset: off, Reason: why}
	}
	if len(s) > maxScopeLen {
		return bad(-1, "is longer than 512 bytes")
	}
	depth := 0
	for start := 0; start <= len(s); {
		end := strings.IndexByte(s[start:], '/')
		if end < 0 {
			end = len(s)
		} else {
			end += start
		}
		depth++
		if depth > maxScopeDepth {
			return bad(start, "is deeper than 16 segments")
		}
		seg := s[start:end]
		colon := strings.IndexByte(seg, ':')
		if colon < 0 {
			return bad(start, `segment is not "kind:value"`)
		}
		kind, value := seg[:colon], seg[colon+1:]
		switch {
		case kind == "":
			return bad(start, "segment has an empty kind")
		case len(kind) > maxScopeKindLen:
			return bad(start, "segment kind is longer than 32 bytes")
		case kind[0] < 'a' || kind[0] > 'z':
			return bad(start, "segment kind must start with a lower-case letter")
		}
		for i := 1; i < len(kind); i++ {
			if c := kind[i]; !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-') {
				return bad(start+i, "segment kind has a character outside [a-z0-9_-]")
			}
		}
		switch {
		case value == "":
			return bad(start+colon+1, "segment has an empty value")
		case len(value) > maxScopeValueLen:
			return bad(start+colon+1, "segment value is longer than 128 bytes")
		}
		for i := 0; i < len(value); i++ {
			c := value[i]
			if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
				c == '_' || c == '-' || c == '.' || c == '@' || c == '+' {
				continue
			}
			return bad(start+colon+1+i, "segment value has a character outside [A-Za-z0-9_.@+-]")
		}
		if end == len(s) {
			break
		}
		start = end + 1
		if start == len(s) {
			return bad(end, "ends with '/'")
		}
	}
	return nil
}

// ScopeCovers reports whether a grant at scope outer applies to scope
// inner: outer is "" (the whole tenant), equal to inner, or a prefix of it
// ending on a segment boundary ("region:eu" covers "region:eu/store:42" but
// not "region:eu2").
func ScopeCovers(outer, inner string) bool {
	if outer == "" {
		return true
	}
	n := len(outer)
	return len(inner) >= n && inner[:n] == outer && (len(inner) == n || inner[n] == '/')
}

// validName reports whether s is a role name: 1 to 128 bytes of ASCII
// letters, digits, '_', '-' and '.', starting with a letter or digit.
func validName(s string) bool {
	if s == "" || len(s) > maxRoleNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
			continue
		}
		if i > 0 && (c == '_' || c == '-' || c == '.') {
			continue
		}
		return false
	}
	return true
}

// ValidateBinding checks a binding before it is written: user, tenant and
// role set, a well-formed role name and scope. It returns an
// *InvalidRoleError listing every problem (Role names the binding's role).
func ValidateBinding(b Binding) error {
	var ps []Problem
	if b.UserID == "" {
		ps = append(ps, Problem{Field: "UserID", Reason: "is required"})
	}
	if b.TenantID == "" {
		ps = append(ps, Problem{Field: "TenantID", Reason: "is required"})
	}
	if !validName(b.Role) {
		ps = append(ps, Problem{Field: "Role", Reason: "must be 1-128 ASCII letters, digits, '_', '-' or '.'"})
	}
	if err := ValidateScope(b.Scope); err != nil {
		ps = append(ps, Problem{Field: "Scope", Reason: err.(*SyntaxError).Reason, Err: err})
	}
	if len(ps) > 0 {
		return &InvalidRoleError{Role: b.Role, Problems: ps}
	}
	return nil
}

// validateRoleShape checks everything about a role but its conditions.
func validateRoleShape(r *Role) []Problem {
	var ps []Problem
	if !validName(r.Name) {
		ps = append(ps, Problem{Field: "Name", Reason: "must be 1-128 ASCII letters, digits, '_', '-' or '.'"})
	}
	if len(r.Parents) > maxParents {
		ps = append(ps, Problem{Field: "Parents", Reason: "has more than 64 entries"})
	}
	seen := map[string]bool{}
	for i, p := range r.Parents {
		f := "Parents[" + strconv.Itoa(i) + "]"
		switch {
		case !validName(p):
			ps = append(ps, Problem{Field: f, Reason: "is not a valid role name"})
		case p == r.Name:
			ps = append(ps, Problem{Field: f, Reason: "names the role itself", Err: &CycleError{TenantID: r.TenantID, Path: []string{r.Name, r.Name}}})
		case seen[p]:
			ps = append(ps, Problem{Field: f, Reason: "is listed twice"})
		}
		seen[p] = true
	}
	if len(r.Grants) > maxGrants {
		ps = append(ps, Problem{Field: "Grants", Reason: "has more than 1000 entries"})
	}
	for i, g := range r.Grants {
		f := "Grants[" + strconv.Itoa(i) + "]"
		if _, err := ParsePermission(g.Permission); err != nil {
			ps = append(ps, Problem{Field: f + ".Permission", Reason: err.(*SyntaxError).Reason, Err: err})
		}
		if g.Effect != Allow && g.Effect != Deny {
			ps = append(ps, Problem{Field: f + ".Effect", Reason: `must be "allow" or "deny"`})
		}
		if len(g.Condition) > maxConditionLen {
			ps = append(ps, Problem{Field: f + ".Condition", Reason: "is longer than 4096 bytes"})
		}
	}
	return ps
}

// unixNano returns t as nanoseconds, with the zero time meaning "never".
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return never
	}
	return t.UnixNano()
}

const never = int64(^uint64(0) >> 1)
