// Package natexpr is the one native compiler of expr expressions: it turns
// the common shapes of hub expressions (parser filters and statics,
// scenario filters, groupby, distinct, cancel_on and conditions) into Go
// closures over an event, which run without the expression VM. What it
// cannot compile it refuses (a nil result), and the caller runs the expr
// program instead: the VM is the fallback, never a second semantics.
//
// Shapes compiled (S a string, P a boolean):
//
//	S: 'literal', evt.<field> (FieldOf), a let variable, S + S, P ? S : S,
//	   H(S) for a pure helper H of one string (Upper, Lower, PathUnescape...;
//	   calls on literals are folded at load time)
//	P: true/false, not/!, and/&&, or/||, P ? P : P, let x = S|P; P,
//	   S == S, S != S, S contains/startsWith/endsWith S, S in ['lit', ...],
//	   'key' in evt.Parsed|Meta|Enriched, S matches 'literal regexp',
//	   int(S) <op> integer literal, IsIPV4/IsIPV6/IsIP(S),
//	   IpInRange(S, 'range'), RegexpInFile(S, 'file'),
//	   any(File('file'), {S op T(#)}) (T: #, Upper(#), Lower(#));
//	   the address helpers share one parse of S (the Ctx's last address),
//	   and IpInRange(S, 'a') || IpInRange(S, 'b') || ... evaluates S once
//	top-level len(S) as a value (Compiler.Value)
//
// Two more forms live here (one compiler, one package): a conditional
// scenario's queue condition of the MedianInterval shape
// (Compiler.Condition, cond.go), and, for the programs the VM still runs,
// an AST patch replacing scans of data files by index lookups
// (FilePatch, patch.go). Preds (preds.go) reads the field == literal
// conjuncts a scenario index selects on, and Residual compiles what is
// left of a filter once the index has checked them; Guards (prefilter.go)
// finds the literals a filter needs, which a Prefilter tests for many
// filters in one pass over each string.
//
// Helper semantics are not copied here: every helper call goes to the
// function exprenv registers for it (Helpers, implemented by
// *exprenv.Env), and data-file lookups to the index exprenv's own
// compiled programs use. The differential tests (natexpr_test.go,
// hub_test.go) check every compiled expression of the hub against the VM,
// and fuzz the shapes.
//
// Evaluation state is a Ctx: the event, optionally its fields read ahead
// into a vector (Table.Read) and a memo of fields and helper results shared
// by every expression compiled against the same Table (an event meets
// dozens of scenario filters that read the same few keys).
package natexpr

import (
	"errors"
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"

	"github.com/phalanx-ids/phalanx/internal/event"
)

// Helpers gives the compiler the helpers of the expression environment
// (*exprenv.Env implements it): each function returned is the one the
// registered helper runs, so native and VM evaluation cannot disagree.
// Implementations are safe for concurrent use, and so are the functions
// they return.
type Helpers interface {
	// StringFunc returns the pure helper name of one string returning a
	// string; ok false: not such a helper (left to the VM).
	StringFunc(name string) (fn func(string) string, ok bool)
	// StringPredicate returns the pure helper name of one string returning
	// a bool (IsIPV6...); ok false: left to the VM.
	StringPredicate(name string) (fn func(string) bool, ok bool)
	// IPRange returns IpInRange(x, cidr) in two halves: it is
	// ok && contains(a) where a, ok := parse(x). parse is pure and the same
	// function for every cidr (a Ctx keeps its last result: the hub tests
	// one address against several ranges in a row).
	IPRange(cidr string) (parse func(x string) (netip.Addr, bool), contains func(netip.Addr) bool)
	// IPPredicate returns the address predicate helper name (IsIPV4,
	// IsIPV6, IsIP) in two halves: it is ok && test(a) where a, ok :=
	// parse(x), parse being IPRange's (the Ctx's last parsed address
	// serves both). ok false: not such a helper.
	IPPredicate(name string) (parse func(x string) (netip.Addr, bool), test func(netip.Addr) bool, ok bool)
	// FileMatch answers any(File(file), {x op T(#)}) (T given by its
	// source, "#" for the entry itself); ok false: left to the VM.
	FileMatch(file, op, transform string) (match func(x string) bool, ok bool)
	// FoldFileMatch answers any(File(file), {H(x) op T(#)}) for the case
	// helper H (name: Upper, Lower) from x itself, without building H(x):
	// when ascii is false, the caller asks FileMatch with H(x). ok false:
	// use FileMatch.
	FoldFileMatch(file, op, transform, name string) (match func(x string) (result, ascii bool), ok bool)
	// FoldCompare answers H(x) op lit for the case helper H (name: Upper,
	// Lower) from x itself, without building H(x): when ascii is false,
	// the caller compares H(x). ok false: compare H(x).
	FoldCompare(name, op, lit string) (match func(x string) (result, ascii bool), ok bool)
	// FileStrings returns the entries File(file) gives (nil: none, or
	// not loaded). The caller does not modify them.
	FileStrings(file string) []string
	// RegexpInFileMatch answers RegexpInFile(x, file).
	RegexpInFileMatch(file string) func(x string) bool
	// MedianInterval is the MedianInterval helper on times.
	MedianInterval(times []time.Time) (time.Duration, error)
}

