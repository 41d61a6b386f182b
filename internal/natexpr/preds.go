package natexpr

import (
	"github.com/expr-lang/expr/ast"

	"github.com/phalanx-ids/phalanx/internal/event"
)

// PredOp is the comparison of a Pred.
type PredOp uint8

// The comparisons of a field with literals.
const (
	OpEq    PredOp = iota + 1 // field == 'v'
	OpNe                      // field != 'v'
	OpIn                      // field in ['v', ...]
	OpNotIn                   // field not in ['v', ...]
)

// Pred is a top-level conjunct of a filter comparing an evt.Meta or
// evt.Parsed field with string literals: what an index of scenarios can
// select on (Positive), and a check that needs no Ctx.
type Pred struct {
	Field Field
	Op    PredOp
	Vals  []string
}

// Eval evaluates p on e, with expr's semantics (a missing key reads "").
func (p *Pred) Eval(e *event.Event) bool {
	v := p.Field.Get(e)
	switch p.Op {
	case OpEq:
		return v == p.Vals[0]
	case OpNe:
		return v != p.Vals[0]
	case OpIn, OpNotIn:
		in := false
		for _, x := range p.Vals {
			if x == v {
				in = true
				break
			}
		}
		return in == (p.Op == OpIn)
	}
	return false
}

// Positive reports whether p pins the field to a finite set of values
// (usable as an index key).
func (p *Pred) Positive() bool { return p.Op == OpEq || p.Op == OpIn }

// Preds returns the Pred conjuncts of src (its top-level and operands) and
// whether they are the whole filter (exact). A parse error yields none.
// Operands from the first one that writes the event (SetMeta, SetParsed)
// on are left out: they may read what it wrote, and a Pred reads the
// event as poured.
func Preds(src string) (preds []Pred, exact bool) {
	n, ok := parse(src)
	if !ok {
		return nil, false
	}
	exact = true
	stopped := false // at the first conjunct that writes
	var walk func(n ast.Node)
	walk = func(n ast.Node) {
		if stopped {
			return
		}
		if b, ok := n.(*ast.BinaryNode); ok && (b.Operator == "&&" || b.Operator == "and") {
			walk(b.Left)
			walk(b.Right)
			return
		}
		if writesOf(n) != 0 {
			stopped, exact = true, false
			return
		}
		if p, ok := predOf(n); ok {
			preds = append(preds, p)
			return
		}
		exact = false
	}
	walk(n)
	return preds, exact
}

// indexField is FieldOf restricted to evt.Meta and evt.Parsed.
func indexField(n ast.Node) (Field, bool) {
	f, ok := FieldOf(n)
	return f, ok && (f.Src == SrcMeta || f.Src == SrcParsed)
}

func predOf(n ast.Node) (Pred, bool) {
	switch t := n.(type) {
	case *ast.UnaryNode:
		if t.Operator != "not" && t.Operator != "!" {
			return Pred{}, false
		}
		inner, ok := predOf(t.Node)
		if !ok {
			return Pred{}, false
		}
		inner.Op = map[PredOp]PredOp{OpEq: OpNe, OpNe: OpEq, OpIn: OpNotIn, OpNotIn: OpIn}[inner.Op]
		return inner, true
	case *ast.BinaryNode:
		switch t.Operator {
		case "==", "!=":
			f, fok := indexField(t.Left)
			s, sok := t.Right.(*ast.StringNode)
			if !fok || !sok {
				f, fok = indexField(t.Right)
				s, sok = t.Left.(*ast.StringNode)
			}
			if !fok || !sok {
				return Pred{}, false
			}
			op := OpEq
			if t.Operator == "!=" {
				op = OpNe
			}
			return Pred{Field: f, Op: op, Vals: []string{s.Value}}, true
		case "in":
			f, ok := indexField(t.Left)
			if !ok {
				return Pred{}, false
			}
			arr, ok := t.Right.(*ast.ArrayNode)
			if !ok {
				return Pred{}, false
			}
			vals := make([]string, 0, len(arr.Nodes))
			for _, x := range arr.Nodes {
				s, ok := x.(*ast.StringNode)
				if !ok {
					return Pred{}, false
				}
				vals = append(vals, s.Value)
			}
			return Pred{Field: f, Op: OpIn, Vals: vals}, true
		}
	}
	return Pred{}, false
}
