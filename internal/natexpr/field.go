package natexpr

import (
	"math"
	"strconv"

	"github.com/expr-lang/expr/ast"

	"github.com/phalanx-ids/phalanx/internal/event"
)

// Src says which part of the event a Field reads.
type Src uint8

// The event parts native code reads. The map sources take a key; the
// others are plain string fields (Key is empty).
const (
	SrcMeta Src = iota + 1
	SrcParsed
	SrcEnriched
	SrcLineLabels
	SrcLineRaw
	SrcLineSrc
	SrcLineModule
	SrcStrTime
	SrcStrTimeFormat
	SrcMarshaledTime
	SrcStage
	SrcWhitelistReason
)

// Field is one string field of an event: evt.Meta.<Key>, evt.Parsed.<Key>,
// evt.Line.Raw... Reading a missing map key gives "", as in expr.
type Field struct {
	Src Src
	Key string
}

// Get reads the field of e.
func (f Field) Get(e *event.Event) string {
	if p, ok := f.part(); ok {
		v, _ := e.Lookup(p, f.Key)
		return v
	}
	switch f.Src {
	case SrcLineLabels:
		return e.Line.Labels[f.Key]
	case SrcLineRaw:
		return e.Line.Raw
	case SrcLineSrc:
		return e.Line.Src
	case SrcLineModule:
		return e.Line.Module
	case SrcStrTime:
		return e.StrTime
	case SrcStrTimeFormat:
		return e.StrTimeFormat
	case SrcMarshaledTime:
		return e.MarshaledTime
	case SrcStage:
		return e.Stage
	case SrcWhitelistReason:
		return e.WhitelistReason
	}
	return ""
}

// Part returns the event part of a Meta, Parsed or Enriched field; ok
// false for the plain string fields.
func (f Field) Part() (event.Part, bool) { return f.part() }

// part returns the event part of a Meta, Parsed or Enriched field.
func (f Field) part() (event.Part, bool) {
	switch f.Src {
	case SrcMeta:
		return event.Meta, true
	case SrcParsed:
		return event.Parsed, true
	case SrcEnriched:
		return event.Enriched, true
	}
	return 0, false
}

// getter returns Get for f as a direct read; the fields of the event's
// parts are read by their slot in s (nil: by name).
func (f Field) getter(s *event.Schema) func(*event.Event) string {
	k := f.Key
	if p, ok := f.part(); ok {
		if s == nil {
			return f.Get
		}
		pk := s.Key(p, k)
		return func(e *event.Event) string { v, _ := e.Get(pk); return v }
	}
	switch f.Src {
	case SrcLineLabels:
		return func(e *event.Event) string { return e.Line.Labels[k] }
	case SrcLineRaw:
		return func(e *event.Event) string { return e.Line.Raw }
	}
	return f.Get
}

// String is a canonical form of f (distinct fields, distinct strings).
func (f Field) String() string { return strconv.Itoa(int(f.Src)) + strconv.Quote(f.Key) }

// memberChain returns the path of evt.A.B["C"] (A, B, C), ok false for
// anything else (optional chaining, method calls, computed keys).
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

// FieldOf recognises the string fields of the event (evt.Meta.key,
// evt.Meta["key"], evt.Parsed..., evt.Enriched..., evt.Line.Labels...,
// evt.Line.Raw/Src/Module, evt.StrTime...). It does not know about let
// variables: the compiler checks that evt is not shadowed.
func FieldOf(n ast.Node) (Field, bool) {
	path, ok := memberChain(n)
	if !ok {
		return Field{}, false
	}
	switch len(path) {
	case 1:
		switch path[0] {
		case "StrTime":
			return Field{Src: SrcStrTime}, true
		case "StrTimeFormat":
			return Field{Src: SrcStrTimeFormat}, true
		case "MarshaledTime":
			return Field{Src: SrcMarshaledTime}, true
		case "Stage":
			return Field{Src: SrcStage}, true
		case "WhitelistReason":
			return Field{Src: SrcWhitelistReason}, true
		}
	case 2:
		k := path[1]
		switch path[0] {
		case "Parsed":
			return Field{Src: SrcParsed, Key: k}, true
		case "Meta":
			return Field{Src: SrcMeta, Key: k}, true
		case "Enriched":
			return Field{Src: SrcEnriched, Key: k}, true
		case "Line":
			switch k {
			case "Raw":
				return Field{Src: SrcLineRaw}, true
			case "Src":
				return Field{Src: SrcLineSrc}, true
			case "Module":
				return Field{Src: SrcLineModule}, true
			}
		}
	case 3:
		if path[0] == "Line" && path[1] == "Labels" {
			return Field{Src: SrcLineLabels, Key: path[2]}, true
		}
	}
	return Field{}, false
}

