package natexpr_test

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/datafile"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/exprenv"
	"github.com/phalanx-ids/phalanx/internal/natexpr"
	"github.com/phalanx-ids/phalanx/internal/natexpr/natexprtest"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// vmEnv is the expression environment of parser and scenario filters.
type vmEnv struct {
	Evt *event.Event `expr:"evt"`
}

// testEnv is exprenv over the hub's data files; plain: without exprenv's
// data-file rewrite (every entry tried in turn, the reference).
func testEnv(t testing.TB, plain bool) (*exprenv.Env, *datafile.Store) {
	store := datafile.NewStore(t.TempDir())
	store.SetMirror(filepath.Join(testutil.Hub(t), "data"))
	for _, f := range []string{"bad_user_agents.txt", "backdoors.txt"} {
		require.NoError(t, store.Load(datafile.Spec{DestFile: f, SourceURL: "https://x/web/" + f, Type: "string"}))
	}
	require.NoError(t, store.Load(datafile.Spec{DestFile: "bad_user_agents.regex.txt", SourceURL: "https://x/web/bad_user_agents.regex.txt", Type: "regexp"}))
	return exprenv.New(exprenv.Deps{Data: store, PlainFilters: plain}), store
}

func tableEvents() []*event.Event {
	// meta: source_ip and n, "-" for none
	mkMeta := func(program, typ, raw, ip, n string) *event.Event {
		e := event.New(event.Line{Raw: raw, Src: "/x.log", Module: "file", Labels: map[string]string{"type": typ}})
		if program != "-" {
			e.SetParsed("program", program)
		}
		if ip != "-" {
			e.SetMeta("source_ip", ip)
		}
		if n != "-" {
			e.SetMeta("n", n)
		}
		e.Put(event.Enriched, "MarshaledTime", "2024-01-01T00:00:00Z")
		e.StrTime = "Mar  1 00:00:00"
		return e
	}
	mk := func(program, typ, raw string) *event.Event { return mkMeta(program, typ, raw, "1.2.3.4", "12") }
	out := []*event.Event{
		mk("nginx", "syslog", "a"), mk("nginx-error", "nginx", ""), mkMeta("sshd", "syslog", "x y", "1.2.3.4", "-"),
		mk("sshd-session", "unifi", "é"), mk("", "", ""), mk("-", "syslog", "z"), mk("NGINX", "Syslog", "q"),
	}
	out[1].SetMeta("n", "x")
	// addresses for the IP helpers; "-" removes the key
	for _, ip := range []string{"127.0.0.1", "10.1.2.3", "172.31.0.1", "172.32.0.1", "192.168.1.1", "::1", "fd00::1",
		"fc00::1", "2001:db8::1", "::ffff:10.0.0.1", "::ffff:8.8.8.8", "fe80::1%eth0", "", "garbage", "1.2.3", "-",
		"010.1.2.3", "10.1.2.256", "10.1.2.3.4", "10.255.255.255"} {
		out = append(out, mkMeta("nginx", "nginx", ip, ip, "12"))
	}
	return out
}

// contexts returns the three ways an expression is evaluated: on demand
// without memo (parsers), with memo, with memo and the fields read ahead
// (scenarios); and the kept contexts, reset to e (a Ctx that met earlier
// events, as a parser's or a worker's does).
func contexts(t *natexpr.Table, e *event.Event, kept ...*natexpr.Ctx) []*natexpr.Ctx {
	plain := &natexpr.Ctx{}
	plain.Reset(e, nil)
	memo := natexpr.NewCtx(t)
	memo.Reset(e, nil)
	ahead := natexpr.NewCtx(t)
	vals := make([]string, t.NumFields())
	t.Read(e, vals)
	ahead.Reset(e, vals)
	for _, k := range kept {
		k.Reset(e, nil)
	}
	return append([]*natexpr.Ctx{plain, memo, ahead}, kept...)
}

