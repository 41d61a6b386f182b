package parse

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/models"
)

// vf is an in-memory parser file of a stage.
func vf(stage, name, text string) File {
	return File{Stage: stage, Path: "/virtual/" + stage + "/" + name + ".yaml", Content: []byte(text)}
}

const rawStage = `name: test/raw
filter: "evt.Line.Labels.type == 'test'"
onsuccess: next_stage
grok:
  pattern: '^%{WORD:program} %{GREEDYDATA:message}$'
  apply_on: Line.Raw
`

func TestParseNodes(t *testing.T) {
	t.Parallel()
	type want struct {
		ok          bool
		stage       string
		parsed      map[string]string // "" value with key present is checked
		absent      []string          // Parsed/Meta keys that must be missing ("meta.x" / "x")
		meta        map[string]string
		enriched    map[string]string
		strTime     string
		whitelisted bool
		reason      string
		trace       []string // "stage/node=bool" per top-level node
	}
	cases := []struct {
		name  string
		files []File
		evt   func() *event.Event
		want  want
	}{
		{
			name: "grok statics and next_stage",
			files: []File{vf("s00-raw", "raw", rawStage), vf("s01-parse", "p", `
name: test/p
filter: "evt.Parsed.program == 'app'"
onsuccess: next_stage
grok:
  pattern: 'user %{WORD:user}( from %{IP:ip})?'
  apply_on: message
  statics:
    - meta: log_type
      value: app_login
statics:
  - meta: user
    expression: evt.Parsed.user
  - meta: source_ip
    expression: evt.Parsed.ip
  - target: evt.StrTime
    value: "Mar  4 05:06:07"
`)},
			evt: func() *event.Event { return logEvent("app user bob", "test") },
			want: want{ok: true, stage: "s01-parse",
				parsed: map[string]string{"program": "app", "message": "user bob", "user": "bob", "ip": ""},
				meta:   map[string]string{"log_type": "app_login", "user": "bob"}, absent: []string{"meta.source_ip"},
				strTime: "Mar  4 05:06:07",
				trace:   []string{"s00-raw/test/raw=true", "s01-parse/test/p=true"}},
		},
		{
			name:  "filter false discards at stage",
			files: []File{vf("s00-raw", "raw", rawStage), vf("s01-parse", "p", "name: test/p\nfilter: \"evt.Parsed.program == 'other'\"\nstatics:\n  - meta: x\n    value: y\n")},
			evt:   func() *event.Event { return logEvent("app hello", "test") },
			want:  want{ok: false, stage: "s01-parse", absent: []string{"meta.x"}, trace: []string{"s00-raw/test/raw=true", "s01-parse/test/p=false"}},
		},
		{
			name:  "non-bool filter fails the node",
			files: []File{vf("s00-raw", "raw", "name: test/raw\nfilter: evt.Line.Raw\nstatics:\n  - meta: x\n    value: y\n")},
			evt:   func() *event.Event { return logEvent("x", "test") },
			want:  want{ok: false, absent: []string{"meta.x"}, trace: []string{"s00-raw/test/raw=false"}},
		},
		{
			name:  "runtime error in filter fails the node",
			files: []File{vf("s00-raw", "raw", "name: test/raw\nfilter: \"int(evt.Line.Raw) == 2\"\nstatics:\n  - meta: x\n    value: y\n")},
			evt:   func() *event.Event { return logEvent("notanint", "test") },
			want:  want{ok: false, absent: []string{"meta.x"}, trace: []string{"s00-raw/test/raw=false"}},
		},
		{
			name:  "grok on missing Parsed key fails",
			files: []File{vf("s00-raw", "raw", "name: test/raw\ngrok:\n  pattern: '%{WORD:w}'\n  apply_on: nothere\n")},
			evt:   func() *event.Event { return logEvent("abc", "test") },
			want:  want{ok: false, absent: []string{"w"}, trace: []string{"s00-raw/test/raw=false"}},
		},
		{
			name:  "grok statics do not run without a match",
			files: []File{vf("s00-raw", "raw", "name: test/raw\ngrok:\n  pattern: '^%{INT:n}$'\n  apply_on: Line.Raw\n  statics:\n    - meta: x\n      value: y\n")},
			evt:   func() *event.Event { return logEvent("abc", "test") },
			want:  want{ok: false, absent: []string{"meta.x", "n"}, trace: []string{"s00-raw/test/raw=false"}},
		},
		{
			name:  "grok input from expression",
			files: []File{vf("s00-raw", "raw", "name: test/raw\ngrok:\n  pattern: '^%{WORD:a}-%{WORD:b}$'\n  expression: Upper(evt.Line.Raw)\n")},
			evt:   func() *event.Event { return logEvent("foo-bar", "test") },
			want:  want{ok: true, parsed: map[string]string{"a": "FOO", "b": "BAR"}, trace: []string{"s00-raw/test/raw=true"}},
		},
		{
			name: "apply_on input reread after a grok rewrote it",
			files: []File{vf("s00-raw", "raw", rawStage), vf("s01-parse", "p", `name: test/p
nodes:
  - grok: {pattern: '^%{INT:n}$', apply_on: message}
  - grok: {pattern: '^user %{WORD:message}$', apply_on: message}
  - grok: {pattern: '^%{WORD:who}$', apply_on: message}
`)},
			evt: func() *event.Event { return logEvent("app user bob", "test") },
			want: want{ok: true, stage: "s01-parse", parsed: map[string]string{"message": "bob", "who": "bob"}, absent: []string{"n"},
				trace: []string{"s00-raw/test/raw=true", "s01-parse/test/p=true"}},
		},
		{
			name: "apply_on input reread after statics rewrote it",
			files: []File{vf("s00-raw", "raw", rawStage), vf("s01-parse", "p", `name: test/p
nodes:
  - grok: {pattern: '^%{INT:n}$', apply_on: message}
  - statics: [{parsed: message, value: bob}]
  - grok: {pattern: '^%{WORD:who}$', apply_on: message}
`)},
			evt: func() *event.Event { return logEvent("app user bob", "test") },
			want: want{ok: true, stage: "s01-parse", parsed: map[string]string{"message": "bob", "who": "bob"}, absent: []string{"n"},
				trace: []string{"s00-raw/test/raw=true", "s01-parse/test/p=true"}},
		},
		{
			name: "skeleton node: a failing child after a success flips to false",
			files: []File{vf("s00-raw", "raw", `name: test/raw
nodes:
  - filter: "1 == 1"
    statics: [{meta: a, value: "1"}]
  - filter: "1 == 2"
    statics: [{meta: b, value: "1"}]
statics: [{meta: parent, value: "1"}]
`)},
			evt:  func() *event.Event { return logEvent("x", "test") },
			want: want{ok: false, meta: map[string]string{"a": "1"}, absent: []string{"meta.b", "meta.parent"}, trace: []string{"s00-raw/test/raw=false"}},
		},
		{
			name: "skeleton node: failure then success is a success",
			files: []File{vf("s00-raw", "raw", `name: test/raw
nodes:
  - filter: "1 == 2"
    statics: [{meta: b, value: "1"}]
  - filter: "1 == 1"
    statics: [{meta: a, value: "1"}]
statics: [{meta: parent, value: "1"}]
`)},
			evt:  func() *event.Event { return logEvent("x", "test") },
			want: want{ok: true, meta: map[string]string{"a": "1", "parent": "1"}, trace: []string{"s00-raw/test/raw=true"}},
		},
		{
			name: "next_stage parent stops at the first successful child",
			files: []File{vf("s00-raw", "raw", `name: test/raw
onsuccess: next_stage
nodes:
  - statics: [{meta: a, value: "1"}]
  - statics: [{meta: b, value: "1"}]
`), vf("s01-parse", "p", "name: test/p\nstatics: [{meta: c, value: \"1\"}]\n")},
			evt:  func() *event.Event { return logEvent("x", "test") },
			want: want{ok: true, stage: "s01-parse", meta: map[string]string{"a": "1", "c": "1"}, absent: []string{"meta.b"}, trace: []string{"s00-raw/test/raw=true", "s01-parse/test/p=true"}},
		},
		{
			name: "parent with a successful grok stays true when a child fails",
			files: []File{vf("s00-raw", "raw", `name: test/raw
grok: {pattern: '%{WORD:w}', apply_on: Line.Raw}
nodes:
  - filter: "1 == 2"
    statics: [{meta: b, value: "1"}]
statics: [{meta: parent, value: "1"}]
`)},
			evt:  func() *event.Event { return logEvent("x", "test") },
			want: want{ok: true, meta: map[string]string{"parent": "1"}, trace: []string{"s00-raw/test/raw=true"}},
		},
		{
			name: "parent whose grok fails succeeds through a child",
			files: []File{vf("s00-raw", "raw", `name: test/raw
grok: {pattern: '^%{INT:n}$', apply_on: Line.Raw}
nodes:
  - grok: {pattern: '^%{WORD:w}$', apply_on: Line.Raw}
statics: [{meta: parent, value: "1"}]
`)},
			evt:  func() *event.Event { return logEvent("abc", "test") },
			want: want{ok: true, parsed: map[string]string{"w": "abc"}, meta: map[string]string{"parent": "1"}, absent: []string{"n"}, trace: []string{"s00-raw/test/raw=true"}},
		},
		{
			name: "static value kinds",
			files: []File{vf("s00-raw", "raw", `name: test/raw
statics:
  - parsed: int
    expression: 40 + 2
  - parsed: float
    expression: 1.5
  - parsed: empty
    expression: evt.Parsed.nothere
  - parsed: nil
    expression: evt.Unmarshaled.nothere
  - parsed: lit
    value: "v"
  - enriched: e
    value: "ev"
  - target: evt.Parsed.t
    value: "tv"
  - target: evt.Meta.m
    expression: "'mv'"
  - target: evt.Line.Module
    value: "mod"
  - target: evt.NoSuchField
    value: "x"
  - target: evt.StrTimeFormat
    value: "2006"
`)},
			evt: func() *event.Event { return logEvent("x", "test") },
			want: want{ok: true, parsed: map[string]string{"int": "42", "float": "1.500000", "lit": "v", "t": "tv"},
				absent: []string{"empty", "nil"}, enriched: map[string]string{"e": "ev"}, meta: map[string]string{"m": "mv"},
				trace: []string{"s00-raw/test/raw=true"}},
		},
		{
			name: "ip whitelist runs statics of the whitelisted node",
			files: []File{vf("s00-raw", "raw", "name: test/raw\nstatics: [{meta: source_ip, expression: evt.Line.Raw}]\n"), vf("s00-raw", "wl", `name: test/wl
whitelist:
  reason: private
  ip: ["::1"]
  cidr: ["10.0.0.0/8"]
statics: [{meta: wl_action, value: "done"}]
`)},
			evt:  func() *event.Event { return logEvent("10.1.2.3", "test") },
			want: want{ok: true, whitelisted: true, reason: "private", meta: map[string]string{"wl_action": "done"}, trace: []string{"s00-raw/test/raw=true", "s00-raw/test/wl=true"}},
		},
		{
			name: "whitelist node skips its statics when not whitelisted",
			files: []File{vf("s00-raw", "raw", "name: test/raw\nstatics: [{meta: source_ip, expression: evt.Line.Raw}]\n"), vf("s00-raw", "wl", `name: test/wl
whitelist:
  reason: private
  ip: ["1.1.1.1"]
  expression: ["evt.Meta.source_ip == '9.9.9.9'"]
statics: [{meta: wl_action, value: "done"}]
`)},
			evt:  func() *event.Event { return logEvent("8.8.8.8", "test") },
			want: want{ok: true, absent: []string{"meta.wl_action"}, trace: []string{"s00-raw/test/raw=true", "s00-raw/test/wl=true"}},
		},
		{
			name: "expression whitelist",
			files: []File{vf("s00-raw", "raw", "name: test/raw\nstatics: [{meta: source_ip, expression: evt.Line.Raw}]\n"), vf("s00-raw", "wl", `name: test/wl
whitelist:
  reason: by expr
  expression: ["evt.Meta.source_ip startsWith '9.'"]
`)},
			evt:  func() *event.Event { return logEvent("9.9.9.9", "test") },
			want: want{ok: true, whitelisted: true, reason: "by expr", trace: []string{"s00-raw/test/raw=true", "s00-raw/test/wl=true"}},
		},
		{
			name: "a stage without next_stage discards the event",
			files: []File{vf("s00-raw", "raw", "name: test/raw\nstatics: [{meta: a, value: \"1\"}]\n"),
				vf("s01-parse", "p", "name: test/p\nstatics: [{meta: b, value: \"1\"}]\n")},
			evt:  func() *event.Event { return logEvent("x", "test") },
			want: want{ok: false, stage: "s00-raw", meta: map[string]string{"a": "1"}, absent: []string{"meta.b"}, trace: []string{"s00-raw/test/raw=true"}},
		},
		{
			name: "an event injected at a later stage skips earlier stages",
			files: []File{vf("s00-raw", "raw", "name: test/raw\nstatics: [{meta: a, value: \"1\"}]\n"),
				vf("s01-parse", "p", "name: test/p\nstatics: [{meta: b, value: \"1\"}]\n")},
			evt: func() *event.Event {
				e := logEvent("x", "test")
				e.Stage = "s01-parse"
				return e
			},
			want: want{ok: true, stage: "s01-parse", meta: map[string]string{"b": "1"}, absent: []string{"meta.a"}, trace: []string{"s01-parse/test/p=true"}},
		},
		{
			name: "next_stage skips the rest of the stage; continue runs it",
			files: []File{vf("s00-raw", "a", "name: test/a\nstatics: [{meta: a, value: \"1\"}]\n"),
				vf("s00-raw", "b", "name: test/b\nonsuccess: next_stage\nstatics: [{meta: b, value: \"1\"}]\n"),
				vf("s00-raw", "c", "name: test/c\nstatics: [{meta: c, value: \"1\"}]\n"),
				vf("s01-parse", "p", "name: test/p\nfilter: \"1 == 2\"\nstatics: [{meta: d, value: \"1\"}]\n"),
				vf("s01-parse", "q", "name: test/q\nstatics: [{meta: e, value: \"1\"}]\n")},
			evt: func() *event.Event { return logEvent("x", "test") },
			want: want{ok: true, stage: "s01-parse", meta: map[string]string{"a": "1", "b": "1", "e": "1"}, absent: []string{"meta.c", "meta.d"},
				trace: []string{"s00-raw/test/a=true", "s00-raw/test/b=true", "s01-parse/test/p=false", "s01-parse/test/q=true"}},
		},
		{
			name: "stash then GetFromStash",
			files: []File{vf("s00-raw", "a", `name: test/a
stash:
  - name: tstash
    key: evt.Line.Raw
    value: "'stored-' + evt.Line.Raw"
    ttl: 1m
statics: [{meta: a, value: "1"}]
`), vf("s00-raw", "b", "name: test/b\nstatics: [{meta: got, expression: \"GetFromStash('tstash', evt.Line.Raw)\"}]\n")},
			evt:  func() *event.Event { return logEvent("k1", "test") },
			want: want{ok: true, meta: map[string]string{"got": "stored-k1"}, trace: []string{"s00-raw/test/a=true", "s00-raw/test/b=true"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := Load(tc.files, testOptions(t))
			require.NoError(t, err)
			evt := tc.evt()
			rec := &recorder{}
			ok := p.Parse(evt, rec)
			require.Equal(t, tc.want.ok, ok)
			require.Equal(t, tc.want.ok, evt.Process)
			if tc.want.stage != "" {
				require.Equal(t, tc.want.stage, evt.Stage)
			}
			for k, v := range tc.want.parsed {
				got, present := evt.Lookup(event.Parsed, k)
				require.True(t, present, "Parsed[%q] missing", k)
				require.Equal(t, v, got, "Parsed[%q]", k)
			}
			for k, v := range tc.want.meta {
				require.Equal(t, v, evt.Map(event.Meta)[k], "Meta[%q]", k)
			}
			for k, v := range tc.want.enriched {
				require.Equal(t, v, evt.Map(event.Enriched)[k], "Enriched[%q]", k)
			}
			for _, k := range tc.want.absent {
				if m, ok := strings.CutPrefix(k, "meta."); ok {
					require.NotContains(t, evt.Map(event.Meta), m)
				} else {
					require.NotContains(t, evt.Map(event.Parsed), k)
				}
			}
			if tc.want.strTime != "" {
				require.Equal(t, tc.want.strTime, evt.StrTime)
			}
			require.Equal(t, tc.want.whitelisted, evt.Whitelisted)
			require.Equal(t, tc.want.reason, evt.WhitelistReason)
			var trace []string
			for _, r := range rec.got {
				trace = append(trace, fmt.Sprintf("%s/%s=%v", r.Stage, r.Node, r.Success))
			}
			require.Equal(t, tc.want.trace, trace)
		})
	}
}

func TestOverflowWhitelist(t *testing.T) {
	t.Parallel()
	files := []File{vf("s01-whitelist", "wl", `name: test/po-wl
whitelist:
  reason: po reason
  cidr: ["192.168.0.0/16"]
`)}
	p, err := Load(files, testOptions(t))
	require.NoError(t, err)
	for _, tc := range []struct {
		name    string
		sources []string
		want    bool
	}{
		{"one whitelisted source", []string{"8.8.8.8", "192.168.1.1"}, true},
		{"no whitelisted source", []string{"8.8.8.8"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evt := &event.Event{Type: event.OVFLW, Overflow: event.RuntimeAlert{Sources: map[string]models.Source{}}}
			for _, s := range tc.sources {
				evt.Overflow.Sources[s] = models.Source{IP: s}
			}
			require.True(t, p.Parse(evt, nil))
			require.Equal(t, tc.want, evt.Whitelisted)
			require.Equal(t, tc.want, evt.Overflow.Whitelisted)
		})
	}
}

// TestLogWhitelistIPs: a log event's Meta.source_ip against whitelists
// of ips (in no order, v4 and v6, searched in sorted order) and cidrs, two
// whitelists in a row (the address is parsed once for both), events in a
// row with different sources on one pipeline.
func TestLogWhitelistIPs(t *testing.T) {
	t.Parallel()
	files := []File{
		vf("s00-raw", "raw", "name: test/raw\nonsuccess: next_stage\nstatics:\n  - meta: source_ip\n    expression: evt.Line.Raw\n"),
		vf("s01-parse", "wl1", `name: test/wl1
whitelist:
  reason: first
  ip: ["9.9.9.9", "2620:fe::fe", "1.1.1.1", "::1", "8.8.4.4", "149.112.112.112", "::ffff:5.5.5.5"]
  cidr: ["10.0.0.0/8", "fd00::/8", "2001:db8::/32"]
`),
		vf("s01-parse", "wl2", `name: test/wl2
whitelist:
  reason: second
  ip: ["4.4.4.4"]
  cidr: ["172.16.0.0/12", "100.64.3.3/10", "192.0.2.1/32"]
`),
	}
	p, err := Load(files, testOptions(t))
	require.NoError(t, err)
	for _, tc := range []struct {
		src, reason string
	}{
		{"9.9.9.9", "first"},
		{"1.1.1.1", "first"},
		{"149.112.112.112", "first"},
		{"::1", "first"},
		{"2620:fe::fe", "first"},
		{"2620:fe::ff", ""},
		{"::ffff:1.1.1.1", "first"}, // unmapped before the search
		{"5.5.5.5", "first"},        // the list's ::ffff:5.5.5.5, unmapped at load
		{"10.2.3.4", "first"},
		{"fd12::1", "first"},
		{"4.4.4.4", "second"},
		{"172.20.1.1", "second"},
		{"8.8.8.8", ""},
		{"::ffff:8.8.8.8", ""}, // unmapped: in no IPv6 prefix
		{"100.100.1.1", "second"},
		{"100.128.0.1", ""},
		{"192.0.2.1", "second"},
		{"192.0.2.2", ""},
		{"fe80::1%eth0", ""},
		{"2001:db8::5", "first"},
		{"0.0.0.0", ""},
		{"255.255.255.255", ""},
		{"not an address", ""},
		{"", ""},
		{"9.9.9.9", "first"},
	} {
		evt := event.New(event.Line{Raw: tc.src})
		p.Parse(evt, nil)
		require.Equal(t, tc.reason != "", evt.Whitelisted, tc.src)
		require.Equal(t, tc.reason, evt.WhitelistReason, tc.src)
	}
}

func TestChildNamesAndStats(t *testing.T) {
	t.Parallel()
	p, err := Load([]File{vf("s00-raw", "raw", `name: test/raw
nodes:
  - filter: "evt.Line.Raw == 'a'"
    statics: [{meta: a, value: "1"}]
  - name: test/named
    filter: "evt.Line.Raw == 'b'"
    statics: [{meta: b, value: "1"}]
`)}, testOptions(t))
	require.NoError(t, err)
	require.True(t, p.Parse(logEvent("b", "test"), nil))
	require.False(t, p.Parse(logEvent("a", "test"), nil)) // second child fails after the first: skeleton false
	st := p.Stats()
	require.Equal(t, uint64(1), st.Parsed)
	require.Equal(t, uint64(1), st.Unparsed)
	require.Equal(t, []NodeStats{
		{Stage: "s00-raw", Name: "test/raw", Hits: 2, OK: 1, KO: 1},
		{Stage: "s00-raw", Name: "child-test/raw", Hits: 1, OK: 1, KO: 0},
		{Stage: "s00-raw", Name: "test/named", Hits: 1, OK: 1, KO: 0},
	}, st.Nodes)
}

// detail records a DetailTracer's calls.
type detail struct {
	recorder
	lines []string
}

func (d *detail) NodeStart(stage string, path []string, evt *event.Event) {
	d.lines = append(d.lines, "start "+strings.Join(path, ">"))
}

func (d *detail) Step(stage string, path []string, s Step) {
	d.lines = append(d.lines, fmt.Sprintf("  %s %s ok=%v %s=%s", strings.Join(path, ">"), s.Kind, s.OK, s.Target, s.Value))
}

func (d *detail) NodeEnd(stage string, path []string, ok bool, evt *event.Event) {
	d.lines = append(d.lines, fmt.Sprintf("end %s %v", strings.Join(path, ">"), ok))
}

func TestDetailTracer(t *testing.T) {
	t.Parallel()
	p, err := Load([]File{vf("s00-raw", "raw", `name: test/raw
filter: "evt.Line.Labels.type == 'test'"
onsuccess: next_stage
grok: {pattern: '%{WORD:w}', apply_on: Line.Raw}
nodes:
  - filter: "evt.Parsed.w == 'hello'"
    statics: [{meta: greet, value: "yes"}]
statics: [{parsed: p, expression: evt.Parsed.w}]
`), vf("s01-parse", "p", "name: test/p\nstatics: [{meta: z, value: \"1\"}]\n")}, testOptions(t))
	require.NoError(t, err)
	d := &detail{}
	require.True(t, p.Parse(logEvent("hello", "test"), d))
	require.Equal(t, []string{
		"start test/raw",
		"  test/raw filter ok=true =",
		"  test/raw grok ok=true Line.Raw=hello",
		"start test/raw>child-test/raw",
		"  test/raw>child-test/raw filter ok=true =",
		"  test/raw>child-test/raw static ok=true evt.Meta.greet=yes",
		"end test/raw>child-test/raw true",
		"  test/raw static ok=true evt.Parsed.p=hello",
		"  test/raw next_stage ok=true =s01-parse",
		"end test/raw true",
		"start test/p",
		"  test/p static ok=true evt.Meta.z=1",
		"end test/p true",
	}, d.lines)
	require.Len(t, d.got, 2)
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		text string
		want string
	}{
		{"unknown field", "name: x/y\nfilter: \"1==1\"\nstatics: [{meta: a, value: b}]\nfoo: bar\n", "/virtual/s00-raw/bad.yaml:4: field foo: unknown field"},
		{"unknown nested field", "name: x/y\ngrok:\n  pattern: x\n  apply: Line.Raw\n", "/virtual/s00-raw/bad.yaml:4: field apply: unknown field"},
		{"bad onsuccess", "name: x/y\n\nonsuccess: next\nstatics: [{meta: a, value: b}]\n", `parse: /virtual/s00-raw/bad.yaml:3: node "x/y": field onsuccess: must be "next_stage" or "continue"`},
		{"filter does not compile", "name: x/y\nfilter: \"evt.Parsed.a ==\"\nstatics: [{meta: a, value: b}]\n", `parse: /virtual/s00-raw/bad.yaml:2: node "x/y": field filter: compile`},
		{"unknown grok pattern", "name: x/y\ngrok:\n  pattern: '%{NOPE_NOT_A_PATTERN:x}'\n  apply_on: Line.Raw\n", `parse: /virtual/s00-raw/bad.yaml:3: node "x/y": field grok.pattern: grok: `},
		{"unknown grok pattern names it", "name: x/y\ngrok:\n  pattern: '%{NOPE_NOT_A_PATTERN:x}'\n  apply_on: Line.Raw\n", "NOPE_NOT_A_PATTERN"},
		{"unknown grok name", "name: x/y\ngrok:\n  name: NOPE_NAMED\n  apply_on: Line.Raw\n", `parse: /virtual/s00-raw/bad.yaml:3: node "x/y": field grok.name: unknown grok pattern "NOPE_NAMED"`},
		{"grok without input", "name: x/y\ngrok:\n  pattern: '%{WORD:w}'\n", `bad.yaml:2: node "x/y": field grok: needs 'apply_on' or 'expression'`},
		{"static without value", "name: x/y\nstatics:\n  - meta: a\n", `bad.yaml:3: node "x/y": field statics[0]: needs 'value' or 'expression'`},
		{"static without target", "name: x/y\nstatics:\n  - value: a\n", `bad.yaml:3: node "x/y": field statics[0]: needs one of`},
		{"static expression does not compile", "name: x/y\nstatics:\n  - meta: a\n    expression: 'evt.('\n", `bad.yaml:4: node "x/y": field statics[0].expression: compile`},
		{"bad cidr", "name: x/y\nwhitelist:\n  reason: r\n  cidr:\n    - 10.0.0.0/8\n    - 300.0.0.0/8\n", `bad.yaml:6: node "x/y": field whitelist.cidr: bad cidr "300.0.0.0/8"`},
		{"bad ip", "name: x/y\nwhitelist:\n  reason: r\n  ip: [nope]\n", `bad.yaml:4: node "x/y": field whitelist.ip: bad ip "nope"`},
		{"stash without ttl", "name: x/y\nstash:\n  - name: s\n    key: evt.Line.Raw\n    value: evt.Line.Raw\nstatics: [{meta: a, value: b}]\n", `bad.yaml:3: node "x/y": field stash.ttl: stash "s": ttl must be set`},
		{"empty node", "name: x/y\nfilter: \"1==1\"\n", `bad.yaml:1: node "x/y": node is empty`},
		{"bad format", "name: x/y\nformat: abc\nstatics: [{meta: a, value: b}]\n", `bad.yaml:2: node "x/y": field format: bad format "abc"`},
		{"yaml syntax", "name: x/y\nfilter: [\n", "bad.yaml:"},
		{"error in second document", "name: a/b\nstatics: [{meta: a, value: b}]\n---\nname: x/y\nonsuccess: nope\nstatics: [{meta: a, value: b}]\n", `bad.yaml:5: node "x/y": field onsuccess`},
		{"child node error", "name: x/y\nnodes:\n  - grok:\n      pattern: '%{WORD:w}'\n      apply_on: Line.Raw\n    onsuccess: later\n", `bad.yaml:6: node "child-x/y": field onsuccess`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load([]File{vf("s00-raw", "bad", tc.text)}, testOptions(t))
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			require.True(t, strings.HasPrefix(err.Error(), "parse: "), err.Error())
		})
	}
}

