package natexpr_test

import (
	"bufio"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/datafile"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/exprenv"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// httpReq is the part of an HTTP event the hub filters read.
type httpReq struct {
	path, ua, referer, status, rdns string
}

// newEvent builds a fresh event (filters may write into it).
func (r httpReq) newEvent() *event.Event {
	e := event.New(event.Line{Raw: r.path})
	e.SetMeta("log_type", "http_access-log")
	e.SetMeta("service", "http")
	e.SetMeta("http_status", r.status)
	e.SetMeta("http_path", r.path)
	e.SetMeta("source_ip", "192.0.2.1")
	e.SetParsed("request", r.path)
	e.SetParsed("http_user_agent", r.ua)
	e.SetParsed("http_referer", r.referer)
	e.SetParsed("verb", "GET")
	p, args, _ := strings.Cut(r.path, "?")
	e.SetParsed("http_args", args)
	e.SetParsed("file_name", p[strings.LastIndexByte(p, '/')+1:])
	e.Put(event.Enriched, "reverse_dns", r.rdns)
	return e
}

var combinedRe = regexp.MustCompile(`^\S+ \S+ \S+ \[[^\]]+\] "\S+ (\S+)[^"]*" (\d+) \S+ "([^"]*)" "([^"]*)"`)

// logRequests reads up to max requests from a log file: combined-format
// lines are parsed, any other line is used whole as path and user agent.
func logRequests(t testing.TB, path string, max int) []httpReq {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []httpReq
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() && len(out) < max {
		l := sc.Text()
		if m := combinedRe.FindStringSubmatch(l); m != nil {
			out = append(out, httpReq{path: m[1], status: m[2], referer: m[3], ua: m[4], rdns: "crawl.googlebot.com"})
			continue
		}
		out = append(out, httpReq{path: l, ua: l, referer: l, status: "404", rdns: l})
	}
	require.NoError(t, sc.Err())
	return out
}

// hubRequests: a genlogs nginx sample (generated at test time by
// shared/bench/genlogs, never committed) and the hub test logs.
func hubRequests(t testing.TB) []httpReq {
	sample, _ := testutil.GenLogs(t, "nginx", 20000, 3)
	reqs := logRequests(t, sample, 2000)
	logs, err := filepath.Glob(filepath.Join(testutil.Hub(t), "tests", "*", "*.log"))
	require.NoError(t, err)
	require.NotEmpty(t, logs)
	for _, l := range logs {
		reqs = append(reqs, logRequests(t, l, 8)...)
	}
	return reqs
}

// syntheticRequests embeds the entries of the hub string files in paths,
// user agents and arguments, in several cases and with Unicode look-alikes.
func syntheticRequests(t testing.TB, s *datafile.Store, files []string) []httpReq {
	var out []httpReq
	look := strings.NewReplacer("s", "ſ", "k", "\u212a", "i", "ı", "I", "İ")
	for _, f := range files {
		for i, e := range s.Strings(f) {
			vs := []string{e, strings.ToUpper(e), strings.ToLower(e), look.Replace(e)}
			v := vs[i%len(vs)]
			out = append(out,
				httpReq{path: "/x" + v, ua: "Mozilla/5.0 " + v, referer: v, status: "404", rdns: "a." + v},
				httpReq{path: "/index.php?q=" + v + "&b=1", ua: v, referer: "-", status: "403", rdns: v},
				httpReq{path: v, ua: "", referer: "", status: "200", rdns: ""},
			)
			if len(e) > 2 {
				out = append(out, httpReq{path: "/" + e[:len(e)-1], ua: e[1:], status: "404", rdns: e[1:]})
			}
		}
	}
	out = append(out, httpReq{}, httpReq{path: "/", ua: "-", status: "404"},
		httpReq{path: "/ADMIN", ua: "ſqlmap", status: "404"}, httpReq{path: "/%2E%2E%2F", status: "404"})
	return out
}

// hubDataStore loads every data file the hub items declare, from the hub
// data mirror (files absent from it are skipped).
func hubDataStore(t testing.TB) (*datafile.Store, []string) {
	hub := testutil.Hub(t)
	s := datafile.NewStore(t.TempDir())
	s.SetMirror(filepath.Join(hub, "data"))
	var strs []string
	for _, sub := range []string{"scenarios", "parsers", "postoverflows"} {
		for _, p := range testutil.HubYAMLs(t, filepath.Join(hub, sub)) {
			for _, doc := range testutil.YAMLDocs(t, p) {
				for _, x := range ylist(doc["data"]) {
					m := mp(x)
					spec := datafile.Spec{SourceURL: str(m["source_url"]), DestFile: str(m["dest_file"]), Type: str(m["type"])}
					if s.Load(spec) == nil && spec.Type == "string" {
						strs = append(strs, spec.DestFile)
					}
				}
			}
		}
	}
	sort.Strings(strs)
	return s, slices.Compact(strs)
}

// hubFilterExprs returns the hub expressions that read data files.
func hubFilterExprs(t *testing.T) []hubExpr {
	var out []hubExpr
	for _, x := range hubExprs(t, datafile.NewStore(t.TempDir())) {
		if strings.Contains(x.src, "File(") {
			out = append(out, x)
		}
	}
	return out
}

// outcome is what one evaluation gives: value, failure, event side effects.
type outcome struct {
	val  any
	err  bool
	meta map[string]string
}

func run(prog *vm.Program, r httpReq) outcome {
	evt := r.newEvent()
	v, err := expr.Run(prog, vmEnv{Evt: evt})
	return outcome{v, err != nil, maps.Clone(evt.Map(event.Meta))}
}

func patched(p *vm.Program) bool { return strings.Contains(p.Disassemble(), "__phx_filter_") }

// TestFastFiltersHubDifferential compiles every hub expression that reads a
// data file with and without the patch, and checks both give the same
// outcome on real and synthetic requests.
func TestFastFiltersHubDifferential(t *testing.T) {
	s, strFiles := hubDataStore(t)
	fast, plain := exprenv.New(exprenv.Deps{Data: s}), exprenv.New(exprenv.Deps{Data: s, PlainFilters: true})
	reqs := append(hubRequests(t), syntheticRequests(t, s, strFiles)...)
	exprs := hubFilterExprs(t)
	require.Greater(t, len(exprs), 20, "walker broken?")
	var patchedN int
	for _, x := range exprs {
		pf, errF := fast.Compile(x.src, vmEnv{})
		pp, errP := plain.Compile(x.src, vmEnv{})
		require.Equal(t, errP == nil, errF == nil, "%s %s", x.where, "")
		if errP != nil {
			continue
		}
		require.False(t, patched(pp), "plain env patched %s", x.where)
		if !patched(pf) {
			t.Logf("not patched: %s %s: %s", x.where, "", oneLine(x.src))
			continue
		}
		patchedN++
		matches := 0
		for i, r := range reqs {
			if i%raceStride != 0 {
				continue
			}
			want, got := run(pp, r), run(pf, r)
			require.Equal(t, want, got, "%s %s on %+v", x.where, "", r)
			if want.val == true {
				matches++
			}
		}
		t.Logf("patched: %s %s: %d/%d true", x.where, "", matches, len(reqs))
	}
	t.Logf("%d expressions read data files, %d patched, %d requests", len(exprs), patchedN, len(reqs))
	require.GreaterOrEqual(t, patchedN, 12)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// TestFastFilterCases covers the rewrite's edge cases on a small store.
func TestFastFilterCases(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"words.txt":  "/admin\n/Manager\n/admin\nÉcole\nstraße\nſecret\n\u212aelvin\n",
		"empty.txt":  "# only a comment\n",
		"blank.txt":  "abc\n \n",
		"json.txt":   `{"uri":"/cgi-bin/x","cve":"CVE-1"}` + "\n" + `{"cve":"CVE-2"}` + "\n" + `{"uri":"/y","cve":"CVE-3"}` + "\n",
		"suffix.txt": ".sql\n.git/config\n.bak\n",
	}
	var specs []datafile.Spec
	for n, b := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), []byte(b), 0o644))
		specs = append(specs, datafile.Spec{DestFile: n, Type: "string"})
	}
	s := datafile.NewStore(dir)
	for _, sp := range specs {
		require.NoError(t, s.Load(sp))
	}
	fast, plain := exprenv.New(exprenv.Deps{Data: s}), exprenv.New(exprenv.Deps{Data: s, PlainFilters: true})
	reqs := []httpReq{
		{}, {path: "/admin/x"}, {path: "/ADMIN"}, {path: "/manager"}, {path: "/Manager"}, {path: "École"},
		{path: "ÉCOLE"}, {path: "école"}, {path: "STRASSE"}, {path: "straße"}, {path: "SECRET"}, {path: "secret"},
		{path: "ſecret"}, {path: "KELVIN"}, {path: "kelvin"}, {path: "\u212aelvin"}, {path: "/x/cgi-bin/x?a"},
		{path: "/y"}, {path: "a b"}, {path: "dump.sql"}, {path: "/.git/config"}, {path: "x.bak.gz"}, {path: "abc"},
		{path: " "}, {path: "/admin", ua: "abc"},
	}
	for _, c := range []struct {
		name, src string
		patched   bool
	}{
		{"contains", `any(File("words.txt"), {evt.Meta.http_path contains #})`, true},
		{"lower contains", `any(File("words.txt"), {Lower(evt.Meta.http_path) contains #})`, true},
		{"upper both", `any(File("words.txt"), {Upper(evt.Meta.http_path) contains Upper(#)})`, true},
		{"lower both", `any(File("words.txt"), {Lower(evt.Meta.http_path) contains Lower(#)})`, true},
		{"equals", `any(File("words.txt"), {evt.Meta.http_path == #})`, true},
		{"equals flipped", `any(File("words.txt"), {# == evt.Meta.http_path})`, true},
		{"startsWith", `any(File("words.txt"), {evt.Meta.http_path startsWith #})`, true},
		{"endsWith", `any(File("suffix.txt"), {evt.Parsed.request endsWith #})`, true},
		{"blank entry contains", `any(File("blank.txt"), {evt.Meta.http_path contains #})`, true},
		{"guard then cmp", `any(File("blank.txt"), {len(#) > 1 && evt.Meta.http_path endsWith #})`, true},
		{"cmp then guard", `any(File("blank.txt"), {evt.Meta.http_path endsWith # && # != " "})`, true},
		{"guard keeps none", `any(File("blank.txt"), {len(#) > 10 && evt.Meta.http_path endsWith #})`, false},
		{"json transform narrow", `any(File("json.txt"), {evt.Meta.http_path contains JsonExtract(#, "uri") ? evt.SetMeta("cve", JsonExtract(#, "cve")) : false})`, true},
		{"narrow and", `any(File("words.txt"), {evt.Meta.http_path contains # && evt.Parsed.http_user_agent == "abc"})`, true},
		{"in", `evt.Meta.http_path in File("words.txt")`, true},
		{"not in", `evt.Meta.http_path not in File("words.txt")`, true},
		{"file not loaded", `any(File("nope.txt"), {evt.Meta.http_path contains #})`, false},
		{"empty file", `any(File("empty.txt"), {evt.Meta.http_path contains #})`, false},
		{"entry contains x", `any(File("words.txt"), {# contains evt.Meta.http_path})`, false},
		{"impure x", `any(File("words.txt"), {evt.SetMeta("a", "b") && evt.Meta.http_path contains #})`, false},
		{"x uses entry", `any(File("words.txt"), {(evt.Meta.http_path + #) contains #})`, false},
		{"not any", `all(File("words.txt"), {evt.Meta.http_path contains #})`, false},
		{"impure narrow body", `any(File("words.txt"), {evt.Meta.http_path contains # ? evt.SetMeta("a", #) && false : false})`, false},
		{"let outside", `let p = evt.Meta.http_path; any(File("words.txt"), {p contains #})`, true},
		{"nested any", `any(["a", "b"], {any(File("words.txt"), {evt.Meta.http_path + # contains #})})`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			pf, err := fast.Compile(c.src, vmEnv{})
			require.NoError(t, err)
			pp, err := plain.Compile(c.src, vmEnv{})
			require.NoError(t, err)
			require.Equal(t, c.patched, patched(pf), pf.Disassemble())
			for _, r := range reqs {
				require.Equal(t, run(pp, r), run(pf, r), "%+v", r)
			}
		})
	}
}

