package app

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/bouncer"
	"github.com/phalanx-ids/phalanx/internal/bouncer/httpbouncer"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
)

// TestAgentSendsUsageMetrics: the daemon's agent sends its usage metrics
// to its LAPI over HTTP as it starts and then every interval, as a
// CrowdSec log processor: its version, OS and start, the datasources by
// kind, the hub items loaded, and windows of lines read and parsed; the
// LAPI (registered with a central) keeps them in its outbox for the
// central's usage report.
func TestAgentSendsUsageMetrics(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	cfg := e.config()
	cfg.Agent.UsageMetricsInterval = time.Second
	registerWithCentral(t, cfg)
	began := time.Now()
	a, err := New(cfg, WithLogger(testLogger(t)), WithUserAgent("phalanx/v9.9.9-usage"))
	require.NoError(t, err)
	startApp(t, a)

	type record struct {
		Machine string                       `json:"machine"`
		LP      *models.LogProcessorsMetrics `json:"lp"`
	}
	reports := func() []record {
		q, err := a.Store().OutboxPending(ctx, store.OutboxUsage, 0)
		require.NoError(t, err)
		var out []record
		for _, it := range q {
			var r record
			require.NoError(t, json.Unmarshal(it.Payload, &r))
			if r.LP != nil {
				out = append(out, r)
			}
		}
		return out
	}
	// The first report goes as the agent starts.
	require.Eventually(t, func() bool { return len(reports()) >= 1 }, 60*time.Second, 50*time.Millisecond, "no report at start")
	first := reports()[0]
	require.NotEmpty(t, first.Machine)
	lp := first.LP
	require.Equal(t, "v9.9.9-usage", *lp.Version)
	require.NotEmpty(t, *lp.Os.Name)
	require.NotNil(t, lp.UtcStartupTimestamp)
	// The agent started during this test (bounds that a loaded machine
	// cannot break, unlike a distance to now).
	require.GreaterOrEqual(t, *lp.UtcStartupTimestamp, began.Unix())
	require.LessOrEqual(t, *lp.UtcStartupTimestamp, time.Now().Unix())
	require.Equal(t, map[string]int64{"file": 1}, lp.Datasources)
	require.NotEmpty(t, lp.HubItems["scenarios"], "the hub items loaded")
	require.Contains(t, lp.HubItems, "collections", "every type listed, empty or not")
	require.Empty(t, lp.HubItems["collections"])
	for _, it := range lp.HubItems["scenarios"] {
		require.NotEmpty(t, it.Name)
		require.Equal(t, "official", it.Status)
	}
	require.Len(t, lp.Metrics, 1, "one window a report")
	require.Equal(t, int64(1), *lp.Metrics[0].Meta.WindowSizeSeconds)
	require.NotNil(t, lp.Metrics[0].Meta.UtcNowTimestamp)

	// Lines read and parsed show in the windows that follow, each counted
	// once across the reports.
	waitWatching(t, a, e.log)
	appendLines(t, e.log, sshFailures("45.9.9.9", 4)...)
	sum := func(name string) (n float64, labels []models.MetricsLabels) {
		for _, r := range reports() {
			for _, w := range r.LP.Metrics {
				for _, it := range w.Items {
					if *it.Name == name {
						n += *it.Value
						labels = append(labels, it.Labels)
						require.Equal(t, "line", *it.Unit)
					}
				}
			}
		}
		return n, labels
	}
	require.Eventually(t, func() bool {
		parsed, _ := sum("global_parsed")
		return parsed >= 4
	}, 15*time.Second, 100*time.Millisecond, "the parsed lines never reached a report")
	read, labels := sum("read")
	hits := a.acqMetrics.Hits("file").WithLabelValues(e.log, "file", "syslog")
	require.LessOrEqual(t, read, promtest.ToFloat64(hits), "a line is counted in one window only")
	require.GreaterOrEqual(t, read, 5.0)
	require.Equal(t, e.log, labels[0]["source"])
	require.Equal(t, "file", labels[0]["datasource_type"])
	_, nodes := sum("parsed")
	require.NotEmpty(t, nodes)
	for _, l := range nodes {
		require.NotEmpty(t, l["parser_name"])
		require.NotEmpty(t, l["parser_stage"])
	}
}

