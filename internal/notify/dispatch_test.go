package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/notify"
	"github.com/phalanx-ids/phalanx/internal/notify/builtin"
	"github.com/phalanx-ids/phalanx/internal/retry"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// receiver is a real webhook on loopback (testutil.Webhook) whose bodies
// are the http type's default format: a JSON array of alerts.
type receiver struct{ *testutil.Webhook }

func newReceiver(t *testing.T, status func(n int) int) *receiver {
	return &receiver{testutil.NewWebhook(t, status)}
}

// messages returns the delivered bodies, each decoded as a JSON array of
// alerts (the http type's default format).
func (r *receiver) messages(t *testing.T) [][]*models.Alert {
	var out [][]*models.Alert
	for _, b := range r.Bodies() {
		var as []*models.Alert
		require.NoError(t, json.Unmarshal([]byte(b), &as), b)
		out = append(out, as)
	}
	return out
}

// scenarios lists the scenario of every delivered alert, in order.
func (r *receiver) scenarios(t *testing.T) []string {
	var out []string
	for _, m := range r.messages(t) {
		for _, a := range m {
			out = append(out, a.GetScenario())
		}
	}
	return out
}

func alert(i int) *models.Alert {
	a := notify.TestAlert(time.Date(2024, 3, 1, 0, 0, i, 0, time.UTC), "m")
	sc := fmt.Sprintf("s%03d", i)
	a.Scenario = &sc
	return a
}

func wantScenarios(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("s%03d", i))
	}
	return out
}

// harness is a dispatcher with its registry and log.
type harness struct {
	d    *notify.Dispatcher
	reg  *prometheus.Registry
	mu   sync.Mutex
	logs bytes.Buffer
}

func (h *harness) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.logs.Write(p)
}

func (h *harness) log() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.logs.String()
}

func newHarness(t *testing.T) *harness {
	h := &harness{reg: prometheus.NewRegistry()}
	d, err := notify.NewDispatcher(notify.Options{
		Logger:     slog.New(slog.NewTextHandler(h, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registerer: h.reg, Backoff: retry.Policy{Base: time.Millisecond, Max: 20 * time.Millisecond},
		RetireTimeout: 5 * time.Second,
	})
	require.NoError(t, err)
	h.d = d
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = d.Close(ctx)
	})
	return h
}

func loadSet(t *testing.T, yamlText string) *notify.Set {
	t.Helper()
	specs, err := builtin.NewRegistry().LoadBytes("n.yaml", []byte(yamlText), notify.LoadOptions{})
	require.NoError(t, err)
	set, err := notify.NewSet(specs)
	require.NoError(t, err)
	return set
}

func (h *harness) apply(t *testing.T, yamlText string, required ...string) {
	t.Helper()
	u, err := h.d.Prepare(loadSet(t, yamlText), required)
	require.NoError(t, err)
	u.Commit()
}

// metric is the value of a counter or gauge with the given labels (0 when
// absent).
func (h *harness) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// eventually waits for cond (an observable condition) with a deadline.
func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	require.Eventually(t, cond, 15*time.Second, 2*time.Millisecond, what)
}

func httpConf(name, url, extra string) string {
	return fmt.Sprintf("type: http\nname: %s\nurl: %s\n%s", name, url, extra)
}

func TestEachAlertAloneByDefault(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, nil)
	h := newHarness(t)
	h.apply(t, httpConf("hook", rcv.URL, ""), "hook")
	for i := range 5 {
		h.d.Notify(alert(i), []string{"hook", "hook"}) // a name twice: once
	}
	eventually(t, func() bool { return len(rcv.messages(t)) == 5 }, "five messages")
	for _, m := range rcv.messages(t) {
		require.Len(t, m, 1)
	}
	require.Equal(t, wantScenarios(0, 5), rcv.scenarios(t), "in order")
	// The receiver records a message before the notifier sees the answer.
	eventually(t, func() bool { return h.metric(t, "phalanx_notification_deliveries_total", "notification", "hook") == 5 }, "counted")
	require.Equal(t, 5.0, h.metric(t, "phalanx_notification_alerts_queued_total", "notification", "hook"))
	eventually(t, func() bool { return h.metric(t, "phalanx_notification_queue_depth", "notification", "hook") == 0 }, "queue empty")
}