func TestFastFilterNilEventFailsAlike(t *testing.T) {
	s, _ := hubDataStore(t)
	fast, plain := exprenv.New(exprenv.Deps{Data: s}), exprenv.New(exprenv.Deps{Data: s, PlainFilters: true})
	src := `any(File("admin_interfaces.txt"), { Lower(evt.Meta.http_path) contains #})`
	pf, err := fast.Compile(src, vmEnv{})
	require.NoError(t, err)
	pp, err := plain.Compile(src, vmEnv{})
	require.NoError(t, err)
	require.True(t, patched(pf))
	_, errF := expr.Run(pf, vmEnv{})
	_, errP := expr.Run(pp, vmEnv{})
	require.Error(t, errP)
	require.Error(t, errF)
}

func TestSetMetaReturnsTrue(t *testing.T) {
	// The narrowing of `C ? evt.SetMeta(...) : false` relies on it.
	e := &event.Event{}
	require.True(t, e.SetMeta("a", "b"))
	require.True(t, e.SetParsed("a", "b"))
}

func TestRegexpInFileSameAsPlain(t *testing.T) {
	s, _ := hubDataStore(t)
	fast, plain := exprenv.New(exprenv.Deps{Data: s}), exprenv.New(exprenv.Deps{Data: s, PlainFilters: true})
	reqs := append(hubRequests(t), syntheticRequests(t, s, []string{"backdoors.txt"})...)
	for _, name := range []string{"bad_user_agents.regex.txt", "rdns_seo_bots.regex"} {
		require.NotNil(t, s.RegexpSet(name), name)
		for i, r := range reqs {
			if i%(4*raceStride) != 0 {
				continue // the plain loop costs ~1 ms a call; datafile tests cover the rest
			}
			for _, in := range []string{r.ua, r.path, r.rdns} {
				a := fast.RegexpInFileMatch(name)(in)
				b := plain.RegexpInFileMatch(name)(in)
				require.Equal(t, b, a, "%s %q", name, in)
			}
		}
	}
}

