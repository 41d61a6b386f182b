package detect_test

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/scenario"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// TestLiveClock: why the daemon raises more alerts than a replay of the
// same lines. Live buckets leak on the wall clock (as CrowdSec's do), a
// replay's on the lines' own times. Driven by a clock that follows the
// lines' times, the live engine raises exactly the replay's overflows
// (scenario, partition, count): live mode adds no alert of its own. Driven
// by the clock of a burst (the lines read much faster than they were
// written: here 20,000 lines of a log spanning hours in one second), the
// buckets have no time to leak: every (scenario, partition) that overflows
// in the replay overflows live, and more of them do.
func TestLiveClock(t *testing.T) {
	logPath, _ := testutil.GenLogs(t, "nginx", 20000, 1)
	rt := hubRuntime(t, "crowdsecurity/linux", "crowdsecurity/nginx")
	evs, vals := parseAll(t, rt, logPath, "nginx")
	overflows := func(mode event.Mode, clock func(i int, e *event.Event) time.Time) []string {
		var at atomic.Int64 // the clock's time (the engine's ticker reads it too)
		var got []string
		eng := scenario.NewEngine(rt.Scenarios, scenario.Config{Workers: 1, Mode: mode,
			Now: func() time.Time { return time.Unix(0, at.Load()) },
			OnOverflow: func(o *scenario.Overflow) {
				got = append(got, o.Scenario+" "+o.Partition)
			}})
		for i, e := range evs {
			if clock != nil {
				at.Store(clock(i, e).UnixNano())
			}
			eng.PourFields(e, vals[i])
		}
		require.NoError(t, eng.Close())
		slices.Sort(got)
		return got
	}
	replay := overflows(event.TIMEMACHINE, nil)
	require.NotEmpty(t, replay)
	start := evs[0].Time
	cases := []struct {
		name  string
		clock func(i int, e *event.Event) time.Time
		more  bool // raises more than the replay (else exactly the same)
	}{
		{"the lines' own times", func(_ int, e *event.Event) time.Time { return e.Time }, false},
		{"a burst of 20,000 lines a second", func(i int, _ *event.Event) time.Time {
			return start.Add(time.Duration(i) * 50 * time.Microsecond)
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			live := overflows(event.LIVE, tc.clock)
			t.Logf("replay %d overflows, live %d", len(replay), len(live))
			if !tc.more {
				require.Equal(t, replay, live)
				return
			}
			// Every (scenario, partition) of the replay overflows live too;
			// not always as often: a blackhole, on the wall clock too, can
			// cover a whole burst.
			require.Greater(t, len(slices.Compact(slices.Clone(live))), len(slices.Compact(slices.Clone(replay))))
			for _, k := range replay {
				_, found := slices.BinarySearch(live, k)
				require.True(t, found, "replay's overflow %q is missing in live", k)
			}
		})
	}
}
