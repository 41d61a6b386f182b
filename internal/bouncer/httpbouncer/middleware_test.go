package httpbouncer

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/bouncer"
	"github.com/phalanx-ids/phalanx/internal/models"
)

// newSet returns a bouncer.Set holding decisions "type value" (value an
// address or a CIDR), valid for an hour.
func newSet(t testing.TB, decisions ...string) *bouncer.Set {
	t.Helper()
	s := bouncer.NewSet(nil)
	for i, d := range decisions {
		typ, val, _ := strings.Cut(d, " ")
		p, err := models.ParseIPOrRange(val)
		require.NoError(t, err)
		scope := bouncer.ScopeIP
		if !p.IsSingleIP() {
			scope = bouncer.ScopeRange
		}
		s.Add(&bouncer.Decision{ID: int64(i + 1), Type: typ, Scope: scope, Value: val, Prefix: p, Until: time.Now().Add(time.Hour)})
	}
	return s
}

var upstream = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = io.WriteString(w, "upstream "+r.URL.Path)
})

func TestMiddleware(t *testing.T) {
	t.Parallel()
	set := newSet(t, "ban 198.51.100.1", "ban 203.0.113.0/24", "captcha 198.51.100.2", "throttle 198.51.100.3",
		"ban 2001:db8:bad::/48", "captcha 2001:db8::2")
	cases := []struct {
		name     string
		fallback string
		remote   string
		xff      string
		accept   string
		method   string
		code     int
		body     string // substring
		remedy   string
	}{
		{name: "no decision", remote: "198.51.100.200:1", code: 200, body: "upstream /page"},
		{name: "ban ip", remote: "198.51.100.1:1", code: 403, body: "Access denied", remedy: "ban"},
		{name: "ban head", remote: "198.51.100.1:1", method: http.MethodHead, code: 403, remedy: "ban"},
		{name: "ban range", remote: "203.0.113.77:1", code: 403, body: "203.0.113.77", remedy: "ban"},
		{name: "ban json", remote: "198.51.100.1:1", accept: "application/json", code: 403, body: `"remediation":"ban"`, remedy: "ban"},
		{name: "ban ipv6 range", remote: "[2001:db8:bad::9]:1", code: 403, body: "Access denied", remedy: "ban"},
		{name: "ban mapped ipv4", remote: "[::ffff:198.51.100.1]:1", code: 403, remedy: "ban"},
		{name: "captcha", remote: "198.51.100.2:1", code: 403, body: "Checking your browser", remedy: "captcha"},
		{name: "captcha ipv6", remote: "[2001:db8::2]:1", code: 403, body: "phalanxSHA256", remedy: "captcha"},
		{name: "captcha json", remote: "198.51.100.2:1", accept: "application/json", code: 403, body: `"difficulty":8`, remedy: "captcha"},
		{name: "unknown type falls back to ban", remote: "198.51.100.3:1", code: 403, remedy: "ban"},
		{name: "unknown type bypass", fallback: "bypass", remote: "198.51.100.3:1", code: 200},
		{name: "unknown type captcha", fallback: "captcha", remote: "198.51.100.3:1", code: 403, remedy: "captcha"},
		{name: "trusted xff banned", remote: "10.0.0.1:1", xff: "198.51.100.1", code: 403, remedy: "ban"},
		{name: "trusted proxy itself clean", remote: "10.0.0.1:1", xff: "198.51.100.200", code: 200},
		{name: "untrusted xff ignored", remote: "198.51.100.200:1", xff: "198.51.100.1", code: 200},
		{name: "spoofed xff left of client", remote: "10.0.0.1:1", xff: "198.51.100.200, 198.51.100.1", code: 403, remedy: "ban"},
		{name: "spoof cannot hide banned", remote: "10.0.0.1:1", xff: "198.51.100.1, 198.51.100.200", code: 200},
		{name: "unix peer passes", remote: "@", code: 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, err := Middleware(upstream, Options{Source: SetSource(set), TrustedProxies: []string{"10.0.0.0/8"},
				FallbackRemediation: tc.fallback, Challenge: ChallengeOptions{Difficulty: 8}})
			require.NoError(t, err)
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			r := httptest.NewRequest(method, "/page", nil)
			r.RemoteAddr = tc.remote
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if tc.accept != "" {
				r.Header.Set("Accept", tc.accept)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			require.Equal(t, tc.code, w.Code, w.Body.String())
			require.Contains(t, w.Body.String(), tc.body)
			require.Equal(t, tc.remedy, w.Header().Get("X-Phalanx-Remediation"))
			if tc.code == 403 {
				require.Equal(t, "no-store", w.Header().Get("Cache-Control"))
			}
		})
	}
}