// fuzzFilters are the hub filters the fuzz target checks.
var fuzzFilters = []string{
	`any(File("admin_interfaces.txt"), { Lower(evt.Meta.http_path) contains #})`,
	`any(File("backdoors.txt"), { evt.Parsed.file_name == #})`,
	`any(File("http_path_traversal.txt"),{evt.Meta.http_path contains #})`,
	`any(File("sensitive_data.txt"), { evt.Parsed.request endsWith #})`,
	`any(File("sqli_probe_patterns.txt"), {Upper(evt.Parsed.http_args) contains Upper(#)})`,
	`any(File("xss_probe_patterns.txt"), {Upper(evt.Parsed.http_args) contains Upper(#)})`,
	`any(File("trendy_cves_uris.json"), { evt.Meta.http_path contains JsonExtract(#, "uri") ? evt.SetMeta("cve", JsonExtract(#, "cve")) : false })`,
	`any(File("rdns_seo_bots.txt"), { len(#) > 0 && evt.Enriched.reverse_dns endsWith #})`,
	`RegexpInFile(evt.Parsed.http_user_agent, "bad_user_agents.regex.txt")`,
	`any(File("log4j2_cve_2021_44228.txt"), { Upper(evt.Parsed.http_user_agent) contains Upper(#)})`,
}

