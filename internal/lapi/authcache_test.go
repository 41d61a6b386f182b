package lapi

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestAuthCacheRefreshAhead: an entry asks for one background refresh in
// the last quarter of its life, is served until it expires and never
// after; a failed refresh may be retried.
func TestAuthCacheRefreshAhead(t *testing.T) {
	const ttl = 400 * time.Millisecond
	type step struct {
		at                     time.Duration // since put
		ok, refresh, failFirst bool
	}
	cases := map[string][]step{
		"fresh entry":        {{at: 0, ok: true}},
		"one refresh":        {{at: 320 * time.Millisecond, ok: true, refresh: true}, {at: 330 * time.Millisecond, ok: true}},
		"expired":            {{at: 450 * time.Millisecond}},
		"retry after a fail": {{at: 320 * time.Millisecond, ok: true, refresh: true, failFirst: true}, {at: 330 * time.Millisecond, ok: true, refresh: true}},
	}
	for name, steps := range cases {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			now := start // the cache's clock, moved by the steps
			a := newAuthCache(ttl, func() time.Time { return now })
			a.put("k", "fw", start)
			for _, s := range steps {
				now = start.Add(s.at)
				v, ok, refresh := a.getRefresh("k")
				require.Equal(t, s.ok, ok, "at %s", s.at)
				require.Equal(t, s.refresh, refresh, "at %s", s.at)
				if ok {
					require.Equal(t, "fw", v)
				}
				if s.failFirst {
					a.refreshFailed("k")
				}
			}
		})
	}
}

// TestAuthCacheKeepsFromLookupStart: an answer is kept ttl from the start
// of its lookup, however long the lookup took, and an older lookup's
// answer stored late does not replace a newer one.
func TestAuthCacheKeepsFromLookupStart(t *testing.T) {
	const ttl = 400 * time.Millisecond
	start := time.Now()
	now := start
	a := newAuthCache(ttl, func() time.Time { return now })
	// A lookup started at start, stored 300 ms later (a slow read).
	now = start.Add(300 * time.Millisecond)
	a.put("k", "fw", start)
	now = start.Add(ttl)
	v, ok := a.get("k")
	require.True(t, ok)
	require.Equal(t, "fw", v)
	now = start.Add(ttl + time.Millisecond)
	_, ok = a.get("k")
	require.False(t, ok, "expired ttl after the lookup started, not after it was stored")

	// A refusal from a lookup started at 500 ms, then a valid answer from
	// one started at 450 ms that finished last: the refusal stays.
	now = start.Add(600 * time.Millisecond)
	a.put("k", "", start.Add(500*time.Millisecond))
	a.put("k", "fw", start.Add(450*time.Millisecond))
	v, ok = a.get("k")
	require.True(t, ok)
	require.Empty(t, v, "the newer lookup's refusal")
}
