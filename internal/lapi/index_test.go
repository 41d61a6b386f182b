package lapi

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/store"
)

// TestIndexIncrementalMatchesStartup: after random adds and removals, a
// bouncer that applied every incremental answer holds exactly what a
// startup pull returns, and that is the longest active decision per
// (value, type, scope).
func TestIndexIncrementalMatchesStartup(t *testing.T) {
	cases := map[string]struct {
		values, steps int
		seed          uint64
	}{
		"few values, many collisions": {values: 3, steps: 400, seed: 1},
		"many values":                 {values: 200, steps: 2000, seed: 2},
		"long change lists":           {values: 50, steps: 3000, seed: 3},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(tc.seed, 0))
			now := time.Unix(1_700_000_000, 0)
			ix := newIndex(time.Hour)
			active := map[int64]*store.Decision{}
			type key struct{ value, typ string }
			view := map[key]int64{}
			var ver uint64
			var id int64
			f := &streamFilter{scopes: []string{"Ip"}}
			for step := range tc.steps {
				var batch []*store.Decision
				for range 1 + rng.IntN(5) {
					if len(active) > 0 && rng.IntN(3) == 0 {
						for k, d := range active { // remove one
							c := *d
							c.Until = now.Add(-time.Second)
							batch = append(batch, &c)
							delete(active, k)
							break
						}
						continue
					}
					id++
					d := &store.Decision{ID: id, Origin: "crowdsec", Type: []string{"ban", "captcha"}[rng.IntN(2)], Scope: "Ip",
						Value: fmt.Sprintf("192.0.2.%d", rng.IntN(tc.values)), Scenario: "s",
						CreatedAt: now, Until: now.Add(time.Duration(1+rng.IntN(5)) * time.Hour)}
					active[d.ID] = d
					batch = append(batch, d)
				}
				ix.apply(batch, now)
				if step == 0 || rng.IntN(4) != 0 {
					res := ix.pull(f, step == 0, ver, time.Time{}, now)
					if step == 0 {
						view = map[key]int64{}
					}
					for _, e := range res.gone {
						delete(view, key{e.value, e.typ})
					}
					for _, e := range res.fresh {
						view[key{e.value, e.typ}] = e.id
					}
					ver = res.ver
				}
			}
			res := ix.pull(f, false, ver, time.Time{}, now)
			for _, e := range res.gone {
				delete(view, key{e.value, e.typ})
			}
			for _, e := range res.fresh {
				view[key{e.value, e.typ}] = e.id
			}
			want := map[key]int64{}
			for _, d := range active {
				k := key{d.Value, d.Type}
				if o, ok := want[k]; !ok || d.Until.After(active[o].Until) || d.Until.Equal(active[o].Until) && d.ID > o {
					want[k] = d.ID
				}
			}
			startup := map[key]int64{}
			for _, e := range ix.pull(f, true, 0, time.Time{}, now).fresh {
				_, dup := startup[key{e.value, e.typ}]
				require.False(t, dup, "startup answer has %s/%s twice", e.value, e.typ)
				startup[key{e.value, e.typ}] = e.id
			}
			require.Equal(t, want, startup, "startup pull")
			require.Equal(t, want, view, "incremental pulls")
			require.Equal(t, len(active), ix.size())
			require.Len(t, ix.dense, len(active))
			for i, e := range ix.dense {
				require.Equal(t, i, e.pos)
			}
		})
	}
}

// TestIndexConcurrentPulls: lock-free incremental pulls run while the
// index changes (run with -race).
func TestIndexConcurrentPulls(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	ix := newIndex(time.Hour)
	f := &streamFilter{scopes: []string{"Ip"}}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ver uint64 = 1
			for {
				select {
				case <-stop:
					return
				default:
				}
				res := ix.pull(f, false, ver, time.Time{}, now)
				for _, e := range append(res.fresh, res.gone...) {
					_ = e.tail + e.value
				}
				ver = res.ver
			}
		}()
	}
	for i := range 3000 {
		d := &store.Decision{ID: int64(i + 1), Origin: "crowdsec", Type: "ban", Scope: "Ip",
			Value: fmt.Sprintf("198.51.100.%d", i%50), CreatedAt: now, Until: now.Add(time.Hour)}
		ix.apply([]*store.Decision{d}, now)
		if i%3 == 0 {
			c := *d
			c.Until = now.Add(-time.Second)
			ix.apply([]*store.Decision{&c}, now)
		}
	}
	close(stop)
	wg.Wait()
}

// TestEntryEncode: the pre-encoded JSON of a decision, with strings that
// need escaping and strings that share the encoded bytes.
func TestEntryEncode(t *testing.T) {
	cases := map[string]struct {
		d    store.Decision
		want string
	}{
		"plain": {store.Decision{ID: 7, UUID: "u-1", Origin: "cscli", Type: "ban", Scope: "Ip", Value: "192.0.2.1", Scenario: "manual"},
			`","id":7,"origin":"cscli","scenario":"manual","scope":"Ip","type":"ban","uuid":"u-1","value":"192.0.2.1"}`},
		"no uuid": {store.Decision{ID: 8, Origin: "crowdsec", Type: "ban", Scope: "Range", Value: "10.0.0.0/8", Scenario: "a/b"},
			`","id":8,"origin":"crowdsec","scenario":"a/b","scope":"Range","type":"ban","value":"10.0.0.0/8"}`},
		"escaped": {store.Decision{ID: 9, Origin: "x", Type: "ban", Scope: "Username", Value: "a\"<b>\\é", Scenario: "s"},
			`","id":9,"origin":"x","scenario":"s","scope":"Username","type":"ban","value":"a\"\u003cb\u003e\\é"}`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := newIndex(time.Hour).newEntry(&tc.d)
			require.Equal(t, tc.want, e.tail)
			require.Equal(t, tc.d.Value, e.value)
			require.Equal(t, tc.d.UUID, e.uuid)
		})
	}
}
