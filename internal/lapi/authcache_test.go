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
			a := newAuthCache(ttl)
			start := time.Now()
			a.put("k", "fw")
			for _, s := range steps {
				time.Sleep(time.Until(start.Add(s.at)))
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
