package parse

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"

	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/exprenv"
)

// Fast paths: the common hub expression shapes (a plain event field, and
// comparisons of one with string literals) are turned into Go closures at
// load time, skipping the expr VM. The differential tests (fastpath_test.go)
// check they give exactly the VM's results.

type getter func(*event.Event) string

// strHelpers gives the helpers of one string argument (*exprenv.Env's
// StringFunc: the registered helper itself, no copy of its semantics).
type strHelpers interface {
	StringFunc(name string) (func(string) string, bool)
}

// fastGetter recognises string-valued expressions (strOf): fields, literals,
// concatenations, conditionals, Upper/Lower; and a top-level len(S), whose
// value is an int (numeric is then true: only its decimal form is known).
func fastGetter(h strHelpers, src string) (g getter, numeric bool) {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, false
	}
	if g := lenOf(h, tree.Node); g != nil {
		return g, true
	}
	return strOf(h, tree.Node), false
}

// strOf compiles the string expressions statics commonly compute:
//
//	evt.<path> (getterOf), 'literal', S + S, P ? S : S (P a predOf),
//	H(S) for a pure helper H of one string (Upper, Lower, PathUnescape...)
func strOf(h strHelpers, n ast.Node) getter {
	if g := getterOf(n); g != nil {
		return g
	}
	switch t := n.(type) {
	case *ast.StringNode:
		v := t.Value
		return func(*event.Event) string { return v }
	case *ast.BinaryNode:
		if t.Operator != "+" {
			return nil
		}
		l, r := strOf(h, t.Left), strOf(h, t.Right)
		if l == nil || r == nil {
			return nil
		}
		return func(e *event.Event) string { return l(e) + r(e) }
	case *ast.ConditionalNode:
		c, a, b := predOf(h, t.Cond), strOf(h, t.Exp1), strOf(h, t.Exp2)
		if c == nil || a == nil || b == nil {
			return nil
		}
		return func(e *event.Event) string {
			if c(e) {
				return a(e)
			}
			return b(e)
		}
	case *ast.CallNode:
		id, ok := t.Callee.(*ast.IdentifierNode)
		if !ok || len(t.Arguments) != 1 {
			return nil
		}
		arg := strOf(h, t.Arguments[0])
		if arg == nil {
			return nil
		}
		if h == nil {
			return nil
		}
		fn, ok := h.StringFunc(id.Value)
		if !ok {
			return nil
		}
		return func(e *event.Event) string { return fn(arg(e)) }
	}
	return nil
}

// lenOf compiles a top-level len(S): expr returns an int (it counts runes),
// which statics and grok inputs stringify as a decimal.
func lenOf(h strHelpers, n ast.Node) getter {
	t, ok := n.(*ast.BuiltinNode)
	if !ok || t.Name != "len" || len(t.Arguments) != 1 {
		return nil
	}
	arg := strOf(h, t.Arguments[0])
	if arg == nil {
		return nil
	}
	return func(e *event.Event) string { return strconv.Itoa(utf8.RuneCountInString(arg(e))) }
}

func memberChain(n ast.Node) ([]string, bool) {
	var rev []string
	for {
		switch t := n.(type) {
		case *ast.MemberNode:
			if t.Optional || t.Method {
				return nil, false
			}
			s, ok := t.Property.(*ast.StringNode)
			if !ok {
				return nil, false
			}
			rev = append(rev, s.Value)
			n = t.Node
		case *ast.IdentifierNode:
			if t.Value != "evt" {
				return nil, false
			}
			out := make([]string, len(rev))
			for i := range rev {
				out[i] = rev[len(rev)-1-i]
			}
			return out, true
		default:
			return nil, false
		}
	}
}

func getterOf(n ast.Node) getter {
	path, ok := memberChain(n)
	if !ok {
		return nil
	}
	switch len(path) {
	case 1:
		switch path[0] {
		case "StrTime":
			return func(e *event.Event) string { return e.StrTime }
		case "StrTimeFormat":
			return func(e *event.Event) string { return e.StrTimeFormat }
		case "MarshaledTime":
			return func(e *event.Event) string { return e.MarshaledTime }
		case "Stage":
			return func(e *event.Event) string { return e.Stage }
		case "WhitelistReason":
			return func(e *event.Event) string { return e.WhitelistReason }
		}
	case 2:
		k := path[1]
		switch path[0] {
		case "Parsed":
			return func(e *event.Event) string { return e.Parsed[k] }
		case "Meta":
			return func(e *event.Event) string { return e.Meta[k] }
		case "Enriched":
			return func(e *event.Event) string { return e.Enriched[k] }
		case "Line":
			switch k {
			case "Raw":
				return func(e *event.Event) string { return e.Line.Raw }
			case "Src":
				return func(e *event.Event) string { return e.Line.Src }
			case "Module":
				return func(e *event.Event) string { return e.Line.Module }
			}
		}
	case 3:
		if path[0] == "Line" && path[1] == "Labels" {
			k := path[2]
			return func(e *event.Event) string { return e.Line.Labels[k] }
		}
	}
	return nil
}

type predicate func(*event.Event) bool

// fastPredicate recognises filters built from field getters compared with
// string literals (==, !=, startsWith, endsWith, contains, in [...]),
// combined with not/!/&&/||/and/or.
func fastPredicate(h strHelpers, src string) predicate {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil
	}
	return predOf(h, tree.Node)
}

