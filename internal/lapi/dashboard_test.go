package lapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/lapi"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/profile"
	"github.com/phalanx-ids/phalanx/internal/store"
)

// TestRawLines: a Phalanx agent's alert carries raw log lines; the LAPI
// keeps the newest within its caps with the alert, records the profile that
// made the decisions, and passes the lines on nowhere: not in GET
// /v1/alerts, not to Share (signals), not to Notify. An alert without
// lines (CrowdSec's agents) is stored as before.
func TestRawLines(t *testing.T) {
	st := openSQLite(t)
	var mu sync.Mutex
	var shared, notified []*models.Alert
	profs, err := profile.Load([]profile.Source{{Name: "profiles.yaml", Data: []byte(`name: ssh_ban
filters: [Alert.Remediation == true && Alert.GetScope() == "Ip"]
decisions: [{type: ban, duration: 4h}]
notifications: [http_default]
on_success: break
`)}}, profile.Options{})
	require.NoError(t, err)
	srv := startServer(t, st, lapi.Config{MaxRawLinesPerAlert: 3, MaxRawBytesPerAlert: 400}, lapi.Deps{
		Profiles: profs,
		Share: func(_ context.Context, _ string, as []*models.Alert) error {
			mu.Lock()
			defer mu.Unlock()
			for _, a := range as {
				c := *a
				shared = append(shared, &c)
			}
			return nil
		},
		Notify: func(a *models.Alert, _ []string) {
			mu.Lock()
			defer mu.Unlock()
			c := *a
			notified = append(notified, &c)
		},
	})
	addMachine(t, st, "agent1", "s3cret-password", true)
	ctx := context.Background()
	agent := agentClient(t, srv.url, "agent1", "s3cret-password")
	require.NoError(t, agent.Login(ctx))

	withLines := overflow("crowdsecurity/ssh-bf", "192.0.2.1")
	for i := range 5 {
		withLines.RawLines = append(withLines.RawLines, &models.RawLine{Source: "/var/log/auth.log", Labels: map[string]string{"type": "syslog"},
			Raw: fmt.Sprintf("line %d: Failed password for root from 192.0.2.1 port 22 ssh2", i)})
	}
	huge := overflow("crowdsecurity/ssh-bf", "192.0.2.2")
	huge.RawLines = []*models.RawLine{{Raw: "old"}, {Raw: strings.Repeat("x", 1000)}}
	plain := overflow("crowdsecurity/ssh-bf", "192.0.2.3")
	ids, err := agent.PushAlerts(ctx, []*models.Alert{withLines, huge, plain})
	require.NoError(t, err)
	require.Len(t, ids, 3)

	id := func(i int) int64 {
		var n int64
		_, err := fmt.Sscan(ids[i], &n)
		require.NoError(t, err)
		return n
	}
	got, err := st.AlertRawLines(ctx, id(0))
	require.NoError(t, err)
	require.Len(t, got, 3, "max_raw_lines_per_alert: the newest 3")
	require.True(t, strings.HasPrefix(got[0].Raw, "line 2:"), got[0].Raw)
	require.True(t, strings.HasPrefix(got[2].Raw, "line 4:"), got[2].Raw)
	require.Equal(t, "syslog", got[2].Labels["type"])
	got, err = st.AlertRawLines(ctx, id(1))
	require.NoError(t, err)
	require.Empty(t, got, "a line over max_raw_bytes_per_alert ends the tail")
	got, err = st.AlertRawLines(ctx, id(2))
	require.NoError(t, err)
	require.Empty(t, got)

	a, err := st.GetAlert(ctx, id(0))
	require.NoError(t, err)
	require.Equal(t, "ssh_ban", a.Profile, "the profile whose decisions were attached")
	require.NotEmpty(t, a.Decisions)

	r := do(t, "GET", srv.url+"/v1/alerts", nil, "Authorization: Bearer "+agentToken(t, srv.url))
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.NotContains(t, string(r.body), "raw_lines")
	require.NotContains(t, string(r.body), "Failed password")
	r = do(t, "GET", srv.url+"/v1/alerts/"+ids[0], nil, "Authorization: Bearer "+agentToken(t, srv.url))
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.NotContains(t, string(r.body), "Failed password")

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, shared, 3)
	require.Len(t, notified, 3)
	for _, s := range append(shared, notified...) {
		require.Nil(t, s.RawLines, "raw lines are never passed on")
		b, err := json.Marshal(s)
		require.NoError(t, err)
		require.NotContains(t, string(b), "Failed password")
		require.NotContains(t, string(b), "ssh_ban", "the profile is not on the wire")
	}
}

// agentToken logs agent1 in and returns its JWT.
func agentToken(t *testing.T, url string) string {
	t.Helper()
	r := do(t, "POST", url+"/v1/watchers/login", strings.NewReader(`{"machine_id":"agent1","password":"s3cret-password"}`))
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var auth models.WatcherAuthResponse
	require.NoError(t, json.Unmarshal(r.body, &auth))
	return auth.Token
}

// TestActiveDecisionsByOrigin: counted from the index, brought up to date
// with the store first; simulated and expired decisions are not counted.
func TestActiveDecisionsByOrigin(t *testing.T) {
	st := openSQLite(t)
	srv := startServer(t, st, lapi.Config{}, lapi.Deps{})
	ctx := context.Background()
	mk := func(ip, origin, dur string, sim bool) *models.Alert {
		a := overflow("crowdsecurity/ssh-bf", ip)
		a.StopAt = ptr(time.Now().UTC().Format(time.RFC3339))
		a.Decisions = []*models.Decision{{Origin: ptr(origin), Type: ptr("ban"), Scope: ptr("Ip"), Value: ptr(ip), Duration: ptr(dur),
			Scenario: ptr("s"), Simulated: ptr(sim)}}
		return a
	}
	_, err := st.CreateAlerts(ctx, "", []*models.Alert{mk("192.0.2.1", "crowdsec", "4h", false), mk("192.0.2.2", "crowdsec", "4h", false),
		mk("192.0.2.3", "CAPI", "4h", false), mk("192.0.2.4", "cscli", "4h", true), mk("192.0.2.5", "cscli", "5s", false)})
	require.NoError(t, err)
	got, err := srv.ActiveDecisionsByOrigin(ctx)
	require.NoError(t, err)
	require.Equal(t, []store.Count{{Key: "CAPI", Count: 1}, {Key: "crowdsec", Count: 2}, {Key: "cscli", Count: 1}}, got)
	require.Eventually(t, func() bool {
		got, err = srv.ActiveDecisionsByOrigin(ctx)
		return err == nil && len(got) == 2
	}, 15*time.Second, 100*time.Millisecond, "the 5s decision expires: %v", got)
}