// Table numbers the memo slots of native string expressions (event fields
// and helper calls on them; identical ones share a slot) and the fields:
// after Freeze, the fields worth reading ahead (those an index reads, or
// that several expressions read) come first, and Read fills a vector with
// their values by field number, so that many compiled expressions over one
// event read each of them once, where the event was parsed. Other fields
// are read on demand (memoised in a Ctx). Written at load time only
// (Compiler, Ahead, Freeze); read-only afterwards, then safe for concurrent
// use.
type Table struct {
	ids    map[string]int
	fields []*fieldInfo // by number once frozen
	byF    map[Field]*fieldInfo
	ahead  int // fields [0, ahead) are read ahead (after Freeze)
	// keys are the event keys of fields [0, len(keys)), the read-ahead
	// fields of the event's parts read by slot, which Freeze numbers
	// first: Read gets them in one event.GetAll call.
	keys []event.Key
}

// fieldInfo is one numbered field; compiled expressions hold it, so that
// Freeze can renumber.
type fieldInfo struct {
	f     Field
	get   func(*event.Event) string // f.getter (by slot for parsed fields)
	key   event.Key                 // get's key, when keyed
	keyed bool                      // get reads key (f is a part's field, read by slot)
	fno   int
	refs  int    // references by compiled expressions
	hot   bool   // Ahead: always read ahead
	users []*Str // the compiled reads of the field (Freeze numbers them)
}

// NewTable returns an empty table.
func NewTable() *Table {
	return &Table{ids: map[string]int{}, byF: map[Field]*fieldInfo{}}
}

// slot returns the memo slot of a canonical string expression.
func (t *Table) slot(key string) int {
	slot, ok := t.ids[key]
	if !ok {
		slot = len(t.ids)
		t.ids[key] = slot
	}
	return slot
}

func (t *Table) info(f Field) *fieldInfo {
	fi, ok := t.byF[f]
	if !ok {
		fi = &fieldInfo{f: f, fno: len(t.fields)}
		t.byF[f] = fi
		t.fields = append(t.fields, fi)
	}
	return fi
}

// Ahead marks f as read ahead (an index reads it for every event).
func (t *Table) Ahead(f Field) { t.info(f).hot = true }

// Field returns the field number of f (Freeze first: the numbers change).
func (t *Table) Field(f Field) int { return t.info(f).fno }

// Freeze numbers the fields: first those to read ahead (marked Ahead, or
// read by two expressions or more), those read by key first, each kind in
// first-use order, then the others.
func (t *Table) Freeze() {
	var keyed, hot, cold []*fieldInfo
	t.keys = nil
	for _, fi := range t.fields {
		switch {
		case (fi.hot || fi.refs >= 2) && fi.keyed:
			keyed = append(keyed, fi)
			t.keys = append(t.keys, fi.key)
		case fi.hot || fi.refs >= 2:
			hot = append(hot, fi)
		default:
			cold = append(cold, fi)
		}
	}
	hot = append(keyed, hot...)
	t.fields = append(hot, cold...)
	for i, fi := range t.fields {
		fi.fno = i
		for _, u := range fi.users {
			u.fno = i
			if i >= len(hot) {
				u.fno = math.MaxInt // read on demand
			}
		}
	}
	t.ahead = len(hot)
}

// NumFields is the length of the vector Read fills (0 before Freeze).
func (t *Table) NumFields() int { return t.ahead }

// NumSlots is the number of memo slots (NewCtx).
func (t *Table) NumSlots() int { return len(t.ids) }

// Read fills dst (length NumFields) with the fields of e read ahead, by
// field number. Helper calls on them are left to evaluation (computed on
// demand and memoised): they allocate, and many are needed for some events
// only.
func (t *Table) Read(e *event.Event, dst []string) {
	e.GetAll(t.keys, dst)
	for i := len(t.keys); i < t.ahead; i++ {
		if fi := t.fields[i]; fi.get != nil {
			dst[i] = fi.get(e)
		} else {
			dst[i] = fi.f.Get(e)
		}
	}
}

// Fields returns the fields read ahead, by field number (diagnostics).
func (t *Table) Fields() []Field {
	out := make([]Field, t.ahead)
	for i, fi := range t.fields[:t.ahead] {
		out[i] = fi.f
	}
	return out
}