// Ctx is the evaluation state of one goroutine: the event, its fields when
// read ahead (by field number of the Table; nil: read on demand) and the
// memo of fields and helper results, valid while gen matches. A Ctx without
// memo (the zero value, or NewCtx(nil)) computes everything on demand: use
// it when the event changes between evaluations. Not safe for concurrent
// use.
type Ctx struct {
	evt  *event.Event
	vals []string
	gen  uint32
	memo []memoSlot

	// The last address parsed for IpInRange and the address predicates
	// (keyed by its text: valid across events).
	ipText string
	ipAddr netip.Addr
	ipOK   bool
	ipSet  bool
}

// addr parses x with parse (Helpers.IPRange, IPPredicate: one function),
// reusing the last result.
func (c *Ctx) addr(x string, parse func(string) (netip.Addr, bool)) (netip.Addr, bool) {
	if !c.ipSet || c.ipText != x {
		c.ipAddr, c.ipOK = parse(x)
		c.ipText, c.ipSet = x, true
	}
	return c.ipAddr, c.ipOK
}

type memoSlot struct {
	gen uint32
	v   string
}

// NewCtx returns a Ctx with a memo for the expressions compiled against t
// (nil: no memo). Compile everything before creating it.
func NewCtx(t *Table) *Ctx {
	c := &Ctx{}
	if t != nil && t.NumSlots() > 0 {
		c.memo = make([]memoSlot, t.NumSlots())
	}
	return c
}

// Reset points c at a new event (vals: its fields by Table.Read, or nil)
// and forgets the memo.
func (c *Ctx) Reset(evt *event.Event, vals []string) {
	c.evt, c.vals = evt, vals
	if c.memo != nil {
		if c.gen++; c.gen == 0 {
			clear(c.memo)
			c.gen = 1
		}
	}
}

// Event returns the event c evaluates.
func (c *Ctx) Event() *event.Event { return c.evt }

// Vals returns the field vector c reads (nil: none).
func (c *Ctx) Vals() []string { return c.vals }

// Bool is a compiled boolean expression. Its error is the VM's run-time
// error case (int() of a non-integer string); safe for concurrent use with
// distinct Ctx values.
type Bool func(c *Ctx) (bool, error)

// ErrInt is the run-time error of int() on a non-integer string.
var ErrInt = errors.New("natexpr: invalid operation: int()")

type strKind uint8

const (
	kLit strKind = iota
	kField
	kCall
	kConcat
	kCond
	kLen
)

// Str is a compiled string expression. Safe for concurrent use with
// distinct Ctx values.
type Str struct {
	kind   strKind
	key    string // canonical form (memo slot sharing); "" when not memoised
	lit    string
	fno    int                       // field number (Table.Freeze; MaxInt: not a field, or not read ahead)
	get    func(*event.Event) string // the field's direct read
	field0 Field                     // kField: the field read
	slot   int                       // memo slot; -1: not memoised (literals, concatenations...)
	fn     func(string) string
	arg    *Str
	parts  []*Str
	cond   Bool
	a, b   *Str
}

// Literal returns the value of a constant expression.
func (s *Str) Literal() (string, bool) { return s.lit, s.kind == kLit }