var challengeRE = regexp.MustCompile(`name="challenge" value="([^"]+)"`)

// TestChallengeFlow solves the challenge as the page's script would,
// posts the answer, follows the cookie and checks it is bound to the IP.
func TestChallengeFlow(t *testing.T) {
	t.Parallel()
	set := newSet(t, "captcha 198.51.100.2", "captcha 198.51.100.3", "ban 198.51.100.4")
	b, err := New(Options{Source: SetSource(set), Challenge: ChallengeOptions{Difficulty: 10}})
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
	w := do(http.MethodGet, "/secret?x=1", "198.51.100.2:1", nil)
	require.Equal(t, 403, w.Code)
	m := challengeRE.FindStringSubmatch(w.Body.String())
	require.NotNil(t, m, w.Body.String())
	ch := m[1]
	require.Contains(t, w.Body.String(), `name="redirect" value="/secret?x=1"`)

	// A wrong answer is refused with a new challenge (one that does not
	// happen to solve it: any string does, one time in 1,024).
	wrong := "not-it"
	for leadingZeroBits(ch, wrong) >= 10 {
		wrong += "!"
	}
	w = do(http.MethodPost, DefaultChallengePath, "198.51.100.2:1", url.Values{"challenge": {ch}, "nonce": {wrong}, "redirect": {"/secret?x=1"}})
	require.Equal(t, 403, w.Code)
	require.Contains(t, w.Body.String(), "was not accepted")
	require.Empty(t, w.Result().Cookies())

	nonce := solve(t, ch, 10)
	// Another address cannot use this answer.
	w = do(http.MethodPost, DefaultChallengePath, "198.51.100.3:1", url.Values{"challenge": {ch}, "nonce": {nonce}, "redirect": {"/"}})
	require.Equal(t, 403, w.Code)
	// A banned address gets the ban page, not a cookie.
	w = do(http.MethodPost, DefaultChallengePath, "198.51.100.4:1", url.Values{"challenge": {ch}, "nonce": {nonce}, "redirect": {"/"}})
	require.Equal(t, "ban", w.Header().Get("X-Phalanx-Remediation"))
	// An address without a captcha decision has no challenge to answer.
	w = do(http.MethodPost, DefaultChallengePath, "198.51.100.50:1", url.Values{"challenge": {ch}, "nonce": {nonce}, "redirect": {"/secret?x=1"}})
	require.Equal(t, http.StatusForbidden, w.Code)
	require.Contains(t, w.Body.String(), "no challenge is pending")
	require.Empty(t, w.Result().Cookies())
	require.Empty(t, w.Header().Get("Location"))

	w = do(http.MethodPost, DefaultChallengePath, "198.51.100.2:1", url.Values{"challenge": {ch}, "nonce": {nonce}, "redirect": {"/secret?x=1"}})
	require.Equal(t, http.StatusSeeOther, w.Code)
	require.Equal(t, "/secret?x=1", w.Header().Get("Location"))
	cookies := w.Result().Cookies()
	require.Len(t, cookies, 1)
	require.Equal(t, DefaultCookieName, cookies[0].Name)
	require.True(t, cookies[0].HttpOnly)

	w = do(http.MethodGet, "/secret?x=1", "198.51.100.2:1", nil, cookies[0])
	require.Equal(t, 200, w.Code)
	require.Equal(t, "upstream /secret", w.Body.String())
	// The cookie is bound to the address that solved the challenge.
	w = do(http.MethodGet, "/secret", "198.51.100.3:1", nil, cookies[0])
	require.Equal(t, 403, w.Code)
	// and does not lift a ban.
	w = do(http.MethodGet, "/secret", "198.51.100.4:1", nil, cookies[0])
	require.Equal(t, "ban", w.Header().Get("X-Phalanx-Remediation"))
	require.Equal(t, Stats{Banned: 2, Challenged: 4, Solved: 1, Failed: 3, Passed: 1}, b.Stats())
}

