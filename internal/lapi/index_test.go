package lapi

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
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
						delete(view, key{e.value, e.m.typ})
					}
					for _, e := range res.fresh {
						view[key{e.value, e.m.typ}] = e.id
					}
					ver = res.ver
				}
			}
			res := ix.pull(f, false, ver, time.Time{}, now)
			for _, e := range res.gone {
				delete(view, key{e.value, e.m.typ})
			}
			for _, e := range res.fresh {
				view[key{e.value, e.m.typ}] = e.id
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
				_, dup := startup[key{e.value, e.m.typ}]
				require.False(t, dup, "startup answer has %s/%s twice", e.value, e.m.typ)
				startup[key{e.value, e.m.typ}] = e.id
			}
			require.Equal(t, want, startup, "startup pull")
			require.Equal(t, want, view, "incremental pulls")
			require.Equal(t, len(active), ix.size())
			require.Len(t, ix.dense, len(active))
			for i, e := range ix.dense {
				require.EqualValues(t, i, e.pos)
			}
		})
	}
}

// TestIndexConcurrentPulls: lock-free incremental pulls run while the
// index changes (run with -race). Every puller applies each answer to its
// view as a bouncer does; each answer is a consistent snapshot: versions
// never go back, no (value, type) twice among the new ones, and no decision
// deleted before the pull began comes as new. After the writer stops, one
// more pull leaves every puller with exactly the active decisions (each
// added decision present once, no deleted one) that a startup pull gives.
func TestIndexConcurrentPulls(t *testing.T) {
	const adds, values, pullers = 3000, 50, 4
	now := time.Unix(1_700_000_000, 0)
	ix := newIndex(time.Hour)
	f := &streamFilter{scopes: []string{"Ip"}}
	type key struct{ value, typ string }
	deleted := func(id int64) bool { return (id-1)%3 == 0 } // the writer deletes every third
	var deletedUpTo atomic.Int64                            // the highest id whose deletion is applied
	deletedUpTo.Store(-1)
	var wg sync.WaitGroup
	// Every puller has pulled once before the writer starts, so that a
	// puller the scheduler starts late on a loaded machine still takes
	// part (its first pull is the startup one) and pulls run beside the
	// writes.
	var started sync.WaitGroup
	started.Add(pullers)
	stop := make(chan struct{})
	views := make([]map[key]int64, pullers)
	vers := make([]uint64, pullers)
	errs := make(chan error, pullers)
	apply := func(view map[key]int64, res pullResult) {
		for _, e := range res.gone {
			delete(view, key{e.value, e.m.typ})
		}
		for _, e := range res.fresh {
			view[key{e.value, e.m.typ}] = e.id
		}
	}
	for p := range pullers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			view, ver, pulls := map[key]int64{}, uint64(0), 0
			defer func() { views[p], vers[p] = view, ver }()
			for {
				select {
				case <-stop:
					if pulls == 0 {
						errs <- fmt.Errorf("puller %d never pulled", p)
					}
					return
				default:
				}
				before := deletedUpTo.Load()
				res := ix.pull(f, pulls == 0, ver, time.Time{}, now)
				pulls++
				if pulls == 1 {
					started.Done()
				}
				if res.ver < ver {
					errs <- fmt.Errorf("puller %d: version went back from %d to %d", p, ver, res.ver)
					return
				}
				seen := map[key]bool{}
				for _, e := range res.fresh {
					k := key{e.value, e.m.typ}
					if seen[k] {
						errs <- fmt.Errorf("puller %d: %v twice in one answer", p, k)
						return
					}
					seen[k] = true
					if deleted(e.id) && e.id <= before {
						errs <- fmt.Errorf("puller %d: decision %d deleted before the pull came as new", p, e.id)
						return
					}
					_ = string(e.appendTail(nil)) // the encoded bytes are read while the writer runs
				}
				apply(view, res)
				ver = res.ver
			}
		}()
	}
	started.Wait()
	for i := range adds {
		id := int64(i + 1)
		d := &store.Decision{ID: id, Origin: "crowdsec", Type: "ban", Scope: "Ip",
			Value: fmt.Sprintf("198.51.100.%d", i%values), CreatedAt: now, Until: now.Add(time.Hour)}
		ix.apply([]*store.Decision{d}, now)
		if deleted(id) {
			c := *d
			c.Until = now.Add(-time.Second)
			ix.apply([]*store.Decision{&c}, now)
			deletedUpTo.Store(id)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	// The active decisions: per value, the last one not deleted (same
	// until for all: the highest id wins).
	want := map[key]int64{}
	for id := int64(1); id <= adds; id++ {
		if !deleted(id) {
			want[key{fmt.Sprintf("198.51.100.%d", (id-1)%values), "ban"}] = id
		}
	}
	require.Len(t, want, values)
	startup := map[key]int64{}
	apply(startup, ix.pull(f, true, 0, time.Time{}, now))
	require.Equal(t, want, startup, "startup pull")
	for p := range pullers {
		apply(views[p], ix.pull(f, false, vers[p], time.Time{}, now))
		require.Equal(t, want, views[p], "puller %d's view after its last pull", p)
	}
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
		"canonical uuid": {store.Decision{ID: 10, UUID: "3ad4f9a0-8c5b-4e0e-9d5b-1c2b3a4d5e6f", Origin: "crowdsec", Type: "ban", Scope: "Ip", Value: "2001:db8::1", Scenario: "s"},
			`","id":10,"origin":"crowdsec","scenario":"s","scope":"Ip","type":"ban","uuid":"3ad4f9a0-8c5b-4e0e-9d5b-1c2b3a4d5e6f","value":"2001:db8::1"}`},
		"upper-case uuid kept as sent": {store.Decision{ID: 11, UUID: "3AD4F9A0-8C5B-4E0E-9D5B-1C2B3A4D5E6F", Origin: "crowdsec", Type: "ban", Scope: "Ip", Value: "192.0.2.2", Scenario: "s"},
			`","id":11,"origin":"crowdsec","scenario":"s","scope":"Ip","type":"ban","uuid":"3AD4F9A0-8C5B-4E0E-9D5B-1C2B3A4D5E6F","value":"192.0.2.2"}`},
		"zero uuid kept as sent": {store.Decision{ID: 12, UUID: "00000000-0000-0000-0000-000000000000", Origin: "o", Type: "ban", Scope: "Ip", Value: "192.0.2.3", Scenario: "s"},
			`","id":12,"origin":"o","scenario":"s","scope":"Ip","type":"ban","uuid":"00000000-0000-0000-0000-000000000000","value":"192.0.2.3"}`},
		"no uuid": {store.Decision{ID: 8, Origin: "crowdsec", Type: "ban", Scope: "Range", Value: "10.0.0.0/8", Scenario: "a/b"},
			`","id":8,"origin":"crowdsec","scenario":"a/b","scope":"Range","type":"ban","value":"10.0.0.0/8"}`},
		"escaped": {store.Decision{ID: 9, Origin: "x", Type: "ban", Scope: "Username", Value: "a\"<b>\\é", Scenario: "s"},
			`","id":9,"origin":"x","scenario":"s","scope":"Username","type":"ban","value":"a\"\u003cb\u003e\\é"}`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := newIndex(time.Hour).newEntry(&tc.d)
			require.Equal(t, tc.want, string(e.appendTail(nil)))
			require.Equal(t, tc.d.Value, e.value)
			require.Equal(t, tc.d.UUID, e.uuidString())
		})
	}
}

