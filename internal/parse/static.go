package parse

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/vm"

	"github.com/phalanx-ids/phalanx/internal/enrich"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/natexpr"
)

// valueExpr is a compiled expression whose result is turned into a string
// (statics, grok `expression:`). get, when set, is an equivalent direct read.
type valueExpr struct {
	src  string
	prog *vm.Program
	// get, when not nil, is the native form. When get.Numeric(), the
	// expression's value is an int and get gives its decimal form (right
	// for statics and grok inputs, which stringify; not for a stash, which
	// wants a string).
	get *natexpr.Str
}

type staticKind uint8

const (
	staticParsed staticKind = iota
	staticMeta
	staticEnriched
	staticTarget
	staticMethod
)

// static is a compiled `statics:` entry.
type static struct {
	kind       staticKind
	key        string    // map key (parsed/meta/enriched) or method name
	fkey       event.Key // parsed/meta/enriched: key's slot
	desc       string    // destination as shown in traces
	set        setter    // staticTarget
	method     enrich.Method
	mkeys      []event.Key // the method's Outputs in evt.Enriched
	parseDate  bool        // method ParseDate: runs on empty values too
	literal    string
	hasLiteral bool
	expr       *valueExpr
	// copyOf, when copies, is the field expr reads (most statics copy one
	// field, `meta: source_ip` from evt.Parsed.remote_addr): read directly,
	// not through an evaluation. Parsed, Meta and Enriched fields by slot
	// (from), the others (evt.StrTime...) by copyOf.Get.
	copies bool
	copyOf natexpr.Field
	from   event.Key
	slot   bool // copyOf is a Parsed, Meta or Enriched field: read from
	// str: a target static writing one of the event's time strings
	// (evt.StrTime...), which applyStatics writes inline when direct.
	str strField
	// direct: a static writing a parsed/meta/enriched field (`parsed:`...
	// or a `target:` in evt.Parsed, evt.Meta, evt.Enriched) or a time
	// string (str) whose value is a literal or a slot copy (applyStatics
	// runs it inline when nothing traces).
	direct bool
	// native: a static writing what direct ones write whose value is an
	// expression with a native form (applyStatics evaluates it inline when
	// nothing traces, and leaves a failed evaluation to apply).
	native bool
	// op is how applyStatics runs the static when nothing traces.
	op staticOp
	// cp is the copy of an opCopy static.
	cp event.FieldCopy
}

// staticOp is how applyStatics runs a static when nothing traces, chosen
// at load (setDirect).
type staticOp uint8

const (
	opGeneral staticOp = iota // the direct, native and apply cases
	opCopy                    // a field copied to a field: event.Event.Copy
	opLiteral                 // a literal written to a field
)

// strField names the string fields of Event a target static may write
// without its setter.
type strField uint8

const (
	strNone strField = iota
	strTime
	strTimeFormat
	strMarshaledTime
)

// setStr writes v to the string field f of evt.
func setStr(evt *event.Event, f strField, v string) {
	switch f {
	case strTime:
		evt.StrTime = v
	case strTimeFormat:
		evt.StrTimeFormat = v
	case strMarshaledTime:
		evt.MarshaledTime = v
	}
}

var errBadResult = errors.New("unexpected expression result type")

// stringify converts an expression result as CrowdSec does: strings as is,
// int as decimal, float with %f; nil, maps and arrays give skip=true; any
// other type is an error.
func stringify(out any) (s string, skip bool, err error) {
	switch v := out.(type) {
	case string:
		return v, false, nil
	case int:
		return strconv.Itoa(v), false, nil
	case float64:
		return fmt.Sprintf("%f", v), false, nil
	case float32:
		return fmt.Sprintf("%f", v), false, nil
	case nil, map[string]any, []any:
		return "", true, nil
	}
	return "", true, fmt.Errorf("%w: %T", errBadResult, out)
}

