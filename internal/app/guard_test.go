package app

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/netguard"
	"github.com/phalanx-ids/phalanx/internal/netguard/guardtest"
)

// getFrom fetches url from the loopback address src (127.0.0.x).
func getFrom(t *testing.T, src, url string) (int, string) {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
	resp, err := hc.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// /metrics names machines and bouncers: by default only loopback
// (127.0.0.1, ::1) may read it, on the LAPI's listener or its own.
// metrics.pprof (off by default) serves Go's profiles beside it, to the
// same addresses.
func TestMetricsAllowedIPs(t *testing.T) {
	t.Parallel()
	// A named profile that costs little to write: a heap profile of this
	// package's many daemons took over 30 s under -race on a loaded
	// machine (its text form symbolizes every allocation site).
	const metrics, profile = "metrics", "debug/pprof/threadcreate?debug=1"
	tests := []struct {
		name    string
		own     bool     // metrics.listen_addr set
		allowed []string // metrics.allowed_ips
		pprof   bool     // metrics.pprof
		path    string   // after the metrics listener's base URL
		from    string
		want    int
		body    string // in the answer when 200
	}{
		{name: "lapi listener, local", path: metrics, from: "127.0.0.1", want: http.StatusOK},
		{name: "lapi listener, other address", path: metrics, from: "127.0.0.2", want: http.StatusForbidden},
		{name: "own listener, local", own: true, path: metrics, from: "127.0.0.1", want: http.StatusOK},
		{name: "own listener, other address", own: true, path: metrics, from: "127.0.0.2", want: http.StatusForbidden},
		{name: "own listener, allowed range", own: true, allowed: []string{"127.0.0.0/8"}, path: metrics, from: "127.0.0.2", want: http.StatusOK},
		{name: "lapi listener, allowed address", allowed: []string{"127.0.0.2"}, path: metrics, from: "127.0.0.2", want: http.StatusOK},
		{name: "pprof off", path: profile, from: "127.0.0.1", want: http.StatusNotFound},
		{name: "pprof, lapi listener, local", pprof: true, path: profile, from: "127.0.0.1", want: http.StatusOK, body: "threadcreate profile"},
		{name: "pprof, lapi listener, other address", pprof: true, path: profile, from: "127.0.0.2", want: http.StatusForbidden},
		{name: "pprof, own listener, local", own: true, pprof: true, path: profile, from: "127.0.0.1", want: http.StatusOK, body: "threadcreate profile"},
		{name: "pprof off, own listener", own: true, path: profile, from: "127.0.0.1", want: http.StatusNotFound},
		{name: "pprof, own listener, other address", own: true, pprof: true, path: profile, from: "127.0.0.2", want: http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := lapiOnly(t)
			if tc.own {
				c.Metrics.ListenAddr = "127.0.0.1:0"
			}
			c.Metrics.AllowedIPs = tc.allowed
			c.Metrics.Pprof = tc.pprof
			a, err := New(c, WithLogger(testLogger(t)))
			require.NoError(t, err)
			startApp(t, a)
			status, body := getFrom(t, tc.from, strings.TrimSuffix(a.MetricsURL(), "metrics")+tc.path)
			require.Equal(t, tc.want, status, body)
			switch {
			case tc.want != http.StatusOK:
				require.NotContains(t, body, "cs_lapi")
			case tc.body != "":
				require.Contains(t, body, tc.body)
			default:
				require.Contains(t, body, "phalanx_http_connections_open")
			}
		})
	}
}

// The slow-client attacks against the metrics listener of its own.
func TestMetricsListenerResistsSlowClients(t *testing.T) {
	t.Parallel()
	c := lapiOnly(t)
	c.Metrics.ListenAddr = "127.0.0.1:0"
	c.Metrics.Limits = netguard.Config{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: time.Second,
		IdleTimeout: 300 * time.Millisecond, MaxConnsPerAddress: 3}
	a, err := New(c, WithLogger(testLogger(t)))
	require.NoError(t, err)
	startApp(t, a)
	addr := strings.TrimSuffix(strings.TrimPrefix(a.MetricsURL(), "http://"), "/metrics")
	guardtest.Suite(t, guardtest.Target{Addr: addr, Request: "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
		ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: time.Second, IdleTimeout: 300 * time.Millisecond,
		MaxHeaderBytes: 32 << 10, MaxConnsPerAddress: 3})
}

// The server's limits are compiled when it starts: a reload says a
// restart is needed instead of pretending to apply them.
func TestReloadReportsServerSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(c *Config)
		want   []string
	}{
		{name: "nothing", change: func(*Config) {}},
		{name: "lapi limits", change: func(c *Config) { c.LAPI.Limits.MaxConns = 10 }, want: []string{"lapi (server settings)"}},
		{name: "login limits", change: func(c *Config) { c.LAPI.Login.FreeFailures = 2 }, want: []string{"lapi (server settings)"}},
		{name: "metrics allowed_ips", change: func(c *Config) { c.Metrics.AllowedIPs = []string{"10.0.0.0/8"} }, want: []string{"metrics"}},
		{name: "metrics limits", change: func(c *Config) { c.Metrics.Limits.MaxConns = 10 }, want: []string{"metrics"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := lapiOnly(t)
			o, err := c.resolve()
			require.NoError(t, err)
			tc.change(&c)
			n, err := c.resolve()
			require.NoError(t, err)
			require.Equal(t, tc.want, restartNeeded(o, n))
		})
	}
}

// The servers datasources run (http push, syslog) export their netguard
// metrics on the daemon's /metrics.
func TestMetricsOfDatasourceServers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.config()
	c.Agent.AcquisitionPath = writeFile(t, e.dir, "acquis-servers.yaml", `source: http
listen_addr: 127.0.0.1:0
path: /push
auth_type: headers
headers: {X-Key: secret-value}
labels: {type: push}
---
source: syslog
listen_addr: 127.0.0.1
listen_port: 0
protocol: tcp
labels: {type: syslog}
`)
	a, err := New(c, WithLogger(testLogger(t)))
	require.NoError(t, err)
	startApp(t, a)
	require.Eventually(t, func() bool {
		status, body := getFrom(t, "127.0.0.1", a.MetricsURL())
		return status == http.StatusOK &&
			strings.Contains(body, `phalanx_http_connections_open{server="httppush"}`) &&
			strings.Contains(body, `phalanx_http_connections_open{server="syslog"}`)
	}, 15*time.Second, 100*time.Millisecond, "the datasources' netguard metrics are not on /metrics")
}
