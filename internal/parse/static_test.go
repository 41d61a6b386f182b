package parse

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/models"
)

func TestCompileTarget(t *testing.T) {
	t.Parallel()
	cases := []struct {
		target   string
		bad      bool
		check    func(*event.Event) string
		settable bool
	}{
		{target: "evt.StrTime", settable: true, check: func(e *event.Event) string { return e.StrTime }},
		{target: "StrTime", settable: true, check: func(e *event.Event) string { return e.StrTime }},
		{target: "MarshaledTime", settable: true, check: func(e *event.Event) string { return e.MarshaledTime }},
		{target: "evt.Parsed.a", settable: true, check: func(e *event.Event) string { v, _ := e.Lookup(event.Parsed, "a"); return v }},
		{target: "evt.Parsed.a.b", settable: true, check: func(e *event.Event) string { v, _ := e.Lookup(event.Parsed, "a"); return v }},
		{target: "evt.Meta.m", settable: true, check: func(e *event.Event) string { return e.GetMeta("m") }},
		{target: "Enriched.x", settable: true, check: func(e *event.Event) string { v, _ := e.Lookup(event.Enriched, "x"); return v }},
		{target: "evt.MetaView.m", bad: true},
		{target: "evt.Line.Labels.x", settable: true, check: func(e *event.Event) string { return e.Line.Labels["x"] }},
		{target: "evt.Line.Raw", settable: true, check: func(e *event.Event) string { return e.Line.Raw }},
		{target: "evt.WhitelistReason", settable: true, check: func(e *event.Event) string { return e.WhitelistReason }},
		{target: "evt.Overflow.Alert.Source.Value", settable: false},
		{target: "evt.Overflow.Mapkey", settable: true, check: func(e *event.Event) string { return e.Overflow.Mapkey }},
		{target: "source_ip", bad: true},
		{target: "evt.Process", bad: true},
		{target: "evt.Time", bad: true},
	}
	for _, tc := range cases {
		t.Run(tc.target, func(t *testing.T) {
			t.Parallel()
			set, err := compileTarget(tc.target, event.NewSchema())
			if tc.bad {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			e := event.New(event.Line{Labels: map[string]string{}})
			require.Equal(t, tc.settable, set(e, "v"))
			if tc.check != nil {
				require.Equal(t, "v", tc.check(e))
			}
		})
	}
	// through non-nil pointers
	set, err := compileTarget("evt.Overflow.Alert.Source.Value", event.NewSchema())
	require.NoError(t, err)
	e := event.New(event.Line{})
	val := ""
	e.Overflow.Alert = &models.Alert{Source: &models.Source{Value: &val}}
	require.True(t, set(e, "1.2.3.4"))
	require.Equal(t, "1.2.3.4", val)
}

// TestStaticCopies: statics whose expression is a plain field read copy
// the field directly (static.copies); the result is the expression's, on
// events of the pipeline's schema and on events without one.
func TestStaticCopies(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		expr   string
		copies bool
		slot   bool
		want   string // "": the static writes nothing
	}{
		{name: "parsed", expr: "evt.Parsed.user", copies: true, slot: true, want: "bob"},
		{name: "parsed index", expr: `evt.Parsed["user"]`, copies: true, slot: true, want: "bob"},
		{name: "meta", expr: "evt.Meta.log_type", copies: true, slot: true, want: "app"},
		{name: "enriched", expr: "evt.Enriched.x", copies: true, slot: true, want: "enr"},
		{name: "missing", expr: "evt.Parsed.nope", copies: true, slot: true},
		{name: "line raw", expr: "evt.Line.Raw", copies: true, want: "app user bob"},
		{name: "label", expr: "evt.Line.Labels.type", copies: true, want: "test"},
		{name: "strtime", expr: "evt.StrTime", copies: true, want: "Mar  4 05:06:07"},
		{name: "concatenation", expr: "evt.Parsed.user + '!'", want: "bob!"},
		{name: "helper", expr: "Upper(evt.Parsed.user)", want: "BOB"},
		{name: "vm only", expr: "evt.Parsed.user + string(len(evt.Parsed.user))", want: "bob3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := loadUserStatics(t, `
  - meta: log_type
    value: app
  - enriched: x
    value: enr
  - target: evt.StrTime
    value: "Mar  4 05:06:07"
  - meta: out
    expression: `+tc.expr+`
`)
			st := &p.nodes[1][0].statics[3]
			require.Equal(t, tc.copies, st.copies, "copies")
			require.Equal(t, tc.slot, st.slot, "slot")
			require.Equal(t, tc.slot, st.direct, "direct: a slot copied to a meta")
			require.True(t, p.nodes[1][0].statics[0].direct, "direct: a literal meta")
			for _, mk := range []func(event.Line) *event.Event{event.New, p.Schema().New} {
				evt := mk(event.Line{Raw: "app user bob", Labels: map[string]string{"type": "test"}})
				require.True(t, p.Parse(evt, nil))
				v, ok := evt.Lookup(event.Meta, "out")
				require.Equal(t, tc.want != "", ok, "written")
				require.Equal(t, tc.want, v)
			}
		})
	}
}

// BenchmarkStatics applies a node's seven `meta:` statics (nginx-logs'
// shape, `expression: evt.Parsed.x`) to a parsed event: copied directly
// (copy, as loaded), or with the copy turned off so that they run as
// before it, through the native evaluation (native).
func BenchmarkStatics(b *testing.B) {
	for _, bc := range []struct {
		name string
		copy bool
	}{{"copy", true}, {"native", false}} {
		b.Run(bc.name, func(b *testing.B) {
			var sb strings.Builder
			sb.WriteString("name: test/p\ngrok:\n  pattern: '%{WORD:a} %{WORD:b} %{WORD:c} %{WORD:d}'\n  apply_on: message\nstatics:\n")
			for i, f := range []string{"a", "b", "c", "d", "a", "b", "c"} {
				fmt.Fprintf(&sb, "  - meta: m%d\n    expression: evt.Parsed.%s\n", i, f)
			}
			p, err := Load([]File{vf("s00-raw", "raw", rawStage), vf("s01-parse", "p", sb.String())}, testOptions(b))
			require.NoError(b, err)
			evt := p.Schema().New(event.Line{Raw: "app one two three four", Labels: map[string]string{"type": "test"}})
			require.True(b, p.Parse(evt, nil))
			statics := p.nodes[1][0].statics
			for i := range statics {
				require.True(b, statics[i].copies)
				if !bc.copy {
					statics[i].copies, statics[i].slot, statics[i].direct = false, false, false
				}
			}
			loopStatics(b, p, evt, statics)
			v, _ := evt.Lookup(event.Meta, "m6")
			require.Equal(b, "three", v)
		})
	}
}

// TestTargetStatics: `target:` statics into evt.Parsed, evt.Meta,
// evt.Enriched are field statics, and those into the time strings with a
// literal or slot-copied value are direct; each writes what its setter
// writes, run inline (no tracer) or through apply (a detail tracer), on
// events of the pipeline's schema and on events without one.
func TestTargetStatics(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, target, value, expr string
		kind                      staticKind
		direct, native            bool
		get                       func(*event.Event) (string, bool)
		want                      string // "": nothing written
	}{
		{name: "parsed literal", target: "evt.Parsed.x", value: "v", kind: staticParsed, direct: true,
			get: func(e *event.Event) (string, bool) { return e.Lookup(event.Parsed, "x") }, want: "v"},
		{name: "meta copy, no evt. prefix", target: "Meta.m", expr: "evt.Parsed.user", kind: staticMeta, direct: true,
			get: func(e *event.Event) (string, bool) { return e.Lookup(event.Meta, "m") }, want: "bob"},
		{name: "enriched, map walk ends on the key", target: "evt.Enriched.e.f", value: "v", kind: staticEnriched, direct: true,
			get: func(e *event.Event) (string, bool) { return e.Lookup(event.Enriched, "e") }, want: "v"},
		{name: "parsed from an expression", target: "evt.Parsed.x", expr: "Upper(evt.Parsed.user)", kind: staticParsed, native: true,
			get: func(e *event.Event) (string, bool) { return e.Lookup(event.Parsed, "x") }, want: "BOB"},
		{name: "strtime copy", target: "evt.StrTime", expr: "evt.Parsed.user", kind: staticTarget, direct: true,
			get: func(e *event.Event) (string, bool) { return e.StrTime, e.StrTime != "" }, want: "bob"},
		{name: "strtimeformat literal", target: "StrTimeFormat", value: "2006", kind: staticTarget, direct: true,
			get: func(e *event.Event) (string, bool) { return e.StrTimeFormat, e.StrTimeFormat != "" }, want: "2006"},
		{name: "marshaledtime missing field", target: "evt.MarshaledTime", expr: "evt.Parsed.nope", kind: staticTarget, direct: true,
			get: func(e *event.Event) (string, bool) { return e.MarshaledTime, e.MarshaledTime != "" }},
		{name: "strtime from the line", target: "evt.StrTime", expr: "evt.Line.Raw", kind: staticTarget,
			get: func(e *event.Event) (string, bool) { return e.StrTime, e.StrTime != "" }, want: "app user bob"},
		{name: "strtime from an expression", target: "evt.StrTime", expr: "Lower(evt.Parsed.user) + '!'", kind: staticTarget, native: true,
			get: func(e *event.Event) (string, bool) { return e.StrTime, e.StrTime != "" }, want: "bob!"},
		{name: "meta from a vm-only expression", target: "evt.Meta.m", expr: "evt.Parsed.user + string(len(evt.Parsed.user))", kind: staticMeta,
			get: func(e *event.Event) (string, bool) { return e.Lookup(event.Meta, "m") }, want: "bob3"},
		{name: "another string field", target: "evt.WhitelistReason", value: "why", kind: staticTarget,
			get: func(e *event.Event) (string, bool) { return e.WhitelistReason, e.WhitelistReason != "" }, want: "why"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			val := "value: " + tc.value
			if tc.expr != "" {
				val = "expression: " + tc.expr
			}
			p := loadUserStatics(t, `
  - target: `+tc.target+`
    `+val+`
`)
			st := &p.nodes[1][0].statics[0]
			require.Equal(t, tc.kind, st.kind, "kind")
			require.Equal(t, tc.direct, st.direct, "direct")
			require.Equal(t, tc.native, st.native, "native")
			for _, mk := range []func(event.Line) *event.Event{event.New, p.Schema().New} {
				for _, tr := range []Tracer{nil, &detail{}} {
					evt := mk(event.Line{Raw: "app user bob", Labels: map[string]string{"type": "test"}})
					require.True(t, p.Parse(evt, tr))
					v, ok := tc.get(evt)
					require.Equal(t, tc.want != "", ok, "written (tracer %T)", tr)
					require.Equal(t, tc.want, v)
				}
			}
		})
	}
}

// BenchmarkTargetStatics applies the shapes of statics that were not
// written inline before they were (http-logs', nginx-logs' and
// dateparse-enrich's): a literal `target: evt.Parsed.x`, `target:
// evt.StrTime` and `target: evt.MarshaledTime` copied from a field, and
// three parsed fields from expressions with a native form:
//
//	go test -run X -bench TargetStatics -benchmem ./internal/parse
func BenchmarkTargetStatics(b *testing.B) {
	p, err := Load([]File{vf("s00-raw", "raw", rawStage), vf("s01-parse", "p", `name: test/p
grok:
  pattern: '%{WORD:a} %{WORD:b} %{WORD:c}'
  apply_on: message
statics:
  - target: evt.Parsed.static_ressource
    value: 'false'
  - target: evt.StrTime
    expression: evt.Parsed.a
  - target: evt.MarshaledTime
    expression: evt.Parsed.b
  - parsed: impact
    expression: "evt.Parsed.c in ['404', '403', '502'] ? 'false' : 'true'"
  - parsed: file_name
    expression: evt.Parsed.a + evt.Parsed.b
  - meta: args_len
    expression: "len(evt.Parsed.c)"
`)}, testOptions(b))
	require.NoError(b, err)
	evt := p.Schema().New(event.Line{Raw: "app one two three", Labels: map[string]string{"type": "test"}})
	require.True(b, p.Parse(evt, nil))
	statics := p.nodes[1][0].statics
	loopStatics(b, p, evt, statics)
	v, _ := evt.Lookup(event.Parsed, "file_name")
	require.Equal(b, "onetwo", v)
	require.Equal(b, "one", evt.StrTime)
}

// loopStatics is the timed loop of the statics benchmarks: the node's
// statics applied to one parsed event, b.N times.
func loopStatics(b *testing.B, p *Pipeline, evt *event.Event, statics []static) {
	b.Helper()
	rs := &runState{p: p}
	b.ReportAllocs()
	for b.Loop() {
		if err := applyStatics(rs, evt, statics); err != nil {
			b.Fatal(err)
		}
	}
}

// loadUserStatics loads a pipeline whose one s01 node captures
// "user %{WORD:user}" from the message and applies the statics given (the
// YAML list items under `statics:`).
func loadUserStatics(t *testing.T, statics string) *Pipeline {
	t.Helper()
	p, err := Load([]File{vf("s00-raw", "raw", rawStage), vf("s01-parse", "p", `
name: test/p
grok:
  pattern: 'user %{WORD:user}'
  apply_on: message
statics:`+statics)}, testOptions(t))
	require.NoError(t, err)
	return p
}
