package natexpr_test

import (
	"math/rand/v2"
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
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// hubExpr is one expression of a hub file over evt.
type hubExpr struct {
	where, src string
	boolean    bool // a filter (else a value: statics, groupby...)
}

func str(v any) string { s, _ := v.(string); return s }

func ylist(v any) []any { l, _ := v.([]any); return l }

func mp(v any) map[string]any { m, _ := v.(map[string]any); return m }

// hubExprs returns every expression over evt of the hub's parsers,
// postoverflows and scenarios, and loads the data files they declare.
func hubExprs(t testing.TB, store *datafile.Store) []hubExpr {
	hub := testutil.Hub(t)
	var out []hubExpr
	loadData := func(d map[string]any) {
		for _, x := range ylist(d["data"]) {
			m := mp(x)
			_ = store.Load(datafile.Spec{DestFile: str(m["dest_file"]), SourceURL: str(m["source_url"]), Type: str(m["type"])})
		}
	}
	for _, dir := range []string{"parsers", "postoverflows"} {
		for _, f := range testutil.HubYAMLs(t, filepath.Join(hub, dir)) {
			for _, d := range testutil.YAMLDocs(t, f) {
				loadData(d)
				testutil.ParserNodeExprs(f+": ", d, func(where, src string, filter bool) {
					out = append(out, hubExpr{where, src, filter})
				})
			}
		}
	}
	for _, f := range testutil.HubYAMLs(t, filepath.Join(hub, "scenarios")) {
		for _, d := range testutil.YAMLDocs(t, f) {
			loadData(d)
			name := f + ": " + str(d["name"]) + ": "
			for _, k := range []string{"filter", "cancel_on"} {
				if s := str(d[k]); strings.TrimSpace(s) != "" {
					out = append(out, hubExpr{name + k, s, true})
				}
			}
			for _, k := range []string{"groupby", "distinct"} {
				if s := str(d[k]); strings.TrimSpace(s) != "" {
					out = append(out, hubExpr{name + k, s, false})
				}
			}
		}
	}
	return out
}

// TestHubExpressionsMatchVM compiles every expression of the hub over evt
// (parser filters, statics, grok inputs, whitelists, stash keys; scenario
// filters, cancel_on, groupby, distinct) and checks each native form
// against the VM on events built from its vocabulary, error included,
// in the three evaluation modes. The VM runs with exprenv's plain filters
// (every data-file entry tried in turn), so the native data-file lookups
// are checked against the loops they replace.
func TestHubExpressionsMatchVM(t *testing.T) {
	env, store := testEnv(t, false)
	plain := exprenv.New(exprenv.Deps{Data: store, PlainFilters: true})
	exprs := hubExprs(t, store)
	r := rand.New(rand.NewPCG(3, 4))
	tab := natexpr.NewTable()
	schema := event.NewSchema() // reads of evt.Parsed, Meta and Enriched go by slot
	c := natexpr.New(tab, env).WithSchema(schema)
	type compiled struct {
		x    hubExpr
		b    natexpr.Bool
		s    *natexpr.Str
		prog *vm.Program
	}
	var all []compiled
	vmOnly := 0
	for _, x := range exprs {
		prog, err := plain.Compile(x.src, vmEnv{})
		if err != nil {
			continue // not an expression over evt alone (exprenv's hub tests cover them)
		}
		cx := compiled{x: x, prog: prog}
		if x.boolean {
			cx.b = c.Bool(x.src)
		} else {
			cx.s = c.Value(x.src)
		}
		if cx.b == nil && cx.s == nil {
			vmOnly++
			continue
		}
		all = append(all, cx)
		if len(all)%2 == 0 { // every other expression's fields read ahead, the others by reference count
			fields, _ := natexprtest.Vocabulary(x.src, store)
			for _, f := range fields {
				tab.Ahead(f)
			}
		}
	}
	tab.Freeze()
	t.Logf("%d fields read ahead", tab.NumFields())
	checked := 0
	for _, cx := range all {
		fields, lits := natexprtest.Vocabulary(cx.x.src, store)
		// Half the events are the schema's (slotted reads), the other half
		// plain (the slotted reads fall back to names).
		evs := natexprtest.Events(r, 25/raceStride+1, schema, fields, lits)
		evs = append(evs, natexprtest.Events(r, 25/raceStride+1, nil, fields, lits)...)
		for _, e := range evs {
			want, werr := vm.Run(cx.prog, vmEnv{Evt: e})
			for i, ctx := range contexts(tab, e) {
				if cx.b != nil {
					got, gerr := cx.b(ctx)
					require.Equal(t, werr != nil, gerr != nil, "%s: %s (ctx %d) on %v %v: vm %v native %v", cx.x.where, cx.x.src, i, e.Map(event.Meta), e.Map(event.Parsed), werr, gerr)
					if werr == nil {
						require.Equal(t, want, got, "%s: %s (ctx %d) on %v %v", cx.x.where, cx.x.src, i, e.Map(event.Meta), e.Map(event.Parsed))
					}
					continue
				}
				got, gerr := cx.s.Eval(ctx)
				require.Equal(t, werr != nil, gerr != nil, "%s: %s (ctx %d): vm %v native %v", cx.x.where, cx.x.src, i, werr, gerr)
				if werr == nil {
					if n, ok := want.(int); ok && cx.s.Numeric() {
						want = itoa(n)
					}
					require.Equal(t, want, got, "%s: %s (ctx %d) on %v %v", cx.x.where, cx.x.src, i, e.Map(event.Meta), e.Map(event.Parsed))
				}
			}
			checked++
		}
	}
	t.Logf("%d hub expressions: %d native, %d left to the VM; %d events checked", len(exprs), len(all), vmOnly, checked)
	require.Greater(t, len(all), 1000)
}
