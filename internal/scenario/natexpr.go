package scenario

import (
	"errors"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"

	"github.com/phalanx-ids/phalanx/internal/event"
)

// This file compiles the common shapes of filter expressions into Go
// closures that run without the expression VM:
//
//	and/or/not, `C ? A : B` / `if C {A} else {B}`, `let x = S; B`, true/false
//	S == S, S != S, S in ['lit', ...], S contains/startsWith/endsWith S,
//	S matches 'literal regexp', int(S) <op> integer literal
//
// where S is a string: a literal, evt.Meta.<key>, evt.Parsed.<key>, a let
// variable, or Upper/Lower/PathUnescape/QueryUnescape of an S (calls on
// literals are folded at compile time). Transforms of fields are computed at
// most once per event and shared by every scenario of a worker (memo slots).
//
// Semantics follow expr and the exprenv helpers exactly (a missing map key
// reads as ""; int() of a non-integer string is a run-time error; the helper
// functions mirror exprenv's). TestNativeExprMatchesVM and the engine
// equivalence tests check it; anything else is left to the VM.

// nctx is the per-worker evaluation state: the event and the memo of
// transformed strings, valid while gen matches.
type nctx struct {
	evt  *event.Event
	gen  uint32
	memo []memoSlot
}

type memoSlot struct {
	gen uint32
	v   string
}

// nbool is a compiled boolean expression.
type nbool func(c *nctx) (bool, error)

// sexpr is a compiled string expression.
type sexpr struct {
	key   string // canonical form (memo slot sharing)
	isLit bool
	lit   string
	field fieldRef
	fn    func(string) string
	arg   *sexpr
	slot  int
}

func (s *sexpr) eval(c *nctx) string {
	switch {
	case s.isLit:
		return s.lit
	case s.fn == nil:
		return s.field.get(c.evt)
	}
	m := &c.memo[s.slot]
	if m.gen == c.gen {
		return m.v
	}
	v := s.fn(s.arg.eval(c))
	m.gen, m.v = c.gen, v
	return v
}

// errNativeInt is the run-time error of int() on a non-integer string.
var errNativeInt = errors.New("invalid operation: int()")

// strFuncs are the helpers compiled natively; each mirrors the exprenv
// helper of the same name.
var strFuncs = map[string]func(string) string{
	"Upper": strings.ToUpper,
	"Lower": strings.ToLower,
	"PathUnescape": func(s string) string {
		if u, err := url.PathUnescape(s); err == nil {
			return u
		}
		return s
	},
	"QueryUnescape": func(s string) string {
		if u, err := url.QueryUnescape(s); err == nil {
			return u
		}
		return s
	},
}

// slotTable numbers the transformed strings of a Set; scenarios share the
// slot of an identical transform.
type slotTable map[string]int

// natCompiler compiles one expression.
type natCompiler struct {
	slots slotTable
	scope map[string]*sexpr
}

// compileNative compiles a whole filter, or returns nil.
func compileNative(src string, slots slotTable) nbool {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil
	}
	c := &natCompiler{slots: slots}
	f, ok := c.boolean(tree.Node)
	if !ok {
		return nil
	}
	return f
}

// nativeConjuncts compiles the parts of a filter that must all be true for
// it to be true: the operands of top-level ands, and the condition of a
// top-level `C ? A : false`. Those that compile are returned (a pre-check:
// if one is false, the filter is false; its other parts are not run).
func nativeConjuncts(src string, slots slotTable) []nbool {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil
	}
	c := &natCompiler{slots: slots}
	var out []nbool
	var walk func(n ast.Node)
	walk = func(n ast.Node) {
		switch t := n.(type) {
		case *ast.BinaryNode:
			if t.Operator == "&&" || t.Operator == "and" {
				walk(t.Left)
				walk(t.Right)
				return
			}
		case *ast.ConditionalNode:
			if b, ok := t.Exp2.(*ast.BoolNode); ok && !b.Value {
				walk(t.Cond)
				walk(t.Exp1)
				return
			}
		}
		if f, ok := c.boolean(n); ok {
			out = append(out, f)
		}
	}
	walk(tree.Node)
	return out
}

func (c *natCompiler) boolean(n ast.Node) (nbool, bool) {
	switch t := n.(type) {
	case *ast.BoolNode:
		v := t.Value
		return func(*nctx) (bool, error) { return v, nil }, true
	case *ast.UnaryNode:
		if t.Operator != "not" && t.Operator != "!" {
			return nil, false
		}
		x, ok := c.boolean(t.Node)
		if !ok {
			return nil, false
		}
		return func(ctx *nctx) (bool, error) {
			v, err := x(ctx)
			return !v, err
		}, true
	case *ast.ConditionalNode:
		cond, ok1 := c.boolean(t.Cond)
		a, ok2 := c.boolean(t.Exp1)
		b, ok3 := c.boolean(t.Exp2)
		if !ok1 || !ok2 || !ok3 {
			return nil, false
		}
		return func(ctx *nctx) (bool, error) {
			v, err := cond(ctx)
			if err != nil {
				return false, err
			}
			if v {
				return a(ctx)
			}
			return b(ctx)
		}, true
	case *ast.VariableDeclaratorNode:
		v, ok := c.str(t.Value)
		if !ok {
			return nil, false
		}
		saved := c.scope
		c.scope = make(map[string]*sexpr, len(saved)+1)
		for k, x := range saved {
			c.scope[k] = x
		}
		c.scope[t.Name] = v
		body, ok := c.boolean(t.Expr)
		c.scope = saved
		return body, ok
	case *ast.BinaryNode:
		return c.binary(t)
	}
	return nil, false
}