// TestBouncerSendsUsageMetrics: Phalanx's HTTP bouncer (proxy) sends its
// usage metrics to the LAPI over HTTP every interval, as a CrowdSec
// bouncer: its type and version, and windows of the requests it dropped
// by decision origin, the requests it processed and the active decisions
// by origin and family; the LAPI (registered with a central) keeps them
// in its outbox for the central's usage report.
func TestBouncerSendsUsageMetrics(t *testing.T) {
	ctx := context.Background()
	cfg := lapiOnly(t)
	cfg.LAPI.DisableNeverBan = true // the proxy's client is loopback
	registerWithCentral(t, cfg)
	a, err := New(cfg, WithLogger(testLogger(t)))
	require.NoError(t, err)
	addMachine(t, a.Store(), "ops", "ops-password-123")
	key := newBouncer(t, a.Store(), "web")
	startApp(t, a)
	al := testAlert(1)
	d, origin := "4h", "cscli"
	al.Decisions = []*models.Decision{{Origin: &origin, Type: ptr("ban"), Scope: ptr("Ip"), Value: ptr("127.0.0.1"), Duration: &d, Scenario: ptr("manual")}}
	pushAlert(t, a.LAPIURL(), "ops", "ops-password-123", al)

	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "upstream") }))
	t.Cleanup(up.Close)
	p, err := httpbouncer.NewProxy(httpbouncer.ProxyConfig{Upstream: up.URL, Config: bouncer.Config{APIURL: a.LAPIURL(),
		APIKey: apiclient.Secret(key), UpdateFrequency: 100 * time.Millisecond, UsageMetricsInterval: time.Second,
		UserAgent: "phalanx-http-bouncer/v9.9.9-usage"}})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	pctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(pctx, ln) }()
	t.Cleanup(func() { stop(); <-done })
	<-p.Ready()
	for range 3 {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
	}

	type record struct {
		Bouncer string                               `json:"bouncer"`
		RC      *models.RemediationComponentsMetrics `json:"rc"`
	}
	type sums struct{ dropped, processed, active float64 }
	var got sums
	var last record
	require.Eventually(t, func() bool {
		q, err := a.Store().OutboxPending(ctx, store.OutboxUsage, 0)
		require.NoError(t, err)
		got = sums{}
		for _, it := range q {
			var r record
			require.NoError(t, json.Unmarshal(it.Payload, &r))
			if r.RC == nil {
				continue
			}
			last = r
			for _, w := range r.RC.Metrics {
				require.Equal(t, int64(1), *w.Meta.WindowSizeSeconds)
				for _, it := range w.Items {
					switch *it.Name {
					case "dropped":
						require.Equal(t, "request", *it.Unit)
						require.Equal(t, models.MetricsLabels{"origin": "cscli"}, it.Labels)
						got.dropped += *it.Value
					case "processed":
						require.Equal(t, "request", *it.Unit)
						got.processed += *it.Value
					case "active_decisions":
						require.Equal(t, "ip", *it.Unit)
						require.Equal(t, models.MetricsLabels{"origin": "cscli", "ip_type": "ipv4"}, it.Labels)
						got.active = *it.Value
					}
				}
			}
		}
		return got.dropped >= 3
	}, 15*time.Second, 100*time.Millisecond, "the dropped requests never reached the LAPI")
	require.Equal(t, sums{dropped: 3, processed: 3, active: 1}, got, "each request counted in one window")
	require.Equal(t, "web", last.Bouncer)
	require.Equal(t, "phalanx-http-bouncer", last.RC.Type)
	require.Equal(t, "v9.9.9-usage", *last.RC.Version)
	require.NotEmpty(t, *last.RC.Os.Name)
}
