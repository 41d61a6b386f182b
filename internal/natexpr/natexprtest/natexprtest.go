// Package natexprtest builds the inputs of the differential tests that
// check natexpr's native forms against the expr VM (natexpr's own, the
// scenario engine's): the vocabulary of an expression and random events
// made of it.
package natexprtest

import (
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"

	"github.com/phalanx-ids/phalanx/internal/datafile"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/natexpr"
)

// Vocabulary returns the fields an expression reads and the literals it
// holds (and a sample of the data files it names), to build events that
// take its branches (store may be nil).
func Vocabulary(src string, store *datafile.Store) (fields []natexpr.Field, lits []string) {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, nil
	}
	seen := map[natexpr.Field]bool{}
	ast.Find(tree.Node, func(n ast.Node) bool {
		switch t := n.(type) {
		case *ast.StringNode:
			lits = append(lits, t.Value)
			if store != nil {
				for i, e := range store.Strings(t.Value) {
					if i%7 == 0 || i < 5 {
						lits = append(lits, e)
					}
				}
			}
		case *ast.IntegerNode:
			lits = append(lits, strconv.Itoa(t.Value), strconv.Itoa(t.Value+1), strconv.Itoa(t.Value-1))
		}
		if f, ok := natexpr.FieldOf(n); ok && !seen[f] {
			seen[f] = true
			fields = append(fields, f)
		}
		return false
	})
	return fields, lits
}

// Events makes n events whose fields take values built from the
// literals: as is, case-changed, escaped, embedded, empty, non-numeric,
// addresses. With a schema s, the events are s's (parsed fields in slots,
// views exposed for the VM); with nil, plain events (event.New).
func Events(r *rand.Rand, n int, s *event.Schema, fields []natexpr.Field, lits []string) []*event.Event {
	pick := func() string {
		if len(lits) == 0 || r.IntN(8) == 0 {
			return []string{"", "abc", "7", " 12", "%zz", "a%20b", "GET", "10.1.2.3", "::1", "192.168.1.1", "8.8.8.8"}[r.IntN(11)]
		}
		l := lits[r.IntN(len(lits))]
		switch r.IntN(7) {
		case 0:
			return strings.ToUpper(l)
		case 1:
			return strings.ToLower(l)
		case 2:
			return url.PathEscape(l)
		case 3:
			return url.QueryEscape(l) + "%"
		case 4:
			return "x/" + l + "?y=1"
		default:
			return l
		}
	}
	out := make([]*event.Event, n)
	for i := range out {
		e := s.New(event.Line{Raw: "x", Labels: map[string]string{}})
		for _, f := range fields {
			if r.IntN(10) == 0 {
				continue // missing key reads as ""
			}
			v := pick()
			if r.IntN(3) == 0 {
				v += pick()
			}
			setField(e, f, v)
		}
		e.ExposeAll()
		out[i] = e
	}
	return out
}

// setField writes v to the event field f.
func setField(e *event.Event, f natexpr.Field, v string) {
	switch f.Src {
	case natexpr.SrcMeta:
		e.SetMeta(f.Key, v)
	case natexpr.SrcParsed:
		e.SetParsed(f.Key, v)
	case natexpr.SrcEnriched:
		e.Put(event.Enriched, f.Key, v)
	case natexpr.SrcLineLabels:
		e.Line.Labels[f.Key] = v
	case natexpr.SrcLineRaw:
		e.Line.Raw = v
	case natexpr.SrcLineSrc:
		e.Line.Src = v
	case natexpr.SrcLineModule:
		e.Line.Module = v
	case natexpr.SrcStrTime:
		e.StrTime = v
	case natexpr.SrcStrTimeFormat:
		e.StrTimeFormat = v
	case natexpr.SrcMarshaledTime:
		e.MarshaledTime = v
	case natexpr.SrcStage:
		e.Stage = v
	case natexpr.SrcWhitelistReason:
		e.WhitelistReason = v
	}
}
