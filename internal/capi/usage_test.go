package capi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/capi"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
)

func f64(v float64) *float64 { return &v }
func i64(v int64) *int64     { return &v }

// bouncerUsage is what a firewall bouncer sends: packets dropped by origin
// over a window.
func bouncerUsage(dropped float64) *models.AllMetrics {
	now := time.Now().Unix()
	return &models.AllMetrics{RemediationComponents: []*models.RemediationComponentsMetrics{{
		BaseMetrics: models.BaseMetrics{Version: sp("v0.0.31"), UtcStartupTimestamp: i64(now - 3600),
			Os: &models.OSversion{Name: sp("debian"), Version: sp("12")},
			Metrics: []*models.DetailedMetrics{{Meta: &models.MetricsMeta{WindowSizeSeconds: i64(1800), UtcNowTimestamp: i64(now)},
				Items: []*models.MetricsDetailItem{{Name: sp("dropped"), Value: f64(dropped), Unit: sp("packet"),
					Labels: models.MetricsLabels{"origin": "CAPI", "ip_type": "ipv4"}}}}}},
		Type: "crowdsec-firewall-bouncer"}}}
}

func agentUsage() *models.AllMetrics {
	now := time.Now().Unix()
	return &models.AllMetrics{LogProcessors: []*models.LogProcessorsMetrics{{
		BaseMetrics: models.BaseMetrics{Version: sp("v1.6.4"), UtcStartupTimestamp: i64(now - 60)},
		HubItems:    models.HubItems{"scenarios": {{Name: "crowdsecurity/ssh-bf", Version: "0.3", Status: "official"}}},
		Datasources: map[string]int64{"file": 2}}}}
}

// Usage metrics, end to end over loopback: an agent and a bouncer send
// theirs to the LAPI; they wait in the outbox across a restart; the LAPI
// forwards them with its inventory and its own block (version, start,
// the consent flags that are on) on its schedule; a real central checks
// and counts them; each component report is sent once. With
// usage_metrics off nothing is queued or sent.
func TestUsageMetricsEndToEnd(t *testing.T) {
	began := time.Now()
	central := startRealCentral(t)
	var bodies []json.RawMessage
	rec := &bodyRecorder{path: "/v3/usage-metrics", onOK: func(b []byte) { bodies = append(bodies, append([]byte(nil), b...)) }}
	in := newInstallAt(t, central.URL(), true, "", func(s *capi.Settings) {
		s.SendUsageMetrics, s.Version = true, "v9.9.9-test"
		s.UsageMetricsFirst, s.UsageMetricsInterval = time.Hour, time.Hour // not before the restart
		s.Consent.ShareManualDecisions, s.Consent.ShareTainted = true, false
		s.HTTP = &http.Client{Transport: rec}
	}, nil)
	ctx := context.Background()
	require.NoError(t, in.bouncer().SendUsageMetrics(ctx, bouncerUsage(12)))
	require.NoError(t, in.agent().SendUsageMetrics(ctx, agentUsage()))
	queued, err := in.st.OutboxPending(ctx, store.OutboxUsage, 0)
	require.NoError(t, err)
	require.Len(t, queued, 2)

	in.set.UsageMetricsFirst, in.set.UsageMetricsInterval = 50*time.Millisecond, time.Second
	in.restart(true)
	require.Eventually(t, func() bool {
		u, err := central.read.GetUsage(ctx, in.creds.Login)
		return err == nil && u.Reports >= 1
	}, 5*time.Second, 20*time.Millisecond, "the first report reaches the central")
	u, err := central.read.GetUsage(ctx, in.creds.Login)
	require.NoError(t, err)
	require.Equal(t, 1, u.RemediationComponents)
	require.Equal(t, 1, u.LogProcessors)
	require.Equal(t, "v9.9.9-test", u.LAPIVersion)
	require.Equal(t, []string{"custom", "manual"}, u.ConsoleOptions, "the consent flags that are on")

	body := func(i int) (m models.AllMetrics) {
		t.Helper()
		var raw json.RawMessage
		require.Eventually(t, func() bool {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if len(bodies) > i {
				raw = bodies[i]
			}
			return raw != nil
		}, 5*time.Second, 20*time.Millisecond, "report %d", i)
		require.NoError(t, json.Unmarshal(raw, &m))
		return m
	}
	first := body(0)
	rc := first.RemediationComponents[0]
	require.Equal(t, "fw", rc.Name)
	require.Equal(t, "crowdsec-firewall-bouncer", rc.Type)
	require.Equal(t, "v0.0.31", *rc.Version)
	require.Equal(t, "debian", *rc.Os.Name)
	require.Len(t, rc.Metrics, 1)
	require.Equal(t, "dropped", *rc.Metrics[0].Items[0].Name)
	require.Equal(t, 12.0, *rc.Metrics[0].Items[0].Value)
	require.Equal(t, "CAPI", rc.Metrics[0].Items[0].Labels["origin"])
	lp := first.LogProcessors[0]
	require.Equal(t, agentID, lp.Name)
	require.Equal(t, "v1.6.4", *lp.Version)
	require.Equal(t, "crowdsecurity/ssh-bf", lp.HubItems["scenarios"][0].Name)
	require.Equal(t, int64(2), lp.Datasources["file"])
	require.NotNil(t, first.Lapi)
	require.Equal(t, "v9.9.9-test", *first.Lapi.Version)
	require.Equal(t, models.ConsoleOptions{"custom,manual"}, first.Lapi.ConsoleOptions, "one entry, the options joined (CrowdSec's shape)")
	require.NotNil(t, first.Lapi.UtcStartupTimestamp)
	// The LAPI started during this test (bounds that a loaded machine
	// cannot break, unlike a distance to now).
	require.GreaterOrEqual(t, *first.Lapi.UtcStartupTimestamp, began.Unix())
	require.LessOrEqual(t, *first.Lapi.UtcStartupTimestamp, time.Now().Unix())
	require.Equal(t, int64(1), *first.Lapi.Metrics[0].Meta.WindowSizeSeconds, "the interval, in seconds")
	require.Eventually(t, func() bool {
		left, err := in.st.OutboxPending(ctx, store.OutboxUsage, 0)
		return err == nil && len(left) == 0
	}, 5*time.Second, 20*time.Millisecond, "marked sent")

	// The next report: the inventory again, without the windows already sent.
	second := body(1)
	require.Len(t, second.RemediationComponents, 1)
	require.Empty(t, second.RemediationComponents[0].Metrics, "each window is sent once")
	require.Equal(t, "v0.0.31", *second.RemediationComponents[0].Version, "the component's last report still names it")

	t.Run("off", func(t *testing.T) {
		rec := &bodyRecorder{path: "/v3/usage-metrics", onOK: func([]byte) {}}
		off := newInstallAt(t, central.URL(), true, "", func(s *capi.Settings) {
			s.SendUsageMetrics = false
			s.UsageMetricsFirst, s.UsageMetricsInterval = 20*time.Millisecond, 50*time.Millisecond
			s.HTTP = &http.Client{Transport: rec}
		}, nil)
		require.NoError(t, off.bouncer().SendUsageMetrics(ctx, bouncerUsage(3)))
		time.Sleep(300 * time.Millisecond)
		require.Zero(t, rec.Seen())
		q, err := off.st.OutboxPending(ctx, store.OutboxUsage, 0)
		require.NoError(t, err)
		require.Empty(t, q)
	})
}