// checkBool compares b with the VM's prog on e, error included.
func checkBool(t *testing.T, tab *natexpr.Table, b natexpr.Bool, prog *vm.Program, e *event.Event, what string, kept ...*natexpr.Ctx) {
	t.Helper()
	want, werr := vm.Run(prog, vmEnv{Evt: e})
	for i, c := range contexts(tab, e, kept...) {
		for range 2 { // twice: the memo must give the same answer
			got, gerr := b(c)
			require.Equal(t, werr != nil, gerr != nil, "%s (ctx %d) on %v %v: vm %v native %v", what, i, e.Map(event.Meta), e.Map(event.Parsed), werr, gerr)
			if werr == nil {
				require.Equal(t, want, got, "%s (ctx %d) on %v %v %v", what, i, e.Map(event.Meta), e.Map(event.Parsed), e.Line)
			}
		}
	}
}

// TestBoolMatchesVM checks the compiled shapes against expr's result.
func TestBoolMatchesVM(t *testing.T) {
	t.Parallel()
	env, _ := testEnv(t, false)
	cases := []struct {
		src    string
		native bool
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
		{"Upper(evt.Parsed.program) == evt.Parsed.program", true},
		{"evt.Parsed.program matches '^ng'", true},
		{"evt.Parsed.program matches evt.Line.Raw", false},
		{"evt.Parsed?.program == 'nginx'", false},
		{"len(evt.Parsed.program) > 3", false},
		{"true && evt.Parsed.program == 'nginx'", true},
		{"evt.Parsed.program == 'sshd' ? evt.Line.Raw == 'x y' : false", true},
		{"'source_ip' in evt.Meta", true},
		{"'program' in evt.Parsed && !('x' in evt.Enriched)", true},
		{"IsIPV6(evt.Meta.source_ip)", true},
		{"IsIPV4(evt.Meta.source_ip) || IsIP(evt.Line.Raw)", true},
		{"IpInRange(evt.Meta.source_ip, '10.0.0.0/8')", true},
		{"IsIPV4(evt.Meta.source_ip) && IpInRange(evt.Meta.source_ip, '10.0.0.0/8')", true},
		{"IpInRange(evt.Meta.source_ip, '127.0.0.0/8') || IpInRange(evt.Meta.source_ip, '::1/128') or IpInRange(evt.Meta.source_ip, 'bad') || IpInRange(evt.Meta.source_ip, '10.0.0.0/8')", true},
		{"not (IpInRange(evt.Meta.source_ip, 'fd00::/8') || IpInRange(evt.Meta.source_ip, 'fc00::/7'))", true},
		{"IpInRange(evt.Meta.source_ip, '10.0.0.0/8') || IpInRange(evt.Line.Raw, '172.16.0.0/12')", true},
		{"IpInRange(evt.Meta.source_ip, '10.0.0.0/8') || evt.Line.Raw == 'z' || IpInRange(evt.Meta.source_ip, '::/0')", true},
		{"IpInRange(Lower(evt.Line.Raw), '10.0.0.0/8') || IpInRange(Lower(evt.Line.Raw), 'fc00::/7')", true},
		{"(IsIPV6(evt.Line.Raw) && !IsIPV6(evt.Meta.source_ip)) || IsIP(evt.Parsed.program) || IsIPV4(evt.Line.Raw)", true},
		{"IpInRange(evt.Meta.source_ip, '::ffff:10.0.0.0/104')", true},
		{"IpInRange(evt.Meta.source_ip, 'not a range')", true},
		{"IpInRange(evt.Meta.source_ip, evt.Parsed.program)", false},
		{"let v = IsIPV6(evt.Meta.source_ip); v || evt.Parsed.program == 'sshd'", true},
		{"let v = IsIPV6(evt.Meta.source_ip); let w = true; v && w", true},
		{"let v = IsIPV6(evt.Meta.source_ip); any([1], {v})", false},
		{"let v = evt.Parsed.program; v == 'nginx'", true},
		{"int(evt.Meta.n) > 10", true},
		{"10 >= int(evt.Meta.n)", true},
		{"int(evt.Meta.n) == 12 || evt.Parsed.program == 'sshd'", true},
		{"let x = int(evt.Meta.n) > 3; x", false}, // a let value that can fail
		{"(int(evt.Meta.n) > 3 ? 'a' : 'b') == 'a'", true},
		{"any(File('bad_user_agents.txt'), {Upper(evt.Parsed.program) contains Upper(#)})", true},
		{"any(File('bad_user_agents.txt'), {# == evt.Parsed.program})", true},
		{"any(File('no such file'), {evt.Parsed.program contains #})", false},
		{"RegexpInFile(evt.Parsed.program, 'bad_user_agents.regex.txt')", true},
		{geoipFilter, true},
	}
	for _, tc := range cases {
		t.Run(tc.src, func(t *testing.T) {
			t.Parallel()
			prog, err := env.Compile(tc.src, vmEnv{}, exprenvAsBool()...)
			require.NoError(t, err)
			tab := natexpr.NewTable()
			b := natexpr.New(tab, env).Bool(tc.src)
			aheadAll(tab, tc.src)
			require.Equal(t, tc.native, b != nil)
			if b == nil {
				return
			}
			kept := &natexpr.Ctx{} // across events: its last address must not leak
			for _, e := range tableEvents() {
				checkBool(t, tab, b, prog, e, tc.src, kept)
			}
		})
	}
}

