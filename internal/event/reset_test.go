package event

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fill sets every settable part of v to a non-zero value (strings "x",
// numbers 1, one entry per map and slice, pointers to filled values),
// depth levels deep.
func fill(v reflect.Value, depth int) {
	if depth == 0 || !v.CanSet() {
		return
	}
	if v.Type() == reflect.TypeFor[time.Time]() {
		v.Set(reflect.ValueOf(time.Unix(1, 0)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), depth-1)
		}
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), depth-1)
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(s.Index(0), depth-1)
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, depth-1)
		if e.Kind() == reflect.Interface {
			e.Set(reflect.ValueOf("x"))
		} else {
			fill(e, depth-1)
		}
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Interface:
		v.Set(reflect.ValueOf("x"))
	}
}

// TestResetClearsEveryField: an event with an exported field set (each
// field of Event, and each field of its struct fields, one at a time, then
// all at once), and fields, views and overflow entries written, is after
// Reset what a fresh event of its schema is. It fails when a field added
// to Event is not cleared by Reset.
func TestResetClearsEveryField(t *testing.T) {
	s := NewSchema()
	keys := []Key{s.Key(Parsed, "a"), s.Key(Meta, "b"), s.Key(Enriched, "c")}
	l := Line{Raw: "new line", Src: "f", Labels: map[string]string{"type": "t"}}
	// paths: the exported fields of Event and of its struct fields (by
	// index), and nil for all of them at once.
	var paths [][]int
	et := reflect.TypeFor[Event]()
	for i := range et.NumField() {
		f := et.Field(i)
		if !f.IsExported() || viewName(f.Name) {
			continue
		}
		paths = append(paths, []int{i})
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Time]() {
			for j := range f.Type.NumField() {
				paths = append(paths, []int{i, j})
			}
		}
	}
	paths = append(paths, nil)
	for _, expose := range []PartSet{0, AllParts, Meta.Set()} {
		for _, path := range paths {
			e := s.New(Line{Raw: "old"})
			for _, k := range keys {
				e.Set(k, "v")
				e.Put(k.Part(), "unslotted", "w") // the overflow map
			}
			e.ExposeSet(expose)
			ev := reflect.ValueOf(e).Elem()
			name := "all"
			if path == nil {
				for _, p := range paths[:len(paths)-1] {
					if len(p) == 1 {
						fill(ev.Field(p[0]), 4)
					}
				}
			} else {
				fill(ev.FieldByIndex(path), 4)
				name = et.FieldByIndex(path).Name
			}
			e.Reset(l)
			want := reflect.ValueOf(s.New(l)).Elem()
			for i := range ev.NumField() {
				f := et.Field(i)
				if f.IsExported() {
					require.Equal(t, want.Field(i).Interface(), ev.Field(i).Interface(),
						"field %s after Reset, %s set, parts %b exposed", f.Name, name, expose)
				}
			}
			for p := range numParts {
				require.Zero(t, e.Len(p), p.String())
				_, ok := e.Lookup(p, "unslotted")
				require.False(t, ok, p.String())
			}
			for _, k := range keys {
				_, ok := e.Get(k)
				require.False(t, ok, k.Name())
			}
			require.Zero(t, e.exposed)
			require.True(t, e.HasMeta())
			// The storage works as a fresh event's does.
			e.Set(keys[0], "again")
			e.Expose(Parsed)
			require.Equal(t, map[string]string{"a": "again"}, e.ParsedView)
		}
	}
}

// viewName reports whether an Event field is one of the views, which
// Go code never writes (Expose builds them).
func viewName(name string) bool {
	return name == "ParsedView" || name == "MetaView" || name == "EnrichedView"
}

// TestResetStaleIndex: a field that the last line wrote and the next one
// does not is absent for every reader after Reset, and Each gives the
// fields present in slot order (the order the schema numbered them).
func TestResetStaleIndex(t *testing.T) {
	s := NewSchema()
	keys := map[string]Key{}
	for _, n := range []string{"a", "b", "c", "d"} {
		keys[n] = s.Key(Parsed, n)
	}
	cases := []struct {
		name          string
		before, after []string
	}{
		{"fewer", []string{"a", "b", "c"}, []string{"a"}},
		{"fewer, reordered", []string{"a", "b", "c"}, []string{"c", "a"}},
		{"reordered", []string{"a", "b", "c", "d"}, []string{"d", "c", "b", "a"}},
		{"disjoint", []string{"a", "b"}, []string{"c", "d"}},
		{"none after", []string{"a", "b", "c", "d"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := s.New(Line{Raw: "old"})
			for _, n := range c.before {
				e.Set(keys[n], "old-"+n)
			}
			e.Reset(Line{Raw: "new"})
			want := map[string]string{}
			for _, n := range c.after {
				e.Set(keys[n], "new-"+n)
				want[n] = "new-" + n
			}
			all := []Key{keys["a"], keys["b"], keys["c"], keys["d"]}
			got := make([]string, len(all))
			e.GetAll(all, got)
			for i, k := range all {
				v, ok := e.Get(k)
				w, in := want[k.Name()]
				require.Equal(t, in, ok, "Get %s", k.Name())
				require.Equal(t, w, v, "Get %s", k.Name())
				require.Equal(t, w, got[i], "GetAll %s", k.Name())
				v, ok = e.Lookup(Parsed, k.Name())
				require.Equal(t, in, ok, "Lookup %s", k.Name())
				require.Equal(t, w, v, "Lookup %s", k.Name())
			}
			require.Equal(t, len(want), e.Len(Parsed))
			var order []string
			e.Each(Parsed, func(name, _ string) { order = append(order, name) })
			require.Equal(t, slices.Sorted(slices.Values(c.after)), order) // a..d: slots 0..3
			if len(want) == 0 {
				want = nil
			}
			require.Equal(t, want, e.Map(Parsed))
			// A field written again after the Reset takes its new value in
			// place (no second field).
			for _, n := range c.after {
				e.Set(keys[n], "again-"+n)
				e.Put(Parsed, n, "put-"+n)
			}
			require.Equal(t, len(c.after), e.Len(Parsed))
		})
	}
}
