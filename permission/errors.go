package permission

import (
	"errors"
	"strconv"
	"strings"
)

// ErrCycle: a role would inherit from itself.
var ErrCycle = errors.New("authv2/permission: role inheritance cycle")

// CycleError names the cycle a role write would have created.
type CycleError struct {
	TenantID string
	Path     []string // e.g. [a b c a]
}

func (e *CycleError) Error() string {
	return "authv2/permission: role inheritance cycle: " + strings.Join(e.Path, " -> ")
}

// Is makes errors.Is(err, ErrCycle) true.
func (e *CycleError) Is(target error) bool { return target == ErrCycle }

// FindCycle walks the inheritance graph from start, following parents, and
// returns the first path that comes back to a role already on it (e.g.
// [a b c a]), or nil when the graph reachable from start is acyclic.
func FindCycle(start string, parents func(name string) []string) []string {
	var path []string
	onPath := map[string]bool{}
	done := map[string]bool{}
	var visit func(name string) []string
	visit = func(name string) []string {
		if onPath[name] {
			i := 0
			for path[i] != name {
				i++
			}
			return append(append([]string(nil), path[i:]...), name)
		}
		if done[name] {
			return nil
		}
		onPath[name] = true
		path = append(path, name)
		for _, p := range parents(name) {
			if c := visit(p); c != nil {
				return c
			}
		}
		path = path[:len(path)-1]
		onPath[name] = false
		done[name] = true
		return nil
	}
	return visit(start)
}

// Sentinels for input the engine refuses. The typed errors below match them
// with errors.Is.
var (
	// ErrInvalidPermission: a permission string is not "resource:action".
	ErrInvalidPermission = errors.New("authv2/permission: invalid permission")
	// ErrInvalidScope: a scope is not a path of kind:value segments.
	ErrInvalidScope = errors.New("authv2/permission: invalid scope")
	// ErrInvalidCondition: a CEL condition does not compile to a bool.
	ErrInvalidCondition = errors.New("authv2/permission: invalid condition")
	// ErrInvalidRole: a role (or binding) failed validation.
	ErrInvalidRole = errors.New("authv2/permission: invalid role")
	// ErrInvalidRequest: an authorization request names no action or
	// resource type, or uses a wildcard where a concrete name is needed.
	ErrInvalidRequest = errors.New("authv2/permission: invalid authorization request")
	// ErrClosed: the engine was closed.
	ErrClosed = errors.New("authv2/permission: engine closed")
)

// SyntaxError says why a permission or scope string was refused.
type SyntaxError struct {
	Kind   string // "permission" or "scope"
	Input  string
	Offset int // byte offset of the first bad character, -1 when the whole input is at fault
	Reason string
}

func (e *SyntaxError) Error() string {
	msg := "authv2/permission: invalid " + e.Kind + " " + strconv.Quote(e.Input) + ": " + e.Reason
	if e.Offset >= 0 {
		msg += " at offset " + strconv.Itoa(e.Offset)
	}
	return msg
}

// Is matches ErrInvalidPermission or ErrInvalidScope, after Kind.
func (e *SyntaxError) Is(target error) bool {
	switch e.Kind {
	case "permission":
		return target == ErrInvalidPermission
	case "scope":
		return target == ErrInvalidScope
	}
	return false
}

// ConditionIssue is one problem CEL found in a condition, at a 1-based line
// and column.
type ConditionIssue struct {
	Line, Column int
	Message      string
}

// ConditionError is a condition CEL refused, with every issue it reported.
type ConditionError struct {
	Condition string
	Issues    []ConditionIssue
}

func (e *ConditionError) Error() string {
	var b strings.Builder
	b.WriteString("authv2/permission: invalid condition")
	for i, is := range e.Issues {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(strconv.Itoa(is.Line) + ":" + strconv.Itoa(is.Column) + ": " + is.Message)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalidCondition) true.
func (e *ConditionError) Is(target error) bool { return target == ErrInvalidCondition }

// Problem is one reason a role or binding was refused. Field names the
// offending field the way Go code spells it, e.g. "Grants[2].Condition".
type Problem struct {
	Field  string
	Reason string
	Err    error // the typed cause (*SyntaxError, *ConditionError) or nil
}

// InvalidRoleError lists every problem found in a role or binding, so an
// administrator fixes them all in one round.
type InvalidRoleError struct {
	Role     string
	Problems []Problem
}

func (e *InvalidRoleError) Error() string {
	var b strings.Builder
	b.WriteString("authv2/permission: invalid role " + strconv.Quote(e.Role))
	for i, p := range e.Problems {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(p.Field + " " + p.Reason)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalidRole) true.
func (e *InvalidRoleError) Is(target error) bool { return target == ErrInvalidRole }

// Unwrap exposes the typed causes, so errors.As finds a *ConditionError
// or a *SyntaxError inside.
func (e *InvalidRoleError) Unwrap() []error {
	var errs []error
	for _, p := range e.Problems {
		if p.Err != nil {
			errs = append(errs, p.Err)
		}
	}
	return errs
}
