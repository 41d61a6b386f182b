package httpbouncer

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/app"
	"github.com/phalanx-ids/phalanx/internal/bouncer"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/store/storetest"
)

// realLAPI is internal/app running the LAPI only, on a temp data dir and a
// loopback port, with a bouncer key.
type realLAPI struct {
	st   store.Store
	url  string
	key  string
	stop func()
}

func startLAPI(t *testing.T) *realLAPI {
	t.Helper()
	var c app.Config
	off := false
	c.DataDir = t.TempDir()
	c.LAPI.ListenURI = "127.0.0.1:0"
	c.LAPI.FollowInterval = 50 * time.Millisecond
	c.Agent.Enabled = &off
	a, err := app.New(c, app.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once atomic.Bool
	stop := func() {
		if once.Swap(true) {
			return
		}
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Error("app: Run did not return")
		}
		require.NoError(t, a.Close())
	}
	t.Cleanup(stop)
	l := &realLAPI{st: a.Store(), url: a.LAPIURL(), stop: stop}
	l.key = l.newKey(t, "web")
	return l
}

// newKey creates a bouncer named name (each running bouncer needs its
// own: the LAPI keeps the stream's state per bouncer) and returns its key.
func (l *realLAPI) newKey(t *testing.T, name string) string {
	t.Helper()
	key := "http-bouncer-test-key-" + name + "-0123456789"
	require.NoError(t, l.st.CreateBouncer(context.Background(), &store.Bouncer{Name: name, KeyHash: store.HashAPIKey(key), AuthType: "api-key"}))
	return key
}

// decide adds a decision as the LAPI's agents would (an alert carrying it).
func (l *realLAPI) decide(t *testing.T, typ, scope, value string) {
	t.Helper()
	_, err := l.st.CreateAlerts(context.Background(), "", []*models.Alert{storetest.Alert("test/http-bouncer", scope, value, time.Now(),
		storetest.Dec{Type: typ, Scope: scope, Value: value, Duration: "1h"})})
	require.NoError(t, err)
}

// undecide deletes the decisions on value (cscli decisions delete).
func (l *realLAPI) undecide(t *testing.T, value string) {
	t.Helper()
	n, err := l.st.ExpireDecisions(context.Background(), time.Now(), store.DecisionFilter{Value: value})
	require.NoError(t, err)
	require.Positive(t, n)
}

// streamHas reports whether a startup stream pulled with key (a bouncer
// of its own, so that the proxy's stream state is left alone) holds a
// decision on value.
func (l *realLAPI) streamHas(t *testing.T, key, value string) bool {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, l.url+"/v1/decisions/stream?startup=true", nil)
	require.NoError(t, err)
	req.Header.Set("X-Api-Key", key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var sr models.DecisionsStreamResponse
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&sr))
	for _, d := range sr.New {
		if d.Value != nil && *d.Value == value {
			return true
		}
	}
	return false
}

// faultyLAPI forwards to the LAPI, or fails as told.
type faultyLAPI struct {
	srv  *httptest.Server
	mode atomic.Int32 // one of the fault* constants
}

const (
	faultNone = iota
	faultError
	faultSlow
	faultDrop
)

func newFaultyLAPI(t *testing.T, target string) *faultyLAPI {
	u, err := url.Parse(target)
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(u)
	f := &faultyLAPI{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch f.mode.Load() {
		case faultError:
			http.Error(w, `{"message":"database is on fire"}`, http.StatusInternalServerError)
		case faultSlow:
			select {
			case <-time.After(3 * time.Second):
			case <-r.Context().Done():
			}
			http.Error(w, "too late", http.StatusGatewayTimeout)
		case faultDrop:
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = conn.Close()
			}
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

const pullEvery = 200 * time.Millisecond

// startProxy runs the HTTP bouncer against lapiURL in front of upstream.
func startProxy(t *testing.T, lapiURL, key, upstream string, trusted []string, difficulty int) (*Proxy, string) {
	t.Helper()
	return startProxyConfig(t, ProxyConfig{
		Config:   bouncerConfig(lapiURL, key),
		Upstream: upstream, TrustedProxies: trusted, Captcha: CaptchaConfig{Difficulty: difficulty},
	})
}

// bouncerConfig is the LAPI side of a test proxy: quick pulls and retries.
func bouncerConfig(lapiURL, key string) bouncer.Config {
	return bouncer.Config{APIURL: lapiURL, APIKey: bouncerSecret(key), UpdateFrequency: pullEvery,
		Timeout: 500 * time.Millisecond, RetryMaxInterval: 300 * time.Millisecond, UserAgent: "phalanx-http-bouncer/test"}
}

// startProxyConfig runs the HTTP bouncer configured by cfg on a loopback
// port; the URL is https:// when cfg has a listen certificate.
func startProxyConfig(t *testing.T, cfg ProxyConfig) (*Proxy, string) {
	t.Helper()
	p, err := NewProxy(cfg)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(15 * time.Second):
			t.Error("proxy: Run did not return")
		}
	})
	select {
	case <-p.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("proxy: no first snapshot from the LAPI")
	}
	scheme := "http://"
	if cfg.ListenCertPath != "" {
		scheme = "https://"
	}
	return p, scheme + ln.Addr().String()
}

