package lapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/lapi"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/store/storetest"
)

// overflow is an alert as a CrowdSec agent pushes it (no decisions: the
// LAPI's profiles decide).
func overflow(scenario, ip string) *models.Alert {
	a := storetest.Alert(scenario, "ip", ip, time.Now().Add(-time.Minute))
	a.Decisions = nil
	return a
}

func manual(ip, typ, duration string) *models.Alert {
	a := storetest.Alert("manual '"+typ+"' from 'localhost'", "Ip", ip, time.Now())
	a.Decisions = []*models.Decision{{Origin: ptr("cscli"), Type: ptr(typ), Scope: ptr("ip"), Value: ptr(ip),
		Duration: ptr(duration), Scenario: ptr("manual '" + typ + "' from 'localhost'")}}
	return a
}

func values(ds []*models.Decision) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, *d.Scope+":"+*d.Value+":"+*d.Type)
	}
	sort.Strings(out)
	return out
}

// TestProtocol drives the LAPI as CrowdSec's agent, cscli and a bouncer
// do, on SQLite, checking answers against the swagger.
func TestProtocol(t *testing.T) {
	sw := loadSwagger(t)
	st := openSQLite(t)
	srv := startServer(t, st, lapi.Config{}, lapi.Deps{})
	ctx := context.Background()

	// Register: 201 pending validation, then login refused until validated.
	agent := agentClient(t, srv.url, "agent1", "s3cret-password")
	validated, err := agent.Register(ctx)
	require.NoError(t, err)
	require.False(t, validated)
	err = agent.Login(ctx)
	require.ErrorIs(t, err, apiclient.ErrUnauthorized)
	_, err = st.UpdateMachine(ctx, "agent1", func(m *store.Machine) error { m.IsValidated = true; return nil })
	require.NoError(t, err)

	// Login (raw, to check the shape), then through the client.
	sent := time.Now()
	r := do(t, "POST", srv.url+"/v1/watchers/login",
		strings.NewReader(`{"machine_id":"agent1","password":"s3cret-password","scenarios":["crowdsecurity/ssh-bf"]}`))
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	sw.check(t, "WatcherAuthResponse", r.body)
	var auth models.WatcherAuthResponse
	require.NoError(t, json.Unmarshal(r.body, &auth))
	require.Equal(t, 200, auth.Code)
	exp, err := time.Parse(time.RFC3339, auth.Expire)
	require.NoError(t, err)
	// An hour after the login was answered: bracketed by the request's
	// times (whatever a loaded machine made of them), RFC 3339 seconds.
	require.False(t, exp.Before(sent.Add(time.Hour).Truncate(time.Second)), "expire %s", exp)
	require.False(t, exp.After(time.Now().Add(time.Hour)), "expire %s", exp)
	m, err := st.GetMachine(ctx, "agent1")
	require.NoError(t, err)
	require.Equal(t, []string{"crowdsecurity/ssh-bf"}, m.Scenarios)
	tok := auth.Token
	require.Equal(t, "v1.7.5", m.Version)

	require.NoError(t, agent.Login(ctx))
	require.NoError(t, agent.Heartbeat(ctx))

	// Bouncer: startup stream on an empty LAPI.
	key := addBouncer(t, st, "fw")
	bouncer := bouncerClient(t, srv.url, key)
	r = do(t, "GET", srv.url+"/v1/decisions/stream?startup=true", nil, "X-Api-Key: "+key)
	require.Equal(t, http.StatusOK, r.status)
	sw.check(t, "DecisionsStreamResponse", r.body)
	require.JSONEq(t, `{"new":[],"deleted":[]}`, string(r.body))
	r = do(t, "GET", srv.url+"/v1/decisions?ip=192.0.2.1", nil, "X-Api-Key: "+key)
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "null", strings.TrimSpace(string(r.body)))

	// The agent pushes two overflows and cscli a manual decision.
	r = doJWT(t, tok, "POST", srv.url+"/v1/alerts", mustJSON(t, []*models.Alert{
		overflow("crowdsecurity/ssh-bf", "192.0.2.1"), overflow("crowdsecurity/http-probing", "::ffff:198.51.100.7"),
	}))
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	sw.check(t, "AddAlertsResponse", r.body)
	var ids []string
	require.NoError(t, json.Unmarshal(r.body, &ids))
	require.Len(t, ids, 2)
	got, err := agent.PushAlerts(ctx, []*models.Alert{manual("203.0.113.9", "captcha", "1h")})
	require.NoError(t, err)
	require.Len(t, got, 1)

	// Incremental pull: everything is new (first pull of this bouncer).
	s1, err := bouncer.DecisionsStream(ctx, apiclient.StreamFilter{Startup: true})
	require.NoError(t, err)
	require.Equal(t, []string{"Ip:192.0.2.1:ban", "Ip:198.51.100.7:ban", "Ip:203.0.113.9:captcha"}, values(s1.New))
	for _, d := range s1.New {
		left, err := time.ParseDuration(*d.Duration)
		require.NoError(t, err)
		require.Greater(t, left, 50*time.Minute)
	}
	s2, err := bouncer.DecisionsStream(ctx, apiclient.StreamFilter{})
	require.NoError(t, err)
	require.Empty(t, s2.New)
	require.Empty(t, s2.Deleted)

	// A new alert shows up in the next incremental pull only.
	_, err = agent.PushAlerts(ctx, []*models.Alert{overflow("crowdsecurity/ssh-bf", "2001:db8::5")})
	require.NoError(t, err)
	s3, err := bouncer.DecisionsStream(ctx, apiclient.StreamFilter{})
	require.NoError(t, err)
	require.Equal(t, []string{"Ip:2001:db8::5:ban"}, values(s3.New))

	// Metrics were recorded per route and status.
	mfs, err := srv.reg.Gather()
	require.NoError(t, err)
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{"cs_lapi_route_requests_total", "cs_lapi_bouncer_pulls_total", "cs_active_decisions", "cs_lapi_request_duration_seconds"} {
		require.True(t, names[n], "metric %s missing", n)
	}

	// Live mode: by IP, by range containment, simulated excluded.
	r = do(t, "GET", srv.url+"/v1/decisions?ip=192.0.2.1", nil, "X-Api-Key: "+key)
	require.Equal(t, http.StatusOK, r.status)
	sw.check(t, "GetDecisionsResponse", r.body)
	live, err := bouncer.Decisions(ctx, apiclient.DecisionFilter{Range: "198.51.100.0/24", Contains: ptr(false)})
	require.NoError(t, err)
	require.Equal(t, []string{"Ip:198.51.100.7:ban"}, values(live))

	// Alerts: list (swagger), get, HEAD.
	r = doJWT(t, tok, "GET", srv.url+"/v1/alerts?limit=10", nil)
	require.Equal(t, http.StatusOK, r.status)
	sw.check(t, "GetAlertsResponse", r.body)
	r = doJWT(t, tok, "GET", srv.url+"/v1/alerts/"+ids[0], nil)
	require.Equal(t, http.StatusOK, r.status)
	sw.check(t, "Alert", r.body)
	r = doJWT(t, tok, "HEAD", srv.url+"/v1/alerts", nil)
	require.Equal(t, http.StatusOK, r.status)
	require.Empty(t, r.body)
	r = doJWT(t, tok, "GET", srv.url+"/v1/alerts/999999", nil)
	require.Equal(t, http.StatusNotFound, r.status)
	sw.check(t, "ErrorResponse", r.body)

	// cscli decisions delete --ip: expired, streamed as deleted.
	r = doJWT(t, tok, "DELETE", srv.url+"/v1/decisions?ip=192.0.2.1", nil)
	require.Equal(t, http.StatusOK, r.status)
	sw.check(t, "DeleteDecisionResponse", r.body)
	require.JSONEq(t, `{"nbDeleted":"1"}`, string(r.body))
	s4, err := bouncer.DecisionsStream(ctx, apiclient.StreamFilter{})
	require.NoError(t, err)
	require.Empty(t, s4.New)
	require.Equal(t, []string{"Ip:192.0.2.1:ban"}, values(s4.Deleted))
	require.True(t, strings.HasPrefix(*s4.Deleted[0].Duration, "-") || *s4.Deleted[0].Duration == "0s")
	// A restarting bouncer gets the active ones only: "deleted": [] at
	// startup, as CrowdSec answers.
	r = do(t, "GET", srv.url+"/v1/decisions/stream?startup=true", nil, "X-Api-Key: "+key)
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, string(r.body), `"deleted":[]`)
	s5, err := bouncer.DecisionsStream(ctx, apiclient.StreamFilter{Startup: true})
	require.NoError(t, err)
	require.Empty(t, s5.Deleted)
	require.Len(t, s5.New, 3)

	// Delete by id; unknown id is 404.
	n, err := agent.DeleteDecision(ctx, s5.New[0].ID)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = agent.DeleteDecision(ctx, 987654)
	require.ErrorIs(t, err, apiclient.ErrNotFound)

	// Refresh token, then the new token works.
	r = doJWT(t, tok, "GET", srv.url+"/v1/refresh_token", nil)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	sw.check(t, "WatcherAuthResponse", r.body)
	require.NoError(t, json.Unmarshal(r.body, &auth))
	r = do(t, "GET", srv.url+"/v1/heartbeat", nil, "Authorization: Bearer "+auth.Token)
	require.Equal(t, http.StatusOK, r.status)

	// Delete alerts from a trusted IP (loopback).
	r = doJWT(t, tok, "DELETE", srv.url+"/v1/alerts/"+ids[1], nil)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	sw.check(t, "DeleteAlertsResponse", r.body)
	nd, err := agent.DeleteAlerts(ctx, apiclient.AlertFilter{Scenario: "crowdsecurity/ssh-bf"})
	require.NoError(t, err)
	require.Equal(t, 2, nd)

	// Usage metrics (machine and bouncer), health.
	now := time.Now().Unix()
	require.NoError(t, agent.SendUsageMetrics(ctx, &models.AllMetrics{LogProcessors: []*models.LogProcessorsMetrics{{
		BaseMetrics: models.BaseMetrics{Version: ptr("v1.7.5"), UtcStartupTimestamp: &now}, Datasources: map[string]int64{"file": 1}}}}))
	require.NoError(t, bouncer.SendUsageMetrics(ctx, &models.AllMetrics{RemediationComponents: []*models.RemediationComponentsMetrics{{
		BaseMetrics: models.BaseMetrics{Version: ptr("v0.0.31"), UtcStartupTimestamp: &now}, Type: "cs-firewall-bouncer"}}}))
	require.NoError(t, agent.Health(ctx))

	// Bouncer type/version recorded; last pull flushed on shutdown-free path
	// is checked in TestPullsFlushed.
	b, err := st.GetBouncer(ctx, "fw")
	require.NoError(t, err)
	require.Equal(t, "cs-firewall-bouncer", b.Type)
	require.Equal(t, "v0.0.31", b.Version)

	// Unregister: 204, and the token no longer works.
	require.NoError(t, agent.Unregister(ctx))
	r = do(t, "GET", srv.url+"/v1/heartbeat", nil, "Authorization: Bearer "+auth.Token)
	require.Equal(t, http.StatusUnauthorized, r.status)

	// Unknown route 404, wrong method 405.
	require.Equal(t, http.StatusNotFound, do(t, "GET", srv.url+"/v1/nope", nil).status)
	require.Equal(t, http.StatusMethodNotAllowed, do(t, "PUT", srv.url+"/v1/alerts", nil).status)

}

