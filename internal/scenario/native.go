package scenario

import (
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"

	"github.com/phalanx-ids/phalanx/internal/event"
)

// This file reads the filter ASTs to find what can be checked without the
// expression VM: top-level conjuncts comparing evt.Meta.X / evt.Parsed.X
// with string literals. They serve three purposes:
//   - the scenario index (an equality on a field selects the scenarios an
//     event can reach with one map lookup per indexed field);
//   - a native pre-check that rejects an event before the VM runs;
//   - when every conjunct is native, the VM is not run at all.
// Native evaluation follows expr's semantics: a missing key of a
// map[string]string reads as "".

// fieldSrc says which event map a field reference reads.
type fieldSrc uint8

const (
	srcMeta fieldSrc = iota + 1
	srcParsed
)

// fieldRef is evt.Meta.<key> or evt.Parsed.<key>.
type fieldRef struct {
	src fieldSrc
	key string
}

func (f fieldRef) get(e *event.Event) string {
	if f.src == srcMeta {
		return e.Meta[f.key]
	}
	return e.Parsed[f.key]
}

type predOp uint8

const (
	opEq predOp = iota + 1
	opNe
	opIn
	opNotIn
)

// pred is one native conjunct.
type pred struct {
	field fieldRef
	op    predOp
	vals  []string
}

func (p *pred) eval(e *event.Event) bool {
	v := p.field.get(e)
	switch p.op {
	case opEq:
		return v == p.vals[0]
	case opNe:
		return v != p.vals[0]
	case opIn, opNotIn:
		in := false
		for _, x := range p.vals {
			if x == v {
				in = true
				break
			}
		}
		return in == (p.op == opIn)
	}
	return false
}

// positive reports whether the predicate pins the field to a finite set of
// values (usable as an index key).
func (p *pred) positive() bool { return p.op == opEq || p.op == opIn }

// analyzeFilter returns the native conjuncts of src and whether they are
// the whole filter (exact). A parse error yields no conjuncts.
func analyzeFilter(src string) (preds []pred, exact bool) {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, false
	}
	exact = true
	var walk func(n ast.Node)
	walk = func(n ast.Node) {
		if b, ok := n.(*ast.BinaryNode); ok && (b.Operator == "&&" || b.Operator == "and") {
			walk(b.Left)
			walk(b.Right)
			return
		}
		if p, ok := nativePred(n); ok {
			preds = append(preds, p)
			return
		}
		exact = false
	}
	walk(tree.Node)
	return preds, exact
}

func nativePred(n ast.Node) (pred, bool) {
	switch t := n.(type) {
	case *ast.UnaryNode:
		if t.Operator != "not" && t.Operator != "!" {
			return pred{}, false
		}
		inner, ok := nativePred(t.Node)
		if !ok {
			return pred{}, false
		}
		switch inner.op {
		case opEq:
			inner.op = opNe
		case opNe:
			inner.op = opEq
		case opIn:
			inner.op = opNotIn
		case opNotIn:
			inner.op = opIn
		}
		return inner, true
	case *ast.BinaryNode:
		switch t.Operator {
		case "==", "!=":
			f, fok := fieldOf(t.Left)
			s, sok := t.Right.(*ast.StringNode)
			if !fok || !sok {
				f, fok = fieldOf(t.Right)
				s, sok = t.Left.(*ast.StringNode)
			}
			if !fok || !sok {
				return pred{}, false
			}
			op := opEq
			if t.Operator == "!=" {
				op = opNe
			}
			return pred{field: f, op: op, vals: []string{s.Value}}, true
		case "in":
			f, ok := fieldOf(t.Left)
			if !ok {
				return pred{}, false
			}
			arr, ok := t.Right.(*ast.ArrayNode)
			if !ok {
				return pred{}, false
			}
			vals := make([]string, 0, len(arr.Nodes))
			for _, x := range arr.Nodes {
				s, ok := x.(*ast.StringNode)
				if !ok {
					return pred{}, false
				}
				vals = append(vals, s.Value)
			}
			return pred{field: f, op: opIn, vals: vals}, true
		}
	}
	return pred{}, false
}

// fieldOf recognises evt.Meta.key, evt.Meta["key"] and the Parsed forms.
func fieldOf(n ast.Node) (fieldRef, bool) {
	m, ok := n.(*ast.MemberNode)
	if !ok || m.Optional || m.Method {
		return fieldRef{}, false
	}
	key, ok := m.Property.(*ast.StringNode)
	if !ok {
		return fieldRef{}, false
	}
	parent, ok := m.Node.(*ast.MemberNode)
	if !ok || parent.Optional || parent.Method {
		return fieldRef{}, false
	}
	pname, ok := parent.Property.(*ast.StringNode)
	if !ok {
		return fieldRef{}, false
	}
	id, ok := parent.Node.(*ast.IdentifierNode)
	if !ok || id.Value != "evt" {
		return fieldRef{}, false
	}
	switch pname.Value {
	case "Meta":
		return fieldRef{src: srcMeta, key: key.Value}, true
	case "Parsed":
		return fieldRef{src: srcParsed, key: key.Value}, true
	}
	return fieldRef{}, false
}

// strPart is a literal or a field reference of a native string expression.
type strPart struct {
	lit   string
	field fieldRef
	fno   int // the field's number (slotTable), for evalVals
}

// strExpr is a native string expression: a + concatenation of string
// literals and field references (e.g. `evt.Meta.source_ip + '/' + ...`).
type strExpr []strPart

func (s strExpr) eval(e *event.Event) string { return s.evalVals(e, nil) }

// evalVals is eval with the fields read from vals (Engine.ReadFields of e)
// when not nil.
func (s strExpr) evalVals(e *event.Event, vals []string) string {
	get := func(p *strPart) string {
		switch {
		case p.field.src == 0:
			return p.lit
		case vals != nil:
			return vals[p.fno]
		}
		return p.field.get(e)
	}
	if len(s) == 1 {
		return get(&s[0])
	}
	n := 0
	for i := range s {
		n += len(get(&s[i]))
	}
	b := make([]byte, 0, n)
	for i := range s {
		b = append(b, get(&s[i])...)
	}
	return string(b)
}

// bind numbers the fields of s (slotTable).
func (s strExpr) bind(slots *slotTable) {
	for i := range s {
		if s[i].field.src != 0 {
			_, s[i].fno = slots.field(s[i].field)
		}
	}
}

// analyzeString returns a native form of a string expression, or nil.
func analyzeString(src string) strExpr {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil
	}
	var out strExpr
	var walk func(n ast.Node) bool
	walk = func(n ast.Node) bool {
		switch t := n.(type) {
		case *ast.StringNode:
			out = append(out, strPart{lit: t.Value})
			return true
		case *ast.BinaryNode:
			if t.Operator != "+" {
				return false
			}
			return walk(t.Left) && walk(t.Right)
		}
		f, ok := fieldOf(n)
		if !ok {
			return false
		}
		out = append(out, strPart{field: f})
		return true
	}
	if !walk(tree.Node) {
		return nil
	}
	// A lone literal or a concatenation without any field is still exact,
	// but "a" + "b" on two literals only is fine too.
	return out
}