// Field returns the event field a plain field read (evt.Parsed.x,
// evt.Meta.y, evt.Line.Raw...) reads; ok false for any other expression.
func (s *Str) Field() (f Field, ok bool) {
	if s.kind != kField {
		return Field{}, false
	}
	return s.field0, true
}

// Numeric reports whether the expression is len(S): expr's value is then
// an int, of which Eval gives the decimal form.
func (s *Str) Numeric() bool { return s.kind == kLen }

// Eval evaluates s on c's event. Fields, literals and memoised values are
// answered here; the rest by eval.
func (s *Str) Eval(c *Ctx) (string, error) {
	switch s.kind {
	case kField:
		return s.field(c), nil
	case kLit:
		return s.lit, nil
	}
	if uint(s.slot) < uint(len(c.memo)) { // a memoised call (slot -1: none)
		if m := &c.memo[s.slot]; m.gen == c.gen {
			return m.v, nil
		}
	}
	return s.eval(c)
}

// Concat reports whether s is a concatenation (S + S ...): AppendEval
// then builds no string.
func (s *Str) Concat() bool { return s.kind == kConcat }

// AppendEval appends s's value on c's event to dst and returns it, or the
// error Eval gives: a concatenation's parts one by one, without the string
// Eval builds (a groupby such as `evt.Meta.source_ip + '/' +
// evt.Parsed.target_fqdn` is looked up, not kept, for most events).
func (s *Str) AppendEval(c *Ctx, dst []byte) ([]byte, error) {
	if s.kind != kConcat {
		v, err := s.Eval(c)
		return append(dst, v...), err
	}
	for _, p := range s.parts {
		v, err := p.Eval(c)
		if err != nil {
			return dst, err
		}
		dst = append(dst, v...)
	}
	return dst, nil
}

// field reads the field s: from the vector read ahead, directly (no memo:
// a parser's evaluation), or through the memo. A field read cannot fail.
func (s *Str) field(c *Ctx) string {
	if s.fno < len(c.vals) {
		return c.vals[s.fno]
	}
	if c.memo == nil {
		return s.get(c.evt)
	}
	m := &c.memo[s.slot]
	if m.gen != c.gen {
		m.gen, m.v = c.gen, s.get(c.evt)
	}
	return m.v
}

func (s *Str) eval(c *Ctx) (string, error) {
	switch s.kind {
	case kLit:
		return s.lit, nil
	case kField:
		return s.field(c), nil
	case kCall:
		if c.memo == nil || s.slot < 0 {
			a, err := s.arg.Eval(c)
			return s.fn(a), err
		}
		m := &c.memo[s.slot]
		if m.gen == c.gen {
			return m.v, nil
		}
		a, err := s.arg.Eval(c)
		if err != nil {
			return "", err
		}
		v := s.fn(a)
		m.gen, m.v = c.gen, v
		return v, nil
	case kConcat:
		if len(s.parts) == 2 {
			l, err := s.parts[0].Eval(c)
			if err != nil {
				return "", err
			}
			r, err := s.parts[1].Eval(c)
			return l + r, err
		}
		var b strings.Builder
		for _, p := range s.parts {
			v, err := p.Eval(c)
			if err != nil {
				return "", err
			}
			b.WriteString(v)
		}
		return b.String(), nil
	case kCond:
		ok, err := s.cond(c)
		if err != nil {
			return "", err
		}
		if ok {
			return s.a.Eval(c)
		}
		return s.b.Eval(c)
	case kLen:
		v, err := s.arg.Eval(c)
		return strconv.Itoa(utf8.RuneCountInString(v)), err
	}
	return "", nil
}

// binding is a let variable: a string or a boolean (pure and infallible:
// evaluated where it is used, as often as it is used).
type binding struct {
	s *Str
	b Bool
	n ast.Node // the value's expression (Guards: seen through)
}

// Compiler compiles expressions against a Table and a helper set. Used at
// load time, from one goroutine.
type Compiler struct {
	t      *Table
	h      Helpers
	schema *event.Schema // parsed fields are read by slot (nil: by name)
	scope  map[string]binding
}

// New returns a compiler numbering memo slots and fields in t (nil: a
// private table, for callers that evaluate without memo) and calling the
// helpers of h (nil: helper calls are left to the VM).
func New(t *Table, h Helpers) *Compiler {
	if t == nil {
		t = NewTable()
	}
	return &Compiler{t: t, h: h}
}

