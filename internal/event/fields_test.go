package event

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/models"
)

// TestFields checks the slotted storage of evt.Parsed, evt.Map(event.Meta) and
// evt.Map(event.Enriched) against what a map gives, for the three kinds of event:
// slotted by the schema the keys come from, slotted by another schema
// (keys fall back to names), and without schema (New).
func TestFields(t *testing.T) {
	for _, p := range []Part{Parsed, Meta, Enriched} {
		t.Run(p.String(), func(t *testing.T) { testFields(t, p) })
	}
}

// put writes a field of part p by name, as expressions do.
func put(e *Event, p Part, name, v string) {
	switch p {
	case Parsed:
		e.SetParsed(name, v)
	case Meta:
		e.SetMeta(name, v)
	default:
		e.Put(p, name, v)
	}
}

func testFields(t *testing.T, p Part) {
	s := NewSchema()
	a, b := s.Key(p, "a"), s.Key(p, "b")
	s.Key((p+1)%numParts, "b") // another part's names are numbered apart
	other := NewSchema()
	other.Key(p, "zz") // other numbering: a key of s must not index its slots
	other.Key(p, "b")
	for _, tc := range []struct {
		name string
		mk   func() *Event
	}{
		{"own schema", func() *Event { return s.New(Line{Raw: "x"}) }},
		{"other schema", func() *Event { return other.New(Line{Raw: "x"}) }},
		{"no schema", func() *Event { return New(Line{Raw: "x"}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.mk()
			require.Equal(t, e.fs[p].t == nil, *e.view(p) != nil, "only an event without schema starts with its view")
			_, ok := e.Get(a)
			require.False(t, ok, "absent")
			e.Set(a, "")
			v, ok := e.Get(a)
			require.True(t, ok, "set to empty is present")
			require.Equal(t, "", v)
			e.Set(b, "2")
			put(e, p, "a", "1")
			put(e, p, "dyn", "3") // in no schema: the overflow map
			want := map[string]string{"a": "1", "b": "2", "dyn": "3"}
			require.Equal(t, want, e.Map(p))
			require.Equal(t, 3, e.Len(p))
			for k, w := range want {
				v, ok := e.Lookup(p, k)
				require.True(t, ok, k)
				require.Equal(t, w, v, k)
			}
			v, _ = e.Get(b)
			require.Equal(t, "2", v)
			checkGetAll(t, e, []Key{b, s.Key(p, "absent"), a, other.Key(p, "zz")})

			// The view, once exposed, follows every write.
			e.Expose(p)
			require.Equal(t, want, *e.view(p))
			e.Set(b, "22")
			put(e, p, "late", "4")
			require.Equal(t, map[string]string{"a": "1", "b": "22", "dyn": "3", "late": "4"}, *e.view(p))

			// Clone and Unshare copies are independent.
			c := e.Clone()
			sh := *e
			sh.Unshare(p.Set())
			e.Set(a, "changed")
			for _, x := range []*Event{c, &sh} {
				v, _ := x.Get(a)
				require.Equal(t, "1", v)
				require.Equal(t, "1", (*x.view(p))["a"])
			}

			// Reset empties the fields and the view, keeping storage.
			e.Reset(Line{Raw: "y"})
			require.Zero(t, e.Len(p))
			require.Nil(t, e.Map(p))
			_, ok = e.Get(a)
			require.False(t, ok)
			if e.fs[p].t == nil {
				require.NotNil(t, *e.view(p), "an event without schema keeps its view")
			} else {
				require.Nil(t, *e.view(p), "a slotted event's view is built on demand")
			}
			require.Empty(t, *e.view(p))
		})
	}
}

// checkGetAll checks that GetAll reads each key as Get does.
func checkGetAll(t *testing.T, e *Event, keys []Key) {
	t.Helper()
	got := make([]string, len(keys)+1)
	got[len(keys)] = "untouched"
	for i := range got[:len(keys)] {
		got[i] = "stale"
	}
	e.GetAll(keys, got)
	for i, k := range keys {
		want, _ := e.Get(k)
		require.Equal(t, want, got[i], "%s (key %d)", k.Name(), i)
	}
	require.Equal(t, "untouched", got[len(keys)])
}

// TestParsedSlotsGrow: an event created before the schema got more names
// grows its words on write (600 slots, 300 of them written, from the
// last), found by key and by name.
func TestParsedSlotsGrow(t *testing.T) {
	s := NewSchema()
	e := s.New(Line{})
	keys := make([]Key, 600)
	for i := range keys {
		keys[i] = s.Key(Parsed, fmt.Sprintf("k%d", i))
	}
	for i := len(keys) - 1; i >= 0; i -= 2 {
		e.Set(keys[i], keys[i].Name())
	}
	e.Set(keys[1], "again") // an update, not a new field
	n := 0
	for i := range keys {
		v, ok := e.Get(keys[i])
		require.Equal(t, i%2 == 1, ok, i)
		if ok {
			w := keys[i].Name()
			if i == 1 {
				w = "again"
			}
			require.Equal(t, w, v)
			v2, _ := e.Lookup(Parsed, keys[i].Name())
			require.Equal(t, w, v2)
			n++
		}
	}
	require.Equal(t, 300, n)
	checkGetAll(t, e, keys)
	require.Equal(t, n, e.Len(Parsed))
	require.Len(t, e.Map(Parsed), n)
	c := e.Clone()
	require.Equal(t, e.Map(Parsed), c.Map(Parsed))
	require.Equal(t, e.Map(Parsed), c.ParsedView)
}

// TestSchemaFreeze: a frozen schema gives no new slot; its keys for
// unknown names read and write by name.
func TestSchemaFreeze(t *testing.T) {
	s := NewSchema()
	a := s.Key(Parsed, "a")
	s.Freeze()
	b := s.Key(Parsed, "b")
	require.Equal(t, 1, s.Len(Parsed))
	require.Equal(t, a, s.Key(Parsed, "a"))
	e := s.New(Line{})
	e.Set(b, "2")
	e.Set(a, "1")
	v, ok := e.Get(b)
	require.True(t, ok)
	require.Equal(t, "2", v)
	v, _ = e.Lookup(Parsed, "b")
	require.Equal(t, "2", v)
	require.Equal(t, map[string]string{"a": "1", "b": "2"}, e.Map(Parsed))
}

// TestViewsAndMeta: ViewCopy builds every part's view for a reader
// without writing to the event; FromMaps and bare literals say whether
// the event has Meta at all (CrowdSec's nil map), which writes change.
func TestViewsAndMeta(t *testing.T) {
	s := NewSchema()
	mk, pk, ek := s.Key(Meta, "source_ip"), s.Key(Parsed, "verb"), s.Key(Enriched, "IsoCode")
	e := s.New(Line{})
	e.Set(mk, "1.2.3.4")
	e.Set(pk, "GET")
	e.Set(ek, "")
	var dst Event
	var views Views
	e.ViewCopy(&dst, &views, AllParts)
	require.Zero(t, e.exposed, "ViewCopy only reads the event")
	require.True(t, dst.Exposed(AllParts))
	require.Equal(t, map[string]string{"source_ip": "1.2.3.4"}, dst.MetaView)
	require.Equal(t, map[string]string{"verb": "GET"}, dst.ParsedView)
	require.Equal(t, map[string]string{"IsoCode": ""}, dst.EnrichedView, "present and empty")
	e2 := s.New(Line{})
	e2.Set(mk, "5.6.7.8")
	e2.ViewCopy(&dst, &views, AllParts) // reuses the maps, cleared
	require.Equal(t, map[string]string{"source_ip": "5.6.7.8"}, dst.MetaView)
	require.Empty(t, dst.EnrichedView)
	require.Equal(t, "5.6.7.8", e2.GetMeta("source_ip"))
	require.Equal(t, "[5.6.7.8]", fmt.Sprint(e2.ParseIPSources()))

	// Only the views asked for, then more on the same copy.
	e2.ViewCopy(&dst, &views, Meta.Set())
	require.True(t, dst.Exposed(Meta.Set()))
	require.False(t, dst.Exposed(Parsed.Set()))
	require.Nil(t, dst.ParsedView)
	e2.Set(pk, "PUT")
	e2.AddViews(&dst, &views, Parsed.Set()|Meta.Set())
	require.True(t, dst.Exposed(Parsed.Set()|Meta.Set()))
	require.Equal(t, map[string]string{"verb": "PUT"}, dst.ParsedView)
	require.Equal(t, map[string]string{"source_ip": "5.6.7.8"}, dst.MetaView, "a built view is kept")

	// A copy that owns only its Meta writes it without touching the
	// original, and reads the shared parts.
	c := *e
	c.Unshare(Meta.Set())
	c.SetMeta("source_ip", "9.9.9.9")
	c.ExposeAll()
	require.Equal(t, "1.2.3.4", e.GetMeta("source_ip"))
	require.Equal(t, "9.9.9.9", c.MetaView["source_ip"])
	require.Equal(t, "GET", c.ParsedView["verb"])
	require.Zero(t, e.exposed, "the original has no view built by the copy")

	for _, tc := range []struct {
		name string
		e    *Event
		want bool
	}{
		{"schema event", s.New(Line{}), true},
		{"New", New(Line{}), true},
		{"bare literal", &Event{}, false},
		{"FromMaps nil meta", FromMaps(nil, map[string]string{"a": "b"}), false},
		{"FromMaps empty meta", FromMaps(map[string]string{}, nil), true},
		{"bare literal after Init", func() *Event { e := &Event{}; e.Init(); return e }(), true},
		{"bare literal after SetMeta", func() *Event { e := &Event{}; e.SetMeta("k", ""); return e }(), true},
	} {
		require.Equal(t, tc.want, tc.e.HasMeta(), tc.name)
		require.Equal(t, tc.want, tc.e.Clone().HasMeta(), tc.name+": clone")
	}
	m := map[string]string{"k": "v"}
	f := FromMaps(m, nil)
	require.Equal(t, "v", f.GetMeta("k"))
	f.SetMeta("k2", "w")
	require.Equal(t, map[string]string{"k": "v", "k2": "w"}, f.MetaView)
}

// TestViewNames: the views keep CrowdSec's names in YAML dumps and JSON.
func TestViewNames(t *testing.T) {
	e := NewSchema().New(Line{})
	e.SetMeta("source_ip", "1.2.3.4")
	e.SetParsed("verb", "GET")
	e.Put(Enriched, "IsoCode", "FR")
	e.ExposeAll()
	j, err := json.Marshal(e)
	require.NoError(t, err)
	for _, want := range []string{`"Meta":{"source_ip":"1.2.3.4"}`, `"Parsed":{"verb":"GET"}`, `"Enriched":{"IsoCode":"FR"}`} {
		require.Contains(t, string(j), want)
	}
	y, err := yaml.Marshal(e)
	require.NoError(t, err)
	for _, want := range []string{"Meta:\n    source_ip: 1.2.3.4", "Parsed:\n    verb: GET", "Enriched:\n    IsoCode: FR"} {
		require.Contains(t, string(y), want)
	}
}

func TestPartsCopy(t *testing.T) {
	s := NewSchema()
	mk, ek, pk := s.Key(Meta, "log_type"), s.Key(Enriched, "ASNumber"), s.Key(Parsed, "user")
	s.Freeze()
	for _, tc := range []struct {
		name string
		mk   func() *Event
	}{
		{"schema", func() *Event { return s.New(Line{Raw: "x"}) }},
		{"no schema", func() *Event { return New(Line{Raw: "x"}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.mk()
			e.Put(Meta, mk.Name(), "ssh_failed-auth")
			e.Put(Meta, "runtime_only", "")
			e.Put(Enriched, ek.Name(), "64496")
			e.Put(Parsed, pk.Name(), "root")
			e.MarshaledTime = "2026-12-07T06:00:00Z"
			c := e.PartsCopy(Meta.Set() | Enriched.Set())
			// The source changing afterwards does not reach the copy.
			e.Put(Meta, mk.Name(), "changed")
			e.Put(Enriched, ek.Name(), "changed")
			if v, ok := c.Lookup(Meta, mk.Name()); !ok || v != "ssh_failed-auth" {
				t.Fatalf("Meta.log_type = %q %v", v, ok)
			}
			if v, ok := c.Lookup(Meta, "runtime_only"); !ok || v != "" {
				t.Fatalf("Meta.runtime_only = %q %v, want present and empty", v, ok)
			}
			if v, _ := c.Lookup(Enriched, ek.Name()); v != "64496" {
				t.Fatalf("Enriched.ASNumber = %q", v)
			}
			if _, ok := c.Lookup(Parsed, pk.Name()); ok {
				t.Fatal("Parsed was copied")
			}
			if !c.HasMeta() || c.MarshaledTime != e.MarshaledTime {
				t.Fatalf("HasMeta %v, MarshaledTime %q", c.HasMeta(), c.MarshaledTime)
			}
			c.ExposeSet(Meta.Set() | Enriched.Set())
			if c.MetaView["log_type"] != "ssh_failed-auth" || c.EnrichedView["ASNumber"] != "64496" || len(c.MetaView) != 2 {
				t.Fatalf("views %v %v", c.MetaView, c.EnrichedView)
			}
		})
	}
}

func TestAppendIPSources(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		evt  func() *Event
		want string
	}{
		{name: "log v4", evt: func() *Event { e := New(Line{}); e.SetMeta("source_ip", "1.2.3.4"); return e }, want: "[9.9.9.9 1.2.3.4]"},
		{name: "log mapped v6 unmapped", evt: func() *Event { e := New(Line{}); e.SetMeta("source_ip", "::ffff:1.2.3.4"); return e }, want: "[9.9.9.9 1.2.3.4]"},
		{name: "log bad address", evt: func() *Event { e := New(Line{}); e.SetMeta("source_ip", "nope"); return e }, want: "[9.9.9.9]"},
		{name: "log without source", evt: func() *Event { return New(Line{}) }, want: "[9.9.9.9]"},
		{name: "schema with source_ip", evt: func() *Event {
			s := NewSchema()
			s.Key(Meta, "other")
			k := s.Key(Meta, "source_ip")
			e := s.New(Line{})
			e.Set(k, "1.2.3.4")
			return e
		}, want: "[9.9.9.9 1.2.3.4]"},
		{name: "schema with source_ip, not set", evt: func() *Event {
			s := NewSchema()
			s.Key(Meta, "source_ip")
			e := s.New(Line{})
			e.SetParsed("source_ip", "1.2.3.4") // another part
			return e
		}, want: "[9.9.9.9]"},
		{name: "schema without source_ip", evt: func() *Event {
			s := NewSchema()
			s.Key(Parsed, "source_ip") // another part's name
			e := s.New(Line{})
			e.SetMeta("source_ip", "1.2.3.4") // by name: the overflow map
			return e
		}, want: "[9.9.9.9 1.2.3.4]"},
		{name: "overflow", evt: func() *Event {
			e := &Event{Type: OVFLW}
			e.Overflow.Sources = map[string]models.Source{"5.6.7.8": {}}
			return e
		}, want: "[9.9.9.9 5.6.7.8]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := tc.evt()
			buf := make([]netip.Addr, 1, 4)
			buf[0] = netip.MustParseAddr("9.9.9.9")
			got := e.AppendIPSources(buf)
			require.Equal(t, tc.want, fmt.Sprint(got))
			require.Equal(t, fmt.Sprint(got[1:]), fmt.Sprint(e.ParseIPSources()))
			if e.Type == LOG {
				v, ok := e.SourceIP()
				w, wok := e.Lookup(Meta, "source_ip")
				require.Equal(t, w, v)
				require.Equal(t, wok, ok)
			}
		})
	}
}