func TestYAMLErrorType(t *testing.T) {
	t.Parallel()
	_, err := Load([]File{vf("s00-raw", "bad", "name: x/y\nfoo: bar\n")}, testOptions(t))
	var ye *YAMLError
	require.ErrorAs(t, err, &ye)
	require.Equal(t, "parse: /virtual/s00-raw/bad.yaml:2: field foo: unknown field (in NodeConfig)", err.Error())
}

func TestLoadSkips(t *testing.T) {
	t.Parallel()
	p, err := Load([]File{
		vf("s00-raw", "a", "# only a comment\nfilter: \"1==1\"\n---\nname: ok/one\nstatics: [{meta: a, value: b}]\n---\nname: too/new\nformat: 4.0\nstatics: [{meta: a, value: b}]\n"),
		{Stage: "s00-raw", Path: "/virtual/s00-raw/readme.md", Content: []byte("not yaml")},
	}, testOptions(t))
	require.NoError(t, err)
	require.Equal(t, []NodeInfo{{Stage: "s00-raw", Name: "ok/one", File: "/virtual/s00-raw/a.yaml", Line: 4}}, p.Nodes())
}

func TestLoadOrder(t *testing.T) {
	t.Parallel()
	p, err := Load([]File{
		vf("s01-parse", "b", "name: n/b\nstatics: [{meta: a, value: b}]\n"),
		vf("s00-raw", "z", "name: n/z\nstatics: [{meta: a, value: b}]\n"),
		{Stage: "s01-parse", Path: "/other/dir/s01-parse/a.yaml", Content: []byte("name: n/a\nstatics: [{meta: a, value: b}]\n---\nname: n/a2\nstatics: [{meta: a, value: b}]\n")},
	}, testOptions(t))
	require.NoError(t, err)
	require.Equal(t, []string{"s00-raw", "s01-parse"}, p.Stages())
	var names []string
	for _, n := range p.Nodes() {
		names = append(names, n.Name)
	}
	require.Equal(t, []string{"n/z", "n/a", "n/a2", "n/b"}, names)
}