// WithSchema makes c's compiled reads of evt.Parsed, evt.Meta and evt.Enriched fields go by their
// slot in s (s.Key: a name gets a slot unless s is frozen, when names
// without one are read by name); it returns c. nil: reads go by name.
func (c *Compiler) WithSchema(s *event.Schema) *Compiler {
	c.schema = s
	return c
}

func parse(src string) (ast.Node, bool) {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, false
	}
	return tree.Node, true
}

// Bool compiles a boolean expression, or returns nil.
func (c *Compiler) Bool(src string) Bool {
	n, ok := parse(src)
	if !ok {
		return nil
	}
	f, _ := c.boolean(n)
	return f
}

// String compiles a string expression, or returns nil.
func (c *Compiler) String(src string) *Str {
	n, ok := parse(src)
	if !ok {
		return nil
	}
	s, _ := c.str(n)
	return s
}

// Value compiles a string expression or a top-level len(S) (Str.Numeric),
// or returns nil.
func (c *Compiler) Value(src string) *Str {
	n, ok := parse(src)
	if !ok {
		return nil
	}
	if b, ok := n.(*ast.BuiltinNode); ok && b.Name == "len" && len(b.Arguments) == 1 {
		arg, ok := c.str(b.Arguments[0])
		if !ok {
			return nil
		}
		return &Str{kind: kLen, arg: arg, fno: math.MaxInt, slot: -1}
	}
	s, _ := c.str(n)
	return s
}

// Conjuncts compiles the parts of a filter that must all be true for it to
// be true (operands: up to the first one that writes the event, as a
// pre-check reads the event as poured). Those that compile are returned:
// a pre-check (if one is false, the filter is false) before the VM runs.
func (c *Compiler) Conjuncts(src string) []Bool {
	n, ok := parse(src)
	if !ok {
		return nil
	}
	ops, _ := operands(n)
	var out []Bool
	for _, op := range ops {
		if f, ok := c.boolean(op); ok {
			out = append(out, f)
		}
	}
	return out
}

// fallible reports whether n may fail at run time once compiled (int()).
func fallible(n ast.Node) bool {
	return ast.Find(n, func(x ast.Node) bool {
		b, ok := x.(*ast.BuiltinNode)
		return ok && b.Name == "int"
	}) != nil
}

func (c *Compiler) shadowed(name string) bool {
	_, ok := c.scope[name]
	return ok
}