func predOf(h strHelpers, n ast.Node) predicate {
	switch t := n.(type) {
	case *ast.BoolNode:
		v := t.Value
		return func(*event.Event) bool { return v }
	case *ast.VariableDeclaratorNode:
		// let x = P; B  ->  B with P in place of x (P is pure: re-running
		// it gives the same value).
		if predOf(h, t.Value) == nil || !substitute(&t.Expr, t.Name, t.Value) {
			return nil
		}
		return predOf(h, t.Expr)
	case *ast.CallNode:
		return ipCallOf(h, t)
	case *ast.UnaryNode:
		if t.Operator != "not" && t.Operator != "!" {
			return nil
		}
		p := predOf(h, t.Node)
		if p == nil {
			return nil
		}
		return func(e *event.Event) bool { return !p(e) }
	case *ast.BinaryNode:
		switch t.Operator {
		case "&&", "and":
			l, r := predOf(h, t.Left), predOf(h, t.Right)
			if l == nil || r == nil {
				return nil
			}
			return func(e *event.Event) bool { return l(e) && r(e) }
		case "||", "or":
			l, r := predOf(h, t.Left), predOf(h, t.Right)
			if l == nil || r == nil {
				return nil
			}
			return func(e *event.Event) bool { return l(e) || r(e) }
		case "in":
			if key, ok := t.Left.(*ast.StringNode); ok {
				return hasKeyOf(key.Value, t.Right)
			}
			g := strOf(h, t.Left)
			arr, ok := t.Right.(*ast.ArrayNode)
			if g == nil || !ok {
				return nil
			}
			set := make([]string, 0, len(arr.Nodes))
			for _, x := range arr.Nodes {
				s, ok := x.(*ast.StringNode)
				if !ok {
					return nil
				}
				set = append(set, s.Value)
			}
			return func(e *event.Event) bool {
				v := g(e)
				for _, s := range set {
					if s == v {
						return true
					}
				}
				return false
			}
		}
		g := strOf(h, t.Left)
		lit, ok := t.Right.(*ast.StringNode)
		if g == nil || !ok {
			return nil
		}
		s := lit.Value
		switch t.Operator {
		case "==":
			return func(e *event.Event) bool { return g(e) == s }
		case "!=":
			return func(e *event.Event) bool { return g(e) != s }
		case "startsWith":
			return func(e *event.Event) bool { return strings.HasPrefix(g(e), s) }
		case "endsWith":
			return func(e *event.Event) bool { return strings.HasSuffix(g(e), s) }
		case "contains":
			return func(e *event.Event) bool { return strings.Contains(g(e), s) }
		}
	}
	return nil
}

// hasKeyOf compiles 'key' in evt.Parsed / evt.Meta / evt.Enriched.
func hasKeyOf(key string, m ast.Node) predicate {
	path, ok := memberChain(m)
	if !ok || len(path) != 1 {
		return nil
	}
	switch path[0] {
	case "Parsed":
		return func(e *event.Event) bool { _, ok := e.Parsed[key]; return ok }
	case "Meta":
		return func(e *event.Event) bool { _, ok := e.Meta[key]; return ok }
	case "Enriched":
		return func(e *event.Event) bool { _, ok := e.Enriched[key]; return ok }
	}
	return nil
}

// ipCallOf compiles IsIPV6(S) and IpInRange(S, 'literal range') with
// exprenv's address parsing (the geoip-enrich filter, run on every event).
func ipCallOf(h strHelpers, t *ast.CallNode) predicate {
	id, ok := t.Callee.(*ast.IdentifierNode)
	if !ok || len(t.Arguments) == 0 {
		return nil
	}
	arg := strOf(h, t.Arguments[0])
	if arg == nil {
		return nil
	}
	switch {
	case id.Value == "IsIPV6" && len(t.Arguments) == 1:
		return func(e *event.Event) bool {
			a, ok := exprenv.ParseIP(arg(e))
			return ok && !a.Is4()
		}
	case id.Value == "IpInRange" && len(t.Arguments) == 2:
		lit, ok := t.Arguments[1].(*ast.StringNode)
		if !ok {
			return nil
		}
		pfx, ok := exprenv.ParseRange(lit.Value)
		if !ok {
			return func(*event.Event) bool { return false }
		}
		return func(e *event.Event) bool {
			a, ok := exprenv.ParseIP(arg(e))
			return ok && pfx.Contains(a)
		}
	}
	return nil
}

// substitute replaces, in body, the identifier name (a variable, not a
// called function) by val. It refuses (false) when body declares name
// again or uses closures (# in predicates), where scoping gets subtle.
func substitute(body *ast.Node, name string, val ast.Node) bool {
	ok := true
	callees := map[ast.Node]bool{}
	ast.Find(*body, func(n ast.Node) bool {
		switch t := n.(type) {
		case *ast.VariableDeclaratorNode:
			if t.Name == name {
				ok = false
			}
		case *ast.PredicateNode, *ast.PointerNode:
			ok = false
		case *ast.CallNode:
			callees[t.Callee] = true
		}
		return false
	})
	if !ok {
		return false
	}
	ast.Walk(body, visitFunc(func(n *ast.Node) {
		if id, isID := (*n).(*ast.IdentifierNode); isID && id.Value == name && !callees[*n] {
			ast.Patch(n, val)
		}
	}))
	return true
}

type visitFunc func(*ast.Node)

func (f visitFunc) Visit(n *ast.Node) { f(n) }