// TestSession: a session parses a run of events as Pipeline.Parse does
// (results, fields, traces, counters), with and without a tracer.
func TestSession(t *testing.T) {
	t.Parallel()
	p, err := Load([]File{vf("s00-raw", "raw", rawStage), vf("s01-parse", "p", `name: test/p
filter: "evt.Parsed.program == 'app'"
statics:
  - meta: msg
    expression: evt.Parsed.message
`)}, testOptions(t))
	require.NoError(t, err)
	lines := []string{"app one", "other two", "app three", "", "app four"}
	type result struct {
		ok    bool
		msg   string
		trace int
	}
	run := func(parse func(*event.Event, Tracer) bool) []result {
		var out []result
		for i, l := range lines {
			evt := p.Schema().New(event.Line{Raw: l, Labels: map[string]string{"type": "test"}})
			var tr Tracer
			rec := &recorder{}
			if i%2 == 1 {
				tr = rec
			}
			ok := parse(evt, tr)
			msg, _ := evt.Lookup(event.Meta, "msg")
			out = append(out, result{ok, msg, len(rec.got)})
		}
		return out
	}
	want := run(p.Parse)
	before := p.Stats()
	s := p.Session()
	got := run(s.Parse)
	s.Close()
	require.Equal(t, want, got)
	require.Equal(t, []result{{true, "one", 0}, {false, "", 2}, {true, "three", 0}, {false, "", 1}, {true, "four", 0}}, got)
	after := p.Stats()
	require.Equal(t, 2*before.Parsed, after.Parsed)
	require.Equal(t, 2*before.Unparsed, after.Unparsed)
}