// TestSpans: a value that lies in the event's line is kept as a span of it
// (a word without pointer) and read back as the same string, pointer
// included; any other value as a string of its own. Overwriting switches
// between the two, Reset makes the new line the base, copies keep their
// values, and a span stays right when the event's line changes.
func TestSpans(t *testing.T) {
	s := NewSchema()
	a, b, c := s.Key(Parsed, "a"), s.Key(Parsed, "b"), s.Key(Meta, "c")
	line := "GET /index.html 200"
	other := "elsewhere"
	cases := []struct {
		name     string
		v        string
		wantSpan bool
	}{
		{"capture", line[4:15], true},
		{"whole line", line, true},
		{"line end", line[16:], true},
		{"empty", "", true},
		{"constant", "http_access-log", false},
		{"copy of a capture", strings.Clone(line[4:15]), false},
		{"other line", other[:4], false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.New(Line{Raw: line})
			e.Set(a, tc.v)
			w := e.fs[Parsed].val[a.slot]
			require.Equal(t, tc.wantSpan, w&isStr == 0)
			got, ok := e.Get(a)
			require.True(t, ok)
			require.Equal(t, tc.v, got)
			if tc.wantSpan && len(tc.v) > 0 {
				require.Equal(t, unsafe.StringData(tc.v), unsafe.StringData(got))
			}
		})
	}

	e := s.New(Line{Raw: line})
	e.Set(a, line[:3])         // span
	e.Set(b, "constant")       // string
	e.Set(c, line[4:15])       // span of Meta
	e.Set(a, "now a constant") // span -> string
	e.Set(b, line[16:])        // string -> span
	e.Set(b, "again a string") // span -> string
	e.Set(b, "third string")   // its own string, overwritten
	want := map[string]string{"a": "now a constant", "b": "third string"}
	require.Equal(t, want, e.Map(Parsed))
	require.Equal(t, map[string]string{"c": "/index.html"}, e.Map(Meta))

	// The line changes under the event: its spans still read the old one.
	e.Line.Raw = "something else entirely"
	e.Set(c, e.Line.Raw[:9]) // not the base: a string
	require.Equal(t, map[string]string{"c": "something"}, e.Map(Meta))
	e.Set(c, line[4:15])
	require.Equal(t, map[string]string{"c": "/index.html"}, e.Map(Meta))

	// Copies keep their values after the original is Reset and reused.
	cl, pc := e.Clone(), e.PartsCopy(AllParts)
	next := "POST /login 401"
	e.Reset(Line{Raw: next})
	e.Set(a, next[:4])
	e.Set(b, "x")
	require.Zero(t, e.fs[Parsed].val[a.slot]&isStr)
	require.Equal(t, map[string]string{"a": "POST", "b": "x"}, e.Map(Parsed))
	require.Equal(t, want, cl.Map(Parsed))
	require.Equal(t, want, pc.Map(Parsed))
	require.Equal(t, map[string]string{"c": "/index.html"}, cl.Map(Meta))
	require.Equal(t, map[string]string{"c": "/index.html"}, pc.Map(Meta))
}

