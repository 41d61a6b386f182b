package natexpr

// Fast data-file filters: an expr AST patch that replaces the scans of a
// string data file that hub filters run on every event,
//
//	any(File("f"), {X contains #})          and ==, startsWith, endsWith,
//	any(File("f"), {Upper(X) contains Upper(#)})   (any pure transform of #),
//	any(File("f"), {len(#) > 0 && X endsWith #})   (guards on # alone),
//	X in File("f"),
//
// by one call to a helper backed by an index of the (transformed, guarded)
// entries: Aho-Corasick for contains, tries for startsWith/endsWith, a hash
// set for ==. Bodies of the shape `C ? A : false` or `C && A` (C one of the
// comparisons above) keep their predicate but iterate only over the entries
// for which C holds ("narrowing"), in file order.
//
// Exactness. The patched program returns the same value and fails in the
// same cases as the plain one because:
//   - only files loaded and non-empty at compile time are patched (a
//     Store never unloads or changes a file), so the plain loop evaluates X
//     at least once, and X is pure (members, literals, side-effect-free
//     helpers) and string-typed: one evaluation gives the same value or the
//     same error as several;
//   - the transform T(#) and the guard G(#) depend on # alone and are pure,
//     so they are evaluated once per entry at compile time, with the same
//     helper code, and the index answers the comparison on exact bytes;
//   - `x contains ""` is true: an empty transformed entry makes the index
//     match everything; duplicates are harmless for a boolean;
//   - narrowing drops only entries whose body is false without side effects
//     (C false), and requires A pure or a call known to return true (so the
//     loop stops at the first kept entry and X cannot change in between).
//
// Anything else is left alone. exprenv installs the patch in the programs it
// compiles (FilePatch) unless its Deps.PlainFilters; the index itself is
// exprenv's (DataIndex), built with the registered helpers.

import (
	"fmt"
	"reflect"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/conf"

	"github.com/phalanx-ids/phalanx/internal/event"
)

// DataIndex is what the data-file patch needs from the expression
// environment (*exprenv.Env implements it). Safe for concurrent use.
type DataIndex interface {
	// Registered reports whether name is, in c, the environment's own
	// helper (not overridden by a later option).
	Registered(c *conf.Config, name string) bool
	// Pure reports whether the helper name has no side effects and a
	// result that depends on its arguments only.
	Pure(name string) bool
	// FileStrings returns the entries of a loaded string data file (nil
	// or empty: not loaded, or empty).
	FileStrings(name string) []string
	// FileIndex returns the (cached) index answering `x op T(#)` over the
	// entries strs of file, T given by its source tsrc, restricted to the
	// entries where G(#) (source gsrc, "" for none) is true.
	FileIndex(file string, strs []string, op, tsrc, gsrc string) (FileIndex, error)
}

// FileIndex answers one comparison over the (transformed, guarded)
// entries of a data file. Immutable, safe for concurrent use.
type FileIndex interface {
	// Match reports whether the comparison holds for some kept entry.
	Match(x string) bool
	// Candidates returns the kept entries, in file order, for which it
	// holds (op contains or ==); an empty, non-nil slice for none.
	Candidates(x string) []string
	// Kept is the number of entries that passed the guard.
	Kept() int
}

// trueMethods are the event methods documented to always return true
// (evt.SetMeta / evt.SetParsed, used in filters for their side effect).
var trueMethods = map[string]bool{"SetMeta": true, "SetParsed": true}

var (
	typeStrBool  = reflect.TypeOf(func(string) bool { return false })
	typeStrSlice = reflect.TypeOf(func(string) []string { return nil })
	typeString   = reflect.TypeOf("")
)

// FilePatch returns the expr option that installs the data-file patch
// (see the file comment) for the environment env; each compilation gets its
// own patcher.
func FilePatch(env DataIndex) expr.Option {
	return func(c *conf.Config) {
		c.Visitors = append(c.Visitors, &filterPatcher{e: env, conf: c})
	}
}

// filterPatcher is the ast.Visitor; one per compilation, not shared.
type filterPatcher struct {
	e    DataIndex
	conf *conf.Config
	n    int
}

func (p *filterPatcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.BuiltinNode:
		if n.Name == "any" && len(n.Arguments) == 2 {
			p.patchAny(node, n)
		}
	case *ast.BinaryNode:
		if n.Operator == "in" {
			p.patchIn(node, n)
		}
	}
}

