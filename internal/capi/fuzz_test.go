package capi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/capi"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/store/sqlite"
)

// FuzzPullStream: whatever a central answers to a stream pull, the puller
// errors or applies it; it never panics, and every active decision it
// stored is a valid address or range with a future end.
func FuzzPullStream(f *testing.F) {
	f.Add([]byte(`{"new":[{"scenario":"a/b","scope":"Ip","decisions":[{"value":"203.0.113.5","duration":"4h"}]}],"deleted":[]}`))
	f.Add([]byte(`{"new":[{"scenario":"a/b","scope":"range","decisions":[{"value":"198.51.100.0/24","duration":"24h"},{"value":"x","duration":"-1h"}]}]}`))
	f.Add([]byte(`{"new":[],"deleted":[{"scope":"ip","decisions":["203.0.113.5","::1"]}],"links":{"blocklists":[{"name":"l","url":"/nope","remediation":"ban","scope":"Ip","duration":"1h"}]}}`))
	f.Add([]byte(`null`))
	var body atomic.Value
	body.Store([]byte("{}"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v3/watchers/login" {
			_, _ = w.Write([]byte(`{"code":200,"token":"t","expire":"` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + `"}`))
			return
		}
		if r.URL.Path == "/v3/decisions/stream" {
			_, _ = w.Write(body.Load().([]byte))
			return
		}
		http.NotFound(w, r)
	}))
	f.Cleanup(srv.Close)
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(f.TempDir(), "f.db")})
	require.NoError(f, err)
	f.Cleanup(func() { _ = st.Close() })
	svc, err := capi.New(capi.Settings{Credentials: capi.Credentials{URL: srv.URL, Login: "m", Password: "p"},
		PullCommunity: true, PullBlocklists: true}, capi.Deps{Store: st})
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, data []byte) {
		body.Store(data)
		_, _ = svc.PullNow(context.Background(), false)
		now := time.Now()
		ds, err := st.ListDecisions(context.Background(), store.DecisionFilter{ActiveAt: now})
		require.NoError(t, err)
		for _, d := range ds {
			switch d.Scope {
			case "Ip":
				_, err := models.ParseIP(d.Value)
				require.NoError(t, err)
			case "Range":
				_, err := models.ParseRange(d.Value)
				require.NoError(t, err)
			}
			require.True(t, d.Until.After(now))
			require.Contains(t, []string{"CAPI", "lists"}, d.Origin)
		}
	})
}

// FuzzParseAllowlistItems: whatever lines a centralized allowlist link
// serves, every item kept is a valid prefix in force at now, and every
// line is either an item, expired, or counted as bad.
func FuzzParseAllowlistItems(f *testing.F) {
	f.Add("{\"value\":\"203.0.113.0/24\",\"description\":\"x\"}\n{\"value\":\"2001:db8::1\"}")
	f.Add("{\"value\":\"1.2.3.4\",\"expiration\":\"2000-01-01T00:00:00Z\"}\n{\"value\":\"1.2.3.4\",\"expiration\":\"soon\"}")
	f.Add("nope\n{}\n{\"value\":\"::ffff:1.2.3.4/120\"}")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, text string) {
		lines := strings.Split(text, "\n")
		items, bad := capi.ParseAllowlistItems(lines, now)
		require.LessOrEqual(t, len(items)+bad, len(lines))
		for _, it := range items {
			p, err := netip.ParsePrefix(it.Value)
			require.NoError(t, err, it.Value)
			require.Equal(t, p.Masked().String(), it.Value, "normalised")
			require.True(t, it.Expiration.IsZero() || it.Expiration.After(now))
		}
	})
}
