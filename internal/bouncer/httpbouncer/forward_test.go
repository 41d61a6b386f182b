package httpbouncer

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// recordingUpstream is a real upstream that keeps the forwarding headers
// of the last request it got.
type recordingUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	last http.Header
	peer string
}

var forwardingHeaders = []string{"X-Forwarded-For", "X-Real-Ip", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded"}

func newRecordingUpstream(t *testing.T) *recordingUpstream {
	u := &recordingUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := http.Header{}
		for _, k := range forwardingHeaders {
			if v, ok := r.Header[k]; ok {
				h[k] = v
			}
		}
		u.mu.Lock()
		u.last, u.peer = h, r.RemoteAddr
		u.mu.Unlock()
		_, _ = io.WriteString(w, "recorded")
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *recordingUpstream) got() http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

// TestProxyForwardsClient: the upstream learns the client the bouncer
// resolved (X-Real-IP, and X-Forwarded-For starting with it), whatever
// the client claims; X-Forwarded-Proto is believed from trusted proxies
// only.
func TestProxyForwardsClient(t *testing.T) {
	l := startLAPI(t)
	up := newRecordingUpstream(t)
	_, base := startProxy(t, l.url, l.key, up.URL, []string{"127.0.0.1", "10.0.0.0/8"}, 8)
	trusted, untrusted := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")
	host := strings.TrimPrefix(base, "http://")
	cases := []struct {
		name   string
		client *http.Client
		send   map[string]string
		want   map[string]string // "" means absent
	}{
		{name: "direct client", client: untrusted,
			want: map[string]string{"X-Forwarded-For": "127.0.0.2", "X-Real-Ip": "127.0.0.2", "X-Forwarded-Proto": "http", "X-Forwarded-Host": host, "Forwarded": ""}},
		{name: "untrusted peer spoofs every header", client: untrusted,
			send: map[string]string{"X-Forwarded-For": "198.51.100.1", "X-Real-IP": "198.51.100.1", "Forwarded": "for=198.51.100.1;proto=https", "X-Forwarded-Proto": "https"},
			want: map[string]string{"X-Forwarded-For": "127.0.0.2", "X-Real-Ip": "127.0.0.2", "X-Forwarded-Proto": "http", "Forwarded": ""}},
		{name: "trusted proxy", client: trusted, send: map[string]string{"X-Forwarded-For": "203.0.113.9"},
			want: map[string]string{"X-Forwarded-For": "203.0.113.9, 127.0.0.1", "X-Real-Ip": "203.0.113.9", "X-Forwarded-Proto": "http"}},
		{name: "spoofed entries left of the client are dropped", client: trusted,
			send: map[string]string{"X-Forwarded-For": "6.6.6.6, junk, 203.0.113.9", "X-Real-IP": "6.6.6.6"},
			want: map[string]string{"X-Forwarded-For": "203.0.113.9, 127.0.0.1", "X-Real-Ip": "203.0.113.9"}},
		{name: "chain of trusted proxies kept", client: trusted, send: map[string]string{"X-Forwarded-For": "6.6.6.6, 203.0.113.9, 10.1.1.1"},
			want: map[string]string{"X-Forwarded-For": "203.0.113.9, 10.1.1.1, 127.0.0.1", "X-Real-Ip": "203.0.113.9"}},
		{name: "entries normalised", client: trusted, send: map[string]string{"X-Forwarded-For": "[::ffff:203.0.113.9]:443"},
			want: map[string]string{"X-Forwarded-For": "203.0.113.9, 127.0.0.1", "X-Real-Ip": "203.0.113.9"}},
		{name: "https behind a trusted proxy", client: trusted, send: map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"},
			want: map[string]string{"X-Forwarded-Proto": "https"}},
		{name: "nearest proxy's proto wins", client: trusted, send: map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https, http"},
			want: map[string]string{"X-Forwarded-Proto": "http"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, base+"/page", nil)
			require.NoError(t, err)
			for k, v := range tc.send {
				req.Header.Set(k, v)
			}
			resp, err := tc.client.Do(req)
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, "recorded", string(body))
			got := up.got()
			for k, v := range tc.want {
				if v == "" {
					require.NotContains(t, got, k)
					continue
				}
				require.Equal(t, []string{v}, got[k], k)
			}
		})
	}
}

