package lapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/lapi"
)

// TestDeletedBouncerRefusedWhilePolling: the auth cache refreshes keys
// ahead of expiry for bouncers that poll often, yet a deleted bouncer is
// refused within about one auth_cache_ttl even if it never stops polling.
func TestDeletedBouncerRefusedWhilePolling(t *testing.T) {
	const ttl = 500 * time.Millisecond
	cases := map[string]struct {
		deleteAfter time.Duration
	}{
		"deleted early":     {deleteAfter: 50 * time.Millisecond},
		"deleted mid-cycle": {deleteAfter: 420 * time.Millisecond},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			st := openSQLite(t)
			srv := startServer(t, st, lapi.Config{AuthCacheTTL: ttl}, lapi.Deps{})
			key := addBouncer(t, st, "fw")
			poll := func() int {
				return do(t, http.MethodGet, srv.url+"/v1/decisions/stream", nil, "X-Api-Key: "+key).status
			}
			require.Equal(t, http.StatusOK, poll())
			start := time.Now()
			deleted := false
			var refusedAt time.Duration
			for time.Since(start) < 4*ttl {
				if !deleted && time.Since(start) >= tc.deleteAfter {
					require.NoError(t, st.DeleteBouncer(context.Background(), "fw"))
					deleted = true
					start = time.Now()
				}
				code := poll()
				if deleted && code == http.StatusForbidden {
					refusedAt = time.Since(start)
					break
				}
				require.Equal(t, http.StatusOK, code)
				time.Sleep(10 * time.Millisecond)
			}
			require.NotZero(t, refusedAt, "a deleted bouncer was still served after %s", 4*ttl)
			require.LessOrEqual(t, refusedAt, ttl+200*time.Millisecond)
		})
	}
}
