package app

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/hub"
	"github.com/phalanx-ids/phalanx/internal/hub/install"
	"github.com/phalanx-ids/phalanx/internal/hub/source"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

var linesTotalRe = regexp.MustCompile(`(?m)^phalanx_pipeline_lines_total (\S+)$`)

// TestHubInstallAndReloadLosesNoLine: a daemon running the embedded
// content, tailing a log written to without pause, gets hub collections
// installed in its data dir and is reloaded (what SIGHUP does): every line
// of the log is read exactly once across the reload, and the installed
// content detects (the hub's scenario names in the decisions).
func TestHubInstallAndReloadLosesNoLine(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	follow := &followLog{Handler: testLogger(t).Handler()}
	a, err := New(cfg, WithLogger(slog.New(follow)))
	require.NoError(t, err)
	startApp(t, a)
	key := newBouncer(t, a.Store(), "fw1")
	waitWatching(t, a, e.log)

	// A writer appends numbered lines until told to stop.
	stopWriter := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stopWriter:
				return
			case <-tick.C:
				appendLines(t, e.log, fmt.Sprintf("%s web01 cron[%d]: (root) CMD (job %d)", time.Now().Format(time.Stamp), i, i))
			}
		}
	}()

	srv := testutil.NewHubServer(t)
	src, err := source.New(srv.URL)
	require.NoError(t, err)
	in := install.New(e.data, src)
	require.NoError(t, in.EnsureIndex(context.Background()))
	st, err := in.Scan()
	require.NoError(t, err)
	p, err := in.PlanInstall(st, []hub.Ref{{Type: hub.Collections, Name: "crowdsecurity/linux"}}, false)
	require.NoError(t, err)
	_, err = in.Apply(context.Background(), p)
	require.NoError(t, err)

	require.NoError(t, a.Reload(cfg))
	// Let the writer run across the swap, then stop it.
	before := a.LinesRead()
	require.Eventually(t, func() bool { return a.LinesRead() > before+20 }, 20*time.Second, 20*time.Millisecond,
		"the reloaded pipeline reads the log")
	close(stopWriter)
	wg.Wait()

	// Lines appended before the file source first opened the log are not
	// read (a log present at first start is tailed from its end): the
	// source logs the offset it started at.
	data, err := os.ReadFile(e.log)
	require.NoError(t, err)
	start := follow.first()
	require.GreaterOrEqual(t, start, int64(0), "the file source said where it started")
	written := float64(bytes.Count(data[start:], []byte("\n")))
	read := func() float64 {
		m := linesTotalRe.FindStringSubmatch(getBody(t, a.MetricsURL()))
		if m == nil {
			return -1
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	deadline := time.Now().Add(20 * time.Second)
	for read() < written && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // polling an observable counter, with a deadline
	}
	require.Equal(t, written, read(), "every line of the log read once across the reload: none lost, none twice")

	appendLines(t, e.log, sshFailures("198.51.100.77", 8)...)
	require.Eventually(t, func() bool {
		d := streamDecisions(t, a.LAPIURL(), key)["198.51.100.77"]
		return d != nil && *d.Scenario == "crowdsecurity/ssh-bf"
	}, 20*time.Second, 100*time.Millisecond, "no decision from the installed hub scenario")

	// The dashboard: the installed items, and the alert's raw lines traced
	// through the installed hub parsers; an edited item shows as tainted.
	page := dashboardGet(t, a, "status")
	require.Contains(t, page, "crowdsecurity/sshd-logs")
	require.Contains(t, page, `<span id="hub-tainted">0</span>`)
	ds, err := a.Store().ListDecisions(context.Background(), store.DecisionFilter{Value: "198.51.100.77"})
	require.NoError(t, err)
	require.NotEmpty(t, ds)
	page = dashboardGet(t, a, fmt.Sprintf("alerts/%d", ds[0].AlertID))
	require.Contains(t, page, "Failed password for root from 198.51.100.77")
	require.Contains(t, page, "<b>crowdsecurity/sshd-logs</b>", "traced through the installed hub parser")
	require.Contains(t, page, `class="outcome-parsed"`)
	f, err := os.OpenFile(filepath.Join(e.data, "parsers", "s01-parse", "sshd-logs.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("\n# edited here\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.Contains(t, dashboardGet(t, a, "status"), `<span id="hub-tainted">1</span>`)
}

// followLog passes records to Handler and keeps the offset of the first
// "file: following" record.
type followLog struct {
	slog.Handler
	mu    sync.Mutex
	start *int64
}

func (h *followLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "file: following" {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "offset" {
				h.mu.Lock()
				if h.start == nil {
					v := a.Value.Int64()
					h.start = &v
				}
				h.mu.Unlock()
			}
			return true
		})
	}
	return h.Handler.Handle(ctx, r)
}

func (h *followLog) WithAttrs(as []slog.Attr) slog.Handler {
	return &followLogChild{Handler: h.Handler.WithAttrs(as), root: h}
}

func (h *followLog) first() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.start == nil {
		return -1
	}
	return *h.start
}

// followLogChild is a followLog with attributes: records still reach the root.
type followLogChild struct {
	slog.Handler
	root *followLog
}

func (h *followLogChild) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "file: following" {
		_ = h.root.Handle(context.Background(), r.Clone())
		return nil
	}
	return h.Handler.Handle(ctx, r)
}