// TestWithoutHelpers: with no helper set, helper calls are left to the VM.
func TestWithoutHelpers(t *testing.T) {
	t.Parallel()
	c := natexpr.New(nil, nil)
	require.Nil(t, c.Bool("Upper(evt.Parsed.x) == 'A'"))
	require.Nil(t, c.Bool("IsIPV6(evt.Meta.source_ip)"))
	require.NotNil(t, c.Bool("evt.Parsed.x == 'A'"))
}

// TestValueMatchesVM checks compiled string values against expr's result,
// stringified as statics do.
func TestValueMatchesVM(t *testing.T) {
	t.Parallel()
	env, _ := testEnv(t, false)
	srcs := []string{
		"evt.Parsed.program", "evt.Parsed.nothere", "evt.Meta.source_ip", "evt.Meta['source_ip']",
		"evt.Enriched.MarshaledTime", "evt.Line.Raw", "evt.Line.Src", "evt.Line.Module",
		"evt.Line.Labels.type", "evt.Line.Labels.nothere", "evt.StrTime", "evt.StrTimeFormat",
		"evt.MarshaledTime", "evt.Stage", "evt.WhitelistReason",
		// computed values (the hub's http-logs statics and variations)
		"'lit'", "'a' + 'b'", "evt.Parsed.program + evt.Line.Raw", "evt.Line.Raw + '-' + evt.Parsed.nothere",
		"evt.Line.Labels.type in ['syslog', 'nginx'] ? 'false' : 'true'",
		"Upper(evt.Parsed.program) in ['NGINX', 'SSHD'] ? 'true' : 'false'",
		"Lower(Upper(evt.Line.Raw))", "Upper(evt.Line.Raw)", "Upper(evt.Line.Raw + evt.Parsed.program)",
		"len(evt.Line.Raw)", "len(evt.Parsed.nothere)", "len(Upper(evt.Parsed.program) + 'é')",
	}
	for _, src := range srcs {
		t.Run(src, func(t *testing.T) {
			t.Parallel()
			prog, err := env.Compile(src, vmEnv{})
			require.NoError(t, err)
			tab := natexpr.NewTable()
			s := natexpr.New(tab, env).Value(src)
			aheadAll(tab, src)
			require.NotNil(t, s)
			require.Equal(t, strings.HasPrefix(src, "len("), s.Numeric())
			require.Equal(t, strings.Contains(src, "+") && !strings.Contains(src, "(") && src != "'a' + 'b'", s.Concat(), "Concat")
			for _, e := range tableEvents() {
				out, err := vm.Run(prog, vmEnv{Evt: e})
				require.NoError(t, err)
				want, ok := out.(string)
				if n, isInt := out.(int); isInt {
					want, ok = itoa(n), true
				}
				require.True(t, ok, "%T", out)
				for _, c := range contexts(tab, e) {
					got, err := s.Eval(c)
					require.NoError(t, err)
					require.Equal(t, want, got)
					if !s.Numeric() {
						b, err := s.AppendEval(c, []byte("prefix:"))
						require.NoError(t, err)
						require.Equal(t, "prefix:"+want, string(b), "AppendEval")
					}
				}
			}
		})
	}
	c := natexpr.New(nil, env)
	for _, src := range []string{"evt.Unmarshaled.x", "evt.Parsed", "evt.Overflow.Alert.Source.Value", "evt.Time",
		"Trim(evt.StrTime)", "evt.Parsed.a + 1", "len(evt.Parsed.a) + 1", "evt.StrTime == '' ? 1 : 'a'", "evt.Parsed.x ? 'a' : 'b'"} {
		require.Nil(t, c.Value(src), src)
	}
	// String: no len()
	require.Nil(t, c.String("len(evt.Line.Raw)"))
	require.NotNil(t, c.String("evt.Line.Raw"))
}

