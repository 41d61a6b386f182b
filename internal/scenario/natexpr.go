package scenario

import (
	"errors"
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
//	S matches 'literal regexp', int(S) <op> integer literal,
//	any(File('f'), {S op T(#)}), RegexpInFile(S, 'f')   (with a DataMatcher)
//
// where S is a string: a literal, evt.Meta.<key>, evt.Parsed.<key>, a let
// variable, or a pure one-string helper (Upper, Lower, PathUnescape...) of an S (calls on
// literals are folded at compile time). Field reads and transforms of fields
// are computed at most once per event and shared by every scenario of a
// worker (memo slots): an event meets dozens of filters reading the same few
// keys, and a slot read is cheaper than a map lookup.
//
// Semantics follow expr and the exprenv helpers exactly (a missing map key
// reads as ""; int() of a non-integer string is a run-time error; helper
// calls go to the registered helper itself, DataMatcher.StringFunc). TestNativeExprMatchesVM and the engine
// equivalence tests check it; anything else is left to the VM.

// nctx is the per-worker evaluation state: the event, its fields when read
// ahead (vals, by field number; nil: read on demand) and the memo of fields
// and transformed strings, valid while gen matches.
type nctx struct {
	evt  *event.Event
	vals []string
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
	fno   int // field number (fields only)
	fn    func(string) string
	arg   *sexpr
	slot  int
}

func (s *sexpr) eval(c *nctx) string {
	switch {
	case s.isLit:
		return s.lit
	case c.vals != nil && s.fn == nil:
		return c.vals[s.fno]
	}
	m := &c.memo[s.slot]
	if m.gen == c.gen {
		return m.v
	}
	var v string
	if s.fn == nil {
		v = s.field.get(c.evt)
	} else {
		v = s.fn(s.arg.eval(c))
	}
	m.gen, m.v = c.gen, v
	return v
}

// errNativeInt is the run-time error of int() on a non-integer string.
var errNativeInt = errors.New("invalid operation: int()")

// slotTable numbers the memo slots of a Set's native string expressions,
// event fields and transforms of them (scenarios share the slot of an
// identical one), and numbers the fields: Engine.ReadFields fills a vector
// with their values, by field number. Written at load time only.
type slotTable struct {
	ids     map[string]int
	fields  []fieldRef
	fieldNo map[fieldRef]int
}

func newSlotTable() *slotTable {
	return &slotTable{ids: map[string]int{}, fieldNo: map[fieldRef]int{}}
}

// slot returns the memo slot of a canonical string expression.
func (t *slotTable) slot(key string) int {
	slot, ok := t.ids[key]
	if !ok {
		slot = len(t.ids)
		t.ids[key] = slot
	}
	return slot
}

// field returns the memo slot and the field number of f.
func (t *slotTable) field(f fieldRef) (slot, fno int) {
	fno, ok := t.fieldNo[f]
	if !ok {
		fno = len(t.fields)
		t.fieldNo[f] = fno
		t.fields = append(t.fields, f)
	}
	return t.slot(fieldKey(f)), fno
}

func fieldKey(f fieldRef) string {
	src := "M"
	if f.src == srcParsed {
		src = "P"
	}
	return src + strconv.Quote(f.key)
}

// read fills dst (len(t.fields)) with the fields of e, by field number.
// Transforms are left to the workers (computed on demand, memoised): they
// allocate, and many are only needed for some events (a 404...).
func (t *slotTable) read(e *event.Event, dst []string) {
	for i, f := range t.fields {
		dst[i] = f.get(e)
	}
}

// DataMatcher gives the native evaluator the data-file helpers of the
// expression compiler (*exprenv.Env implements it), answering exactly as
// the compiled programs do. Implementations are safe for concurrent use.
type DataMatcher interface {
	// FileMatch answers any(File(file), {x op T(#)}) (T given by its
	// source, "#" for the entry itself); ok false: leave it to the VM.
	FileMatch(file, op, transform string) (match func(x string) bool, ok bool)
	// RegexpInFileMatch answers RegexpInFile(x, file).
	RegexpInFileMatch(file string) func(x string) bool
	// StringFunc returns the pure helper name of one string argument
	// (the registered helper itself); ok false: leave it to the VM.
	StringFunc(name string) (fn func(string) string, ok bool)
}

// natCompiler compiles one expression.
type natCompiler struct {
	slots *slotTable
	scope map[string]*sexpr
	data  DataMatcher // nil: data-file helpers are left to the VM
}

// compileNative compiles a whole filter, or returns nil.
func compileNative(src string, slots *slotTable, data DataMatcher) nbool {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil
	}
	c := &natCompiler{slots: slots, data: data}
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
func nativeConjuncts(src string, slots *slotTable, data DataMatcher) []nbool {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil
	}
	c := &natCompiler{slots: slots, data: data}
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
	case *ast.BuiltinNode:
		return c.anyFile(t)
	case *ast.CallNode:
		return c.regexpInFile(t)
	}
	return nil, false
}