func TestGrouping(t *testing.T) {
	t.Parallel()
	t.Run("group_threshold sends full groups, the drain sends the rest", func(t *testing.T) {
		t.Parallel()
		rcv := newReceiver(t, nil)
		h := newHarness(t)
		h.apply(t, httpConf("hook", rcv.URL, "group_threshold: 3\n"))
		for i := range 7 {
			h.d.Notify(alert(i), []string{"hook"})
		}
		eventually(t, func() bool { return len(rcv.messages(t)) == 2 }, "two full groups")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, h.d.Close(ctx))
		var sizes []int
		for _, m := range rcv.messages(t) {
			sizes = append(sizes, len(m))
		}
		require.Equal(t, []int{3, 3, 1}, sizes)
		require.Equal(t, wantScenarios(0, 7), rcv.scenarios(t))
	})
	t.Run("group_wait collects into one message", func(t *testing.T) {
		t.Parallel()
		rcv := newReceiver(t, nil)
		h := newHarness(t)
		h.apply(t, httpConf("hook", rcv.URL, "group_wait: 1h\n"))
		for i := range 5 {
			h.d.Notify(alert(i), []string{"hook"})
		}
		require.Equal(t, 0, rcv.Requests(), "nothing before the window ends")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, h.d.Close(ctx), "the drain cuts the window short")
		msgs := rcv.messages(t)
		require.Len(t, msgs, 1)
		require.Len(t, msgs[0], 5)
	})
	t.Run("group_wait elapses", func(t *testing.T) {
		t.Parallel()
		rcv := newReceiver(t, nil)
		h := newHarness(t)
		h.apply(t, httpConf("hook", rcv.URL, "group_wait: 20ms\ngroup_threshold: 100\n"))
		for i := range 4 {
			h.d.Notify(alert(i), []string{"hook"})
		}
		eventually(t, func() bool { return len(rcv.scenarios(t)) == 4 }, "delivered when the window ends")
		require.Equal(t, wantScenarios(0, 4), rcv.scenarios(t))
	})
}

