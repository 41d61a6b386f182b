package lapi

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

type tv struct{ k int64 }

func tvKey(v *tv) int64 { return v.k }

// checkTable compares t with the reference map, both ways.
func checkTable(t testing.TB, tb *table[int64, *tv], ref map[int64]*tv) {
	t.Helper()
	require.Equal(t, len(ref), tb.len())
	for k, v := range ref {
		got, ok := tb.get(k)
		require.True(t, ok, "key %d lost", k)
		require.Same(t, v, got)
	}
	n := 0
	for _, v := range tb.slots {
		if v != nil {
			n++
			require.Same(t, ref[v.k], v, "stale value %d", v.k)
		}
	}
	require.Equal(t, len(ref), n)
	require.LessOrEqual(t, tb.len()*4, len(tb.slots)*3, "load above 3/4")
}

// TestTable: random puts, replacements and deletes against a Go map, with
// hashes that collide a lot (few buckets) or not at all.
func TestTable(t *testing.T) {
	for name, hash := range map[string]func(int64) uint64{
		"mixed":       hashID,
		"collisions":  func(k int64) uint64 { return uint64(k % 7) },
		"one bucket":  func(int64) uint64 { return 42 },
		"identity":    func(k int64) uint64 { return uint64(k) },
		"high bits 0": func(k int64) uint64 { return uint64(k) << 40 },
	} {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(len(name)), 9))
			tb := newTable(tvKey, hash)
			ref := map[int64]*tv{}
			for step := range 5000 {
				k := int64(rng.IntN(300))
				switch rng.IntN(3) {
				case 0, 1:
					v := &tv{k}
					tb.put(v)
					ref[k] = v
				case 2:
					tb.del(k)
					delete(ref, k)
				}
				if step%97 == 0 {
					checkTable(t, tb, ref)
				}
			}
			checkTable(t, tb, ref)
			for k := range ref {
				tb.del(k)
			}
			require.Zero(t, tb.len())
			require.Len(t, tb.slots, tableMinSize, "shrinks back when emptied")
		})
	}
}

// FuzzTable: any sequence of operations (byte pairs: op, key) keeps the
// table equal to a Go map, under a hash that collides.
func FuzzTable(f *testing.F) {
	f.Add([]byte{0, 1, 0, 2, 2, 1, 0, 17, 2, 2})
	f.Add([]byte{0, 5, 0, 21, 0, 37, 2, 5, 2, 21})
	f.Fuzz(func(t *testing.T, ops []byte) {
		tb := newTable(tvKey, func(k int64) uint64 { return uint64(k % 16) })
		ref := map[int64]*tv{}
		for i := 0; i+1 < len(ops); i += 2 {
			k := int64(ops[i+1])
			if ops[i]%3 == 2 {
				tb.del(k)
				delete(ref, k)
			} else {
				v := &tv{k}
				tb.put(v)
				ref[k] = v
			}
		}
		checkTable(t, tb, ref)
	})
}
