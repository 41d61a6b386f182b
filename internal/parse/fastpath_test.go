package parse

import (
	"testing"

	"github.com/expr-lang/expr/vm"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/models"
)

func fastEvents() []*event.Event {
	mk := func(program, typ, raw string) *event.Event {
		e := event.New(event.Line{Raw: raw, Src: "/x.log", Module: "file", Labels: map[string]string{"type": typ}})
		if program != "-" {
			e.Parsed["program"] = program
		}
		e.Meta["source_ip"] = "1.2.3.4"
		e.Enriched["MarshaledTime"] = "2024-01-01T00:00:00Z"
		e.StrTime = "Mar  1 00:00:00"
		return e
	}
	return []*event.Event{
		mk("nginx", "syslog", "a"), mk("nginx-error", "nginx", ""), mk("sshd", "syslog", "x y"),
		mk("sshd-session", "unifi", "é"), mk("", "", ""), mk("-", "syslog", "z"), mk("NGINX", "Syslog", "q"),
	}
}

// TestFastPredicateMatchesVM checks every fast filter against expr's result.
func TestFastPredicateMatchesVM(t *testing.T) {
	t.Parallel()
	opts := testOptions(t)
	cases := []struct {
		src  string
		fast bool
	}{
		{"evt.Parsed.program == 'nginx'", true},
		{"evt.Parsed.program != 'nginx'", true},
		{"evt.Parsed.program startsWith 'nginx'", true},
		{"evt.Parsed.program endsWith 'session'", true},
		{"evt.Parsed.program contains 'ss'", true},
		{"evt.Parsed.program in ['sshd-session', 'sshd']", true},
		{"evt.Line.Labels.type not in ['syslog', 'unifi']", true},
		{"evt.Line.Labels.type == 'syslog'", true},
		{"evt.Line.Labels['type'] == \"syslog\"", true},
		{"not (evt.Parsed.program == 'nginx')", true},
		{"!(evt.Parsed.program == 'nginx')", true},
		{"evt.Parsed.program == 'sshd' && evt.Line.Labels.type == 'syslog'", true},
		{"evt.Parsed.program == 'sshd' or evt.Parsed.program startsWith 'ng'", true},
		{"evt.Meta.source_ip == '1.2.3.4' and evt.StrTime != ''", true},
		{"evt.Enriched.MarshaledTime != '' && evt.Line.Raw == 'a'", true},
		{"evt.Parsed.nothere == ''", true},
		{"evt.Line.Module == 'file' && evt.Line.Src endsWith '.log'", true},
		{"Upper(evt.Parsed.program) == 'NGINX'", false},
		{"evt.Parsed.program matches '^ng'", false},
		{"evt.Parsed?.program == 'nginx'", false},
		{"len(evt.Parsed.program) > 3", false},
	}
	for _, tc := range cases {
		t.Run(tc.src, func(t *testing.T) {
			t.Parallel()
			prog, err := opts.Expr.Compile(tc.src, exprEnv{})
			require.NoError(t, err)
			fast := fastPredicate(tc.src)
			require.Equal(t, tc.fast, fast != nil)
			if fast == nil {
				return
			}
			for _, e := range fastEvents() {
				out, err := vm.Run(prog, exprEnv{Evt: e})
				require.NoError(t, err)
				require.Equal(t, out, fast(e), "event %+v", e.Parsed)
			}
		})
	}
}

// TestFastGetterMatchesVM checks every fast field read against expr's result.
func TestFastGetterMatchesVM(t *testing.T) {
	t.Parallel()
	opts := testOptions(t)
	srcs := []string{
		"evt.Parsed.program", "evt.Parsed.nothere", "evt.Meta.source_ip", "evt.Meta['source_ip']",
		"evt.Enriched.MarshaledTime", "evt.Line.Raw", "evt.Line.Src", "evt.Line.Module",
		"evt.Line.Labels.type", "evt.Line.Labels.nothere", "evt.StrTime", "evt.StrTimeFormat",
		"evt.MarshaledTime", "evt.Stage", "evt.WhitelistReason",
	}
	for _, src := range srcs {
		t.Run(src, func(t *testing.T) {
			t.Parallel()
			prog, err := opts.Expr.Compile(src, exprEnv{})
			require.NoError(t, err)
			g := fastGetter(src)
			require.NotNil(t, g)
			for _, e := range fastEvents() {
				out, err := vm.Run(prog, exprEnv{Evt: e})
				require.NoError(t, err)
				s, skip, err := stringify(out)
				require.NoError(t, err)
				// a skipped (nil) result and an empty string both leave the static unapplied.
				if skip {
					s = ""
				}
				require.Equal(t, s, g(e))
			}
		})
	}
	for _, src := range []string{"evt.Unmarshaled.x", "evt.Parsed", "evt.Overflow.Alert.Source.Value", "evt.Time", "Upper(evt.StrTime)"} {
		require.Nil(t, fastGetter(src), src)
	}
}

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
		{target: "evt.Parsed.a", settable: true, check: func(e *event.Event) string { return e.Parsed["a"] }},
		{target: "evt.Parsed.a.b", settable: true, check: func(e *event.Event) string { return e.Parsed["a"] }},
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
			set, err := compileTarget(tc.target)
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
	set, err := compileTarget("evt.Overflow.Alert.Source.Value")
	require.NoError(t, err)
	e := event.New(event.Line{})
	val := ""
	e.Overflow.Alert = &models.Alert{Source: &models.Source{Value: &val}}
	require.True(t, set(e, "1.2.3.4"))
	require.Equal(t, "1.2.3.4", val)
}
