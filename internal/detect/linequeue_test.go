package detect

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/event"
)

// TestLineQueue: take returns every line waiting, in order, at once; push
// waits while the queue is full and goes on when it is taken, or gives up
// with ctx's error; close lets take return what is left, then nil.
func TestLineQueue(t *testing.T) {
	t.Parallel()
	lines := func(raws ...string) []event.Line {
		out := make([]event.Line, len(raws))
		for i, r := range raws {
			out[i] = event.Line{Raw: r}
		}
		return out
	}
	raws := func(ls []event.Line) []string {
		var out []string
		for _, l := range ls {
			out = append(out, l.Raw)
		}
		return out
	}
	tests := []struct {
		name   string
		size   int
		push   []string
		close  bool
		want   [][]string // successive takes (nil: take returned nil)
		cancel bool       // push one more into the full queue with a cancelled ctx
	}{
		{name: "all waiting lines at once", size: 4, push: []string{"a", "b", "c"}, want: [][]string{{"a", "b", "c"}}},
		{name: "closed: what is left, then nil", size: 4, push: []string{"a"}, close: true, want: [][]string{{"a"}, nil}},
		{name: "closed and empty", size: 4, close: true, want: [][]string{nil}},
		{name: "full: push gives up on cancel", size: 2, push: []string{"a", "b"}, cancel: true, want: [][]string{{"a", "b"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q := newLineQueue(make([]event.Line, 0, tc.size), tc.size)
			for _, l := range lines(tc.push...) {
				require.NoError(t, q.push(context.Background(), l))
			}
			if tc.cancel {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				require.ErrorIs(t, q.push(ctx, event.Line{Raw: "late"}), context.Canceled)
			}
			if tc.close {
				q.close()
			}
			for _, w := range tc.want {
				got := q.take(make([]event.Line, 0, tc.size))
				if w == nil {
					require.Nil(t, got)
					continue
				}
				require.Equal(t, w, raws(got))
			}
		})
	}
}

// TestLineQueueFlow: a pusher of many lines into a small queue and a taker
// running at once see every line once, in order, in takes of at most the
// queue's size; a take waits for a line to come.
func TestLineQueueFlow(t *testing.T) {
	t.Parallel()
	const n, size = 10000, 7
	q := newLineQueue(make([]event.Line, 0, size), size)
	got := make(chan []event.Line)
	go func() {
		defer close(got)
		for {
			ls := q.take(make([]event.Line, 0, size))
			if ls == nil {
				return
			}
			got <- ls
		}
	}()
	// the taker waits for the first line
	select {
	case ls := <-got:
		t.Fatalf("take returned %d lines before any was pushed", len(ls))
	case <-time.After(20 * time.Millisecond):
	}
	go func() {
		for i := range n {
			if err := q.push(context.Background(), event.Line{Raw: string(rune(i))}); err != nil {
				panic(err)
			}
		}
		q.close()
	}()
	next := 0
	for ls := range got {
		require.NotEmpty(t, ls)
		require.LessOrEqual(t, len(ls), size)
		for _, l := range ls {
			require.Equal(t, string(rune(next)), l.Raw)
			next++
		}
	}
	require.Equal(t, n, next)
}
