package scenario

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRecycledBucket: a bucket that ended, every field set, comes back
// from newBucket as a new one would be (another scenario, partition and
// burst), its queue empty; its queue's storage is reused only when no
// overflow took the queue's items (keepQueue), which recycle leaves
// untouched otherwise.
func TestRecycledBucket(t *testing.T) {
	cases := []struct {
		name      string
		keepQueue bool
	}{
		{"underflow keeps the queue's storage", true},
		{"overflow leaves the queue to the alert", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := &worker{}
			old := &scen{burst: 5}
			b := w.newBucket(old, "old-key")
			b.tokens = 1
			b.first, b.lastTs, b.deadline = time.Unix(1, 0), time.Unix(2, 0), time.Unix(3, 0)
			b.total = 3
			it := &item{}
			b.q.its = append(b.q.its, it)
			b.q.older = append(b.q.older, 1, 2)
			require.True(t, b.distinct.add("x"))
			g := []bool{true}
			b.guillotine = &g
			b.hidx = 4
			its := b.q.its

			w.recycle(b, c.keepQueue)
			sc := &scen{burst: 7}
			nb := w.newBucket(sc, "new-key")
			require.Same(t, b, nb)
			got := *nb
			got.q = queue{}
			require.Equal(t, bucket{sc: sc, key: "new-key", tokens: 7, hidx: -1}, got)
			require.Zero(t, nb.q.len())
			require.Empty(t, nb.q.older)
			require.True(t, nb.distinct.add("x"), "distinct forgot the old bucket's values")
			if c.keepQueue {
				require.NotNil(t, nb.q.its)
				require.Nil(t, its[0], "the reused queue keeps no item alive")
			} else {
				require.Nil(t, nb.q.its)
				require.Same(t, it, its[0], "the overflow's items are left as they are")
			}
			// The spare list is empty again: the next bucket is a new one.
			require.NotSame(t, nb, w.newBucket(sc, "k"))
		})
	}
}

// TestSpareBucketsBounded: a worker keeps at most maxSpareBuckets ended
// buckets.
func TestSpareBucketsBounded(t *testing.T) {
	w := &worker{}
	sc := &scen{}
	for range 2 * maxSpareBuckets {
		w.recycle(w.newBucket(sc, "k"), true)
		w.recycle(&bucket{}, true)
	}
	require.Len(t, w.spare, maxSpareBuckets)
}