func TestDue(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		n         int
		waited    time.Duration
		wait      time.Duration
		threshold int
		draining  bool
		take      int
		after     time.Duration
	}{
		{"nothing waits", 0, 0, 0, 0, false, 0, 0},
		{"no grouping: one at a time", 3, 0, 0, 0, false, 1, 0},
		{"threshold reached", 5, 0, 0, 3, false, 3, 0},
		{"threshold not reached: wait for more", 2, time.Hour, 0, 3, false, 0, 0},
		{"window open", 2, time.Second, time.Minute, 0, false, 0, 59 * time.Second},
		{"window over: all", 7, time.Minute, time.Minute, 0, false, 7, 0},
		{"window over: at most threshold", 7, time.Minute, time.Minute, 5, false, 5, 0},
		{"threshold first with a window", 5, 0, time.Minute, 5, false, 5, 0},
		{"draining without grouping: one at a time", 4, 0, 0, 0, true, 1, 0},
		{"draining a window: all", 4, 0, time.Hour, 0, true, 4, 0},
		{"draining below threshold", 2, 0, 0, 3, true, 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			take, after := notify.Due(tc.n, tc.waited, tc.wait, tc.threshold, tc.draining)
			require.Equal(t, tc.take, take)
			require.Equal(t, tc.after, after)
		})
	}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	t.Run("retryable failures are retried until delivered", func(t *testing.T) {
		t.Parallel()
		rcv := newReceiver(t, func(n int) int {
			if n <= 3 {
				return http.StatusServiceUnavailable
			}
			return http.StatusOK
		})
		h := newHarness(t)
		h.apply(t, httpConf("hook", rcv.URL, ""))
		h.d.Notify(alert(1), []string{"hook"})
		eventually(t, func() bool { return len(rcv.messages(t)) == 1 }, "delivered")
		require.Equal(t, 4, rcv.Requests())
		require.Equal(t, 3.0, h.metric(t, "phalanx_notification_failures_total", "notification", "hook"))
		require.Equal(t, 3.0, h.metric(t, "phalanx_notification_retries_total", "notification", "hook"))
		eventually(t, func() bool { return h.metric(t, "phalanx_notification_deliveries_total", "notification", "hook") == 1 }, "counted")
		require.Contains(t, h.log(), "will retry")
	})
	t.Run("a refusal is not retried", func(t *testing.T) {
		t.Parallel()
		rcv := newReceiver(t, func(int) int { return http.StatusBadRequest })
		h := newHarness(t)
		h.apply(t, httpConf("hook", rcv.URL, ""))
		h.d.Notify(alert(1), []string{"hook"})
		h.d.Notify(alert(2), []string{"hook"})
		eventually(t, func() bool {
			return h.metric(t, "phalanx_notification_dropped_alerts_total", "reason", notify.DropRejected) == 2
		}, "both dropped")
		require.Equal(t, 2, rcv.Requests(), "one attempt each")
		require.Equal(t, 0.0, h.metric(t, "phalanx_notification_retries_total", "notification", "hook"))
		require.Contains(t, h.log(), "400 Bad Request")
	})
	t.Run("max_retry bounds the attempts", func(t *testing.T) {
		t.Parallel()
		rcv := newReceiver(t, func(int) int { return http.StatusBadGateway })
		h := newHarness(t)
		h.apply(t, httpConf("hook", rcv.URL, "max_retry: 3\n"))
		h.d.Notify(alert(1), []string{"hook"})
		eventually(t, func() bool {
			return h.metric(t, "phalanx_notification_dropped_alerts_total", "reason", notify.DropRetries) == 1
		}, "dropped")
		require.Equal(t, 3, rcv.Requests())
		require.Contains(t, h.log(), "max_retry")
	})
	t.Run("a format failing on the alerts drops them", func(t *testing.T) {
		t.Parallel()
		rcv := newReceiver(t, nil)
		h := newHarness(t)
		h.apply(t, httpConf("hook", rcv.URL, "format: '{{ (index . 3).Scenario }}'\n"))
		h.d.Notify(alert(1), []string{"hook"})
		eventually(t, func() bool {
			return h.metric(t, "phalanx_notification_dropped_alerts_total", "reason", notify.DropRender) == 1
		}, "dropped")
		require.Equal(t, 0, rcv.Requests())
	})
}

// TestReceiverDownLosesNothing: while the receiver refuses connections,
// alerts wait in the queue (many attempts, capped back-off); when it comes
// back everything is delivered, once and in order.
func TestReceiverDownLosesNothing(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, func(int) int { return http.StatusServiceUnavailable })
	h := newHarness(t)
	h.apply(t, httpConf("hook", rcv.URL, "group_threshold: 10\ngroup_wait: 1ms\nqueue_size: 1000\n"))
	for i := range 100 {
		h.d.Notify(alert(i), []string{"hook"})
	}
	eventually(t, func() bool { return h.metric(t, "phalanx_notification_failures_total", "notification", "hook") >= 30 }, "many failed attempts")
	require.Equal(t, 100.0, h.metric(t, "phalanx_notification_queue_depth", "notification", "hook"))
	for i := 100; i < 150; i++ { // more arrive while it is down
		h.d.Notify(alert(i), []string{"hook"})
	}
	rcv.SetStatus(nil)
	eventually(t, func() bool { return len(rcv.scenarios(t)) == 150 }, "everything delivered")
	require.Equal(t, wantScenarios(0, 150), rcv.scenarios(t))
	require.Equal(t, 0.0, h.metric(t, "phalanx_notification_dropped_alerts_total"))
}

// TestConnectionRefusedIsRetried: a receiver that is not listening at all.
func TestConnectionRefusedIsRetried(t *testing.T) {
	t.Parallel()
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	h := newHarness(t)
	h.apply(t, httpConf("hook", url, ""))
	h.d.Notify(alert(1), []string{"hook"})
	eventually(t, func() bool { return h.metric(t, "phalanx_notification_retries_total", "notification", "hook") >= 3 }, "retried")
	require.Equal(t, 0.0, h.metric(t, "phalanx_notification_dropped_alerts_total"))
	require.Contains(t, h.log(), "connection refused")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	require.ErrorContains(t, h.d.Close(ctx), "1 alerts not delivered", "still down at shutdown: counted")
}

