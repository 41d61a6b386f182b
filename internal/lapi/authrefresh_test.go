package lapi_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/lapi"
)

// TestDeletedBouncerRefusedWhilePolling: the auth cache refreshes keys
// ahead of expiry for bouncers that poll often, yet a deleted bouncer is
// refused within one auth_cache_ttl even if it never stops polling. The
// server runs on a virtual clock the test moves 10 ms before each poll:
// the bound holds on the server's time however slow the machine is.
func TestDeletedBouncerRefusedWhilePolling(t *testing.T) {
	const ttl = 500 * time.Millisecond
	const step = 10 * time.Millisecond
	cases := map[string]struct {
		deleteAfter time.Duration
	}{
		"deleted early":     {deleteAfter: 50 * time.Millisecond},
		"deleted mid-cycle": {deleteAfter: 420 * time.Millisecond},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			now := time.Now()
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			advance := func() { mu.Lock(); now = now.Add(step); mu.Unlock() }
			st := openSQLite(t)
			srv := startServer(t, st, lapi.Config{AuthCacheTTL: ttl}, lapi.Deps{Clock: clock})
			key := addBouncer(t, st, "fw")
			poll := func() int {
				return do(t, http.MethodGet, srv.url+"/v1/decisions/stream", nil, "X-Api-Key: "+key).status
			}
			require.Equal(t, http.StatusOK, poll())
			start := clock()
			deleted := false
			var refusedAt time.Duration
			for clock().Sub(start) < 4*ttl {
				advance()
				if !deleted && clock().Sub(start) >= tc.deleteAfter {
					require.NoError(t, st.DeleteBouncer(context.Background(), "fw"))
					deleted = true
					start = clock()
				}
				code := poll()
				if deleted && code == http.StatusForbidden {
					refusedAt = clock().Sub(start)
					break
				}
				require.Equal(t, http.StatusOK, code)
			}
			require.NotZero(t, refusedAt, "a deleted bouncer was still served %s after (server time)", 4*ttl)
			require.LessOrEqual(t, refusedAt, ttl+step, "refused within one auth_cache_ttl (server time)")
		})
	}
}
