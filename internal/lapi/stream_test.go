package lapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/allowlist"
	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/lapi"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/store/storetest"
)

func decided(scenario, scope, value string, decs ...storetest.Dec) *models.Alert {
	return storetest.Alert(scenario, scope, value, time.Now(), decs...)
}

func streamOf(t testing.TB, url, key, query string) models.DecisionsStreamResponse {
	t.Helper()
	r := do(t, "GET", url+"/v1/decisions/stream?"+query, nil, "X-Api-Key: "+key)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var out models.DecisionsStreamResponse
	require.NoError(t, json.Unmarshal(r.body, &out))
	return out
}

func durations(ds []*models.Decision) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		left, _ := time.ParseDuration(*d.Duration)
		out = append(out, *d.Value+"/"+*d.Type+"/"+left.Round(time.Hour).String())
	}
	sort.Strings(out)
	return out
}

// TestStreamFilters: CrowdSec's stream semantics on startup pulls.
func TestStreamFilters(t *testing.T) {
	st := openSQLite(t)
	ctx := context.Background()
	_, err := st.CreateAlerts(ctx, "", []*models.Alert{
		decided("crowdsecurity/ssh-bf", "Ip", "192.0.2.1",
			storetest.Dec{Type: "ban", Scope: "Ip", Value: "192.0.2.1", Origin: "crowdsec", Duration: "1h"},
			storetest.Dec{Type: "ban", Scope: "Ip", Value: "192.0.2.1", Origin: "crowdsec", Duration: "5h"},
			storetest.Dec{Type: "captcha", Scope: "Ip", Value: "192.0.2.1", Origin: "crowdsec", Duration: "2h"}),
		decided("crowdsecurity/http-probing", "Range", "198.51.100.0/24",
			storetest.Dec{Type: "ban", Scope: "Range", Value: "198.51.100.0/24", Origin: "cscli", Duration: "3h"}),
		decided("crowdsecurity/http-probing", "Country", "FR",
			storetest.Dec{Type: "ban", Scope: "Country", Value: "FR", Origin: "cscli", Duration: "3h"}),
		decided("lists:firehol", "Ip", "203.0.113.3",
			storetest.Dec{Type: "ban", Scope: "Ip", Value: "203.0.113.3", Origin: "lists", Duration: "24h"}),
		decided("crowdsecurity/ssh-bf", "Ip", "203.0.113.4",
			storetest.Dec{Type: "ban", Scope: "Ip", Value: "203.0.113.4", Origin: "crowdsec", Duration: "4h", Simulated: true}),
	})
	require.NoError(t, err)
	srv := startServer(t, st, lapi.Config{}, lapi.Deps{})
	key := addBouncer(t, st, "fw")
	for name, tc := range map[string]struct {
		query string
		want  []string
	}{
		"default scopes, dedup longest, simulated hidden": {"startup=true",
			[]string{"192.0.2.1/ban/5h0m0s", "192.0.2.1/captcha/2h0m0s", "198.51.100.0/24/ban/3h0m0s", "203.0.113.3/ban/24h0m0s"}},
		"scopes country":  {"startup=true&scopes=country", []string{"FR/ban/3h0m0s"}},
		"scopes ip":       {"startup=true&scopes=IP", []string{"192.0.2.1/ban/5h0m0s", "192.0.2.1/captcha/2h0m0s", "203.0.113.3/ban/24h0m0s"}},
		"origins":         {"startup=true&origins=cscli,lists", []string{"198.51.100.0/24/ban/3h0m0s", "203.0.113.3/ban/24h0m0s"}},
		"containing":      {"startup=true&scenarios_containing=ssh", []string{"192.0.2.1/ban/5h0m0s", "192.0.2.1/captcha/2h0m0s"}},
		"not containing":  {"startup=true&scenarios_not_containing=ssh,lists", []string{"198.51.100.0/24/ban/3h0m0s"}},
		"dedup disabled":  {"startup=true&scopes=ip&origins=crowdsec&dedup=false", []string{"192.0.2.1/ban/1h0m0s", "192.0.2.1/ban/5h0m0s", "192.0.2.1/captcha/2h0m0s"}},
		"no match at all": {"startup=true&origins=nobody", []string{}},
	} {
		t.Run(name, func(t *testing.T) {
			got := streamOf(t, srv.url, key, tc.query)
			require.Equal(t, tc.want, durations(got.New))
		})
	}
	// Deleting the longest ban makes the shorter one the answer of the
	// next incremental pull; deleting both reports the ban deleted.
	_ = streamOf(t, srv.url, key, "startup=true")
	_, err = st.ExpireDecisions(ctx, time.Now(), store.DecisionFilter{Value: "192.0.2.1", Type: "ban", ScenariosContaining: []string{"ssh"}, IDs: nil})
	require.NoError(t, err)
	require.NoError(t, srv.Sync(ctx))
	got := streamOf(t, srv.url, key, "")
	require.Empty(t, got.New, "%v", durations(got.New))
	require.Equal(t, []string{"192.0.2.1"}, []string{*got.Deleted[0].Value})
	require.Len(t, got.Deleted, 1)

	// Live mode sees simulated decisions only when asked.
	b := bouncerClient(t, srv.url, key)
	live, err := b.Decisions(ctx, apiclient.DecisionFilter{IP: "203.0.113.4"})
	require.NoError(t, err)
	require.Empty(t, live)
	live, err = b.Decisions(ctx, apiclient.DecisionFilter{IP: "203.0.113.4", Simulated: ptr(true)})
	require.NoError(t, err)
	require.Len(t, live, 1)
	live, err = b.Decisions(ctx, apiclient.DecisionFilter{IP: "198.51.100.77"})
	require.NoError(t, err)
	require.Equal(t, []string{"Range:198.51.100.0/24:ban"}, values(live))
	live, err = b.Decisions(ctx, apiclient.DecisionFilter{Scope: "Country", Value: "FR"})
	require.NoError(t, err)
	require.Equal(t, []string{"Country:FR:ban"}, values(live))
}

