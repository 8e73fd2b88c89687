package permission

import (
	"reflect"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// Conditions see three variables, each a map(string, dyn):
//
//	principal: id, tenant, scope, roles (list of the user's roles),
//	           attributes, and every attribute at the top level too
//	resource:  type, id, tenant, scope, attributes, and every attribute
//	request:   time (timestamp), ip, attributes, and every attribute
//
// Attributes are merged at the top level so rules read naturally
// (request.amount, resource.owner); the fixed keys win over an attribute
// of the same name, so a caller-supplied attribute cannot pose as the
// tenant or the ID.
const (
	varPrincipal = "principal"
	varResource  = "resource"
	varRequest   = "request"
)

// conditions compiles CEL conditions in one environment and caches the
// programs by source text: the same condition in many users' policies is
// compiled once.
type conditions struct {
	env       *cel.Env
	adapter   types.Adapter
	costLimit uint64

	mu    sync.RWMutex
	progs map[string]cel.Program
	max   int
}

func newConditions(costLimit uint64, extra []cel.EnvOption) (*conditions, error) {
	dyn := cel.MapType(cel.StringType, cel.DynType)
	opts := []cel.EnvOption{
		cel.Variable(varPrincipal, dyn),
		cel.Variable(varResource, dyn),
		cel.Variable(varRequest, dyn),
		// Attributes arrive from Go as int or float64 at the caller's whim;
		// request.amount <= 500.0 should not fail because amount is an int.
		cel.CrossTypeNumericComparisons(true),
		cel.DefaultUTCTimeZone(true),
		cel.ParserExpressionSizeLimit(maxConditionLen),
	}
	opts = append(opts, extra...)
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, err
	}
	return &conditions{env: env, adapter: env.CELTypeAdapter(), costLimit: costLimit, progs: map[string]cel.Program{}, max: 4096}, nil
}

// compile type-checks src and returns its program, or a *ConditionError
// with CEL's issues and positions.
func (c *conditions) compile(src string) (cel.Program, error) {
	c.mu.RLock()
	p, ok := c.progs[src]
	c.mu.RUnlock()
	if ok {
		return p, nil
	}
	if len(src) > maxConditionLen {
		return nil, &ConditionError{Condition: src, Issues: []ConditionIssue{{Line: 1, Column: 1, Message: "longer than 4096 bytes"}}}
	}
	ast, iss := c.env.Compile(src)
	if iss != nil && iss.Err() != nil {
		ce := &ConditionError{Condition: src}
		for _, e := range iss.Errors() {
			ce.Issues = append(ce.Issues, ConditionIssue{Line: e.Location.Line(), Column: e.Location.Column() + 1, Message: e.Message})
		}
		if len(ce.Issues) == 0 {
			ce.Issues = []ConditionIssue{{Line: 1, Column: 1, Message: iss.Err().Error()}}
		}
		return nil, ce
	}
	if t := ast.OutputType(); !t.IsExactType(types.BoolType) && !t.IsExactType(types.DynType) {
		return nil, &ConditionError{Condition: src, Issues: []ConditionIssue{{Line: 1, Column: 1, Message: "condition must be a bool, not " + cel.FormatCELType(t)}}}
	}
	// Runtime cost tracking doubles the price of a cheap condition. A
	// condition without a loop (a comprehension: all, exists, map,
	// filter...) does work proportional to its length, which is capped,
	// times its inputs, which the application supplies; only loops, whose
	// cost multiplies, run under the cost limit.
	popts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	if hasLoop(ast) {
		popts = append(popts, cel.CostLimit(c.costLimit))
	}
	p, err := c.env.Program(ast, popts...)
	if err != nil {
		return nil, &ConditionError{Condition: src, Issues: []ConditionIssue{{Line: 1, Column: 1, Message: err.Error()}}}
	}
	c.mu.Lock()
	if len(c.progs) >= c.max {
		// Conditions are few in practice; when some tool floods us with
		// distinct ones, start over rather than track recency.
		clear(c.progs)
	}
	c.progs[src] = p
	c.mu.Unlock()
	return p, nil
}

func hasLoop(a *cel.Ast) bool {
	loop := false
	celast.PreOrderVisit(a.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if e.Kind() == celast.ComprehensionKind {
			loop = true
		}
	}))
	return loop
}

// eval runs a compiled condition. Anything but a bool true is false; an
// evaluation error (missing attribute, cost limit, type mismatch) is
// returned so the caller can fail closed.
func eval(p cel.Program, act *activation) (bool, error) {
	v, _, err := p.Eval(act)
	if err != nil {
		return false, err
	}
	b, ok := v.(types.Bool)
	if !ok {
		return false, errNotBool
	}
	return bool(b), nil
}