// FuzzNativeFilter compares native evaluation with the VM on arbitrary
// field values (event content is untrusted input).
func FuzzNativeFilter(f *testing.F) {
	filters := []string{
		"evt.Meta.log_type in ['a', 'b'] && Upper(PathUnescape(evt.Meta.p)) contains Upper('/x%2e/')",
		"Lower(QueryUnescape(evt.Parsed.q)) startsWith '/a b' || evt.Parsed.q endsWith 'z'",
		"evt.Meta.n != '' && int(evt.Meta.n) >= 7 && int(evt.Meta.n) <= 12",
		"let r = Lower(evt.Parsed.q); r matches '^/[a-z]+\\\\.php$' ? evt.Meta.p == r : not (r contains 'x')",
		"IpInRange(evt.Meta.p, '10.0.0.0/8') || IsIPV6(evt.Parsed.q) || (evt.Meta.n + evt.Meta.p) endsWith '1'",
		"(int(evt.Meta.n) > 3 ? Upper(evt.Meta.p) : evt.Parsed.q) == 'A'",
	}
	env := exprenv.New(exprenv.Deps{})
	tab := natexpr.NewTable()
	schema := event.NewSchema()
	c := natexpr.New(tab, env).WithSchema(schema)
	var progs []*vm.Program
	var nats []natexpr.Bool
	for _, src := range filters {
		p, err := env.Compile(src, vmEnv{}, exprenvAsBool()...)
		if err != nil {
			f.Fatal(err)
		}
		nat := c.Bool(src)
		if nat == nil {
			f.Fatalf("not native: %s", src)
		}
		progs, nats = append(progs, p), append(nats, nat)
	}
	tab.Ahead(natexpr.Field{Src: natexpr.SrcMeta, Key: "p"}) // some read ahead, some on demand
	tab.Freeze()
	f.Add("a", "/X%2E/", "/a%20b", "8")
	f.Add("b", "%zz", "/a+b", "abc")
	f.Add("", "", "", " 9")
	f.Add("a", "10.1.1.1", "::1", "4")
	f.Fuzz(func(t *testing.T, lt, p, q, n string) {
		e := event.New(event.Line{Raw: "x"})
		if len(lt)%2 == 0 { // slotted parsed fields (the compiler's schema)
			e = schema.New(event.Line{Raw: "x"})
		}
		e.SetMeta("log_type", lt)
		e.SetMeta("p", p)
		e.SetMeta("n", n)
		e.SetParsed("q", q)
		e.ExposeAll()
		for i := range progs {
			want, werr := vm.Run(progs[i], vmEnv{Evt: e})
			for ci, ctx := range contexts(tab, e) {
				got, gerr := nats[i](ctx)
				if (werr != nil) != (gerr != nil) || (werr == nil && want != got) {
					t.Fatalf("filter %d (ctx %d): vm %v/%v native %v/%v", i, ci, want, werr, got, gerr)
				}
			}
		}
	})
}

// aheadAll marks the fields src reads as read ahead and freezes t.
func aheadAll(t *natexpr.Table, src string) {
	fields, _ := natexprtest.Vocabulary(src, nil)
	for _, f := range fields {
		t.Ahead(f)
	}
	t.Freeze()
}

func exprenvAsBool() []expr.Option { return []expr.Option{expr.AsBool()} }

func itoa(n int) string { return strconv.Itoa(n) }

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