// TestSetAll: a batch write gives what a Set per key gives, on the fast
// path (spans of the line, "") and off it (values outside the line, keys
// of several parts, an exposed view to keep in step, slots the event was
// made without).
func TestSetAll(t *testing.T) {
	line := "GET /index.html 200 agent"
	cases := []struct {
		name   string
		parts  []Part // of each key (Parsed when nil)
		vals   []string
		expose bool
		grow   bool // the keys get their slots after the event is made
	}{
		{name: "spans", vals: []string{line[:3], line[4:15], line[16:19]}},
		{name: "empty and spans", vals: []string{"", line[4:15], ""}},
		{name: "outside the line", vals: []string{"constant", line[:3], strings.Clone(line[16:19])}},
		{name: "several parts", parts: []Part{Parsed, Meta, Parsed}, vals: []string{line[:3], line[4:15], "x"}},
		{name: "exposed", vals: []string{line[:3], "y", ""}, expose: true},
		{name: "schema grown", vals: []string{line[:3], line[4:15], line[20:]}, grow: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSchema()
			s.Key(Parsed, "other")
			var e, ref *Event
			if tc.grow {
				e, ref = s.New(Line{Raw: line}), s.New(Line{Raw: line})
			}
			var keys []Key
			for i := range tc.vals {
				p := Parsed
				if tc.parts != nil {
					p = tc.parts[i]
				}
				keys = append(keys, s.Key(p, fmt.Sprintf("k%d", i)))
			}
			if !tc.grow {
				e, ref = s.New(Line{Raw: line}), s.New(Line{Raw: line})
			}
			if tc.expose {
				e.ExposeAll()
				ref.ExposeAll()
			}
			e.Set(keys[0], "before") // overwritten
			ref.Set(keys[0], "before")
			l := NewKeyList(keys)
			e.SetAll(&l, tc.vals)
			for i, k := range keys {
				ref.Set(k, tc.vals[i])
			}
			for p := range numParts {
				require.Equal(t, ref.Map(p), e.Map(p), "part %s", p)
				require.Equal(t, ref.Len(p), e.Len(p), "part %s", p)
			}
			for i, k := range keys {
				v, ok := e.Get(k)
				require.True(t, ok, k.Name())
				require.Equal(t, tc.vals[i], v, k.Name())
			}
			if tc.expose {
				require.Equal(t, ref.ParsedView, e.ParsedView)
				require.Equal(t, ref.MetaView, e.MetaView)
			}
		})
	}
}