func FuzzFastFilters(f *testing.F) {
	s, _ := hubDataStore(f)
	fast, plain := exprenv.New(exprenv.Deps{Data: s}), exprenv.New(exprenv.Deps{Data: s, PlainFilters: true})
	type pair struct{ fast, plain *vm.Program }
	var progs []pair
	for _, src := range fuzzFilters {
		pf, err := fast.Compile(src, vmEnv{})
		require.NoError(f, err)
		pp, err := plain.Compile(src, vmEnv{})
		require.NoError(f, err)
		progs = append(progs, pair{pf, pp})
	}
	f.Add("/phpmyadmin/index.php?id=1%20union%20select%20", "sqlmap/1.0", "crawl.googlebot.com")
	f.Add("/../../etc/passwd", "${jndi:ldap://x}", "")
	f.Add("/wp-content/x.sql.gz", "Mozilla/5.0 (compatible; AhrefsBot/7.0)", "ſearch.msn.com")
	f.Fuzz(func(t *testing.T, path, ua, rdns string) {
		r := httpReq{path: path, ua: ua, referer: ua, status: "404", rdns: rdns}
		for i, p := range progs {
			require.Equal(t, run(p.plain, r), run(p.fast, r), "%s on %+v", fuzzFilters[i], r)
		}
	})
}

