package scenario

import (
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/datafile"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/exprenv"
	"github.com/phalanx-ids/phalanx/internal/natexpr/natexprtest"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// TestNativeConditionMatchesVM compares, for every hub scenario with a
// native condition or cancel_on, the native answer with the VM's on random
// queues and events (queued whole, or packed in records as the pour path
// queues them for a native condition).
func TestNativeConditionMatchesVM(t *testing.T) {
	files := hubScenarioFiles(t, nil)
	store := datafile.NewStore(t.TempDir())
	store.SetMirror(filepath.Join(testutil.Hub(t), "data"))
	set, err := Load(files, Options{Compiler: exprenv.New(exprenv.Deps{Data: store}), Data: store})
	require.NoError(t, err)
	w := newWorker(NewEngine(set, Config{Mode: event.TIMEMACHINE}), set.scens)
	r := rand.New(rand.NewPCG(5, 6))
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	conds, cancels, trues := 0, 0, 0
	for _, sc := range set.scens {
		if sc.condition != nil && sc.condition.nat != nil {
			conds++
			_, lits := natexprtest.Vocabulary(sc.spec.Condition, nil)
			for range 400 {
				q := make([]*item, r.IntN(16))
				var qq queue
				at := base
				for i := range q {
					e := event.New(event.Line{Raw: "x"})
					if r.IntN(4) > 0 {
						e.SetMeta("log_type", "ssh_failed-auth") // the hub conditions' value
					} else if len(lits) > 0 {
						e.SetMeta("log_type", lits[r.IntN(len(lits))])
					}
					at = at.Add(time.Duration(r.IntN(1500)) * time.Second)
					if r.IntN(5) == 0 {
						at = at.Add(-time.Duration(r.IntN(3000)) * time.Second) // out of order
					}
					e.Time = at
					if r.IntN(2) == 0 {
						q[i] = &item{full: e}
					} else { // a record, as itemFor keeps for a native condition
						q[i] = newItem(e, nil)
						q[i].rec = w.keys.record(e, "", nil)
					}
					qq.its = append(qq.its, q[i])
				}
				b := &bucket{sc: sc, q: qq}
				want, werr := w.runBool(sc.condition.prog, ConditionEnv{Evt: lastEvent(q), Queue: w.queueView(sc, q), Leaky: w.leakyView(b, time.Time{})})
				got, gerr := sc.condition.nat(&itemQueue{q: &qq})
				require.Equal(t, werr != nil, gerr != nil, "%s: vm %v native %v", sc.spec.Name, werr, gerr)
				require.Equal(t, want, got, sc.spec.Name)
				if want {
					trues++
				}
			}
		}
		if sc.cancelOn != nil && sc.cancelOn.nat != nil {
			cancels++
			fields, lits := natexprtest.Vocabulary(sc.spec.CancelOn, nil)
			for _, e := range natexprtest.Events(r, 200, nil, fields, lits) {
				w.nc.Reset(e, nil)
				want, werr := w.runBool(sc.cancelOn.prog, FilterEnv{Evt: e})
				got, gerr := sc.cancelOn.nat(w.nc)
				require.Equal(t, werr != nil, gerr != nil, sc.spec.Name)
				require.Equal(t, want, got, sc.spec.Name)
			}
		}
	}
	t.Logf("%d native conditions (%d true), %d native cancel_on", conds, trues, cancels)
	require.GreaterOrEqual(t, conds, 2)
	require.Greater(t, trues, 50)
	require.GreaterOrEqual(t, cancels, 2)
}

func lastEvent(q []*item) *event.Event {
	if len(q) == 0 {
		return nil
	}
	return q[len(q)-1].event()
}