// apply runs the static on evt. It reports the value and whether it was
// written.
func (s *static) apply(rs *runState, evt *event.Event) (string, bool, error) {
	var value string
	switch {
	case s.hasLiteral:
		value = s.literal
	case s.slot:
		value, _ = evt.Get(s.from)
	case s.copies:
		value = s.copyOf.Get(evt)
	case s.expr != nil:
		if v, ok := rs.native(s.expr, evt); ok {
			value = v
			break
		}
		out, err := rs.run(s.expr.prog, evt)
		if err != nil {
			rs.p.logger.Warn("parse: static expression failed", "expression", s.expr.src, "error", err)
			return "", false, nil
		}
		v, _, err := stringify(out)
		if err != nil {
			return "", false, fmt.Errorf("parse: static %s: expression %q: %w", s.desc, s.expr.src, err)
		}
		value = v
	}
	if value == "" && !s.parseDate {
		return "", false, nil
	}
	switch s.kind {
	case staticParsed, staticMeta, staticEnriched:
		evt.Set(s.fkey, value)
	case staticTarget:
		if s.set == nil || !s.set(evt, value) {
			rs.p.logger.Debug("parse: unable to set static target", "target", s.desc)
			return value, false, nil
		}
	case staticMethod:
		if s.method.Run == nil {
			return value, false, nil
		}
		if cap(rs.enriched) < len(s.mkeys) {
			rs.enriched = make([]string, len(s.mkeys))
		}
		out := rs.enriched[:len(s.mkeys)] // all "": cleared after each use
		set, err := s.method.Run(value, evt, out)
		if err != nil {
			rs.p.logger.Error("parse: enrichment method failed", "method", s.key, "error", err)
		}
		if set {
			for i, k := range s.mkeys {
				evt.Set(k, out[i])
			}
		}
		clear(out) // hold no value past the line
	}
	return value, true, nil
}

// copyField makes s read its expression's field directly when the
// expression is a plain field read (natexpr.Str.Field).
func (s *static) copyField(sc *event.Schema) {
	if s.expr == nil || s.expr.get == nil {
		return
	}
	f, ok := s.expr.get.Field()
	if !ok {
		return
	}
	s.copies, s.copyOf = true, f
	if p, ok := f.Part(); ok {
		s.slot, s.from = true, sc.Key(p, f.Key)
	}
}

// setDirect sets s.direct once s is compiled.
func (s *static) setDirect() {
	field := s.kind == staticParsed || s.kind == staticMeta || s.kind == staticEnriched
	str := s.kind == staticTarget && s.str != strNone
	s.direct = (field || str) && (s.hasLiteral || s.slot)
	s.native = (field || str) && !s.direct && !s.copies && s.expr != nil && s.expr.get != nil
	switch {
	case field && s.direct && !s.hasLiteral && s.slot:
		s.op, s.cp = opCopy, event.FieldCopy{Dst: s.fkey, Src: s.from}
	case field && s.direct && s.hasLiteral:
		s.op = opLiteral
	}
}

// target sets the destination of a `target:` static: a field of
// evt.Parsed, evt.Meta or evt.Enriched makes it a field static (the key
// CrowdSec's map walk ends on: the component after the map), one of the
// time strings a target writing it directly (str), anything else a
// setter. A target that can never be set gives an error (and no setter).
func (s *static) target(target string, sc *event.Schema) error {
	path := strings.Split(strings.TrimPrefix(target, "evt."), ".")
	if len(path) >= 2 {
		kinds := map[string]struct {
			k staticKind
			p event.Part
		}{"Parsed": {staticParsed, event.Parsed}, "Meta": {staticMeta, event.Meta}, "Enriched": {staticEnriched, event.Enriched}}
		if k, ok := kinds[path[0]]; ok {
			s.kind, s.key, s.fkey = k.k, path[1], sc.Key(k.p, path[1])
			return nil
		}
	}
	s.kind = staticTarget
	if len(path) == 1 {
		s.str = map[string]strField{"StrTime": strTime, "StrTimeFormat": strTimeFormat, "MarshaledTime": strMarshaledTime}[path[0]]
	}
	set, err := compileTarget(target, sc)
	s.set = set
	return err
}

