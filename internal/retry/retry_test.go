package retry

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func id(d time.Duration) time.Duration { return d }

func TestDelay(t *testing.T) {
	t.Parallel()
	p := Policy{Base: 100 * time.Millisecond, Max: time.Second, Jitter: id}
	tests := []struct {
		name       string
		retry      int
		retryAfter time.Duration
		want       time.Duration
	}{
		{name: "first retry", retry: 1, want: 100 * time.Millisecond},
		{name: "second retry doubles", retry: 2, want: 200 * time.Millisecond},
		{name: "fourth retry", retry: 4, want: 800 * time.Millisecond},
		{name: "capped", retry: 8, want: time.Second},
		{name: "far retry does not overflow", retry: 1000, want: time.Second},
		{name: "retry-after longer wins", retry: 1, retryAfter: 300 * time.Millisecond, want: 300 * time.Millisecond},
		{name: "retry-after shorter ignored", retry: 2, retryAfter: 10 * time.Millisecond, want: 200 * time.Millisecond},
		{name: "retry-after capped", retry: 1, retryAfter: time.Hour, want: time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, p.Delay(tc.retry, tc.retryAfter))
			jittered := Policy{Base: p.Base, Max: p.Max}
			base := p.Delay(tc.retry, tc.retryAfter)
			lo := base / 2
			if tc.retryAfter > 0 && tc.retryAfter <= p.Max {
				lo = max(lo, tc.retryAfter) // an honoured Retry-After is a floor
			}
			seen := map[time.Duration]bool{}
			for range 200 {
				got := jittered.Delay(tc.retry, tc.retryAfter)
				require.GreaterOrEqual(t, got, lo)
				require.LessOrEqual(t, got, base)
				seen[got] = true
			}
			if lo < base {
				require.Greater(t, len(seen), 1, "jittered waits all equal")
			}
		})
	}
	require.Equal(t, 5*time.Second, Policy{Base: 5 * time.Second, Max: time.Second, Jitter: id}.Delay(3, 0), "max below base: base")
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	b := Policy{Base: time.Second, Max: 4 * time.Second, Jitter: id}.Backoff()
	var got []time.Duration
	for range 4 {
		got = append(got, b.Next(0))
	}
	require.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second}, got)
	require.Equal(t, 4, b.Failures())
	b.Reset()
	require.Zero(t, b.Failures())
	require.Equal(t, time.Second, b.Next(0))
}

func TestSleep(t *testing.T) {
	t.Parallel()
	require.NoError(t, Sleep(context.Background(), time.Millisecond))
	require.NoError(t, Sleep(context.Background(), 0))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, Sleep(ctx, time.Hour), context.Canceled)
	require.ErrorIs(t, Sleep(ctx, 0), context.Canceled)
}
