package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/bouncer/bouncertest"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// waitFor returns the first submatch of re in w's output.
func waitFor(t *testing.T, w *testutil.Buffer, re *regexp.Regexp) string {
	t.Helper()
	var got string
	require.Eventually(t, func() bool {
		m := re.FindStringSubmatch(w.String())
		if m != nil {
			got = m[1]
		}
		return m != nil
	}, 15*time.Second, 10*time.Millisecond, "no %s in the command's output", re)
	return got
}

// httpFrom is a client whose connections come from the loopback address
// local (Linux answers on all of 127.0.0.0/8).
func httpFrom(local string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

func fetch(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestBouncerHTTPCommand runs `phalanx bouncer http -c FILE` in-process
// against a real LAPI and a real upstream over loopback: a banned address
// gets 403, another gets the upstream's page, and /metrics counts both.
func TestBouncerHTTPCommand(t *testing.T) {
	lapi := bouncertest.StartLAPI(t, "")
	key := lapi.BouncerKey(t, "web")
	lapi.Add(t, "Ip", "127.0.0.2", "ban", "4h")
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "upstream page "+r.URL.Path)
	}))
	t.Cleanup(up.Close)

	cfg := filepath.Join(t.TempDir(), "http-bouncer.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`api_url: %s
api_key: %s
update_frequency: 200ms
listen_addr: 127.0.0.1:0
upstream: %s
prometheus:
  enabled: true
  listen_addr: 127.0.0.1
  listen_port: "0"
`, lapi.URL, key, up.URL)), 0o600))

	var out bytes.Buffer
	errw := &testutil.Buffer{}
	root := NewRoot(strings.NewReader(""), &out, errw)
	root.SetArgs([]string{"bouncer", "http", "-c", cfg})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			t.Fatal("bouncer http did not stop")
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })

	base := "http://" + waitFor(t, errw, regexp.MustCompile(`serving http://(\S+) ->`))
	metricsURL := "http://" + waitFor(t, errw, regexp.MustCompile(`metrics on http://(\S+)/metrics`)) + "/metrics"

	banned, clean := httpFrom("127.0.0.2"), httpFrom("127.0.0.3")
	require.Eventually(t, func() bool { code, _ := fetch(t, banned, base+"/"); return code == http.StatusForbidden },
		10*time.Second, 50*time.Millisecond, "the banned address gets 403 once the decision is pulled")

	cases := []struct {
		name   string
		client *http.Client
		code   int
		body   string
	}{
		{name: "banned address", client: banned, code: http.StatusForbidden, body: "127.0.0.2"},
		{name: "other address", client: clean, code: http.StatusOK, body: "upstream page /app"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := fetch(t, tc.client, base+"/app")
			require.Equal(t, tc.code, code, body)
			require.Contains(t, body, tc.body)
		})
	}

	code, body := fetch(t, clean, metricsURL)
	require.Equal(t, http.StatusOK, code)
	for _, want := range []string{
		`phalanx_http_bouncer_active_decisions 1`,
		`phalanx_http_bouncer_lapi_pulls_total`,
		`go_goroutines`,
	} {
		require.Contains(t, body, want)
	}
	// Requests before the first pull pass (fail open): at least one each.
	require.Regexp(t, `phalanx_http_bouncer_requests_total\{outcome="banned"\} [1-9]`, body)
	require.Regexp(t, `phalanx_http_bouncer_requests_total\{outcome="allowed"\} [1-9]`, body)

	require.NoError(t, stop(), "stderr: %s", errw.String())
}