func mustJSON(t testing.TB, v any) *strings.Reader {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return strings.NewReader(string(b))
}

// doJWT sends a raw request with a machine token.
func doJWT(t testing.TB, tok, method, url string, body *strings.Reader) rawResp {
	t.Helper()
	if body == nil {
		return do(t, method, url, nil, "Authorization: Bearer "+tok)
	}
	return do(t, method, url, body, "Authorization: Bearer "+tok, "Content-Type: application/json")
}

// TestWireShapes pins what CrowdSec's LAPI answers, byte for byte where it
// matters to clients: empty lists as [] or null as CrowdSec sends them,
// and its time formats.
func TestWireShapes(t *testing.T) {
	sw := loadSwagger(t)
	st := openSQLite(t)
	ctx := context.Background()
	require.NoError(t, st.CreateAllowlist(ctx, &store.Allowlist{Name: "lan", Items: []store.AllowlistItem{{Value: "192.168.0.0/16"}}}))
	srv := startServer(t, st, lapi.Config{}, lapi.Deps{})
	m := newMachine(t, srv, "127.0.0.1", "agent")
	key := addBouncer(t, st, "fw")
	goTime := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC$`)

	pin := func(name, method, path, body, def, want string) {
		t.Helper()
		var r rawResp
		if strings.HasPrefix(path, "/v1/decisions") && method == "GET" {
			r = do(t, method, srv.url+path, nil, "X-Api-Key: "+key)
		} else {
			r = m.raw(method, path, body)
		}
		require.Equal(t, http.StatusOK, r.status, "%s: %s", name, r.body)
		if def != "" {
			sw.check(t, def, r.body)
		}
		require.Equal(t, want, strings.TrimSpace(string(r.body)), name)
	}
	pin("no alerts", "GET", "/v1/alerts", "", "GetAlertsResponse", `null`)
	pin("stream, nothing", "GET", "/v1/decisions/stream?startup=true", "", "DecisionsStreamResponse", `{"new":[],"deleted":[]}`)
	pin("live, nothing", "GET", "/v1/decisions?ip=192.0.2.1", "", "GetDecisionsResponse", `null`)
	pin("allowlist without content", "GET", "/v1/allowlists/lan", "", "GetAllowlistResponse",
		`{"name":"lan","allowlist_id":"1","items":[],"created_at":"`+mustAllowlist(t, st, "lan").created+`","updated_at":"`+mustAllowlist(t, st, "lan").updated+`"}`)
	pin("bulk check, no match", "POST", "/v1/allowlists/check", `{"targets":["203.0.113.1"]}`, "BulkCheckAllowlistResponse", `{"results":[]}`)

	// An alert without events, labels or decisions (not a remediation one).
	bare := overflow("crowdsecurity/ssh-bf", "203.0.113.60")
	bare.Events, bare.Labels, bare.Remediation = []*models.Event{}, nil, false
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	bare.StartAt, bare.StopAt = ptr(start.Format(time.RFC3339)), ptr(start.Add(time.Second).Format(time.RFC3339))
	full := overflow("crowdsecurity/ssh-bf", "203.0.113.61")
	r := m.post(bare, full)
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	var ids []string
	require.NoError(t, json.Unmarshal(r.body, &ids))

	r = m.raw("GET", "/v1/alerts/"+ids[0], "")
	require.Equal(t, http.StatusOK, r.status)
	sw.check(t, "Alert", r.body)
	var got map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(r.body, &got))
	for _, k := range []string{"events", "decisions", "labels"} {
		require.Equal(t, "null", string(got[k]), k)
	}
	require.Equal(t, `"2026-03-01 10:00:00 +0000 UTC"`, string(got["start_at"]))
	require.Equal(t, `"2026-03-01 10:00:01 +0000 UTC"`, string(got["stop_at"]))
	var created string
	require.NoError(t, json.Unmarshal(got["created_at"], &created))
	_, err := time.Parse(time.RFC3339, created)
	require.NoError(t, err, "created_at stays RFC 3339")

	r = m.raw("GET", "/v1/alerts/"+ids[1], "")
	require.Equal(t, http.StatusOK, r.status)
	var a models.Alert
	require.NoError(t, json.Unmarshal(r.body, &a))
	require.NotEmpty(t, a.Events)
	for _, ev := range a.Events {
		require.Regexp(t, goTime, *ev.Timestamp, "event timestamps as CrowdSec prints them")
	}
	require.Regexp(t, goTime, *a.StartAt)
	require.Len(t, a.Decisions, 1)
}

type allowlistTimes struct{ created, updated string }

func mustAllowlist(t testing.TB, st store.Store, name string) allowlistTimes {
	t.Helper()
	l, err := st.GetAllowlist(context.Background(), name)
	require.NoError(t, err)
	return allowlistTimes{l.CreatedAt.UTC().Format("2006-01-02T15:04:05.000Z07:00"), l.UpdatedAt.UTC().Format("2006-01-02T15:04:05.000Z07:00")}
}
