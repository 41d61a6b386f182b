package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// hookReceiver is a webhook on loopback; while down it answers 503.
type hookReceiver struct{ *testutil.Webhook }

func newHookReceiver(t *testing.T) *hookReceiver { return &hookReceiver{testutil.NewWebhook(t, nil)} }

func (r *hookReceiver) got() []string { return r.Bodies() }

func (r *hookReceiver) setDown(down bool) {
	if down {
		r.SetStatus(func(int) int { return http.StatusServiceUnavailable })
	} else {
		r.SetStatus(nil)
	}
}

// notifyProfiles bans Ip alerts and notifies http_default.
const notifyProfiles = `name: default_ip_remediation
filters:
  - Alert.Remediation == true && Alert.GetScope() == "Ip"
decisions:
  - type: ban
    duration: 4h
notifications:
  - http_default
on_success: break
`

// httpDefault is CrowdSec's http.yaml with its url pointing at the
// receiver and a format of our own; extra adds keys.
func httpDefault(url, format, extra string) string {
	return fmt.Sprintf(`type: http          # do not change
name: http_default  # what a profile's notifications list refers to
log_level: info
format: |
  %s
url: %s
method: POST
headers:
  Content-Type: text/plain
%s
---

# type: http
# name: http_second_notification
`, format, url, extra)
}

const lineFormat = `{{range .}}{{.Scenario}} {{.Source.Value}} {{(index .Decisions 0).Type}} {{(index .Decisions 0).Duration}} by {{.MachineID}};{{end}}`

// notifyDaemon starts a LAPI-only daemon whose profiles notify
// http_default, configured by notification.
func notifyDaemon(t *testing.T, notification string) (*App, Config, *testutil.Buffer, func() error) {
	t.Helper()
	cfg := lapiOnly(t)
	dir := t.TempDir()
	cfg.LAPI.ProfilesPath = writeFile(t, dir, "profiles.yaml", notifyProfiles)
	cfg.LAPI.NotificationDir = filepath.Join(dir, "notifications")
	require.NoError(t, os.MkdirAll(cfg.LAPI.NotificationDir, 0o700))
	writeFile(t, cfg.LAPI.NotificationDir, "http.yaml", notification)
	logs := &testutil.Buffer{}
	a, err := New(cfg, WithLogger(logs.Logger()))
	require.NoError(t, err)
	stop := startApp(t, a)
	addMachine(t, a.Store(), "m1", "m1-password")
	return a, cfg, logs, stop
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	require.Eventually(t, cond, 30*time.Second, 5*time.Millisecond, what)
}

// TestNotificationEndToEnd: an alert posted through the LAPI reaches the
// webhook of the profile's notification, rendered by its template.
func TestNotificationEndToEnd(t *testing.T) {
	rcv := newHookReceiver(t)
	a, _, _, _ := notifyDaemon(t, httpDefault(rcv.URL+"/hook", lineFormat, ""))
	pushAlert(t, a.LAPIURL(), "m1", "m1-password", testAlert(1), testAlert(2))
	waitFor(t, func() bool { return len(rcv.got()) == 2 }, "two notifications")
	require.ElementsMatch(t, []string{
		"test/kill 10.0.0.1 ban 4h by m1;\n",
		"test/kill 10.0.0.2 ban 4h by m1;\n",
	}, rcv.got())
	waitFor(t, func() bool {
		return strings.Contains(getBody(t, a.MetricsURL()), `phalanx_notification_deliveries_total{notification="http_default"} 2`)
	}, "deliveries counted (the receiver records before the notifier reads its answer)")
	require.Contains(t, dashboardGet(t, a, "status"),
		`<td>http_default</td><td class="num">2</td><td class="num">2</td><td class="num">2</td><td class="num">0</td>`,
		"the dashboard's status page: queued, messages, alerts delivered, failures")
}

// TestNotificationReceiverDown: alerts posted while the receiver fails are
// delivered once it is back, none lost.
func TestNotificationReceiverDown(t *testing.T) {
	rcv := newHookReceiver(t)
	rcv.setDown(true)
	a, _, _, _ := notifyDaemon(t, httpDefault(rcv.URL, lineFormat, "group_threshold: 5\ngroup_wait: 10ms\n"))
	for i := range 5 {
		pushAlert(t, a.LAPIURL(), "m1", "m1-password", testAlert(i))
	}
	waitFor(t, func() bool { return rcv.Requests() >= 2 }, "failed attempts while down")
	rcv.setDown(false)
	waitFor(t, func() bool { return strings.Count(strings.Join(rcv.got(), ""), ";") == 5 }, "all delivered")
	for i := range 5 {
		require.Contains(t, strings.Join(rcv.got(), ""), fmt.Sprintf("10.0.0.%d ban", i))
	}
	metrics := getBody(t, a.MetricsURL())
	require.Contains(t, metrics, `phalanx_notification_failures_total{notification="http_default"}`)
	for _, line := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(line, "phalanx_notification_dropped_alerts_total{") {
			require.True(t, strings.HasSuffix(line, "} 0"), "nothing dropped: %s", line)
		}
	}
}