// setter writes a string somewhere in an Event; false when the path cannot
// be set on this event (nil pointer on the way, non-string leaf).
type setter func(evt *event.Event, v string) bool

var eventType = reflect.TypeFor[event.Event]()

// compileTarget turns a `target:` path (with or without the leading "evt.")
// into a setter. Like CrowdSec, a map on the path takes the next component as
// key and ends the walk; pointers are followed but never allocated. Paths
// that can never be set give an error (the caller logs it and keeps a no-op).
//
// Parsed, Meta and Enriched fields are written by their key in s.
func compileTarget(target string, s *event.Schema) (setter, error) {
	path := strings.Split(strings.TrimPrefix(target, "evt."), ".")
	switch {
	case len(path) == 1:
		switch path[0] {
		case "StrTime":
			return func(e *event.Event, v string) bool { e.StrTime = v; return true }, nil
		case "StrTimeFormat":
			return func(e *event.Event, v string) bool { e.StrTimeFormat = v; return true }, nil
		case "MarshaledTime":
			return func(e *event.Event, v string) bool { e.MarshaledTime = v; return true }, nil
		}
	case len(path) >= 2:
		var p event.Part
		switch path[0] {
		case "Parsed":
			p = event.Parsed
		case "Meta":
			p = event.Meta
		case "Enriched":
			p = event.Enriched
		default:
			return reflectSetter(path)
		}
		k := s.Key(p, path[1])
		return func(e *event.Event, v string) bool { e.Set(k, v); return true }, nil
	}
	return reflectSetter(path)
}

// viewField reports whether name is one of the Event's views, which
// expressions know under other names (Parsed, Meta, Enriched: the setters
// above) and which no setter writes.
func viewField(name string) bool {
	return name == "ParsedView" || name == "MetaView" || name == "EnrichedView"
}

// reflectSetter is the general case: it resolves the path against the
// Event type once, then walks field indexes at run time.
func reflectSetter(path []string) (setter, error) {
	type step struct {
		field int // struct field index, or -1 for a map key
		key   string
		deref bool // field is a pointer to follow
	}
	var steps []step
	t := eventType
	done := false
	for i, f := range path {
		switch t.Kind() {
		case reflect.Map:
			if t.Key().Kind() != reflect.String || t.Elem().Kind() != reflect.String {
				return nil, fmt.Errorf("map %s does not hold strings", strings.Join(path[:i], "."))
			}
			steps = append(steps, step{field: -1, key: f})
			done = true
		case reflect.Struct:
			sf, ok := t.FieldByName(f)
			if !ok || len(sf.Index) != 1 || !sf.IsExported() || (t == eventType && viewField(f)) {
				return nil, fmt.Errorf("no field %q", strings.Join(path[:i+1], "."))
			}
			st := step{field: sf.Index[0]}
			t = sf.Type
			if t.Kind() == reflect.Pointer {
				st.deref = true
				t = t.Elem()
			}
			steps = append(steps, st)
		default:
			return nil, fmt.Errorf("%q is not a struct or map", strings.Join(path[:i], "."))
		}
		if done {
			break
		}
	}
	if !done && t.Kind() != reflect.String {
		return nil, fmt.Errorf("%q is a %s, not a string", strings.Join(path, "."), t.Kind())
	}
	return func(e *event.Event, v string) bool {
		cur := reflect.ValueOf(e).Elem()
		for _, s := range steps {
			if s.field < 0 {
				if cur.IsNil() {
					return false
				}
				cur.SetMapIndex(reflect.ValueOf(s.key), reflect.ValueOf(v))
				return true
			}
			cur = cur.Field(s.field)
			if s.deref {
				if cur.IsNil() {
					return false
				}
				cur = cur.Elem()
			}
		}
		if !cur.CanSet() {
			return false
		}
		cur.SetString(v)
		return true
	}, nil
}
