package scenario

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/event"
)

// naiveCandidates is the index's selection computed without its shortcuts
// (the previous lookup of a field, the fields skipped because no selected
// scenario is constrained by them): every field looked up in its map.
func naiveCandidates(w *worker, e *event.Event) []uint64 {
	x := &w.idx
	s := slices.Clone(x.all)
	for i, f := range x.fields {
		bs, ok := x.maps[i][f.Get(e)]
		for j := range s {
			if ok {
				s[j] &= x.free[i][j] | bs[j]
			} else {
				s[j] &= x.free[i][j]
			}
		}
	}
	return s
}

// TestCandidatesShortcuts: the index selects, event after event, the same
// scenarios as every field looked up afresh, whether the fields come read
// ahead or from the event, with values that repeat and values that change.
func TestCandidatesShortcuts(t *testing.T) {
	set := webScenarios(t)
	evs := nginxStream(4000, 100, 3)
	for _, ahead := range []bool{false, true} {
		eng := NewEngine(set, Config{Mode: event.TIMEMACHINE})
		w := eng.ws[0]
		require.NotEmpty(t, w.idx.fields)
		selected := 0
		for i, e := range evs {
			var vals []string
			if ahead {
				vals = make([]string, eng.FieldCount())
				eng.ReadFields(e, vals)
			}
			want := naiveCandidates(w, e)
			got := w.candidates(e, vals)
			require.Equal(t, want, got, "event %d (read ahead: %v): %v", i, ahead, e.Map(event.Meta))
			for _, word := range got {
				for ; word != 0; word &= word - 1 {
					selected++
				}
			}
		}
		require.Greater(t, selected, len(evs), "events select scenarios")
		require.NoError(t, eng.Close())
	}
}

// BenchmarkCandidates: the index's selection for a stream of nginx and
// ssh events over the hub's web and ssh scenarios, fields read ahead.
//
//	go test ./internal/scenario -run '^$' -bench Candidates
func BenchmarkCandidates(b *testing.B) {
	set := webScenarios(b)
	evs := nginxStream(4096, 500, 1)
	eng := NewEngine(set, Config{Mode: event.TIMEMACHINE})
	defer eng.Close()
	w := eng.ws[0]
	vals := make([][]string, len(evs))
	for i, e := range evs {
		vals[i] = make([]string, eng.FieldCount())
		eng.ReadFields(e, vals[i])
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		w.candidates(evs[i], vals[i])
		i = (i + 1) % len(evs)
	}
}