// TestNotificationQueueBound: past queue_size, alerts are dropped, counted
// and logged; ingestion goes on.
func TestNotificationQueueBound(t *testing.T) {
	rcv := newHookReceiver(t)
	release := rcv.Hold()
	defer release()
	a, _, logs, _ := notifyDaemon(t, httpDefault(rcv.URL, lineFormat, "queue_size: 3\n"))
	pushAlert(t, a.LAPIURL(), "m1", "m1-password", testAlert(0))
	waitFor(t, func() bool { return rcv.Requests() == 1 }, "first in flight")
	var batch []*models.Alert
	for i := 1; i < 10; i++ {
		batch = append(batch, testAlert(i))
	}
	pushAlert(t, a.LAPIURL(), "m1", "m1-password", batch...)
	metrics := getBody(t, a.MetricsURL())
	require.Contains(t, metrics, `phalanx_notification_dropped_alerts_total{notification="http_default",reason="queue_full"} 7`)
	require.Contains(t, metrics, `phalanx_notification_queue_depth{notification="http_default"} 3`)
	require.Contains(t, logs.String(), "queue full")
	release()
	waitFor(t, func() bool { return len(rcv.got()) == 3 }, "the three held ones delivered")
}

// TestNotificationReload: SIGHUP's Reload picks up a changed notification
// file; alerts queued for it are kept; a broken file is refused and the
// running configuration stays.
func TestNotificationReload(t *testing.T) {
	first, second := newHookReceiver(t), newHookReceiver(t)
	release := first.Hold()
	defer release()
	a, cfg, _, _ := notifyDaemon(t, httpDefault(first.URL, lineFormat, ""))
	for i := range 3 {
		pushAlert(t, a.LAPIURL(), "m1", "m1-password", testAlert(i))
	}
	waitFor(t, func() bool { return first.Requests() == 1 }, "first in flight")

	writeFile(t, cfg.LAPI.NotificationDir, "http.yaml", httpDefault("<HTTP_url>", lineFormat, ""))
	require.ErrorContains(t, a.Reload(cfg), "http.yaml:1: http_default: url")

	writeFile(t, cfg.LAPI.NotificationDir, "http.yaml", httpDefault(second.URL, "NEW {{len .}}", ""))
	require.NoError(t, a.Reload(cfg))
	release()
	waitFor(t, func() bool { return len(first.got()) == 1 && len(second.got()) == 2 }, "queue kept across the reload")
	require.Equal(t, []string{"NEW 1\n", "NEW 1\n"}, second.got())
}

// TestNotificationDrainOnShutdown: what waits in a grouping window is sent
// when the daemon stops.
func TestNotificationDrainOnShutdown(t *testing.T) {
	rcv := newHookReceiver(t)
	a, _, _, stop := notifyDaemon(t, httpDefault(rcv.URL, lineFormat, "group_wait: 1h\n"))
	pushAlert(t, a.LAPIURL(), "m1", "m1-password", testAlert(1), testAlert(2), testAlert(3))
	require.Empty(t, rcv.got())
	require.NoError(t, stop())
	require.Len(t, rcv.got(), 1)
	require.Equal(t, 3, strings.Count(rcv.got()[0], ";"))
}

// TestNotificationMissing: profiles naming a notification that is not
// configured stop the daemon from starting (as CrowdSec does).
func TestNotificationMissing(t *testing.T) {
	cfg := lapiOnly(t)
	cfg.LAPI.ProfilesPath = writeFile(t, t.TempDir(), "profiles.yaml", notifyProfiles)
	_, err := New(cfg, WithLogger(testLogger(t)))
	require.ErrorContains(t, err, `profiles use notification "http_default", which is not configured`)
	cfg.LAPI.NotificationDir = filepath.Join(t.TempDir(), "none")
	_, err = New(cfg, WithLogger(testLogger(t)))
	require.ErrorContains(t, err, "no such file or directory", "an explicit notification_dir must exist")
}

// BenchmarkPostAlertsNotify: POST /v1/alerts latency with no notification
// and with a notification whose receiver never answers (the message in
// flight waits, the queue fills, then drops): delivery must not slow
// ingestion.
func BenchmarkPostAlertsNotify(b *testing.B) {
	for _, tc := range []struct {
		name    string
		profile string
	}{
		{"no-notification", strings.Replace(notifyProfiles, "notifications:\n  - http_default\n", "", 1)},
		{"stuck-receiver", notifyProfiles},
	} {
		b.Run(tc.name, func(b *testing.B) {
			gate := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-gate:
				case <-r.Context().Done():
				}
			}))
			defer srv.Close()
			dir := b.TempDir()
			f := false
			var cfg Config
			cfg.DataDir = filepath.Join(dir, "data")
			cfg.LAPI.ListenURI = "127.0.0.1:0"
			cfg.Agent.Enabled = &f
			cfg.LAPI.ProfilesPath = filepath.Join(dir, "profiles.yaml")
			cfg.LAPI.NotificationDir = filepath.Join(dir, "notifications")
			require.NoError(b, os.WriteFile(cfg.LAPI.ProfilesPath, []byte(tc.profile), 0o600))
			require.NoError(b, os.MkdirAll(cfg.LAPI.NotificationDir, 0o700))
			require.NoError(b, os.WriteFile(filepath.Join(cfg.LAPI.NotificationDir, "http.yaml"),
				[]byte(httpDefault(srv.URL, lineFormat, "timeout: 1h\nqueue_size: 100\n")), 0o600))
			a, err := New(cfg, WithLogger(slog.New(slog.DiscardHandler)))
			require.NoError(b, err)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- a.Run(ctx) }()
			addMachine(b, a.Store(), "m1", "m1-password")
			cl, err := apiclient.New(apiclient.Config{URL: a.LAPIURL(), MachineID: "m1", Password: "m1-password", UserAgent: "crowdsec/v1.7.5"})
			require.NoError(b, err)
			defer cl.Close()
			_, err = cl.PushAlerts(ctx, []*models.Alert{testAlert(0)}) // log in
			require.NoError(b, err)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := cl.PushAlerts(ctx, []*models.Alert{testAlert(i)}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			close(gate) // the drain then delivers the (bounded) queue
			cancel()
			require.NoError(b, <-done)
			_ = a.Close()
		})
	}
}
