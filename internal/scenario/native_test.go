package scenario

import (
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/datafile"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/exprenv"
	"github.com/phalanx-ids/phalanx/internal/natexpr"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// filterVocabulary returns the fields a filter reads and the literals it
// holds, to build events that take its branches.
// Data files the filter reads (File / RegexpInFile) add a sample of
// their entries (store may be nil).
func filterVocabulary(src string, store *datafile.Store) (fields []natexpr.Field, lits []string) {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, nil
	}
	seen := map[natexpr.Field]bool{}
	ast.Find(tree.Node, func(n ast.Node) bool {
		switch t := n.(type) {
		case *ast.StringNode:
			lits = append(lits, t.Value)
			if store != nil {
				for i, e := range store.Strings(t.Value) {
					if i%7 == 0 || i < 5 {
						lits = append(lits, e)
					}
				}
			}
		case *ast.IntegerNode:
			lits = append(lits, strconv.Itoa(t.Value), strconv.Itoa(t.Value+1), strconv.Itoa(t.Value-1))
		}
		if f, ok := natexpr.FieldOf(n); ok && !seen[f] {
			seen[f] = true
			fields = append(fields, f)
		}
		return false
	})
	return fields, lits
}

// vocabularyEvents makes n events whose fields take values built from the
// literals: as is, case-changed, escaped, embedded, empty, non-numeric.
func vocabularyEvents(r *rand.Rand, n int, fields []natexpr.Field, lits []string) []*event.Event {
	pick := func() string {
		if len(lits) == 0 || r.IntN(8) == 0 {
			return []string{"", "abc", "7", " 12", "%zz", "a%20b", "GET"}[r.IntN(7)]
		}
		l := lits[r.IntN(len(lits))]
		switch r.IntN(7) {
		case 0:
			return strings.ToUpper(l)
		case 1:
			return strings.ToLower(l)
		case 2:
			return url.PathEscape(l)
		case 3:
			return url.QueryEscape(l) + "%"
		case 4:
			return "x/" + l + "?y=1"
		default:
			return l
		}
	}
	out := make([]*event.Event, n)
	for i := range out {
		e := event.New(event.Line{Raw: "x"})
		for _, f := range fields {
			if r.IntN(10) == 0 {
				continue // missing key reads as ""
			}
			v := pick()
			if r.IntN(3) == 0 {
				v += pick()
			}
			switch f.Src {
			case natexpr.SrcMeta:
				e.Meta[f.Key] = v
			case natexpr.SrcParsed:
				e.Parsed[f.Key] = v
			case natexpr.SrcEnriched:
				e.Enriched[f.Key] = v
			}
		}
		out[i] = e
	}
	return out
}

// TestNativeExprMatchesVM checks, for every hub scenario, that the native
// filter (when the whole filter compiles) gives the VM's answer, error
// included, and that no native necessary condition rejects an event the
// VM accepts. The VM side runs with exprenv's plain filters (every data
// file entry tried in turn), so the native data-file lookups are checked
// against the loops they replace.
func TestNativeExprMatchesVM(t *testing.T) {
	files := hubScenarioFiles(t, nil)
	store := datafile.NewStore(t.TempDir())
	store.SetMirror(filepath.Join(testutil.Hub(t), "data"))
	set, err := Load(files, Options{Compiler: exprenv.New(exprenv.Deps{Data: store}), Data: store})
	require.NoError(t, err)
	plain, err := Load(files, Options{Compiler: exprenv.New(exprenv.Deps{Data: store, PlainFilters: true}), Data: store})
	require.NoError(t, err)
	require.Equal(t, set.Len(), plain.Len())
	w := newWorker(NewEngine(set, Config{Mode: event.TIMEMACHINE}), set.scens)
	r := rand.New(rand.NewPCG(3, 4))
	full, pre, accepted, dataFiles := 0, 0, 0, 0
	for si, sc := range set.scens {
		if sc.nat == nil && len(sc.natPre) == 0 {
			continue
		}
		if sc.nat != nil {
			full++
			if strings.Contains(sc.spec.Filter, "File(") {
				dataFiles++
			}
		} else {
			pre++
		}
		ref := plain.scens[si]
		require.Equal(t, sc.spec.Name, ref.spec.Name)
		fields, lits := filterVocabulary(sc.spec.Filter, store)
		for i, e := range vocabularyEvents(r, 300, fields, lits) {
			// Every other event with its slots read ahead (Engine.ReadFields),
			// as the detect pipeline pours them; the others computed on demand.
			var vals []string
			if i%2 == 1 {
				vals = make([]string, set.slots.NumFields())
				set.slots.Read(e, vals)
			}
			w.nc.Reset(e, vals)
			ve := e
			if sc.mutates {
				ve = cloneForWrite(e, sc.writes)
			}
			want, werr := w.runBool(ref.filter, FilterEnv{Evt: ve})
			if sc.nat != nil {
				got, gerr := sc.nat(w.nc)
				require.Equal(t, werr != nil, gerr != nil, "%s: error on %v %v: vm %v native %v", sc.spec.Name, e.Meta, e.Parsed, werr, gerr)
				if werr == nil {
					require.Equal(t, want, got, "%s on %v %v", sc.spec.Name, e.Meta, e.Parsed)
				}
			}
			if werr == nil && want {
				accepted++
				for i, p := range sc.natPre {
					ok, err := p(w.nc)
					require.NoError(t, err, "%s pre %d", sc.spec.Name, i)
					require.True(t, ok, "%s: necessary condition %d rejects an event the VM accepts: %v %v", sc.spec.Name, i, e.Meta, e.Parsed)
				}
			}
		}
	}
	t.Logf("%d scenarios fully native (%d with data files), %d with native pre-checks, %d accepted events checked", full, dataFiles, pre, accepted)
	require.Greater(t, full, 500)
	require.Greater(t, dataFiles, 10)
	require.Greater(t, accepted, 1000)
}