// TestAllowlistedAlertDropped: an alert whose source is allowlisted gets
// no decision and is not stored; a manual decision on an allowlisted
// address is refused too (the alerts of the request that asked for
// allowed things are stored).
func TestAllowlistedAlertDropped(t *testing.T) {
	st := openSQLite(t)
	ctx := context.Background()
	require.NoError(t, st.CreateAllowlist(ctx, &store.Allowlist{Name: "office", Items: []store.AllowlistItem{
		{Value: "192.0.2.0/24", Comment: "office lan"}}}))
	srv := startServer(t, st, lapi.Config{}, lapi.Deps{})
	addMachine(t, st, "agent", "pw", true)
	agent := agentClient(t, srv.url, "agent", "pw")
	ids, err := agent.PushAlerts(ctx, []*models.Alert{overflow("crowdsecurity/ssh-bf", "::ffff:192.0.2.9"),
		overflow("crowdsecurity/ssh-bf", "198.51.100.9"), manual("192.0.2.10", "ban", "1h")})
	require.NoError(t, err)
	require.Len(t, ids, 1)
	ds, err := st.ListDecisions(ctx, store.DecisionFilter{})
	require.NoError(t, err)
	var vals []string
	for _, d := range ds {
		vals = append(vals, d.Value)
	}
	sort.Strings(vals)
	require.Equal(t, []string{"198.51.100.9"}, vals)

	chk, err := agent.CheckAllowlist(ctx, "192.0.2.9")
	require.NoError(t, err)
	require.True(t, chk.Allowlisted)
	require.Equal(t, "192.0.2.0/24 from office (office lan)", chk.Reason)
	bulk, err := agent.CheckAllowlists(ctx, []string{"192.0.2.9", "203.0.113.1"})
	require.NoError(t, err)
	require.Len(t, bulk.Results, 1)
	lists, err := agent.Allowlists(ctx, true)
	require.NoError(t, err)
	require.Len(t, lists, 1)
	require.Len(t, lists[0].Items, 1)
	_, err = agent.Allowlist(ctx, "nope", false)
	require.ErrorIs(t, err, apiclient.ErrNotFound)
	sw := loadSwagger(t)
	tok := login(t, srv.url, "agent", "pw")
	r := doJWT(t, tok, "GET", srv.url+"/v1/allowlists?with_content=true", nil)
	sw.check(t, "GetAllowlistsResponse", r.body)
	r = doJWT(t, tok, "GET", srv.url+"/v1/allowlists/check/192.0.2.9", nil)
	sw.check(t, "CheckAllowlistResponse", r.body)
	require.Equal(t, http.StatusNoContent, doJWT(t, tok, "HEAD", srv.url+"/v1/allowlists/check/203.0.113.1", nil).status)
	require.Equal(t, http.StatusOK, doJWT(t, tok, "HEAD", srv.url+"/v1/allowlists/check/192.0.2.1", nil).status)
	r = doJWT(t, tok, "POST", srv.url+"/v1/allowlists/check", mustJSON(t, map[string][]string{"targets": {"192.0.2.0/28"}}))
	sw.check(t, "BulkCheckAllowlistResponse", r.body)

	// An injected set is used as is.
	set, err := allowlist.New(allowlist.List{Name: "injected", Items: []allowlist.Item{{Value: "203.0.113.0/24"}}})
	require.NoError(t, err)
	srv2 := startServer(t, st, lapi.Config{}, lapi.Deps{Allowlists: set})
	agent2 := agentClient(t, srv2.url, "agent", "pw")
	ids, err = agent2.PushAlerts(ctx, []*models.Alert{overflow("crowdsecurity/ssh-bf", "203.0.113.5")})
	require.NoError(t, err)
	require.Empty(t, ids)
}