func TestQueueBound(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, nil)
	release := rcv.Hold()
	defer release()
	h := newHarness(t)
	h.apply(t, httpConf("hook", rcv.URL, "queue_size: 10\n"))
	h.d.Notify(alert(0), []string{"hook"})
	eventually(t, func() bool { return rcv.Requests() == 1 }, "first message in flight")
	for i := 1; i < 25; i++ {
		h.d.Notify(alert(i), []string{"hook"}) // never blocks
	}
	require.Equal(t, 15.0, h.metric(t, "phalanx_notification_dropped_alerts_total", "notification", "hook", "reason", notify.DropQueueFull))
	require.Equal(t, 10.0, h.metric(t, "phalanx_notification_queue_depth", "notification", "hook"))
	require.Equal(t, 1, strings.Count(h.log(), "queue full"), "logged once, not per alert")
	release()
	eventually(t, func() bool { return len(rcv.scenarios(t)) == 10 }, "the queued ones delivered")
	require.Equal(t, wantScenarios(0, 10), rcv.scenarios(t))
	h.d.Notify(alert(99), []string{"hook"})
	eventually(t, func() bool { return strings.Contains(h.log(), "queue accepting alerts again") }, "recovery logged")
	require.Contains(t, h.log(), "dropped=15")
}

func TestUnknownNotification(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.d.Notify(alert(1), []string{"nope"})
	h.d.Notify(alert(2), []string{"nope"})
	require.Equal(t, 2.0, h.metric(t, "phalanx_notification_dropped_alerts_total", "notification", "nope", "reason", notify.DropUnknown))
	require.Equal(t, 1, strings.Count(h.log(), "unknown notification"))
}

func TestPrepare(t *testing.T) {
	t.Parallel()
	conf := "type: http\nname: ok\nurl: http://127.0.0.1:1/\n---\ntype: http\nname: broken\nurl: <HTTP_url>\n"
	t.Run("a required name must be configured", func(t *testing.T) {
		h := newHarness(t)
		_, err := h.d.Prepare(loadSet(t, conf), []string{"ok", "missing"})
		require.ErrorContains(t, err, `profiles use notification "missing", which is not configured (configured: broken, ok)`)
	})
	t.Run("a required name must provision, the error names the file", func(t *testing.T) {
		h := newHarness(t)
		_, err := h.d.Prepare(loadSet(t, conf), []string{"broken"})
		require.ErrorContains(t, err, "n.yaml:5: broken: url")
		require.Empty(t, h.d.Names())
	})
	t.Run("an unused broken notification is left out with a warning", func(t *testing.T) {
		h := newHarness(t)
		u, err := h.d.Prepare(loadSet(t, conf), []string{"ok"})
		require.NoError(t, err)
		u.Commit()
		require.Equal(t, []string{"ok"}, h.d.Names())
		require.Contains(t, h.log(), "notification not usable (no profile uses it)")
	})
	t.Run("discarded updates change nothing", func(t *testing.T) {
		h := newHarness(t)
		u, err := h.d.Prepare(loadSet(t, conf), nil)
		require.NoError(t, err)
		u.Discard()
		u.Commit() // no-op after Discard
		require.Empty(t, h.d.Names())
	})
}

