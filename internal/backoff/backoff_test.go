package backoff

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDelay(t *testing.T) {
	t.Parallel()
	none := func(d time.Duration) time.Duration { return d }
	p := Policy{Base: time.Second, Max: 10 * time.Second}
	for _, tc := range []struct {
		name string
		n    int
		want time.Duration
	}{
		{"first retry waits the base", 1, time.Second},
		{"second doubles", 2, 2 * time.Second},
		{"fourth", 4, 8 * time.Second},
		{"capped", 5, 10 * time.Second},
		{"far past the cap stays capped", 500, 10 * time.Second},
		{"zero counts as the first", 0, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, p.Delay(tc.n, none))
		})
	}
}

func TestHalfJitterBounds(t *testing.T) {
	t.Parallel()
	for range 1000 {
		d := HalfJitter(time.Second)
		require.GreaterOrEqual(t, d, 500*time.Millisecond)
		require.LessOrEqual(t, d, time.Second)
	}
	require.Equal(t, time.Duration(1), HalfJitter(1))
	require.Equal(t, time.Duration(0), HalfJitter(0))
	// Delay with the default jitter stays within [d/2, d].
	d := Policy{Base: time.Second, Max: time.Minute}.Delay(3, nil)
	require.GreaterOrEqual(t, d, 2*time.Second)
	require.LessOrEqual(t, d, 4*time.Second)
}