// BenchmarkFilter runs the hub's data-file filters on a benign request,
// plain (every entry tried) and fast (patched / prefiltered), same run.
func BenchmarkFilter(b *testing.B) {
	s, _ := hubDataStore(b)
	r := httpReq{
		path:    "/products/397?ref=home&page=2",
		ua:      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
		referer: "https://www.example.com/", status: "404", rdns: "host-1-2-3-4.isp.example.net",
	}
	cases := []struct{ name, src string }{
		{"RegexpInFile_bad_user_agents", `RegexpInFile(evt.Parsed.http_user_agent, "bad_user_agents.regex.txt")`},
		{"admin_interfaces", `any(File("admin_interfaces.txt"), { Lower(evt.Meta.http_path) contains #})`},
		{"backdoors", `any(File("backdoors.txt"), { evt.Parsed.file_name == #})`},
		{"path_traversal", `any(File('http_path_traversal.txt'),{evt.Meta.http_path contains #})`},
		{"sensitive_data", `any(File("sensitive_data.txt"), { evt.Parsed.request endsWith #})`},
		{"sqli_probe", `any(File('sqli_probe_patterns.txt'), {Upper(evt.Parsed.http_args) contains Upper(#)})`},
		{"xss_probe", `any(File('xss_probe_patterns.txt'), {Upper(evt.Parsed.http_args) contains Upper(#)})`},
		{"trendy_cves", `any(File("trendy_cves_uris.json"), { evt.Meta.http_path contains JsonExtract(#, "uri") ? evt.SetMeta("cve", JsonExtract(#, "cve")) : false })`},
		{"log4j_ua", `any(File("log4j2_cve_2021_44228.txt"), { Upper(evt.Parsed.http_user_agent) contains Upper(#)})`},
		{"seo_rdns", `any(File('rdns_seo_bots.txt'), { len(#) > 0 && evt.Enriched.reverse_dns endsWith #})`},
		{"LookupFile_technology", `LookupFile(evt.Meta.http_path, "technology_probing.json")`},
	}
	for _, c := range cases {
		for _, mode := range []struct {
			name  string
			plain bool
		}{{"plain", true}, {"fast", false}} {
			e := exprenv.New(exprenv.Deps{Data: s, PlainFilters: mode.plain})
			prog, err := e.Compile(c.src, vmEnv{})
			require.NoError(b, err)
			env := vmEnv{Evt: r.newEvent()}
			b.Run(c.name+"/"+mode.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := expr.Run(prog, env); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
