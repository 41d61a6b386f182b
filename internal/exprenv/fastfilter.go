package exprenv

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
// Anything else is left alone. Deps.PlainFilters turns the patch off.

import (
	"fmt"
	"reflect"
	"slices"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/conf"

	"github.com/phalanx-ids/phalanx/internal/datafile"
)

// pureHelpers are the registered helpers without side effects whose result
// depends on their arguments only.
var pureHelpers = map[string]bool{
	"Upper": true, "Lower": true, "TrimSpace": true, "Trim": true, "TrimLeft": true,
	"TrimRight": true, "TrimPrefix": true, "TrimSuffix": true, "ToString": true,
	"Replace": true, "ReplaceAll": true, "JsonExtract": true,
	"PathUnescape": true, "QueryUnescape": true, "PathEscape": true, "QueryEscape": true,
}

// trueMethods are the event methods documented to always return true
// (evt.SetMeta / evt.SetParsed, used in filters for their side effect).
var trueMethods = map[string]bool{"SetMeta": true, "SetParsed": true}

// entriesVar is the variable holding the entries when a transform or guard
// is evaluated over a file at compile time.
const entriesVar = "__phx_entries"

var (
	typeStrBool  = reflect.TypeOf(func(string) bool { return false })
	typeStrSlice = reflect.TypeOf(func(string) []string { return nil })
	typeString   = reflect.TypeOf("")
)

// fastFilterOption installs the patcher; each compilation gets its own.
func (e *Env) fastFilterOption() expr.Option {
	fileFn := reflect.ValueOf(e.file).Pointer()
	return func(c *conf.Config) {
		c.Visitors = append(c.Visitors, &filterPatcher{e: e, conf: c, fileFn: fileFn})
	}
}

// filterPatcher is the ast.Visitor; one per compilation, not shared.
type filterPatcher struct {
	e      *Env
	conf   *conf.Config
	fileFn uintptr
	n      int
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
	if !ok || len(call.Arguments) != 1 || p.e.d.Data == nil {
		return "", nil, false
	}
	id, ok := call.Callee.(*ast.IdentifierNode)
	if !ok || id.Value != "File" {
		return "", nil, false
	}
	f, ok := p.conf.Functions["File"]
	if !ok || reflect.ValueOf(f.Func).Pointer() != p.fileFn {
		return "", nil, false
	}
	lit, ok := call.Arguments[0].(*ast.StringNode)
	if !ok {
		return "", nil, false
	}
	strs := p.e.d.Data.Strings(lit.Value)
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
	idx, err := p.e.fileIndex(name, strs, "==", "#", "")
	if err != nil {
		return
	}
	ast.Patch(node, p.register(typeStrBool, func(s string) any { return idx.set.MatchString(s) }, n.Left))
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
	idx, err := p.e.fileIndex(name, strs, c.op, c.t.String(), gsrc)
	if err != nil || (guardFirst && len(idx.kept) == 0) {
		return
	}
	ast.Patch(node, p.register(typeStrBool, func(s string) any { return idx.match(s) }, c.l))
}