// TestFoldMatchesVM checks the comparisons of a case helper's value that
// run without building it (Helpers.FoldCompare, FoldFileMatch) against
// the VM, on values in mixed case, empty, and non-ASCII (whose Unicode
// case mappings reach ASCII letters: ſ, K, ı, İ).
func TestFoldMatchesVM(t *testing.T) {
	t.Parallel()
	env, store := testEnv(t, false)
	vals := []string{"", "nginx", "NGINX", "NgInX", "xNGINXy", "ssh", "SSH", "ſsh", "ſSH", "\u212a", "k",
		"ıNDEX", "İndex", "ǅ", "é", "nginx-é", "NGİNX", "/Index.PHP?Q=1&x", "/index.php?q=1", "/INDEX.PHP?Q=", "gin-", "@a[b]`{", "zZ", "Zz-aA", "ZZ-AA"}
	for i, e := range store.Strings("bad_user_agents.txt") {
		if i%97 == 0 {
			vals = append(vals, e, strings.ToUpper(e), strings.ToLower(e), "Mozilla "+strings.ToUpper(e)+" x", "ſ"+e)
		}
	}
	srcs := []string{
		"Upper(evt.Parsed.program) == 'SSH'", "Upper(evt.Parsed.program) != 'SSH'", "Upper(evt.Parsed.program) == ''",
		"Upper(evt.Parsed.program) contains 'SH'", "Upper(evt.Parsed.program) contains ''", "Upper(evt.Parsed.program) contains 'GIN-'",
		"Upper(evt.Parsed.program) contains '/INDEX.PHP?Q=1'", "Upper(evt.Parsed.program) contains 'INDEX'",
		"Upper(evt.Parsed.program) contains '@A[B]`{'", "Upper(evt.Parsed.program) startsWith 'NG'",
		"Upper(evt.Parsed.program) endsWith 'NX'", "Upper(evt.Parsed.program) endsWith ''", "Upper(evt.Parsed.program) contains 'sh'",
		"Upper(evt.Parsed.program) == 'NGİNX'", "Upper(evt.Parsed.program) contains 'ZZ-AA'", "Lower(evt.Parsed.program) == 'zz'",
		"Lower(evt.Parsed.program) == 'ssh'", "Lower(evt.Parsed.program) contains 'k'",
		"Lower(evt.Parsed.program) contains 'gin'", "Lower(evt.Parsed.program) startsWith 'ng'", "Lower(evt.Parsed.program) endsWith '-é'",
		"Lower(evt.Parsed.program) contains 'NG'", "Lower(evt.Parsed.program) startsWith '/index.php?q'",
		"Upper(evt.Parsed.program) matches 'NG' || Upper(evt.Parsed.program) contains 'GIN'", // memo filled first
		"Upper(Lower(evt.Parsed.program)) contains 'SS'", "Upper(evt.Parsed.program + evt.Line.Raw) contains 'XA'",
		"any(File('bad_user_agents.txt'), {Upper(evt.Parsed.program) contains Upper(#)})",
		"any(File('bad_user_agents.txt'), {Lower(evt.Parsed.program) contains Lower(#)})",
		"any(File('bad_user_agents.txt'), {Lower(evt.Parsed.program) contains #})",
		"Upper(evt.Parsed.program) contains 'NGINX' && any(File('bad_user_agents.txt'), {Upper(evt.Parsed.program) contains Upper(#)})",
	}
	var events []*event.Event
	for _, v := range vals {
		e := event.New(event.Line{Raw: "a", Labels: map[string]string{}})
		e.SetParsed("program", v)
		events = append(events, e)
	}
	for _, src := range srcs {
		t.Run(src, func(t *testing.T) {
			t.Parallel()
			prog, err := env.Compile(src, vmEnv{}, exprenvAsBool()...)
			require.NoError(t, err)
			tab := natexpr.NewTable()
			b := natexpr.New(tab, env).Bool(src)
			aheadAll(tab, src)
			require.NotNil(t, b)
			kept := natexpr.NewCtx(tab)
			for _, e := range events {
				checkBool(t, tab, b, prog, e, src, kept)
			}
		})
	}
}