// TestReloadKeepsQueue: changing a notification's configuration keeps its
// queued alerts; the message in flight ends with the old configuration.
func TestReloadKeepsQueue(t *testing.T) {
	t.Parallel()
	oldRcv, newRcv := newReceiver(t, nil), newReceiver(t, nil)
	release := oldRcv.Hold()
	defer release()
	gone := newReceiver(t, nil)
	h := newHarness(t)
	h.apply(t, httpConf("hook", oldRcv.URL, "")+"---\n"+httpConf("gone", gone.URL, "group_wait: 1h\n")+"---\n"+httpConf("same", newRcv.URL, "group_wait: 1h\n"))
	for i := range 5 {
		h.d.Notify(alert(i), []string{"hook", "gone", "same"})
	}
	eventually(t, func() bool { return oldRcv.Requests() == 1 }, "first message in flight")
	// Reload: hook changes receiver, gone is removed, same is unchanged.
	h.apply(t, httpConf("hook", newRcv.URL, "")+"---\n"+httpConf("same", newRcv.URL, "group_wait: 1h\n"))
	require.Equal(t, []string{"hook", "same"}, h.d.Names())
	release()
	eventually(t, func() bool { return len(oldRcv.scenarios(t)) == 1 }, "in-flight message finished on the old receiver")
	eventually(t, func() bool { return len(gone.scenarios(t)) == 5 }, "the removed notification delivered what it held")
	eventually(t, func() bool { return len(newRcv.scenarios(t)) == 4 }, "the rest went to the new receiver")
	require.Equal(t, wantScenarios(1, 5), newRcv.scenarios(t))
	require.Equal(t, 5.0, h.metric(t, "phalanx_notification_queue_depth", "notification", "same"), "unchanged: its window still open")
	require.Equal(t, 0.0, h.metric(t, "phalanx_notification_dropped_alerts_total"))
	require.Contains(t, h.log(), "notification reconfigured")
}

func TestCloseDeadline(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, nil)
	release := rcv.Hold() // the receiver never answers
	defer release()
	h := newHarness(t)
	h.apply(t, httpConf("hook", rcv.URL, "timeout: 1h\n"))
	for i := range 4 {
		h.d.Notify(alert(i), []string{"hook"})
	}
	eventually(t, func() bool { return rcv.Requests() == 1 }, "in flight")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := h.d.Close(ctx)
	require.ErrorContains(t, err, "4 alerts not delivered before the drain deadline")
	require.Equal(t, 4.0, h.metric(t, "phalanx_notification_dropped_alerts_total", "reason", notify.DropShutdown))
	require.Contains(t, h.log(), "stopped before delivering everything")
	h.d.Notify(alert(9), []string{"hook"})
	require.Equal(t, 1.0, h.metric(t, "phalanx_notification_dropped_alerts_total", "reason", notify.DropClosed))
}

// TestLogLevel: a notification's log_level quiets its own messages only.
func TestLogLevel(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, func(n int) int {
		if n%2 == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	h := newHarness(t)
	h.apply(t, httpConf("quiet", rcv.URL, "log_level: error\n")+"---\n"+httpConf("loud", rcv.URL, "log_level: debug\n"))
	h.d.Notify(alert(1), []string{"quiet"})
	eventually(t, func() bool { return len(rcv.Bodies()) == 1 }, "quiet delivered")
	h.d.Notify(alert(2), []string{"loud"})
	eventually(t, func() bool { return len(rcv.Bodies()) == 2 }, "loud delivered")
	eventually(t, func() bool {
		return strings.Contains(h.log(), "level=DEBUG msg=\"notify: delivered\" notification=loud")
	}, "debug line")
	require.Contains(t, h.log(), "level=WARN msg=\"notify: delivery failed, will retry\" notification=loud")
	require.NotContains(t, h.log(), "notification=quiet", "warn and debug lines below error are dropped")
}

// BenchmarkNotify: the cost Notify adds to the LAPI's alert handler, with
// the receiver stuck (alerts queue, then are dropped past queue_size).
func BenchmarkNotify(b *testing.B) {
	for _, size := range []int{1 << 30, 1000} {
		b.Run(fmt.Sprintf("queue_size=%d", size), func(b *testing.B) {
			rcv := testutil.NewWebhook(b, nil)
			release := rcv.Hold()
			defer release()
			d, err := notify.NewDispatcher(notify.Options{Registerer: prometheus.NewRegistry()})
			require.NoError(b, err)
			specs, err := builtin.NewRegistry().LoadBytes("n.yaml", []byte(httpConf("hook", rcv.URL, fmt.Sprintf("queue_size: %d\n", size))), notify.LoadOptions{})
			require.NoError(b, err)
			set, err := notify.NewSet(specs)
			require.NoError(b, err)
			u, err := d.Prepare(set, nil)
			require.NoError(b, err)
			u.Commit()
			a, names := alert(1), []string{"hook"}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				d.Notify(a, names)
			}
			b.StopTimer()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
			defer cancel()
			_ = d.Close(ctx)
		})
	}
}
