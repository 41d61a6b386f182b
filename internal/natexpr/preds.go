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

// Preds returns the Pred conjuncts of src (its top-level and operands, see
// operands) and whether they are the whole filter (exact). A parse error
// yields none.
func Preds(src string) (preds []Pred, exact bool) {
	n, ok := parse(src)
	if !ok {
		return nil, false
	}
	n, bound := throughLets(n)
	ops, stopped := operands(n)
	exact = !stopped && !bound
	for _, op := range ops {
		if p, ok := predOf(op); ok {
			preds = append(preds, p)
		} else {
			exact = false
		}
	}
	return preds, exact
}

// throughLets returns the body under the top-level lets of n whose values
// are plain (letValue), and whether there was one: `let r =
// Lower(evt.Parsed.request); evt.Meta.log_type in [...] && ...` is true
// only when its body is, with r bound, and the body's Preds (which read
// evt fields, never r) are conditions of the filter as much as of the
// body. The value is not evaluated when the index leaves the scenario
// out: it must not write, fail or have effects, which letValue ensures.
func throughLets(n ast.Node) (ast.Node, bool) {
	bound := false
	for {
		t, ok := n.(*ast.VariableDeclaratorNode)
		if !ok || plainHelper(t.Name) || t.Name == "evt" || !letValue(t.Value) {
			return n, bound
		}
		n, bound = t.Expr, true
	}
}

// plainHelper reports whether name is a helper a let value may call
// (letValue): a pure, infallible function of one string.
func plainHelper(name string) bool {
	switch name {
	case "Upper", "Lower", "TrimSpace":
		return true
	}
	return false
}

// letValue reports whether n is made of evt fields, string literals,
// concatenations and plainHelper calls only (pure, infallible, writing
// nothing).
func letValue(n ast.Node) bool {
	switch t := n.(type) {
	case *ast.StringNode:
		return true
	case *ast.BinaryNode:
		return t.Operator == "+" && letValue(t.Left) && letValue(t.Right)
	case *ast.CallNode:
		id, ok := t.Callee.(*ast.IdentifierNode)
		return ok && plainHelper(id.Value) && len(t.Arguments) == 1 && letValue(t.Arguments[0])
	}
	_, ok := FieldOf(n)
	return ok
}

// operands returns the parts of a filter that must all be true for it to
// be true, in evaluation order: the operands of top-level ands, and the
// condition and value of a top-level `C ? A : false` (which is C && A).
// It stops at the first operand that writes the event (SetMeta,
// SetParsed), left out with everything after it (stopped): later ones may
// read what it wrote, and what reads ahead of a filter (an index's Preds,
// native pre-checks) reads the event as poured.
func operands(n ast.Node) (ops []ast.Node, stopped bool) {
	var walk func(n ast.Node)
	walk = func(n ast.Node) {
		if stopped {
			return
		}
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
		if writesOf(n) != 0 {
			stopped = true
			return
		}
		ops = append(ops, n)
	}
	walk(n)
	return ops, stopped
}

// Residual compiles what is left of the filter src to check once every
// positive Pred of it (Preds: field == 'v', field in [...]) is known to
// hold, as a scenario index knows of the scenarios it selects: the
// other operands, in order. always reports that nothing is left (the
// filter is true). nil, false: src writes the event, or an operand does
// not compile.
func (c *Compiler) Residual(src string) (f Bool, always bool) {
	n, ok := parse(src)
	if !ok {
		return nil, false
	}
	ops, stopped := operands(n)
	if stopped {
		return nil, false
	}
	var rest []Bool
	for _, op := range ops {
		if p, ok := predOf(op); ok && p.Positive() {
			continue
		}
		b, ok := c.boolean(op)
		if !ok {
			return nil, false
		}
		rest = append(rest, b)
	}
	switch len(rest) {
	case 0:
		return nil, true
	case 1:
		return rest[0], false
	}
	return func(ctx *Ctx) (bool, error) {
		for _, b := range rest {
			if v, err := b(ctx); err != nil || !v {
				return false, err
			}
		}
		return true, nil
	}, false
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
