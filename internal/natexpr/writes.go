package natexpr

import "github.com/expr-lang/expr/ast"

// Writes says which of the event's field sets an expression may write:
// SetMeta writes Meta, SetParsed Parsed. Native code and indexes read the
// event as poured, so what an expression writes decides what may be read
// ahead of it (Conjuncts, Preds) and what its scenario copies first.
type Writes uint8

// The field sets an expression may write.
const (
	WritesMeta Writes = 1 << iota
	WritesParsed
)

// WritesOf returns what src may write; everything when src does not parse.
func WritesOf(src string) Writes {
	n, ok := parse(src)
	if !ok {
		return WritesMeta | WritesParsed
	}
	return writesOf(n)
}

// Has reports whether w may write the fields read from s.
func (w Writes) Has(s Src) bool {
	switch s {
	case SrcMeta:
		return w&WritesMeta != 0
	case SrcParsed:
		return w&WritesParsed != 0
	}
	return false
}

func writesOf(n ast.Node) Writes {
	var w Writes
	mark := func(name string) {
		switch name {
		case "SetMeta":
			w |= WritesMeta
		case "SetParsed":
			w |= WritesParsed
		}
	}
	ast.Find(n, func(n ast.Node) bool {
		switch t := n.(type) {
		case *ast.MemberNode:
			if s, ok := t.Property.(*ast.StringNode); ok {
				mark(s.Value)
			}
		case *ast.CallNode:
			if id, ok := t.Callee.(*ast.IdentifierNode); ok {
				mark(id.Value)
			}
		}
		return false
	})
	return w
}