// TestSessionClock: events without a time get the clock's reading; a
// session reads it once, for its first such event, and Pipeline.Parse
// once a call; an event with a time keeps it.
func TestSessionClock(t *testing.T) {
	t.Parallel()
	opts := testOptions(t)
	reads := 0
	opts.Now = func() time.Time {
		reads++
		return testNow.Add(time.Duration(reads) * time.Second)
	}
	p, err := Load([]File{vf("s00-raw", "raw", rawStage)}, opts)
	require.NoError(t, err)
	timed := testNow.Add(-time.Hour)
	run := func(parse func(*event.Event, Tracer) bool, withTime []bool) []time.Duration {
		var out []time.Duration
		for _, w := range withTime {
			evt := p.Schema().New(event.Line{Raw: "app x", Labels: map[string]string{"type": "test"}})
			if w {
				evt.Time = timed
			}
			parse(evt, nil)
			out = append(out, evt.Time.Sub(testNow))
		}
		return out
	}
	require.Equal(t, []time.Duration{time.Second, 2 * time.Second, -time.Hour}, run(p.Parse, []bool{false, false, true}))
	s := p.Session()
	got := run(s.Parse, []bool{true, false, false, false})
	s.Close()
	require.Equal(t, []time.Duration{-time.Hour, 3 * time.Second, 3 * time.Second, 3 * time.Second}, got)
	s = p.Session()
	got = run(s.Parse, []bool{false})
	s.Close()
	require.Equal(t, []time.Duration{4 * time.Second}, got)
	require.Equal(t, 4, reads)
}
