package permission

import (
	"errors"
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
