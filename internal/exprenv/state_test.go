package exprenv

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type fakeDecisions struct{ since time.Time }

func (f *fakeDecisions) CountDecisions(v string) (int, error) {
	if v == "bad" {
		return 0, errors.New("db down")
	}
	return 3, nil
}

func (f *fakeDecisions) CountDecisionsSince(v string, since time.Time) (int, error) {
	f.since = since
	return 2, nil
}

func (f *fakeDecisions) ActiveDecisionsCount(v string) (int, error) {
	if v == "bad" {
		return 0, errors.New("db down")
	}
	return 1, nil
}

func (f *fakeDecisions) ActiveDecisionsTimeLeft(string) (time.Duration, error) {
	return time.Hour, nil
}

func TestStateHelpers(t *testing.T) {
	st := NewStash()
	require.NoError(t, st.Configure("c", 10, time.Minute, ""))
	require.NoError(t, st.Set("c", "k", "v"))
	dec := &fakeDecisions{}
	e := New(Deps{Stash: st, Decisions: dec, Now: fixedClock()})
	runCases(t, e, []exprCase{
		{"get", `GetFromStash("c", "k")`, "v", false},
		{"get missing key", `GetFromStash("c", "nope")`, "", false},
		{"get unknown cache", `GetFromStash("zz", "k")`, "", false},
		{"set then get", `SetInStash("c", "k2", "v2") ?? GetFromStash("c", "k2")`, "v2", false},
		{"set with ttl", `SetInStash("c", "k3", "v3", duration("1s")) ?? GetFromStash("c", "k3")`, "v3", false},
		{"set unknown cache ignored", `SetInStash("zz", "k", "v") ?? GetFromStash("zz", "k")`, "", false},
		{"decisions", `GetDecisionsCount("1.2.3.4")`, 3, false},
		{"decisions db error is zero", `GetDecisionsCount("bad")`, 0, false},
		{"decisions since", `GetDecisionsSinceCount("1.2.3.4", "1d")`, 2, false},
		{"decisions since bad duration", `GetDecisionsSinceCount("1.2.3.4", "nope")`, 0, false},
		{"active", `GetActiveDecisionsCount("x")`, 1, false},
		{"active db error", `GetActiveDecisionsCount("bad")`, nil, true},
		{"time left", `GetActiveDecisionsTimeLeft("x").Hours()`, 1.0, false},
	})
	require.Equal(t, fixedClock()().Add(-24*time.Hour), dec.since)

	runCases(t, New(Deps{}), []exprCase{
		{"nil stash get", `GetFromStash("c", "k")`, "", false},
		{"nil stash set", `SetInStash("c", "k", "v")`, nil, false},
		{"nil decisions", `GetDecisionsCount("x") + GetDecisionsSinceCount("x", "1h") + GetActiveDecisionsCount("x")`, 0, false},
		{"nil decisions time left", `GetActiveDecisionsTimeLeft("x")`, time.Duration(0), false},
	})
}

func TestStash(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	st := NewStash()
	New(Deps{Stash: st, Now: clock}) // New hands the clock to the stash

	require.NoError(t, st.Configure("ttl", 2, 10*time.Second, "LFU"))
	require.NoError(t, st.Configure("ttl", 99, time.Hour, "ARC"), "reconfigure keeps the cache")
	require.Error(t, st.Configure("bad", 1, 0, "FIFO"))
	require.Error(t, st.Set("unknown", "k", "v"))
	require.True(t, st.Has("ttl"))

	require.NoError(t, st.Set("ttl", "a", "1"))
	now = now.Add(9 * time.Second)
	v, ok := st.Get("ttl", "a")
	require.True(t, ok)
	require.Equal(t, "1", v)
	now = now.Add(time.Second)
	_, ok = st.Get("ttl", "a")
	require.False(t, ok, "expired at ttl")

	// LRU eviction at size 2: "b" was used last, so "c" evicts... "x".
	require.NoError(t, st.Set("ttl", "x", "1"))
	require.NoError(t, st.Set("ttl", "b", "2"))
	_, _ = st.Get("ttl", "x")
	require.NoError(t, st.Set("ttl", "c", "3"))
	_, ok = st.Get("ttl", "b")
	require.False(t, ok, "least recently used evicted")
	_, ok = st.Get("ttl", "x")
	require.True(t, ok)

	// Per-key TTL and no-expiry caches.
	require.NoError(t, st.SetTTL("ttl", "long", "v", time.Hour))
	now = now.Add(30 * time.Minute)
	_, ok = st.Get("ttl", "long")
	require.True(t, ok)
	require.NoError(t, st.Configure("forever", 0, 0, ""))
	require.NoError(t, st.Set("forever", "k", "v"))
	now = now.Add(1000 * time.Hour)
	_, ok = st.Get("forever", "k")
	require.True(t, ok)
}

func TestStashConcurrent(t *testing.T) {
	st := NewStash()
	require.NoError(t, st.Configure("c", 50, time.Minute, ""))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				k := fmt.Sprint(g, i%70)
				_ = st.Set("c", k, "v")
				_, _ = st.Get("c", k)
			}
		}()
	}
	wg.Wait()
	require.LessOrEqual(t, st.cache("c").Len(), 50)
}