func (c *Compiler) boolean(n ast.Node) (Bool, bool) {
	switch t := n.(type) {
	case *ast.BoolNode:
		v := t.Value
		return func(*Ctx) (bool, error) { return v, nil }, true
	case *ast.IdentifierNode:
		if b, ok := c.scope[t.Value]; ok && b.b != nil {
			return b.b, true
		}
		return nil, false
	case *ast.UnaryNode:
		if t.Operator != "not" && t.Operator != "!" {
			return nil, false
		}
		x, ok := c.boolean(t.Node)
		if !ok {
			return nil, false
		}
		return func(ctx *Ctx) (bool, error) {
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
		return func(ctx *Ctx) (bool, error) {
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
		return c.let(t)
	case *ast.BinaryNode:
		return c.binary(t)
	case *ast.BuiltinNode:
		return c.anyFile(t)
	case *ast.CallNode:
		return c.call(t)
	}
	return nil, false
}

// let compiles `let x = V; B` with V a pure, infallible string or boolean.
func (c *Compiler) let(t *ast.VariableDeclaratorNode) (Bool, bool) {
	if fallible(t.Value) {
		return nil, false
	}
	var bind binding
	if s, ok := c.str(t.Value); ok {
		bind.s = s
	} else if b, ok := c.boolean(t.Value); ok {
		bind.b = b
	} else {
		return nil, false
	}
	saved := c.scope
	c.scope = make(map[string]binding, len(saved)+1)
	for k, x := range saved {
		c.scope[k] = x
	}
	c.scope[t.Name] = bind
	body, ok := c.boolean(t.Expr)
	c.scope = saved
	return body, ok
}

// helper reports whether n calls the unshadowed helper name with nargs
// arguments.
func (c *Compiler) helper(n *ast.CallNode, name string, nargs int) bool {
	id, ok := n.Callee.(*ast.IdentifierNode)
	return ok && id.Value == name && len(n.Arguments) == nargs && !c.shadowed(name)
}

// call compiles the boolean helpers: RegexpInFile(S, 'f'), IpInRange(S,
// 'range') and the one-string predicates.
func (c *Compiler) call(n *ast.CallNode) (Bool, bool) {
	if c.h == nil {
		return nil, false
	}
	id, ok := n.Callee.(*ast.IdentifierNode)
	if !ok || c.shadowed(id.Value) || len(n.Arguments) == 0 {
		return nil, false
	}
	var match func(string) bool
	switch {
	case len(n.Arguments) == 2 && id.Value == "IpInRange":
		lit, ok := n.Arguments[1].(*ast.StringNode)
		if !ok {
			return nil, false
		}
		s, ok := c.str(n.Arguments[0])
		if !ok {
			return nil, false
		}
		parse, contains := c.h.IPRange(lit.Value)
		return func(ctx *Ctx) (bool, error) {
			v, err := s.Eval(ctx)
			if err != nil {
				return false, err
			}
			a, ok := ctx.addr(v, parse)
			return ok && contains(a), nil
		}, true
	case len(n.Arguments) == 2 && id.Value == "RegexpInFile":
		lit, ok := n.Arguments[1].(*ast.StringNode)
		if !ok {
			return nil, false
		}
		match = c.h.RegexpInFileMatch(lit.Value)
	case len(n.Arguments) == 1:
		if parse, test, ok := c.h.IPPredicate(id.Value); ok {
			s, ok := c.str(n.Arguments[0])
			if !ok {
				return nil, false
			}
			return func(ctx *Ctx) (bool, error) {
				v, err := s.Eval(ctx)
				if err != nil {
					return false, err
				}
				a, ok := ctx.addr(v, parse)
				return ok && test(a), nil
			}, true
		}
		fn, ok := c.h.StringPredicate(id.Value)
		if !ok {
			return nil, false
		}
		match = fn
	default:
		return nil, false
	}
	s, ok := c.str(n.Arguments[0])
	if !ok {
		return nil, false
	}
	return func(ctx *Ctx) (bool, error) {
		v, err := s.Eval(ctx)
		if err != nil {
			return false, err
		}
		return match(v), nil
	}, true
}

// ipRanges compiles a disjunction of IpInRange(S, 'range') over one S (the
// same source in every term), such as geoip-enrich's private ranges, to
// one evaluation of S, one parse (the Ctx's last address) and the range
// tests in order: the terms' own halves (Helpers.IPRange), so the result
// is theirs; S is evaluated first in both forms, and its error is the
// first term's.
func (c *Compiler) ipRanges(t *ast.BinaryNode) (Bool, bool) {
	if c.h == nil {
		return nil, false
	}
	var terms []ast.Node
	var flatten func(n ast.Node)
	flatten = func(n ast.Node) {
		if b, ok := n.(*ast.BinaryNode); ok && (b.Operator == "||" || b.Operator == "or") {
			flatten(b.Left)
			flatten(b.Right)
			return
		}
		terms = append(terms, n)
	}
	flatten(t)
	var arg ast.Node
	var parse func(string) (netip.Addr, bool)
	contains := make([]func(netip.Addr) bool, 0, len(terms))
	for _, n := range terms {
		call, ok := n.(*ast.CallNode)
		if !ok || !c.helper(call, "IpInRange", 2) {
			return nil, false
		}
		lit, ok := call.Arguments[1].(*ast.StringNode)
		if !ok {
			return nil, false
		}
		if arg == nil {
			arg = call.Arguments[0]
		} else if call.Arguments[0].String() != arg.String() {
			return nil, false
		}
		p, in := c.h.IPRange(lit.Value)
		parse = p // the same for every range (Helpers.IPRange)
		contains = append(contains, in)
	}
	s, ok := c.str(arg)
	if !ok {
		return nil, false
	}
	return func(ctx *Ctx) (bool, error) {
		v, err := s.Eval(ctx)
		if err != nil {
			return false, err
		}
		a, ok := ctx.addr(v, parse)
		if !ok {
			return false, nil
		}
		for _, in := range contains {
			if in(a) {
				return true, nil
			}
		}
		return false, nil
	}, true
}

// anyFile compiles any(File('f'), {S op T(#)}) (and {T(#) == S}) to one
// lookup in the helpers' index of the file.
func (c *Compiler) anyFile(n *ast.BuiltinNode) (Bool, bool) {
	file, op, x, t, ok := c.anyFileShape(n)
	if !ok || fallible(x) {
		return nil, false
	}
	s, ok := c.str(x) // never reads # (str has no case for it)
	if !ok {
		return nil, false
	}
	match, ok := c.h.FileMatch(file, op, t.String())
	if !ok {
		return nil, false
	}
	general := func(ctx *Ctx) (bool, error) {
		v, err := s.Eval(ctx)
		return match(v), err
	}
	if name, ok := c.caseCall(x, s); ok {
		if fold, ok := c.h.FoldFileMatch(file, op, t.String(), name); ok {
			return foldOr(s, fold, general), true
		}
	}
	return general, true
}

// anyFileShape takes any(File('f'), {S op T(#)}) (and {T(#) == S}) apart:
// the file, the operator (contains, startsWith, endsWith, ==), S and the
// entry transform T(#) (entryTransform). anyFile compiles the shape and
// fileGuards finds its guard; ok is false for any other node.
func (c *Compiler) anyFileShape(n *ast.BuiltinNode) (file, op string, x, t ast.Node, ok bool) {
	if c.h == nil || n.Name != "any" || len(n.Arguments) != 2 {
		return "", "", nil, nil, false
	}
	call, ok := n.Arguments[0].(*ast.CallNode)
	if !ok || !c.helper(call, "File", 1) {
		return "", "", nil, nil, false
	}
	f, ok := call.Arguments[0].(*ast.StringNode)
	if !ok {
		return "", "", nil, nil, false
	}
	pred, ok := n.Arguments[1].(*ast.PredicateNode)
	if !ok {
		return "", "", nil, nil, false
	}
	b, ok := pred.Node.(*ast.BinaryNode)
	if !ok {
		return "", "", nil, nil, false
	}
	x, t = b.Left, b.Right
	switch b.Operator {
	case "contains", "startsWith", "endsWith":
	case "==":
		if c.entryTransform(x) {
			x, t = t, x
		}
	default:
		return "", "", nil, nil, false
	}
	if !c.entryTransform(t) {
		return "", "", nil, nil, false
	}
	return f.Value, b.Operator, x, t, true
}

// caseCall reports whether n, compiled to s, is a case helper call (Upper,
// Lower) on a value known at run time only, and returns the helper's name.
func (c *Compiler) caseCall(n ast.Node, s *Str) (string, bool) {
	call, ok := n.(*ast.CallNode)
	if !ok || s.kind != kCall || !(c.helper(call, "Upper", 1) || c.helper(call, "Lower", 1)) {
		return "", false
	}
	return call.Callee.(*ast.IdentifierNode).Value, true
}

// foldOr answers a comparison of the case helper call h with fold (the
// Helpers' Fold* functions, given h's argument) and general (given h's
// value) otherwise: when fold declines the argument (not ASCII), and when
// the memo already holds h's value (the comparison on it is cheaper).
func foldOr(h *Str, fold func(string) (bool, bool), general Bool) Bool {
	return func(ctx *Ctx) (bool, error) {
		if uint(h.slot) < uint(len(ctx.memo)) && ctx.memo[h.slot].gen == ctx.gen {
			return general(ctx)
		}
		x, err := h.arg.Eval(ctx)
		if err != nil {
			return false, err
		}
		if r, ok := fold(x); ok {
			return r, nil
		}
		return general(ctx)
	}
}

// entryTransform: n is # or Upper/Lower calls over # (pure, string-typed).
func (c *Compiler) entryTransform(n ast.Node) bool {
	switch t := n.(type) {
	case *ast.PointerNode:
		return t.Name == ""
	case *ast.CallNode:
		return (c.helper(t, "Upper", 1) || c.helper(t, "Lower", 1)) && c.entryTransform(t.Arguments[0])
	}
	return false
}

// hasKey compiles 'key' in evt.Parsed / evt.Meta / evt.Enriched.
func (c *Compiler) hasKey(key string, m ast.Node) (Bool, bool) {
	if c.shadowed("evt") {
		return nil, false
	}
	path, ok := memberChain(m)
	if !ok || len(path) != 1 {
		return nil, false
	}
	var p event.Part
	switch path[0] {
	case "Parsed":
		p = event.Parsed
	case "Meta":
		p = event.Meta
	case "Enriched":
		p = event.Enriched
	default:
		return nil, false
	}
	if c.schema != nil {
		k := c.schema.Key(p, key)
		return func(ctx *Ctx) (bool, error) {
			_, ok := ctx.evt.Get(k)
			return ok, nil
		}, true
	}
	return func(ctx *Ctx) (bool, error) {
		_, ok := ctx.evt.Lookup(p, key)
		return ok, nil
	}, true
}

// twoStr evaluates two strings, left first.
func twoStr(ctx *Ctx, l, r *Str) (string, string, error) {
	a, err := l.Eval(ctx)
	if err != nil {
		return "", "", err
	}
	b, err := r.Eval(ctx)
	return a, b, err
}

func (c *Compiler) binary(t *ast.BinaryNode) (Bool, bool) {
	switch t.Operator {
	case "&&", "and", "||", "or":
		if f, ok := c.ipRanges(t); ok {
			return f, true
		}
		l, ok1 := c.boolean(t.Left)
		r, ok2 := c.boolean(t.Right)
		if !ok1 || !ok2 {
			return nil, false
		}
		if t.Operator == "&&" || t.Operator == "and" {
			return func(ctx *Ctx) (bool, error) {
				v, err := l(ctx)
				if err != nil || !v {
					return false, err
				}
				return r(ctx)
			}, true
		}
		return func(ctx *Ctx) (bool, error) {
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
		if key, ok := t.Left.(*ast.StringNode); ok {
			if f, ok := c.hasKey(key.Value, t.Right); ok {
				return f, true
			}
		}
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
		return func(ctx *Ctx) (bool, error) {
			v, err := l.Eval(ctx)
			if err != nil {
				return false, err
			}
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
		if !ok || !ok2 || r.kind != kLit {
			return nil, false
		}
		re, err := regexp.Compile(r.lit)
		if err != nil {
			return nil, false
		}
		return func(ctx *Ctx) (bool, error) {
			v, err := l.Eval(ctx)
			if err != nil {
				return false, err
			}
			return re.MatchString(v), nil
		}, true
	case "==", "!=", "contains", "startsWith", "endsWith":
		if f, ok := c.intCompare(t); ok {
			return f, true
		}
		l, ok := c.str(t.Left)
		r, ok2 := c.str(t.Right)
		if !ok || !ok2 {
			return nil, false
		}
		if r.kind == kLit {
			general := litCompare(t.Operator, l, r.lit)
			if name, ok := c.caseCall(t.Left, l); ok && c.h != nil {
				if fold, ok := c.h.FoldCompare(name, t.Operator, r.lit); ok {
					return foldOr(l, fold, general), true
				}
			}
			return general, true
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
		return func(ctx *Ctx) (bool, error) {
			a, b, err := twoStr(ctx, l, r)
			if err != nil {
				return false, err
			}
			return op(a, b), nil
		}, true
	case "<", "<=", ">", ">=":
		return c.intCompare(t)
	}
	return nil, false
}

// litCompare compiles S <op> 'literal', the commonest comparison, without
// evaluating the literal nor calling the operator through a func value.
func litCompare(op string, l *Str, lit string) Bool {
	if l.kind == kField {
		return fieldCompare(op, l, lit)
	}
	switch op {
	case "==":
		return func(ctx *Ctx) (bool, error) {
			a, err := l.Eval(ctx)
			return err == nil && a == lit, err
		}
	case "!=":
		return func(ctx *Ctx) (bool, error) {
			a, err := l.Eval(ctx)
			return err == nil && a != lit, err
		}
	case "contains":
		return func(ctx *Ctx) (bool, error) {
			a, err := l.Eval(ctx)
			return err == nil && strings.Contains(a, lit), err
		}
	case "startsWith":
		return func(ctx *Ctx) (bool, error) {
			a, err := l.Eval(ctx)
			return err == nil && strings.HasPrefix(a, lit), err
		}
	}
	return func(ctx *Ctx) (bool, error) { // endsWith
		a, err := l.Eval(ctx)
		return err == nil && strings.HasSuffix(a, lit), err
	}
}

// fieldCompare is litCompare for a field (which cannot fail).
func fieldCompare(op string, f *Str, lit string) Bool {
	switch op {
	case "==":
		return func(ctx *Ctx) (bool, error) { return f.field(ctx) == lit, nil }
	case "!=":
		return func(ctx *Ctx) (bool, error) { return f.field(ctx) != lit, nil }
	case "contains":
		return func(ctx *Ctx) (bool, error) { return strings.Contains(f.field(ctx), lit), nil }
	case "startsWith":
		return func(ctx *Ctx) (bool, error) { return strings.HasPrefix(f.field(ctx), lit), nil }
	}
	return func(ctx *Ctx) (bool, error) { return strings.HasSuffix(f.field(ctx), lit), nil }
}

// intCompare compiles int(S) <op> N (either side).
func (c *Compiler) intCompare(t *ast.BinaryNode) (Bool, bool) {
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
	if !ok || b.Name != "int" || len(b.Arguments) != 1 || c.shadowed("int") {
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
	return func(ctx *Ctx) (bool, error) {
		sv, err := s.Eval(ctx)
		if err != nil {
			return false, err
		}
		v, err := strconv.Atoi(sv)
		if err != nil {
			return false, ErrInt
		}
		return cmp(v), nil
	}, true
}

func lit(v string) *Str {
	return &Str{kind: kLit, key: strconv.Quote(v), lit: v, fno: math.MaxInt, slot: -1}
}

func (c *Compiler) str(n ast.Node) (*Str, bool) {
	switch t := n.(type) {
	case *ast.StringNode:
		return lit(t.Value), true
	case *ast.IdentifierNode:
		if b, ok := c.scope[t.Value]; ok && b.s != nil {
			return b.s, true
		}
		return nil, false
	case *ast.BinaryNode:
		if t.Operator != "+" {
			return nil, false
		}
		l, ok1 := c.str(t.Left)
		r, ok2 := c.str(t.Right)
		if !ok1 || !ok2 {
			return nil, false
		}
		if l.kind == kLit && r.kind == kLit {
			return lit(l.lit + r.lit), true
		}
		var parts []*Str
		for _, p := range []*Str{l, r} {
			if p.kind == kConcat {
				parts = append(parts, p.parts...)
			} else {
				parts = append(parts, p)
			}
		}
		return &Str{kind: kConcat, parts: parts, fno: math.MaxInt, slot: -1}, true
	case *ast.ConditionalNode:
		cond, ok1 := c.boolean(t.Cond)
		a, ok2 := c.str(t.Exp1)
		b, ok3 := c.str(t.Exp2)
		if !ok1 || !ok2 || !ok3 {
			return nil, false
		}
		return &Str{kind: kCond, cond: cond, a: a, b: b, fno: math.MaxInt, slot: -1}, true
	case *ast.CallNode:
		id, ok := t.Callee.(*ast.IdentifierNode)
		if !ok || len(t.Arguments) != 1 || c.shadowed(id.Value) || c.h == nil {
			return nil, false
		}
		fn, ok := c.h.StringFunc(id.Value)
		if !ok {
			return nil, false
		}
		arg, ok := c.str(t.Arguments[0])
		if !ok {
			return nil, false
		}
		if arg.kind == kLit {
			return lit(fn(arg.lit)), true
		}
		if arg.key == "" { // not memoisable (a concatenation...)
			return &Str{kind: kCall, fn: fn, arg: arg, slot: -1, fno: math.MaxInt}, true
		}
		key := id.Value + "(" + arg.key + ")"
		return &Str{kind: kCall, key: key, fn: fn, arg: arg, slot: c.t.slot(key), fno: math.MaxInt}, true
	}
	if c.shadowed("evt") {
		return nil, false
	}
	f, ok := FieldOf(n)
	if !ok {
		return nil, false
	}
	fi := c.t.info(f)
	fi.refs++
	if fi.get == nil {
		fi.get = f.getter(c.schema)
		if p, ok := f.part(); ok && c.schema != nil {
			fi.key, fi.keyed = c.schema.Key(p, f.Key), true
		}
	}
	key := f.String()
	out := &Str{kind: kField, key: key, fno: math.MaxInt, get: fi.get, field0: f, slot: c.t.slot(key)}
	fi.users = append(fi.users, out)
	return out, true
}