// fileCall returns the entries of File("lit") if node is that call to this
// Env's File helper and the file is loaded and non-empty.
func (p *filterPatcher) fileCall(node ast.Node) (string, []string, bool) {
	call, ok := node.(*ast.CallNode)
	if !ok || len(call.Arguments) != 1 {
		return "", nil, false
	}
	id, ok := call.Callee.(*ast.IdentifierNode)
	if !ok || id.Value != "File" || !p.e.Registered(p.conf, "File") {
		return "", nil, false
	}
	lit, ok := call.Arguments[0].(*ast.StringNode)
	if !ok {
		return "", nil, false
	}
	strs := p.e.FileStrings(lit.Value)
	if len(strs) == 0 {
		return "", nil, false
	}
	return lit.Value, strs, true
}

// register adds a helper for one patched site and returns the call node.
func (p *filterPatcher) register(typ reflect.Type, fn func(string) any, arg ast.Node) ast.Node {
	name := fmt.Sprintf("__phx_filter_%d", p.n)
	p.n++
	p.conf.Functions[name] = &builtin.Function{
		Name:  name,
		Types: []reflect.Type{typ},
		Func: func(args ...any) (any, error) {
			s, _ := args[0].(string)
			return fn(s), nil
		},
	}
	return &ast.CallNode{Callee: &ast.IdentifierNode{Value: name}, Arguments: []ast.Node{arg}}
}

// patchIn: X in File("f") -> set lookup (X is evaluated once either way).
func (p *filterPatcher) patchIn(node *ast.Node, n *ast.BinaryNode) {
	name, strs, ok := p.fileCall(n.Right)
	if !ok || !isString(n.Left) {
		return
	}
	idx, err := p.e.FileIndex(name, strs, "==", "#", "")
	if err != nil {
		return
	}
	ast.Patch(node, p.register(typeStrBool, func(s string) any { return idx.Match(s) }, n.Left))
}

// comparison is C: L op T(#), L free of #.
type comparison struct {
	op string
	l  ast.Node
	t  ast.Node
}

func (p *filterPatcher) comparison(node ast.Node) (comparison, bool) {
	b, ok := node.(*ast.BinaryNode)
	if !ok {
		return comparison{}, false
	}
	switch b.Operator {
	case "contains", "startsWith", "endsWith", "==":
	default:
		return comparison{}, false
	}
	if p.pureOf(b.Left, false) && isString(b.Left) && p.entryFunc(b.Right) {
		return comparison{b.Operator, b.Left, b.Right}, true
	}
	if b.Operator == "==" && p.pureOf(b.Right, false) && isString(b.Right) && p.entryFunc(b.Left) {
		return comparison{b.Operator, b.Right, b.Left}, true
	}
	return comparison{}, false
}

func isAnd(n ast.Node) (*ast.BinaryNode, bool) {
	b, ok := n.(*ast.BinaryNode)
	return b, ok && (b.Operator == "&&" || b.Operator == "and")
}

func (p *filterPatcher) patchAny(node *ast.Node, n *ast.BuiltinNode) {
	name, strs, ok := p.fileCall(n.Arguments[0])
	if !ok {
		return
	}
	pred, ok := n.Arguments[1].(*ast.PredicateNode)
	if !ok {
		return
	}
	body := pred.Node
	// any(File, {C})
	if c, ok := p.comparison(body); ok {
		p.direct(node, name, strs, c, nil, false)
		return
	}
	if and, ok := isAnd(body); ok {
		// any(File, {C && G}) / any(File, {G && C}), G on # alone.
		if c, ok := p.comparison(and.Left); ok && p.entryFunc(and.Right) {
			p.direct(node, name, strs, c, and.Right, false)
			return
		}
		if c, ok := p.comparison(and.Right); ok && p.entryFunc(and.Left) {
			p.direct(node, name, strs, c, and.Left, true)
			return
		}
		// any(File, {C && A}): narrow.
		if c, ok := p.comparison(and.Left); ok && p.narrowable(and.Right) {
			p.narrow(n, name, strs, c)
		}
		return
	}
	// any(File, {C ? A : false}): narrow.
	if cond, ok := body.(*ast.ConditionalNode); ok {
		if f, ok := cond.Exp2.(*ast.BoolNode); ok && !f.Value {
			if c, ok := p.comparison(cond.Cond); ok && p.narrowable(cond.Exp1) {
				p.narrow(n, name, strs, c)
			}
		}
	}
}

// direct replaces the whole any() by one index lookup. guardFirst: the
// guard runs before the comparison, so X is only evaluated when some entry
// passes it.
func (p *filterPatcher) direct(node *ast.Node, name string, strs []string, c comparison, guard ast.Node, guardFirst bool) {
	gsrc := ""
	if guard != nil {
		gsrc = guard.String()
	}
	idx, err := p.e.FileIndex(name, strs, c.op, c.t.String(), gsrc)
	if err != nil || (guardFirst && idx.Kept() == 0) {
		return
	}
	ast.Patch(node, p.register(typeStrBool, func(s string) any { return idx.Match(s) }, c.l))
}

