package natexpr_test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/expr-lang/expr/vm"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/datafile"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/exprenv"
	"github.com/phalanx-ids/phalanx/internal/natexpr"
	"github.com/phalanx-ids/phalanx/internal/natexpr/natexprtest"
)

// TestGuards lists the guards found in filters of the hub's shapes.
func TestGuards(t *testing.T) {
	mirror := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(mirror, "web"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(mirror, "web", "shells.txt"), []byte("C99.php\nshell.php\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(mirror, "web", "short.txt"), []byte("x\nshell.php\n"), 0o644))
	store := datafile.NewStore(t.TempDir())
	store.SetMirror(mirror)
	for _, f := range []string{"shells.txt", "short.txt"} {
		require.NoError(t, store.Load(datafile.Spec{DestFile: f, SourceURL: "https://x/web/" + f, Type: "string"}))
	}
	env := exprenv.New(exprenv.Deps{Data: store})
	const path, req, args = `1"http_path"`, `2"request"`, `2"http_args"`
	cases := []struct {
		name, src string
		want      []string
	}{
		{"contains", `evt.Meta.http_path contains '/Foo'`, []string{path + ` ∋ "/foo"`}},
		{"index preds left out", `evt.Meta.log_type in ['a', 'b'] && evt.Meta.http_path endsWith '.php'`, []string{path + ` ∋ ".php"`}},
		{"case helper", `Upper(evt.Meta.http_path) contains Upper('/etc/passwd')`, []string{path + ` ∋a "/etc/passwd"`}},
		{"unescaped", `Upper(PathUnescape(evt.Meta.http_path)) contains '${URL:'`, []string{`PathUnescape(` + path + `) ∋a "${url:"`}},
		{"or", `Upper(evt.Meta.http_path) contains 'ABC' or Upper(evt.Meta.http_path) contains 'DEF'`, []string{path + ` ∋a "abc", "def"`}},
		{"or on two strings", `Upper(evt.Meta.http_path) contains 'ABC' or evt.Meta.http_path contains 'def' or evt.Parsed.request endsWith 'ghi'`, []string{path + ` ∋a "abc" | ` + path + ` ∋ "def" | ` + req + ` ∋ "ghi"`}},
		{"and", `evt.Parsed.request startsWith '/api' && Lower(evt.Parsed.http_args) contains 'host_id'`, []string{req + ` ∋ "/api"`, args + ` ∋a "host_id"`}},
		{"or without guard", `evt.Meta.http_path contains 'abc' or evt.Meta.http_status == '404'`, nil},
		{"let", `let r = Lower(evt.Parsed.request); r endsWith '%3f'`, []string{req + ` ∋a "%3f"`}},
		{"regexp alternatives", `Lower(evt.Parsed.request) matches '(?i)(/wp-.*\\.php|/wp-content/plugins/.*\\.(txt|md))$'`, []string{req + ` ∋a "/wp-"`}}, // the alternatives' common prefix
		{"regexp literal", `evt.Meta.http_path matches '/ui/vcav-bootstrap/rest/vcav-providers/provider-logo\\?url=(file|http)'`, []string{path + ` ∋ "/ui/vcav-bootstrap/rest/vcav-providers/provider-logo?url="`}},
		{"regexp without literal", `evt.Meta.http_path matches '.*'`, nil},
		{"short literal", `evt.Meta.http_path contains 'a'`, nil},
		{"file", `any(File('shells.txt'), {evt.Parsed.file_name == #})`, []string{`2"file_name" ∋ "c99.php", "shell.php"`}},
		{"file under case helpers", `any(File('shells.txt'), {Upper(evt.Meta.http_path) contains Upper(#)})`, []string{path + ` ∋a "c99.php", "shell.php"`}},
		{"file with a short entry", `any(File('short.txt'), {evt.Meta.http_path contains #})`, nil},
		{"file not loaded", `any(File('nothere.txt'), {evt.Meta.http_path contains #})`, nil},
		{"not", `!(evt.Meta.http_path contains 'abc')`, nil},
		{"fallible", `evt.Meta.http_path contains 'abc' && int(evt.Meta.http_status) > 3`, nil},
		{"conditional", `evt.Meta.http_path contains 'abc' ? evt.Parsed.request contains 'def' : false`, []string{path + ` ∋ "abc"`, req + ` ∋ "def"`}},
		{"not ascii", `evt.Meta.http_path contains 'été'`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := natexpr.New(nil, env)
			var got []string
			for _, g := range c.Guards(tc.src) {
				got = append(got, g.String())
			}
			require.Equal(t, tc.want, got)
		})
	}
}

// TestPrefilterSkipsOnlyFalseFilters builds one Prefilter over the guards
// of every hub scenario filter that compiles natively and checks, on the
// hub test logs' requests, a genlogs nginx sample, requests embedding the
// hub's string data files (case-changed, Unicode look-alikes) and random
// events from each filter's vocabulary, that a filter it skips is false
// on the VM.
func TestPrefilterSkipsOnlyFalseFilters(t *testing.T) {
	store, strFiles := hubDataStore(t)
	env := exprenv.New(exprenv.Deps{Data: store})
	plain := exprenv.New(exprenv.Deps{Data: store, PlainFilters: true})
	tab := natexpr.NewTable()
	c := natexpr.New(tab, env)
	type filter struct {
		x    hubExpr
		prog *vm.Program
	}
	var filters []filter
	var guards [][]natexpr.Guard
	var own [][]*event.Event // by filter: events from its vocabulary
	r := rand.New(rand.NewPCG(5, 6))
	look := strings.NewReplacer("s", "ſ", "k", "\u212a", "S", "ſ", "K", "\u212a", "i", "ı")
	for _, x := range hubExprs(t, store) {
		if !x.boolean || !strings.Contains(x.where, "/scenarios/") || !strings.HasSuffix(x.where, ": filter") {
			continue
		}
		prog, err := plain.Compile(x.src, vmEnv{})
		if err != nil || c.Bool(x.src) == nil {
			continue
		}
		gs := c.Guards(x.src)
		if len(gs) == 0 {
			continue
		}
		filters = append(filters, filter{x, prog})
		guards = append(guards, gs)
		fields, lits := natexprtest.Vocabulary(x.src, store)
		for _, l := range lits { // Unicode look-alikes: Upper and Lower make them ASCII
			if a := look.Replace(l); a != l {
				lits = append(lits, a)
			}
		}
		own = append(own, natexprtest.Events(r, 30/raceStride+1, nil, fields, lits))
	}
	tab.Freeze()
	require.Greater(t, len(filters), 40)
	var reqs []*event.Event // every filter is checked on these
	for i, q := range append(hubRequests(t), syntheticRequests(t, store, strFiles)...) {
		if i%(3*raceStride) == 0 {
			reqs = append(reqs, q.newEvent())
		}
	}
	// A prefilter per group of filters (as a worker has one for its
	// scenarios: up to 64 atoms each).
	const group = 16
	var pfs []*natexpr.Prefilter
	for i := 0; i < len(guards); i += group {
		pf := natexpr.NewPrefilter(guards[i:min(i+group, len(guards))])
		atoms, bases := pf.Atoms()
		require.Less(t, atoms, 64, "filters %d-%d", i, i+group-1)
		t.Logf("filters %d-%d: %d atoms over %d strings", i, i+group-1, atoms, bases)
		pfs = append(pfs, pf)
	}
	skipped, passed, selDropped := 0, 0, 0
	mustBeFalse := func(e *event.Event, i int, how string) {
		f := &filters[i]
		want, err := vm.Run(f.prog, vmEnv{Evt: e})
		require.NoError(t, err, f.x.where)
		require.Equal(t, false, want, "%s: %s %s on %v %v", f.x.where, f.x.src, how, e.Map(event.Meta), e.Map(event.Parsed))
	}
	check := func(e *event.Event, ctx *natexpr.Ctx, i int) {
		if pfs[i/group].Pass(ctx, i%group) {
			passed++
			return
		}
		skipped++
		mustBeFalse(e, i, "skipped")
	}
	// selectAll checks Select on the filters of group g (all selected, a
	// fresh event for the prefilter): it keeps a filter exactly when its
	// first guard holds (Holds, on another fresh start), and a filter it
	// drops is false.
	selectAll := func(e *event.Event, ctx *natexpr.Ctx, g int) {
		pf := pfs[g]
		n := min(group, len(filters)-g*group)
		sel := []uint64{1<<n - 1}
		pf.Reset()
		pf.Select(ctx, sel)
		pf.Reset()
		for k := range n {
			kept := sel[0]&(1<<k) != 0
			want := true
			if first, ok, _ := pf.First(k); ok {
				want = pf.Holds(ctx, first)
			}
			require.Equal(t, want, kept, "filter %d: Select and Holds disagree", g*group+k)
			if !kept {
				selDropped++
				mustBeFalse(e, g*group+k, "dropped by Select")
			}
		}
		pf.Reset()
	}
	for i, evs := range own {
		for _, e := range evs {
			e.ExposeAll()
			for _, ctx := range contexts(tab, e)[1:] { // with memo (a worker's), fields read ahead or not
				pfs[i/group].Reset()
				check(e, ctx, i)
				selectAll(e, ctx, i/group)
			}
		}
	}
	for k, e := range reqs {
		e.ExposeAll()
		ctx := contexts(tab, e)[1+k%2]
		for _, pf := range pfs {
			pf.Reset()
		}
		for i := range filters {
			check(e, ctx, i)
		}
		for g := range pfs {
			selectAll(e, ctx, g)
		}
	}
	t.Logf("%d + %d events: %d filters skipped, %d passed; Select dropped %d", len(own)*len(own[0]), len(reqs), skipped, passed, selDropped)
	require.Greater(t, skipped, passed)
	require.Greater(t, selDropped, 0)
}