func TestChallengeJSONAnswer(t *testing.T) {
	t.Parallel()
	h, err := Middleware(upstream, Options{Source: SetSource(newSet(t, "captcha 198.51.100.2")), Challenge: ChallengeOptions{Difficulty: 6, Path: "/_pow"}})
	require.NoError(t, err)
	r := httptest.NewRequest(http.MethodGet, "/api?page=2", nil)
	r.RemoteAddr = "198.51.100.2:1"
	r.Header.Set("Accept", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var got struct {
		Challenge  string `json:"challenge"`
		Difficulty int    `json:"difficulty"`
		AnswerURL  string `json:"answer_url"`
		Redirect   string `json:"redirect"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
	require.Equal(t, "/_pow", got.AnswerURL)
	require.Equal(t, "/api?page=2", got.Redirect)
	nonce := solve(t, got.Challenge, got.Difficulty)
	post := func(redirect string) *httptest.ResponseRecorder {
		form := url.Values{"challenge": {got.Challenge}, "nonce": {nonce}, "redirect": {redirect}}
		r := httptest.NewRequest(http.MethodPost, "/_pow", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.RemoteAddr = "198.51.100.2:1"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	// A valid proof with another redirect than the challenge's is refused.
	w = post("https://evil.example/")
	require.Equal(t, http.StatusForbidden, w.Code)
	require.Empty(t, w.Header().Get("Location"))
	require.Empty(t, w.Result().Cookies())
	w = post("/api?page=2")
	require.Equal(t, http.StatusSeeOther, w.Code)
	require.Equal(t, "/api?page=2", w.Header().Get("Location"))
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	src := SetSource(bouncer.NewSet(nil))
	cases := map[string]struct {
		opts Options
		want string
	}{
		"no source":       {opts: Options{}, want: "Source is required"},
		"bad fallback":    {opts: Options{Source: src, FallbackRemediation: "tarpit"}, want: `fallback remediation "tarpit"`},
		"short secret":    {opts: Options{Source: src, Challenge: ChallengeOptions{Secret: []byte("short")}}, want: "secret is 5 bytes"},
		"difficulty":      {opts: Options{Source: src, Challenge: ChallengeOptions{Difficulty: 40}}, want: "difficulty 40"},
		"relative path":   {opts: Options{Source: src, Challenge: ChallengeOptions{Path: "pow"}}, want: "must start with /"},
		"bad trusted ips": {opts: Options{Source: src, TrustedProxies: []string{"nope"}}, want: "trusted proxy"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := New(tc.opts)
			require.ErrorContains(t, err, "httpbouncer: ")
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestRemediation(t *testing.T) {
	t.Parallel()
	b, err := New(Options{Source: SetSource(newSet(t, "ban 192.0.2.0/24", "weird 192.0.2.200"))})
	require.NoError(t, err)
	require.Equal(t, "ban", b.Remediation(netip.MustParseAddr("192.0.2.1")))
	require.Equal(t, "", b.Remediation(netip.MustParseAddr("192.0.3.1")))
	require.Equal(t, "ban", b.Remediation(netip.MustParseAddr("192.0.2.200")))
}