// TestCopy: a field copied keeps its value (a span as a span, the same
// string), an absent or empty source writes nothing, and the slow cases
// (a source that is a string of its own, a key by name, an exposed
// destination) give what Get and Set give.
func TestCopy(t *testing.T) {
	line := "1.2.3.4 - GET /"
	s := NewSchema()
	src, dst := s.Key(Parsed, "remote_addr"), s.Key(Meta, "source_ip")
	cases := []struct {
		name    string
		set     func(e *Event) // the source's value
		expose  bool
		want    string
		written bool
	}{
		{name: "span", set: func(e *Event) { e.Set(src, line[:7]) }, want: "1.2.3.4", written: true},
		{name: "own string", set: func(e *Event) { e.Set(src, "5.6.7.8") }, want: "5.6.7.8", written: true},
		{name: "absent", set: func(*Event) {}},
		{name: "empty", set: func(e *Event) { e.Set(src, "") }},
		{name: "exposed destination", set: func(e *Event) { e.Set(src, line[:7]) }, expose: true, want: "1.2.3.4", written: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.New(Line{Raw: line})
			if tc.expose {
				e.Expose(Meta)
			}
			tc.set(e)
			c := FieldCopy{Dst: dst, Src: src}
			require.Equal(t, tc.written, e.Copy(&c))
			v, ok := e.Get(dst)
			require.Equal(t, tc.written, ok)
			require.Equal(t, tc.want, v)
			if tc.written {
				sv, _ := e.Get(src)
				if e.fs[Parsed].val[src.slot]&isStr == 0 {
					require.Equal(t, unsafe.StringData(sv), unsafe.StringData(v), "a span stays a span")
				}
				require.Equal(t, 1, e.Len(Meta))
			}
			if tc.expose {
				require.Equal(t, tc.want, e.MetaView["source_ip"])
			}
		})
	}
	// Keys of another schema go by name.
	other := NewSchema()
	e := other.New(Line{Raw: line})
	e.Put(Parsed, "remote_addr", line[:7])
	c := FieldCopy{Dst: dst, Src: src}
	require.True(t, e.Copy(&c))
	v, _ := e.Lookup(Meta, "source_ip")
	require.Equal(t, "1.2.3.4", v)
}