// TestEntryRange: the compact range of an entry gives back the decision's
// range, for addresses and prefixes of both families.
func TestEntryRange(t *testing.T) {
	ix := newIndex(time.Hour)
	for _, tc := range []struct {
		scope, value string
		single       bool
	}{
		{"Ip", "192.0.2.1", true}, {"Ip", "::ffff:192.0.2.1", true}, {"Ip", "2001:db8::1", true},
		{"Range", "192.0.2.0/24", false}, {"Range", "10.0.0.0/8", false}, {"Range", "0.0.0.0/0", false},
		{"Range", "2001:db8::/32", false}, {"Range", "::/0", false}, {"Range", "192.0.2.7/32", true},
	} {
		t.Run(tc.value, func(t *testing.T) {
			e := ix.newEntry(&store.Decision{ID: 1, Scope: tc.scope, Value: tc.value})
			want, ok, err := store.DecisionRange(tc.scope, tc.value)
			require.NoError(t, err)
			require.True(t, ok)
			require.True(t, e.hasRange())
			require.Equal(t, want, e.rng())
			require.Equal(t, tc.single, e.single())
		})
	}
	require.False(t, ix.newEntry(&store.Decision{ID: 2, Scope: "Country", Value: "FR"}).hasRange())
}

// FuzzParseUUID: a parsed UUID prints back to its input; anything else is
// kept as sent.
func FuzzParseUUID(f *testing.F) {
	for _, s := range []string{"3ad4f9a0-8c5b-4e0e-9d5b-1c2b3a4d5e6f", "u-1", "", "3AD4F9A0-8C5B-4E0E-9D5B-1C2B3A4D5E6F", "00000000-0000-0000-0000-000000000000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, ok := parseUUID(s)
		if ok && string(appendUUID(nil, u)) != s {
			t.Fatalf("parseUUID(%q) prints back as %q", s, appendUUID(nil, u))
		}
		e := newIndex(time.Hour).newEntry(&store.Decision{ID: 1, UUID: s, Scope: "Ip", Value: "192.0.2.1"})
		if e.uuidString() != s {
			t.Fatalf("uuid %q kept as %q", s, e.uuidString())
		}
	})
}