// TestPassCookieSecure: the pass cookie is Secure when the client asked
// over HTTPS (TLS to the bouncer, or X-Forwarded-Proto from a trusted
// proxy), and only then (a Secure cookie over plain HTTP would never come
// back).
func TestPassCookieSecure(t *testing.T) {
	l := startLAPI(t)
	l.decide(t, "captcha", "Range", "127.0.0.0/8")
	l.decide(t, "captcha", "Ip", "203.0.113.9")
	up := newRecordingUpstream(t)
	const bits = 6
	cfg := func(key string) ProxyConfig {
		return ProxyConfig{Config: bouncerConfig(l.url, key), Upstream: up.URL, TrustedProxies: []string{"127.0.0.1"},
			Captcha: CaptchaConfig{Difficulty: bits}}
	}
	p, plain := startProxyConfig(t, cfg(l.key))
	pki := testutil.NewPKI(t)
	srvCert := pki.Server(t, "bouncer")
	tcfg := cfg(l.newKey(t, "web-tls"))
	tcfg.ListenCertPath, tcfg.ListenKeyPath = srvCert.CertFile, srvCert.KeyFile
	tp, secure := startProxyConfig(t, tcfg)
	for _, px := range []*Proxy{p, tp} {
		require.Eventually(t, func() bool { return px.Stream().Set().Len() == 2 }, 10*time.Second, 10*time.Millisecond)
	}
	tlsClient := clientFrom("127.0.0.2")
	tlsClient.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: pki.Pool, MinVersion: tls.VersionTLS12}

	cases := []struct {
		name   string
		client *http.Client
		base   string
		send   map[string]string
		secure bool
	}{
		{name: "plain http", client: clientFrom("127.0.0.2"), base: plain},
		{name: "untrusted peer claims https", client: clientFrom("127.0.0.2"), base: plain, send: map[string]string{"X-Forwarded-Proto": "https"}},
		{name: "trusted proxy says http", client: clientFrom("127.0.0.1"), base: plain, send: map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "http"}},
		{name: "trusted proxy says https", client: clientFrom("127.0.0.1"), base: plain, send: map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}, secure: true},
		{name: "direct tls", client: tlsClient, base: secure, secure: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			do := func(method, u string, form url.Values) (*http.Response, string) {
				var body io.Reader
				if form != nil {
					body = strings.NewReader(form.Encode())
				}
				req, err := http.NewRequest(method, u, body)
				require.NoError(t, err)
				if form != nil {
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				for k, v := range tc.send {
					req.Header.Set(k, v)
				}
				resp, err := tc.client.Do(req)
				require.NoError(t, err)
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				return resp, string(b)
			}
			resp, page := do(http.MethodGet, tc.base+"/account", nil)
			require.Equal(t, http.StatusForbidden, resp.StatusCode, page)
			m, rm := challengeRE.FindStringSubmatch(page), redirectFieldRE.FindStringSubmatch(page)
			require.NotNil(t, m, page)
			require.NotNil(t, rm, page)
			resp, body := do(http.MethodPost, tc.base+DefaultChallengePath, url.Values{"challenge": {m[1]}, "nonce": {solve(t, m[1], bits)}, "redirect": {rm[1]}})
			require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
			require.Equal(t, "/account", resp.Header.Get("Location"))
			cookies := resp.Cookies()
			require.Len(t, cookies, 1)
			require.Equal(t, tc.secure, cookies[0].Secure)
			require.True(t, cookies[0].HttpOnly)
		})
	}
}

func TestIsHTTPS(t *testing.T) {
	t.Parallel()
	c, err := NewClientIP([]string{"10.0.0.0/8"})
	require.NoError(t, err)
	cases := []struct {
		name, remote string
		proto        []string
		tls          bool
		want         bool
	}{
		{name: "plain", remote: "203.0.113.1:1"},
		{name: "tls", remote: "203.0.113.1:1", tls: true, want: true},
		{name: "untrusted header", remote: "203.0.113.1:1", proto: []string{"https"}},
		{name: "trusted header", remote: "10.0.0.1:1", proto: []string{"https"}, want: true},
		{name: "trusted header any case", remote: "10.0.0.1:1", proto: []string{" HTTPS "}, want: true},
		{name: "last value wins", remote: "10.0.0.1:1", proto: []string{"https", "http"}},
		{name: "last list entry wins", remote: "10.0.0.1:1", proto: []string{"http, https"}, want: true},
		{name: "unix peer", remote: "@", proto: []string{"https"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.remote
			for _, p := range tc.proto {
				r.Header.Add("X-Forwarded-Proto", p)
			}
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			require.Equal(t, tc.want, c.IsHTTPS(r))
		})
	}
}