// TestReplicasOnPostgres: two LAPIs on one PostgreSQL database serve a
// decision added, then deleted, through either.
func TestReplicasOnPostgres(t *testing.T) {
	dsn := pgDSN(t)
	stA, stB := openPG(t, dsn), openPG(t, dsn)
	cfg := lapi.Config{JWTSecret: testSecret, FollowInterval: 50 * time.Millisecond}
	a := startServer(t, stA, cfg, lapi.Deps{})
	b := startServer(t, stB, cfg, lapi.Deps{})
	addMachine(t, stA, "agent", "pw", true)
	key := addBouncer(t, stA, "fw")
	ctx := context.Background()
	bouncerA, bouncerB := bouncerClient(t, a.url, key), bouncerClient(t, b.url, key)
	for _, bc := range []*apiclient.Client{bouncerA, bouncerB} {
		s, err := bc.DecisionsStream(ctx, apiclient.StreamFilter{Startup: true})
		require.NoError(t, err)
		require.Empty(t, s.New)
	}
	for i, via := range []*testServer{a, b} {
		ip := []string{"192.0.2.61", "192.0.2.62"}[i]
		agent := agentClient(t, via.url, "agent", "pw")
		_, err := agent.PushAlerts(ctx, []*models.Alert{overflow("crowdsecurity/ssh-bf", ip)})
		require.NoError(t, err)
		for _, bc := range []*apiclient.Client{bouncerA, bouncerB} {
			require.Eventually(t, func() bool {
				s, err := bc.DecisionsStream(ctx, apiclient.StreamFilter{})
				return err == nil && len(s.New) == 1 && *s.New[0].Value == ip
			}, 5*time.Second, 20*time.Millisecond, "decision %s added via replica %d not served", ip, i)
		}
		// Deleted through the other replica: both report it deleted.
		other := agentClient(t, []*testServer{b, a}[i].url, "agent", "pw")
		n, err := other.DeleteDecisions(ctx, apiclient.DecisionFilter{IP: ip})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		for _, bc := range []*apiclient.Client{bouncerA, bouncerB} {
			require.Eventually(t, func() bool {
				s, err := bc.DecisionsStream(ctx, apiclient.StreamFilter{})
				return err == nil && len(s.Deleted) == 1 && *s.Deleted[0].Value == ip
			}, 5*time.Second, 20*time.Millisecond, "decision %s deleted not reported", ip)
		}
	}
}

// TestPullsFlushed: last pulls reach the store in the background, and a
// restarted server continues the bouncer's stream from it.
func TestPullsFlushed(t *testing.T) {
	st := openSQLite(t)
	srv := startServer(t, st, lapi.Config{PullFlushInterval: 50 * time.Millisecond}, lapi.Deps{})
	key := addBouncer(t, st, "fw")
	before := time.Now()
	_ = streamOf(t, srv.url, key, "startup=true")
	require.Eventually(t, func() bool {
		b, err := st.GetBouncer(context.Background(), "fw")
		return err == nil && !b.LastPull.Before(before)
	}, 5*time.Second, 20*time.Millisecond)
	// A new server (fresh memory) serves only what is new since last_pull.
	_, err := st.CreateAlerts(context.Background(), "", []*models.Alert{decided("x", "Ip", "192.0.2.99",
		storetest.Dec{Type: "ban", Scope: "Ip", Value: "192.0.2.99", Origin: "cscli", Duration: "1h"})})
	require.NoError(t, err)
	srv2 := startServer(t, st, lapi.Config{}, lapi.Deps{})
	got := streamOf(t, srv2.url, key, "")
	require.Equal(t, []string{"192.0.2.99/ban/1h0m0s"}, durations(got.New))
}
