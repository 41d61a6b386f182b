package parse

import (
	"strings"
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
	out := []*event.Event{
		mk("nginx", "syslog", "a"), mk("nginx-error", "nginx", ""), mk("sshd", "syslog", "x y"),
		mk("sshd-session", "unifi", "é"), mk("", "", ""), mk("-", "syslog", "z"), mk("NGINX", "Syslog", "q"),
	}
	// addresses for the IP helpers; "-" removes the key
	for _, ip := range []string{"127.0.0.1", "10.1.2.3", "172.31.0.1", "172.32.0.1", "192.168.1.1", "::1", "fd00::1",
		"fc00::1", "2001:db8::1", "::ffff:10.0.0.1", "::ffff:8.8.8.8", "fe80::1%eth0", "", "garbage", "1.2.3", "-"} {
		e := mk("nginx", "nginx", ip)
		if ip == "-" {
			delete(e.Meta, "source_ip")
		} else {
			e.Meta["source_ip"] = ip
		}
		out = append(out, e)
	}
	return out
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
		{"Upper(evt.Parsed.program) == 'NGINX'", true},
		{"Lower(evt.Line.Labels.type) in ['syslog', 'nginx']", true},
		{"evt.Parsed.program + evt.Line.Raw startsWith 'nginxa'", true},
		{"(evt.Line.Raw == 'a' ? 'x' : evt.Parsed.program) == 'x'", true},
		{"Upper(evt.Parsed.program) == evt.Parsed.program", false},
		{"evt.Parsed.program matches '^ng'", false},
		{"evt.Parsed?.program == 'nginx'", false},
		{"len(evt.Parsed.program) > 3", false},
		{"true && evt.Parsed.program == 'nginx'", true},
		{"'source_ip' in evt.Meta", true},
		{"'program' in evt.Parsed && !('x' in evt.Enriched)", true},
		{"IsIPV6(evt.Meta.source_ip)", true},
		{"IpInRange(evt.Meta.source_ip, '10.0.0.0/8')", true},
		{"IpInRange(evt.Meta.source_ip, '::ffff:10.0.0.0/104')", true},
		{"IpInRange(evt.Meta.source_ip, 'not a range')", true},
		{"IpInRange(evt.Meta.source_ip, evt.Parsed.program)", false},
		{"let v = IsIPV6(evt.Meta.source_ip); v || evt.Parsed.program == 'sshd'", true},
		{"let v = IsIPV6(evt.Meta.source_ip); let w = true; v && w", true},
		{"let v = IsIPV6(evt.Meta.source_ip); any([1], {v})", false},
		{"let v = evt.Parsed.program; v == 'nginx'", false},
		// the hub's geoip-enrich filter, verbatim
		{geoipFilter, true},
	}
	for _, tc := range cases {
		t.Run(tc.src, func(t *testing.T) {
			t.Parallel()
			prog, err := opts.Expr.Compile(tc.src, exprEnv{})
			require.NoError(t, err)
			fast := fastPredicate(opts.Expr, tc.src)
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
		// computed values (the hub's http-logs statics and variations)
		"'lit'", "evt.Parsed.program + evt.Line.Raw", "evt.Line.Raw + '-' + evt.Parsed.nothere",
		"evt.Line.Labels.type in ['syslog', 'nginx'] ? 'false' : 'true'",
		"Upper(evt.Parsed.program) in ['NGINX', 'SSHD'] ? 'true' : 'false'",
		"Lower(Upper(evt.Line.Raw))", "Upper(evt.Line.Raw)",
		"len(evt.Line.Raw)", "len(evt.Parsed.nothere)", "len(Upper(evt.Parsed.program) + 'é')",
	}
	for _, src := range srcs {
		t.Run(src, func(t *testing.T) {
			t.Parallel()
			prog, err := opts.Expr.Compile(src, exprEnv{})
			require.NoError(t, err)
			g, numeric := fastGetter(opts.Expr, src)
			require.NotNil(t, g)
			require.Equal(t, strings.HasPrefix(src, "len("), numeric)
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
	for _, src := range []string{"evt.Unmarshaled.x", "evt.Parsed", "evt.Overflow.Alert.Source.Value", "evt.Time",
		"Trim(evt.StrTime)", "evt.Parsed.a + 1", "len(evt.Parsed.a) + 1", "evt.StrTime == '' ? 1 : 'a'", "evt.Parsed.x ? 'a' : 'b'"} {
		g, _ := fastGetter(opts.Expr, src)
		require.Nil(t, g, src)
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

const geoipFilter = `let ipv6Check = IsIPV6(evt.Meta.source_ip);
"source_ip" in evt.Meta &&
(
  not ipv6Check &&
  not (IpInRange(evt.Meta.source_ip, "127.0.0.0/8") || IpInRange(evt.Meta.source_ip, "192.168.0.0/16") || IpInRange(evt.Meta.source_ip, "172.16.0.0/12") || IpInRange(evt.Meta.source_ip, "10.0.0.0/8"))
) ||
(
  ipv6Check &&
  not (IpInRange(evt.Meta.source_ip, "::1/128") || IpInRange(evt.Meta.source_ip, "fd00::/8") || IpInRange(evt.Meta.source_ip, "fc00::/7"))
)`