func newUpstream(t *testing.T) *httptest.Server {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, `<!DOCTYPE html><html><body><p id="upstream-content">hello from upstream `+r.URL.Path+`</p></body></html>`)
	}))
	t.Cleanup(up.Close)
	return up
}

// clientFrom is an HTTP client whose connections come from local (a
// loopback address), not following redirects.
func clientFrom(local string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u, xff string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestProxyAgainstLAPI drives the reverse proxy with real HTTP clients
// over loopback, its decisions streamed from a real LAPI.
func TestProxyAgainstLAPI(t *testing.T) {
	l := startLAPI(t)
	l.decide(t, "ban", "Ip", "198.51.100.1")
	l.decide(t, "ban", "Range", "203.0.113.0/24")
	l.decide(t, "ban", "Ip", "127.0.0.2")
	l.decide(t, "captcha", "Ip", "198.51.100.5")
	l.decide(t, "ban", "Range", "2001:db8:bad::/48")
	faulty := newFaultyLAPI(t, l.url)
	up := newUpstream(t)
	p, base := startProxy(t, faulty.srv.URL, l.key, up.URL, []string{"127.0.0.1"}, 12)
	trusted, untrusted := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")
	clean := clientFrom("127.0.0.3")
	// The LAPI's index follows the store every 50ms; a pull later the
	// proxy holds the five decisions.
	require.Eventually(t, func() bool { return p.Stream().Set().Len() == 5 }, 5*time.Second, 10*time.Millisecond)

	cases := []struct {
		name   string
		client *http.Client
		xff    string
		code   int
		body   string
	}{
		{name: "no decision", client: clean, code: 200, body: "hello from upstream /x"},
		{name: "trusted proxy, clean client", client: trusted, xff: "198.51.100.200", code: 200, body: "hello from upstream"},
		{name: "ban through trusted proxy", client: trusted, xff: "198.51.100.1", code: 403, body: "Access denied"},
		{name: "range decision", client: trusted, xff: "203.0.113.99", code: 403, body: "203.0.113.99"},
		{name: "ipv6 range decision", client: trusted, xff: "2001:db8:bad:1::1", code: 403, body: "Access denied"},
		{name: "spoofed entry left of the real client", client: trusted, xff: "198.51.100.1, 198.51.100.200", code: 200},
		{name: "captcha", client: trusted, xff: "198.51.100.5", code: 403, body: "Checking your browser"},
		{name: "untrusted peer xff ignored", client: clean, xff: "198.51.100.1", code: 200},
		{name: "untrusted banned peer cannot hide behind xff", client: untrusted, xff: "198.51.100.200", code: 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, tc.client, base+"/x", tc.xff)
			require.Equal(t, tc.code, code, body)
			require.Contains(t, body, tc.body)
		})
	}

	t.Run("decision added is enforced after a pull", func(t *testing.T) {
		l.decide(t, "ban", "Ip", "198.51.100.9")
		require.Eventually(t, func() bool { c, _ := get(t, trusted, base+"/", "198.51.100.9"); return c == 403 },
			5*time.Second, 20*time.Millisecond)
	})
	t.Run("decision deleted stops applying within one pull", func(t *testing.T) {
		// Counted in the proxy's pulls, not in wall-clock time (a loaded
		// machine delays pulls): once the LAPI serves the deletion, the
		// first pull to start after that applies it. Stats().Pulls counts
		// pulls as they start, so when it reaches first+2, pull first+1
		// has been applied.
		probe := l.newKey(t, "probe")
		start := time.Now()
		l.undecide(t, "198.51.100.1")
		require.Eventually(t, func() bool { return !l.streamHas(t, probe, "198.51.100.1") }, 10*time.Second, 10*time.Millisecond,
			"the LAPI serves the deletion (its index follows the store every 50 ms)")
		first := p.Stream().Stats().Pulls
		// The deadline only stops a proxy that no longer pulls (every
		// 200 ms): the bound tested is in pulls.
		deadline := time.Now().Add(30 * time.Second)
		for {
			pulls := p.Stream().Stats().Pulls
			if c, _ := get(t, trusted, base+"/", "198.51.100.1"); c == 200 {
				t.Logf("decision deleted -> allowed in %v, pull %d of the proxy (%d when the LAPI served the deletion; pull interval %v)",
					time.Since(start), pulls, first, pullEvery)
				break
			}
			require.Less(t, pulls, first+2, "still denied after a whole pull started once the LAPI served the deletion")
			require.True(t, time.Now().Before(deadline), "the proxy stopped pulling (%d pulls)", pulls)
			time.Sleep(5 * time.Millisecond)
		}
	})

	for _, f := range []struct {
		name string
		mode int32
	}{{"erroring", faultError}, {"slow", faultSlow}, {"dropping connections", faultDrop}} {
		t.Run("LAPI "+f.name+" keeps the last good set", func(t *testing.T) {
			before := p.Stream().Stats().Failures
			faulty.mode.Store(f.mode)
			l.decide(t, "ban", "Ip", "198.51.100.77") // not seen while the LAPI fails
			require.Eventually(t, func() bool { return p.Stream().Stats().Failures >= before+2 }, 10*time.Second, 20*time.Millisecond)
			code, _ := get(t, trusted, base+"/", "198.51.100.9")
			require.Equal(t, 403, code, "last good set kept")
			code, _ = get(t, trusted, base+"/", "198.51.100.200")
			require.Equal(t, 200, code)
			faulty.mode.Store(faultNone)
			require.Eventually(t, func() bool { c, _ := get(t, trusted, base+"/", "198.51.100.77"); return c == 403 },
				10*time.Second, 20*time.Millisecond, "recovers after the fault")
			l.undecide(t, "198.51.100.77")
		})
	}

	t.Run("LAPI gone keeps the last good set", func(t *testing.T) {
		before := p.Stream().Stats().Failures
		l.stop()
		require.Eventually(t, func() bool { return p.Stream().Stats().Failures >= before+2 }, 10*time.Second, 20*time.Millisecond)
		code, _ := get(t, trusted, base+"/", "198.51.100.9")
		require.Equal(t, 403, code)
		code, body := get(t, clean, base+"/still", "")
		require.Equal(t, 200, code)
		require.Contains(t, body, "hello from upstream /still")
	})
}