// narrow replaces File("f") by the entries for which C holds.
func (p *filterPatcher) narrow(n *ast.BuiltinNode, name string, strs []string, c comparison) {
	if c.op != "contains" && c.op != "==" {
		return
	}
	idx, err := p.e.FileIndex(name, strs, c.op, c.t.String(), "")
	if err != nil {
		return
	}
	var none any = []string{} // boxed once: no allocation when nothing matches
	ast.Patch(&n.Arguments[0], p.register(typeStrSlice, func(s string) any {
		if c := idx.Candidates(s); len(c) > 0 {
			return c
		}
		return none
	}, c.l))
}

// narrowable: A may run on the kept entries only: pure, or a call that
// always returns true.
func (p *filterPatcher) narrowable(a ast.Node) bool {
	if p.pureOf(a, true) {
		return true
	}
	call, ok := a.(*ast.CallNode)
	if !ok {
		return false
	}
	m, ok := call.Callee.(*ast.MemberNode)
	if !ok || !m.Method {
		return false
	}
	prop, ok := m.Property.(*ast.StringNode)
	if !ok || !trueMethods[prop.Value] || !isEventPtr(m.Node) {
		return false
	}
	for _, arg := range call.Arguments {
		if !p.pureOf(arg, true) {
			return false
		}
	}
	return true
}

// pureOf reports whether node has no side effects and no dependency on
// anything but the environment (and # when withEntry).
func (p *filterPatcher) pureOf(node ast.Node, withEntry bool) bool {
	switch n := node.(type) {
	case *ast.StringNode, *ast.IntegerNode, *ast.BoolNode, *ast.NilNode, *ast.FloatNode:
		return true
	case *ast.IdentifierNode:
		_, isFn := p.conf.Functions[n.Value]
		return !isFn
	case *ast.PointerNode:
		return withEntry && n.Name == ""
	case *ast.MemberNode:
		return !n.Method && p.pureOf(n.Node, withEntry) && p.pureOf(n.Property, withEntry)
	case *ast.ChainNode:
		return p.pureOf(n.Node, withEntry)
	case *ast.CallNode:
		return p.pureCall(n, func(a ast.Node) bool { return p.pureOf(a, withEntry) })
	case *ast.BinaryNode:
		switch n.Operator {
		case "+", "==", "!=", "contains", "startsWith", "endsWith", "&&", "||", "and", "or":
			return p.pureOf(n.Left, withEntry) && p.pureOf(n.Right, withEntry)
		}
	case *ast.UnaryNode:
		if n.Operator == "!" || n.Operator == "not" {
			return p.pureOf(n.Node, withEntry)
		}
	}
	return false
}

// pureCall: a call to one of this Env's pure helpers with pure arguments.
func (p *filterPatcher) pureCall(n *ast.CallNode, arg func(ast.Node) bool) bool {
	id, ok := n.Callee.(*ast.IdentifierNode)
	if !ok || !p.e.Pure(id.Value) || !p.e.Registered(p.conf, id.Value) {
		return false
	}
	for _, a := range n.Arguments {
		if !arg(a) {
			return false
		}
	}
	return true
}

// entryFunc reports whether node is a pure function of # alone (literals,
// #, pure helpers, len, comparisons) that uses #.
func (p *filterPatcher) entryFunc(node ast.Node) bool {
	var ok func(ast.Node) bool
	ok = func(node ast.Node) bool {
		switch n := node.(type) {
		case *ast.StringNode, *ast.IntegerNode, *ast.BoolNode:
			return true
		case *ast.PointerNode:
			return n.Name == ""
		case *ast.CallNode:
			return p.pureCall(n, ok)
		case *ast.BuiltinNode:
			return n.Name == "len" && len(n.Arguments) == 1 && ok(n.Arguments[0])
		case *ast.BinaryNode:
			switch n.Operator {
			case "+", "==", "!=", "<", ">", "<=", ">=", "contains", "startsWith", "endsWith", "&&", "||", "and", "or":
				return ok(n.Left) && ok(n.Right)
			}
		case *ast.UnaryNode:
			if n.Operator == "!" || n.Operator == "not" {
				return ok(n.Node)
			}
		}
		return false
	}
	return ok(node) && usesEntry(node)
}

func usesEntry(node ast.Node) bool {
	found := false
	ast.Walk(&node, visitFunc(func(n *ast.Node) {
		if pn, ok := (*n).(*ast.PointerNode); ok && pn.Name == "" {
			found = true
		}
	}))
	return found
}

type visitFunc func(*ast.Node)

func (f visitFunc) Visit(n *ast.Node) { f(n) }

func isString(n ast.Node) bool {
	t := n.Type()
	return t != nil && t == typeString
}

// isEventPtr: the receiver is the event.
func isEventPtr(n ast.Node) bool {
	return n.Type() == reflect.TypeOf((*event.Event)(nil))
}