// helper reports whether n calls the unshadowed helper name.
func (c *natCompiler) helper(n *ast.CallNode, name string, nargs int) bool {
	id, ok := n.Callee.(*ast.IdentifierNode)
	if !ok || id.Value != name || len(n.Arguments) != nargs {
		return false
	}
	_, shadowed := c.scope[name]
	return !shadowed
}

// anyFile compiles any(File('f'), {S op T(#)}) (and {T(#) == S}) to one
// lookup in the data matcher's index of the file.
func (c *natCompiler) anyFile(n *ast.BuiltinNode) (nbool, bool) {
	if c.data == nil || n.Name != "any" || len(n.Arguments) != 2 {
		return nil, false
	}
	call, ok := n.Arguments[0].(*ast.CallNode)
	if !ok || !c.helper(call, "File", 1) {
		return nil, false
	}
	file, ok := call.Arguments[0].(*ast.StringNode)
	if !ok {
		return nil, false
	}
	pred, ok := n.Arguments[1].(*ast.PredicateNode)
	if !ok {
		return nil, false
	}
	b, ok := pred.Node.(*ast.BinaryNode)
	if !ok {
		return nil, false
	}
	x, t := b.Left, b.Right
	switch b.Operator {
	case "contains", "startsWith", "endsWith":
	case "==":
		if c.entryTransform(x) {
			x, t = t, x
		}
	default:
		return nil, false
	}
	if !c.entryTransform(t) {
		return nil, false
	}
	s, ok := c.str(x) // never reads # (str has no case for it)
	if !ok {
		return nil, false
	}
	match, ok := c.data.FileMatch(file.Value, b.Operator, t.String())
	if !ok {
		return nil, false
	}
	return func(ctx *nctx) (bool, error) { return match(s.eval(ctx)), nil }, true
}

// entryTransform: n is # or Upper/Lower calls over # (pure, string-typed).
func (c *natCompiler) entryTransform(n ast.Node) bool {
	switch t := n.(type) {
	case *ast.PointerNode:
		return t.Name == ""
	case *ast.CallNode:
		return (c.helper(t, "Upper", 1) || c.helper(t, "Lower", 1)) && c.entryTransform(t.Arguments[0])
	}
	return false
}

// regexpInFile compiles RegexpInFile(S, 'f').
func (c *natCompiler) regexpInFile(n *ast.CallNode) (nbool, bool) {
	if c.data == nil || !c.helper(n, "RegexpInFile", 2) {
		return nil, false
	}
	file, ok := n.Arguments[1].(*ast.StringNode)
	if !ok {
		return nil, false
	}
	s, ok := c.str(n.Arguments[0])
	if !ok {
		return nil, false
	}
	match := c.data.RegexpInFileMatch(file.Value)
	return func(ctx *nctx) (bool, error) { return match(s.eval(ctx)), nil }, true
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
		if c.data == nil {
			return nil, false
		}
		fn, ok := c.data.StringFunc(id.Value)
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
		return &sexpr{key: key, fn: fn, arg: arg, slot: c.slots.slot(key)}, true
	}
	if _, shadowed := c.scope["evt"]; shadowed {
		return nil, false
	}
	f, ok := fieldOf(n)
	if !ok {
		return nil, false
	}
	slot, fno := c.slots.field(f)
	return &sexpr{key: fieldKey(f), field: f, fno: fno, slot: slot}, true
}
