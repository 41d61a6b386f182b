package scenario

import (
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/datafile"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/exprenv"
	"github.com/phalanx-ids/phalanx/internal/natexpr/natexprtest"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

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
		if sc.filter.nat == nil && len(sc.filter.pre) == 0 {
			continue
		}
		if sc.filter.nat != nil {
			full++
			if strings.Contains(sc.spec.Filter, "File(") {
				dataFiles++
			}
		} else {
			pre++
		}
		ref := plain.scens[si]
		require.Equal(t, sc.spec.Name, ref.spec.Name)
		fields, lits := natexprtest.Vocabulary(sc.spec.Filter, store)
		for i, e := range natexprtest.Events(r, 300, nil, fields, lits) {
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
				ve = w.scratchForWrite(e, sc.writes, sc.readsViews)
			}
			want, werr := w.runBool(ref.filter.prog, FilterEnv{Evt: ve})
			if sc.filter.nat != nil {
				got, gerr := sc.filter.nat(w.nc)
				require.Equal(t, werr != nil, gerr != nil, "%s: error on %v %v: vm %v native %v", sc.spec.Name, e.Map(event.Meta), e.Map(event.Parsed), werr, gerr)
				if werr == nil {
					require.Equal(t, want, got, "%s on %v %v", sc.spec.Name, e.Map(event.Meta), e.Map(event.Parsed))
				}
			}
			if werr == nil && want {
				accepted++
				for i, p := range sc.filter.pre {
					ok, err := p(w.nc)
					require.NoError(t, err, "%s pre %d", sc.spec.Name, i)
					require.True(t, ok, "%s: necessary condition %d rejects an event the VM accepts: %v %v", sc.spec.Name, i, e.Map(event.Meta), e.Map(event.Parsed))
				}
			}
		}
	}
	t.Logf("%d scenarios fully native (%d with data files), %d with native pre-checks, %d accepted events checked", full, dataFiles, pre, accepted)
	require.Greater(t, full, 500)
	require.Greater(t, dataFiles, 10)
	require.Greater(t, accepted, 1000)
}
