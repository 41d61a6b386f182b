package httpbouncer

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/bouncer"
	"github.com/phalanx-ids/phalanx/internal/models"
)

// TestMetrics drives every outcome through the middleware and reads them
// back from the registry passed in.
func TestMetrics(t *testing.T) {
	t.Parallel()
	set := newSet(t, "ban 198.51.100.1", "captcha 198.51.100.2", "ban 203.0.113.0/24")
	reg := prometheus.NewPedanticRegistry()
	b, err := New(Options{Source: SetSource(set), Registerer: reg, Challenge: ChallengeOptions{Difficulty: 8}})
	require.NoError(t, err)
	h := b.Wrap(upstream)
	do := func(method, target, remote string, form url.Values, cookies ...*http.Cookie) *httptest.ResponseRecorder {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		r := httptest.NewRequest(method, target, body)
		if form != nil {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		r.RemoteAddr = remote
		for _, c := range cookies {
			r.AddCookie(c)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for range 3 {
		require.Equal(t, 200, do(http.MethodGet, "/", "192.0.2.1:1", nil).Code)
	}
	require.Equal(t, 403, do(http.MethodGet, "/", "198.51.100.1:1", nil).Code)
	require.Equal(t, 403, do(http.MethodGet, "/", "203.0.113.9:1", nil).Code)
	w := do(http.MethodGet, "/", "198.51.100.2:1", nil)
	ch := challengeRE.FindStringSubmatch(w.Body.String())[1]
	// A wrong answer: "wrong" itself solves one challenge in 256 (8 bits),
	// which made this test fail now and then.
	wrong := "wrong"
	for leadingZeroBits(ch, wrong) >= 8 {
		wrong += "!"
	}
	do(http.MethodPost, DefaultChallengePath, "198.51.100.2:1", url.Values{"challenge": {ch}, "nonce": {wrong}, "redirect": {"/"}})
	w = do(http.MethodPost, DefaultChallengePath, "198.51.100.2:1", url.Values{"challenge": {ch}, "nonce": {solve(t, ch, 8)}, "redirect": {"/"}})
	require.Equal(t, http.StatusSeeOther, w.Code)
	require.Equal(t, 200, do(http.MethodGet, "/", "198.51.100.2:1", nil, w.Result().Cookies()...).Code)

	const want = `
# HELP phalanx_http_bouncer_active_decisions Active decisions (addresses and ranges) the HTTP bouncer enforces.
# TYPE phalanx_http_bouncer_active_decisions gauge
phalanx_http_bouncer_active_decisions 3
# HELP phalanx_http_bouncer_requests_total Requests seen by the HTTP bouncer, by outcome (allowed, banned, challenged, challenge_solved, challenge_failed, passed: a captcha decision with a valid pass).
# TYPE phalanx_http_bouncer_requests_total counter
phalanx_http_bouncer_requests_total{outcome="allowed"} 3
phalanx_http_bouncer_requests_total{outcome="banned"} 2
phalanx_http_bouncer_requests_total{outcome="challenge_failed"} 1
phalanx_http_bouncer_requests_total{outcome="challenge_solved"} 1
phalanx_http_bouncer_requests_total{outcome="challenged"} 2
phalanx_http_bouncer_requests_total{outcome="passed"} 1
`
	require.NoError(t, promtest.GatherAndCompare(reg, strings.NewReader(want)))

	// The decision gauge follows the set.
	set.Add(&bouncer.Decision{ID: 99, Type: "ban", Scope: bouncer.ScopeIP, Value: "192.0.2.7",
		Prefix: mustPrefix(t, "192.0.2.7"), Until: time.Now().Add(time.Hour)})
	require.NoError(t, promtest.GatherAndCompare(reg, strings.NewReader(`
# HELP phalanx_http_bouncer_active_decisions Active decisions (addresses and ranges) the HTTP bouncer enforces.
# TYPE phalanx_http_bouncer_active_decisions gauge
phalanx_http_bouncer_active_decisions 4
`), MetricDecisions))
}

func mustPrefix(t *testing.T, s string) netip.Prefix {
	t.Helper()
	p, err := models.ParseIPOrRange(s)
	require.NoError(t, err)
	return p
}

// lookupOnly is a DecisionSource without Len: no decision gauge.
type lookupOnly struct{}

func (lookupOnly) Lookup(netip.Addr) (string, bool) { return "", false }

func TestMetricsRegistration(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		src    DecisionSource
		series int
	}{
		{name: "set source", src: SetSource(newSet(t)), series: 7},
		{name: "source without Len", src: lookupOnly{}, series: 6},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := prometheus.NewPedanticRegistry()
			_, err := New(Options{Source: tc.src, Registerer: reg})
			require.NoError(t, err)
			n, err := promtest.GatherAndCount(reg)
			require.NoError(t, err)
			require.Equal(t, tc.series, n)
			_, err = New(Options{Source: tc.src, Registerer: reg})
			require.ErrorContains(t, err, "httpbouncer: metrics:")
		})
	}
}