var errNotBool = &ConditionError{Issues: []ConditionIssue{{Line: 1, Column: 1, Message: "condition did not return a bool"}}}

// activation hands conditions views of the inputs: a field is found
// with a switch and one attribute-map probe, with no map built per check.
type activation struct {
	subj    Subject
	res     Resource
	req     Request
	roles   []string
	now     time.Time
	adapter types.Adapter

	views [3]view
}

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	var k int
	switch name {
	case varPrincipal:
		k = 0
	case varResource:
		k = 1
	case varRequest:
		k = 2
	default:
		return nil, false
	}
	v := &a.views[k]
	if v.a == nil {
		v.a, v.kind = a, k
	}
	return v, true
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() cel.Activation { return nil }

// view is principal, resource or request as a CEL map(string, dyn). Field
// lookups are served directly; iteration, equality and conversion, rare
// in rules, go through a materialized map.
type view struct {
	a    *activation
	kind int
	full traits.Mapper
}

var _ traits.Mapper = (*view)(nil)

func (v *view) lookup(k string) (any, bool) {
	a := v.a
	switch v.kind {
	case 0:
		switch k {
		case "id":
			return a.subj.UserID, true
		case "tenant":
			return a.subj.TenantID, true
		case "scope":
			return a.subj.Scope, true
		case "roles":
			return a.roles, true
		case "attributes":
			return attrs(a.subj.Attributes), true
		}
		x, ok := a.subj.Attributes[k]
		return x, ok
	case 1:
		switch k {
		case "type":
			return a.res.Type, true
		case "id":
			return a.res.ID, true
		case "tenant":
			return a.res.TenantID, true
		case "scope":
			return a.res.Scope, true
		case "attributes":
			return attrs(a.res.Attributes), true
		}
		x, ok := a.res.Attributes[k]
		return x, ok
	default:
		switch k {
		case "time":
			if a.req.Time.IsZero() {
				return a.now, true
			}
			return a.req.Time, true
		case "ip":
			return a.req.IP, true
		case "attributes":
			return attrs(a.req.Attributes), true
		}
		x, ok := a.req.Attributes[k]
		return x, ok
	}
}

func (v *view) keys() []string {
	switch v.kind {
	case 0:
		return []string{"id", "tenant", "scope", "roles", "attributes"}
	case 1:
		return []string{"type", "id", "tenant", "scope", "attributes"}
	}
	return []string{"time", "ip", "attributes"}
}

func (v *view) attributes() map[string]any {
	switch v.kind {
	case 0:
		return v.a.subj.Attributes
	case 1:
		return v.a.res.Attributes
	}
	return v.a.req.Attributes
}

func (v *view) materialize() traits.Mapper {
	if v.full == nil {
		attrs := v.attributes()
		m := make(map[string]any, len(attrs)+5)
		for k, x := range attrs {
			m[k] = x
		}
		for _, k := range v.keys() {
			m[k], _ = v.lookup(k)
		}
		v.full = v.a.adapter.NativeToValue(m).(traits.Mapper)
	}
	return v.full
}

// Find implements traits.Mapper.
func (v *view) Find(key ref.Val) (ref.Val, bool) {
	s, ok := key.(types.String)
	if !ok {
		return v.materialize().Find(key)
	}
	x, ok := v.lookup(string(s))
	if !ok {
		return nil, false
	}
	return v.a.adapter.NativeToValue(x), true
}

// Get implements traits.Indexer.
func (v *view) Get(key ref.Val) ref.Val {
	if x, ok := v.Find(key); ok {
		return x
	}
	return types.NewErr("no such key: %v", key)
}

// Contains implements traits.Container.
func (v *view) Contains(key ref.Val) ref.Val {
	_, ok := v.Find(key)
	return types.Bool(ok)
}

// Iterator implements traits.Iterable.
func (v *view) Iterator() traits.Iterator { return v.materialize().Iterator() }

// Size implements traits.Sizer.
func (v *view) Size() ref.Val { return v.materialize().Size() }

// ConvertToNative implements ref.Val.
func (v *view) ConvertToNative(t reflect.Type) (any, error) {
	return v.materialize().ConvertToNative(t)
}

// ConvertToType implements ref.Val.
func (v *view) ConvertToType(t ref.Type) ref.Val { return v.materialize().ConvertToType(t) }

// Equal implements ref.Val.
func (v *view) Equal(other ref.Val) ref.Val { return v.materialize().Equal(other) }

// Type implements ref.Val.
func (v *view) Type() ref.Type { return types.MapType }

// Value implements ref.Val.
func (v *view) Value() any { return v.materialize().Value() }

// attrs keeps a nil attribute map from reaching CEL as null, so
// has(request.attributes.x) is false rather than an error.
func attrs(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}
