package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// testLogger writes the App's log to the test log.
func testLogger(t *testing.T) *slog.Logger { return testutil.Logger(t) }

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// env is one daemon's directory: data dir, a log file and its acquis.yaml.
type env struct {
	dir, data, log, acquis string
}

func newEnv(t *testing.T) env {
	t.Helper()
	dir := t.TempDir()
	e := env{dir: dir, data: filepath.Join(dir, "data"), log: filepath.Join(dir, "auth.log"), acquis: filepath.Join(dir, "acquis.yaml")}
	require.NoError(t, os.WriteFile(e.log, nil, 0o600))
	require.NoError(t, os.WriteFile(e.acquis, fmt.Appendf(nil, "filenames:\n  - %s\nlabels:\n  type: syslog\n", e.log), 0o600))
	return e
}

// config is an agent+LAPI config on a free loopback port.
func (e env) config() Config {
	var c Config
	c.DataDir = e.data
	c.LAPI.ListenURI = "127.0.0.1:0"
	c.Agent.AcquisitionPath = e.acquis
	c.Agent.FlushInterval = 100 * time.Millisecond
	c.Agent.ParseWorkers = 1
	return c
}

func appendLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	require.NoError(t, err)
	_, err = f.WriteString(strings.Join(lines, "\n") + "\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// sshFailures returns n failed-password lines from ip, stamped now.
func sshFailures(ip string, n int) []string {
	ts := time.Now().Format(time.Stamp)
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s web01 sshd[%d]: Failed password for root from %s port %d ssh2", ts, 3000+i, ip, 50000+i)
	}
	return out
}

// startApp runs a in the background; the returned func stops it and
// returns Run's error.
func startApp(t *testing.T, a *App) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once bool
	var err error
	stop := func() error {
		if once {
			return err
		}
		once = true
		cancel()
		select {
		case err = <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("app did not stop within 30s")
		}
		return err
	}
	t.Cleanup(func() { _ = stop(); _ = a.Close() })
	return stop
}

// waitWatching appends harmless lines until the file source has read one
// of log, so that it is known to follow it.
func waitWatching(t *testing.T, a *App, log string) {
	t.Helper()
	hits := a.acqMetrics.Hits("file").WithLabelValues(log, "file", "syslog")
	require.Eventually(t, func() bool {
		if promtest.ToFloat64(hits) > 0 {
			return true
		}
		appendLines(t, log, time.Now().Format(time.Stamp)+" web01 cron[1]: (root) CMD (true)")
		return false
	}, 20*time.Second, 300*time.Millisecond, "the pipeline never read the log")
}

// newBouncer creates a bouncer through the store and returns its API key.
func newBouncer(t *testing.T, st store.Store, name string) string {
	t.Helper()
	key := "key-" + name + "-0123456789abcdef"
	require.NoError(t, st.CreateBouncer(context.Background(), &store.Bouncer{Name: name, KeyHash: store.HashAPIKey(key), AuthType: "api-key"}))
	return key
}

// bouncerGet fetches a LAPI path with an API key, as a bouncer (curl).
func bouncerGet(t *testing.T, base, key, path string, out any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, strings.TrimSuffix(base, "/")+path, nil)
	require.NoError(t, err)
	req.Header.Set("X-Api-Key", key)
	req.Header.Set("User-Agent", "test-bouncer/1.0")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if out != nil && resp.StatusCode == http.StatusOK {
		require.NoError(t, json.Unmarshal(b, out), string(b))
	}
	return resp.StatusCode
}

// streamDecisions returns the values of the active decisions of a startup stream.
func streamDecisions(t *testing.T, base, key string) map[string]*models.Decision {
	t.Helper()
	var resp models.DecisionsStreamResponse
	require.Equal(t, http.StatusOK, bouncerGet(t, base, key, "/v1/decisions/stream?startup=true", &resp))
	out := map[string]*models.Decision{}
	for _, d := range resp.New {
		out[*d.Value] = d
	}
	return out
}

func getBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	return string(b)
}
