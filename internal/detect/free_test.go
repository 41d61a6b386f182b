package detect

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/event"
)

// TestFreeList: events come back last in first out (the one handed back
// last is the one reused first), at most the list's bound are kept, and
// take moves out no more than asked for or held.
func TestFreeList(t *testing.T) {
	evs := make([]*event.Event, 5)
	for i := range evs {
		evs[i] = event.New(event.Line{Raw: string(rune('a' + i))})
	}
	tests := []struct {
		name      string
		bound     int
		put       []int // indexes into evs, in order
		take      int
		want      []int // what take returns, in order
		remaining int
	}{
		{name: "lifo", bound: 8, put: []int{0, 1, 2}, take: 2, want: []int{2, 1}, remaining: 1},
		{name: "take more than held", bound: 8, put: []int{0, 1}, take: 5, want: []int{1, 0}, remaining: 0},
		{name: "empty", bound: 8, take: 3, want: []int{}, remaining: 0},
		{name: "bounded: the excess is dropped", bound: 2, put: []int{0, 1, 2, 3}, take: 4, want: []int{1, 0}, remaining: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFreeList(tc.bound)
			for _, i := range tc.put {
				f.put(evs[i])
			}
			got := f.take(nil, tc.take)
			want := make([]*event.Event, 0, len(tc.want))
			for _, i := range tc.want {
				want = append(want, evs[i])
			}
			require.Equal(t, want, append([]*event.Event{}, got...))
			require.Len(t, f.evs, tc.remaining)
			require.Equal(t, tc.bound, cap(f.evs), "the list never grows past its bound")
		})
	}
}
