package usagemetrics

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/models"
)

// TestCountersWindows: a counter is reported as what it added in each
// window, once; a counter that went back (a restart of its source) counts
// from zero; nothing added, no item.
func TestCountersWindows(t *testing.T) {
	type step struct {
		v    float64
		want float64 // 0: no item
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"first window is the whole value", []step{{5, 5}}},
		{"increments", []step{{5, 5}, {8, 3}, {8, 0}, {20, 12}}},
		{"reset counts from zero", []step{{10, 10}, {4, 4}, {6, 2}}},
		{"zero is no item", []step{{0, 0}, {0, 0}, {1, 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var c Counters
			for i, s := range tc.steps {
				it := c.Item("dropped", "packet", map[string]string{"origin": "CAPI"}, s.v)
				if s.want == 0 {
					require.Nil(t, it, "step %d", i)
					continue
				}
				require.NotNil(t, it, "step %d", i)
				require.Equal(t, s.want, *it.Value, "step %d", i)
				require.Equal(t, "dropped", *it.Name)
				require.Equal(t, "packet", *it.Unit)
				require.Equal(t, models.MetricsLabels{"origin": "CAPI"}, it.Labels)
			}
		})
	}
	t.Run("labels make separate counters", func(t *testing.T) {
		var c Counters
		require.Equal(t, 3.0, *c.Item("dropped", "byte", map[string]string{"origin": "a"}, 3).Value)
		require.Equal(t, 4.0, *c.Item("dropped", "byte", map[string]string{"origin": "b"}, 4).Value)
		require.Equal(t, 2.0, *c.Item("dropped", "byte", map[string]string{"origin": "a"}, 5).Value)
		require.Equal(t, 7.0, *c.Item("dropped", "packet", map[string]string{"origin": "a"}, 7).Value, "another unit")
	})
}

// TestGather: Prometheus counters become items with the report's names,
// units and labels; skipped series and unnamed labels are left out.
func TestGather(t *testing.T) {
	reg := prometheus.NewRegistry()
	read := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cs_filesource_hits_total", Help: "x"}, []string{"source", "datasource_type", "acquis_type"})
	nodes := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cs_node_hits_ok_total", Help: "x"}, []string{"name", "stage"})
	reg.MustRegister(read, nodes)
	read.WithLabelValues("/var/log/auth.log", "file", "syslog").Add(7)
	nodes.WithLabelValues("crowdsecurity/sshd-logs", "s01-parse").Add(4)
	nodes.WithLabelValues("child-crowdsecurity/sshd-logs", "s01-parse").Add(9)
	fams := []Family{
		{Metric: "cs_filesource_hits_total", Name: "read", Unit: "line", Labels: map[string]string{"source": "source", "datasource_type": "datasource_type"}},
		{Metric: "cs_node_hits_ok_total", Name: "parsed", Unit: "line", Labels: map[string]string{"name": "parser_name", "stage": "parser_stage"},
			Skip: func(l map[string]string) bool { return l["name"] != "" && l["name"][:6] == "child-" }},
		{Metric: "absent_total", Name: "x", Unit: "y"},
	}
	var c Counters
	items, err := c.Gather(reg, fams)
	require.NoError(t, err)
	require.Len(t, items, 2)
	require.Equal(t, "read", *items[0].Name)
	require.Equal(t, 7.0, *items[0].Value)
	require.Equal(t, models.MetricsLabels{"source": "/var/log/auth.log", "datasource_type": "file"}, items[0].Labels)
	require.Equal(t, "parsed", *items[1].Name)
	require.Equal(t, models.MetricsLabels{"parser_name": "crowdsecurity/sshd-logs", "parser_stage": "s01-parse"}, items[1].Labels)

	read.WithLabelValues("/var/log/auth.log", "file", "syslog").Add(2)
	items, err = c.Gather(reg, fams)
	require.NoError(t, err)
	require.Len(t, items, 1, "only what moved")
	require.Equal(t, 2.0, *items[0].Value)
}

// TestBase: the block a component reports: identity and one window.
func TestBase(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	id := Identity{Version: "v1.2.3", OSName: "debian", OSVersion: "12", Startup: start}
	b := id.Base(start.Add(time.Hour), 30*time.Minute, nil)
	require.Equal(t, "v1.2.3", *b.Version)
	require.Equal(t, "debian", *b.Os.Name)
	require.Equal(t, "12", *b.Os.Version)
	require.Equal(t, int64(1_700_000_000), *b.UtcStartupTimestamp)
	require.Equal(t, []string{}, b.FeatureFlags)
	require.Len(t, b.Metrics, 1)
	require.Equal(t, int64(1800), *b.Metrics[0].Meta.WindowSizeSeconds)
	require.Equal(t, int64(1_700_003_600), *b.Metrics[0].Meta.UtcNowTimestamp)
	require.NotNil(t, b.Metrics[0].Items, "items is a list, never null")
}

type recorder struct {
	mu   sync.Mutex
	at   []time.Time
	fail bool
}

func (r *recorder) SendUsageMetrics(_ context.Context, _ *models.AllMetrics) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.at = append(r.at, time.Now())
	if r.fail {
		return errors.New("lapi down")
	}
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.at)
}

// TestRunSchedule: a log processor reports at once, a bouncer after one
// interval; a failed report does not stop the next; Run returns when its
// context ends.
func TestRunSchedule(t *testing.T) {
	build := func(time.Time, time.Duration) *models.AllMetrics { return &models.AllMetrics{} }
	tests := []struct {
		name  string
		sched Schedule
		fail  bool
		want  int // reports to wait for (0: none may come in 300 ms)
	}{
		{"log processor: at once", Schedule{First: 0, Interval: time.Hour}, false, 1},
		{"every interval", Schedule{First: 0, Interval: 20 * time.Millisecond}, false, 3},
		{"failures do not stop it", Schedule{First: 0, Interval: 20 * time.Millisecond}, true, 3},
		{"bouncer: the first after one interval", Schedule{First: time.Hour, Interval: time.Hour}, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := &recorder{fail: tc.fail}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { Run(ctx, r, tc.sched, build, nil, nil); close(done) }()
			if tc.want > 0 {
				require.Eventually(t, func() bool { return r.count() >= tc.want }, 10*time.Second, 5*time.Millisecond)
			} else {
				time.Sleep(300 * time.Millisecond)
				require.Zero(t, r.count())
			}
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return when its context ended")
			}
		})
	}
}