func (c *natCompiler) binary(t *ast.BinaryNode) (nbool, bool) {
	switch t.Operator {
	case "&&", "and", "||", "or":
		l, ok1 := c.boolean(t.Left)
		r, ok2 := c.boolean(t.Right)
		if !ok1 || !ok2 {
			return nil, false
		}
		if t.Operator == "&&" || t.Operator == "and" {
			return func(ctx *nctx) (bool, error) {
				v, err := l(ctx)
				if err != nil || !v {
					return false, err
				}
				return r(ctx)
			}, true
		}
		return func(ctx *nctx) (bool, error) {
			v, err := l(ctx)
			if err != nil {
				return false, err
			}
			if v {
				return true, nil
			}
			return r(ctx)
		}, true
	case "in":
		l, ok := c.str(t.Left)
		arr, ok2 := t.Right.(*ast.ArrayNode)
		if !ok || !ok2 {
			return nil, false
		}
		vals := make([]string, 0, len(arr.Nodes))
		for _, x := range arr.Nodes {
			s, ok := x.(*ast.StringNode)
			if !ok {
				return nil, false
			}
			vals = append(vals, s.Value)
		}
		return func(ctx *nctx) (bool, error) {
			v := l.eval(ctx)
			for _, x := range vals {
				if x == v {
					return true, nil
				}
			}
			return false, nil
		}, true
	case "matches":
		l, ok := c.str(t.Left)
		r, ok2 := c.str(t.Right)
		if !ok || !ok2 || !r.isLit {
			return nil, false
		}
		re, err := regexp.Compile(r.lit)
		if err != nil {
			return nil, false
		}
		return func(ctx *nctx) (bool, error) { return re.MatchString(l.eval(ctx)), nil }, true
	case "==", "!=", "contains", "startsWith", "endsWith":
		if f, ok := c.intCompare(t); ok {
			return f, true
		}
		l, ok := c.str(t.Left)
		r, ok2 := c.str(t.Right)
		if !ok || !ok2 {
			return nil, false
		}
		var op func(a, b string) bool
		switch t.Operator {
		case "==":
			op = func(a, b string) bool { return a == b }
		case "!=":
			op = func(a, b string) bool { return a != b }
		case "contains":
			op = strings.Contains
		case "startsWith":
			op = strings.HasPrefix
		case "endsWith":
			op = strings.HasSuffix
		}
		return func(ctx *nctx) (bool, error) { return op(l.eval(ctx), r.eval(ctx)), nil }, true
	case "<", "<=", ">", ">=":
		return c.intCompare(t)
	}
	return nil, false
}

// intCompare compiles int(S) <op> N (either side).
func (c *natCompiler) intCompare(t *ast.BinaryNode) (nbool, bool) {
	op := t.Operator
	conv, lit := t.Left, t.Right
	if _, ok := lit.(*ast.IntegerNode); !ok {
		conv, lit = t.Right, t.Left
		switch op { // mirror the operator: N < int(x) is int(x) > N
		case "<":
			op = ">"
		case "<=":
			op = ">="
		case ">":
			op = "<"
		case ">=":
			op = "<="
		}
	}
	n, ok := lit.(*ast.IntegerNode)
	if !ok {
		return nil, false
	}
	b, ok := conv.(*ast.BuiltinNode)
	if !ok || b.Name != "int" || len(b.Arguments) != 1 {
		return nil, false
	}
	s, ok := c.str(b.Arguments[0])
	if !ok {
		return nil, false
	}
	want := n.Value
	var cmp func(a int) bool
	switch op {
	case "==":
		cmp = func(a int) bool { return a == want }
	case "!=":
		cmp = func(a int) bool { return a != want }
	case "<":
		cmp = func(a int) bool { return a < want }
	case "<=":
		cmp = func(a int) bool { return a <= want }
	case ">":
		cmp = func(a int) bool { return a > want }
	case ">=":
		cmp = func(a int) bool { return a >= want }
	default:
		return nil, false
	}
	return func(ctx *nctx) (bool, error) {
		v, err := strconv.Atoi(s.eval(ctx))
		if err != nil {
			return false, errNativeInt
		}
		return cmp(v), nil
	}, true
}

func (c *natCompiler) str(n ast.Node) (*sexpr, bool) {
	switch t := n.(type) {
	case *ast.StringNode:
		return &sexpr{key: strconv.Quote(t.Value), isLit: true, lit: t.Value}, true
	case *ast.IdentifierNode:
		if v, ok := c.scope[t.Value]; ok {
			return v, true
		}
		return nil, false
	case *ast.CallNode:
		id, ok := t.Callee.(*ast.IdentifierNode)
		if !ok || len(t.Arguments) != 1 {
			return nil, false
		}
		if _, shadowed := c.scope[id.Value]; shadowed {
			return nil, false
		}
		fn, ok := strFuncs[id.Value]
		if !ok {
			return nil, false
		}
		arg, ok := c.str(t.Arguments[0])
		if !ok {
			return nil, false
		}
		if arg.isLit {
			v := fn(arg.lit)
			return &sexpr{key: strconv.Quote(v), isLit: true, lit: v}, true
		}
		key := id.Value + "(" + arg.key + ")"
		slot, ok := c.slots[key]
		if !ok {
			slot = len(c.slots)
			c.slots[key] = slot
		}
		return &sexpr{key: key, fn: fn, arg: arg, slot: slot}, true
	}
	if _, shadowed := c.scope["evt"]; shadowed {
		return nil, false
	}
	f, ok := fieldOf(n)
	if !ok {
		return nil, false
	}
	src := "M"
	if f.src == srcParsed {
		src = "P"
	}
	return &sexpr{key: src + strconv.Quote(f.key), field: f}, true
}