func TestStripCookie(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   []string
		want []string
	}{
		{name: "no cookie", in: nil, want: nil},
		{name: "only the pass", in: []string{"phalanx_pass=abc"}, want: nil},
		{name: "others kept verbatim", in: []string{`a=1; phalanx_pass=abc; b="x y"`}, want: []string{`a=1; b="x y"`}},
		{name: "several headers", in: []string{"phalanx_pass=abc", "c=3;phalanx_pass=d"}, want: []string{"c=3"}},
		{name: "prefix of the name is another cookie", in: []string{"phalanx_pass2=x; xphalanx_pass=y"}, want: []string{"phalanx_pass2=x; xphalanx_pass=y"}},
		{name: "untouched when absent", in: []string{"a=1;b=2"}, want: []string{"a=1;b=2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			for _, v := range tc.in {
				h.Add("Cookie", v)
			}
			stripCookie(h, DefaultCookieName)
			require.Equal(t, tc.want, h.Values("Cookie"))
		})
	}
}

// TestProxyStripsPassCookie: the upstream never sees the pass cookie, and
// the proxy registers its metrics (middleware and stream) on the registry
// passed in. No LAPI is needed: NewProxy does no I/O and an empty set lets
// every request through.
func TestProxyStripsPassCookie(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Join(r.Header.Values("Cookie"), "|"))
	}))
	t.Cleanup(up.Close)
	reg := prometheus.NewPedanticRegistry()
	p, err := NewProxy(ProxyConfig{Config: bouncer.Config{APIURL: "http://127.0.0.1:1/", APIKey: bouncerSecret("k")},
		Upstream: up.URL, Captcha: CaptchaConfig{CookieName: "gate"}}, WithProxyRegisterer(reg))
	require.NoError(t, err)
	cases := []struct {
		name, cookie, want string
	}{
		{name: "pass among others", cookie: "session=s1; gate=signed.value; theme=dark", want: "session=s1; theme=dark"},
		{name: "pass alone", cookie: "gate=signed.value", want: ""},
		{name: "no pass", cookie: "session=s1", want: "session=s1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = "192.0.2.1:1234"
			r.Header.Set("Cookie", tc.cookie)
			w := httptest.NewRecorder()
			p.Handler().ServeHTTP(w, r)
			require.Equal(t, 200, w.Code)
			require.Equal(t, tc.want, w.Body.String())
		})
	}
	n, err := promtest.GatherAndCount(reg, MetricRequests, MetricDecisions,
		"phalanx_http_bouncer_lapi_pulls_total", "phalanx_http_bouncer_lapi_pull_failures_total",
		"phalanx_http_bouncer_lapi_last_success_timestamp_seconds")
	require.NoError(t, err)
	require.Equal(t, 6+1+3, n)
	require.Equal(t, uint64(3), p.Bouncer().Stats().Allowed)
}

func TestPrometheusListen(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cfg  PrometheusConfig
		want string
	}{
		{name: "defaults", want: "127.0.0.1:60602"},
		{name: "crowdsec keys", cfg: PrometheusConfig{Enabled: true, ListenAddr: "0.0.0.0", ListenPort: "60601"}, want: "0.0.0.0:60601"},
		{name: "ipv6", cfg: PrometheusConfig{ListenAddr: "::1", ListenPort: "9000"}, want: "[::1]:9000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, tc.cfg.Listen())
		})
	}
}