func bouncerSecret(s string) apiclient.Secret { return apiclient.Secret(s) }

func TestParseProxyConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, yaml, err string
	}{
		{name: "minimal", yaml: "api_url: http://127.0.0.1:8080/\napi_key: k\nupstream: http://127.0.0.1:3000\n"},
		{name: "crowdsec keys", yaml: "api_url: https://lapi:8080/\napi_key: k\nupdate_frequency: 5s\ncert_path: c.pem\nkey_path: k.pem\nca_cert_path: ca.pem\nscopes: [ip, range]\norigins: [crowdsec]\nupstream: https://app\nlisten_addr: 0.0.0.0:80\ntrusted_proxies: [10.0.0.0/8]\ncaptcha:\n  difficulty: 16\n"},
		{name: "prometheus block", yaml: "api_url: http://x/\napi_key: k\nupstream: http://a\nprometheus:\n  enabled: true\n  listen_addr: 0.0.0.0\n  listen_port: 60602\n"},
		{name: "unknown key", yaml: "api_url: http://x/\napi_key: k\nupstream: http://a\nlisten: x\n", err: "test.yaml:4: field listen: unknown field (in ProxyConfig)"},
		{name: "no upstream", yaml: "api_url: http://x/\napi_key: k\n", err: `upstream ""`},
		{name: "no key", yaml: "api_url: http://x/\nupstream: http://a\n", err: "api_key"},
		{name: "live mode", yaml: "api_url: http://x/\napi_key: k\nupstream: http://a\nmode: live\n", err: "stream mode only"},
		{name: "half tls", yaml: "api_url: http://x/\napi_key: k\nupstream: http://a\nlisten_cert_path: c\n", err: "go together"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseProxyConfig("test.yaml", []byte(tc.yaml))
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				require.ErrorContains(t, err, "test.yaml")
				return
			}
			require.NoError(t, err)
			require.NotEmpty(t, c.ListenAddr)
			require.Equal(t, bouncer.ModeStream, c.Mode)
			require.True(t, strings.HasPrefix(c.UserAgent, "phalanx-http-bouncer/"))
		})
	}
}
