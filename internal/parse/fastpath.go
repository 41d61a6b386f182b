package parse

import (
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"

	"github.com/phalanx-ids/phalanx/internal/event"
)

// Fast paths: the common hub expression shapes (a plain event field, and
// comparisons of one with string literals) are turned into Go closures at
// load time, skipping the expr VM. The differential tests (fastpath_test.go)
// check they give exactly the VM's results.

type getter func(*event.Event) string

// fastGetter recognises `evt.<path>` where the path is a string field or a
// string-map entry of the Event.
func fastGetter(src string) getter {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil
	}
	return getterOf(tree.Node)
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
func fastPredicate(src string) predicate {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil
	}
	return predOf(tree.Node)
}

func predOf(n ast.Node) predicate {
	switch t := n.(type) {
	case *ast.UnaryNode:
		if t.Operator != "not" && t.Operator != "!" {
			return nil
		}
		p := predOf(t.Node)
		if p == nil {
			return nil
		}
		return func(e *event.Event) bool { return !p(e) }
	case *ast.BinaryNode:
		switch t.Operator {
		case "&&", "and":
			l, r := predOf(t.Left), predOf(t.Right)
			if l == nil || r == nil {
				return nil
			}
			return func(e *event.Event) bool { return l(e) && r(e) }
		case "||", "or":
			l, r := predOf(t.Left), predOf(t.Right)
			if l == nil || r == nil {
				return nil
			}
			return func(e *event.Event) bool { return l(e) || r(e) }
		case "in":
			g := getterOf(t.Left)
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
		g := getterOf(t.Left)
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