// narrow replaces File("f") by the entries for which C holds.
func (p *filterPatcher) narrow(n *ast.BuiltinNode, name string, strs []string, c comparison) {
	if c.op != "contains" && c.op != "==" {
		return
	}
	idx, err := p.e.fileIndex(name, strs, c.op, c.t.String(), "")
	if err != nil {
		return
	}
	var none any = []string{} // boxed once: no allocation when nothing matches
	ast.Patch(&n.Arguments[0], p.register(typeStrSlice, func(s string) any {
		if c := idx.candidates(s); len(c) > 0 {
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
	if !ok || !pureHelpers[id.Value] || !p.e.registered(p.conf, id.Value) {
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

// isEventPtr: the receiver is the event (a pointer to a struct that has the
// method, checked by type name to stay independent of the event package's
// other methods).
func isEventPtr(n ast.Node) bool {
	t := n.Type()
	return t != nil && t.Kind() == reflect.Pointer && t.Elem().Name() == "Event" &&
		t.Elem().PkgPath() == "github.com/phalanx-ids/phalanx/internal/event"
}

// registered reports whether name is this Env's helper in conf (not
// overridden by a later option).
func (e *Env) registered(c *conf.Config, name string) bool {
	f, ok := c.Functions[name]
	if !ok {
		return false
	}
	want, ok := e.helperPtrs[name]
	return ok && reflect.ValueOf(f.Func).Pointer() == want
}

// entryIndex answers one comparison over the transformed, guarded entries
// of a file. Immutable.
type entryIndex struct {
	entries []string // the file's entries
	kept    []int    // indexes (into entries) that passed the guard
	vals    []string // T(entries[kept[i]])
	op      string
	match   func(string) bool
	set     *datafile.Set
	sub     *datafile.Substrings
	byVal   map[string][]int // for == narrowing: value -> kept positions
}

// candidates returns the entries (in file order) whose comparison holds.
func (x *entryIndex) candidates(s string) []string {
	var ids []int
	switch x.op {
	case "contains":
		x.sub.Each(s, func(id, _ int) bool {
			ids = append(ids, id)
			return true
		})
	case "==":
		ids = x.byVal[s]
	}
	if len(ids) == 0 {
		return []string{}
	}
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = x.entries[x.kept[id]]
	}
	return out
}

// indexKey identifies an index: file, operator, transform, guard.
type indexKey struct{ file, op, t, g string }

type indexSlot struct {
	once sync.Once
	idx  *entryIndex
	err  error
}

// fileIndex returns the (cached) index of file for op over T(#) (source
// tsrc) restricted to the entries where G(#) (source gsrc, "" for none) is
// true.
func (e *Env) fileIndex(file string, strs []string, op, tsrc, gsrc string) (*entryIndex, error) {
	v, _ := e.indexes.LoadOrStore(indexKey{file, op, tsrc, gsrc}, &indexSlot{})
	slot := v.(*indexSlot)
	slot.once.Do(func() { slot.idx, slot.err = e.buildIndex(strs, op, tsrc, gsrc) })
	return slot.idx, slot.err
}

func (e *Env) buildIndex(strs []string, op, tsrc, gsrc string) (*entryIndex, error) {
	x := &entryIndex{entries: strs, op: op}
	keep := make([]bool, len(strs))
	for i := range keep {
		keep[i] = true
	}
	if gsrc != "" {
		gs, err := e.mapEntries(strs, gsrc)
		if err != nil {
			return nil, err
		}
		for i, g := range gs {
			b, ok := g.(bool)
			if !ok {
				return nil, fmt.Errorf("exprenv: guard %q: not a bool", gsrc)
			}
			keep[i] = b
		}
	}
	vals := strs
	if tsrc != "" && tsrc != "#" {
		ts, err := e.mapEntries(strs, tsrc)
		if err != nil {
			return nil, err
		}
		vals = make([]string, len(ts))
		for i, v := range ts {
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("exprenv: transform %q: not a string", tsrc)
			}
			vals[i] = s
		}
	}
	for i, k := range keep {
		if k {
			x.kept = append(x.kept, i)
			x.vals = append(x.vals, vals[i])
		}
	}
	switch op {
	case "contains":
		x.sub = datafile.NewSubstrings(x.vals, false)
		x.match = x.sub.MatchString
	case "startsWith":
		x.match = datafile.NewPrefixes(x.vals).MatchString
	case "endsWith":
		x.match = datafile.NewSuffixes(x.vals).MatchString
	case "==":
		x.set = datafile.NewSet(x.vals)
		x.match = x.set.MatchString
		x.byVal = make(map[string][]int)
		for i, v := range x.vals {
			x.byVal[v] = append(x.byVal[v], i)
		}
	default:
		return nil, fmt.Errorf("exprenv: no index for %q", op)
	}
	return x, nil
}

// mapEntries evaluates src (an expression of #) on every entry, with the
// same helpers as the filters.
func (e *Env) mapEntries(strs []string, src string) ([]any, error) {
	env := map[string]any{entriesVar: strs}
	opts := append([]expr.Option{expr.Env(env)}, e.helperOpts...)
	prog, err := expr.Compile("map("+entriesVar+", {"+src+"})", opts...)
	if err != nil {
		return nil, fmt.Errorf("exprenv: index %q: %w", src, err)
	}
	out, err := expr.Run(prog, env)
	if err != nil {
		return nil, fmt.Errorf("exprenv: index %q: %w", src, err)
	}
	l, ok := out.([]any)
	if !ok || len(l) != len(strs) {
		return nil, fmt.Errorf("exprenv: index %q: unexpected result %T", src, out)
	}
	return l, nil
}
