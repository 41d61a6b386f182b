package exprenv

import (
	"testing"
	"time"

	"github.com/expr-lang/expr"
	"github.com/stretchr/testify/require"
)

func TestTimeHelpers(t *testing.T) {
	runCases(t, New(Deps{Now: fixedClock()}), []exprCase{
		{"now", `TimeNow()`, "2024-05-06T07:08:09Z", false},
		{"parse unix", `ParseUnix("1672239773")`, "2022-12-28T15:02:53Z", false},
		{"parse unix fraction", `ParseUnix("1672239773.3590894")`, "2022-12-28T15:02:53Z", false},
		{"parse unix bad", `ParseUnix("notatimestamp")`, "", false},
		{"parse unix zero", `ParseUnix("0")`, "", false},
		{"distance paris london", `int(Distance("48.8566", "2.3522", "51.5074", "-0.1278"))`, 343, false},
		{"distance zero point", `Distance("0", "0", "51.5", "0.1")`, 0.0, false},
		{"distance bad", `Distance("x", "0", "51.5", "0.1")`, nil, true},
		{"approx equal", `FloatApproxEqual(1.0000001, 1.0)`, true, false},
		{"approx not equal", `FloatApproxEqual(1.1, 1.0)`, false, false},
	})
}

func TestIntervals(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s ...int) []time.Time {
		out := make([]time.Time, len(s))
		for i, x := range s {
			out[i] = t0.Add(time.Duration(x) * time.Second)
		}
		return out
	}
	e := New(Deps{})
	for _, c := range []struct {
		name      string
		src       string
		times     any
		want      time.Duration
		wantError bool
	}{
		{"median odd unsorted", `MedianInterval(times)`, at(10, 0, 1, 3), 2 * time.Second, false},
		{"median even", `MedianInterval(times)`, at(0, 1, 3, 6, 10), 2500 * time.Millisecond, false},
		{"average", `AverageInterval(times)`, at(0, 1, 3, 6, 10), 2500 * time.Millisecond, false},
		{"median from map", `MedianInterval(map(list, {#}))`, at(0, 2, 4), 2 * time.Second, false},
		{"median one time errors", `MedianInterval(times)`, at(0), 0, true},
		{"average one time errors", `AverageInterval(times)`, at(0), 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]any{"times": c.times, "list": c.times}
			prog, err := e.Compile(c.src, env)
			require.NoError(t, err)
			got, err := expr.Run(prog, env)
			if c.wantError {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.want, got)
		})
	}
	// The caller's list is not reordered.
	ts := at(3, 1, 2)
	_, err := medianInterval(ts)
	require.NoError(t, err)
	require.Equal(t, at(3, 1, 2), ts)
}
