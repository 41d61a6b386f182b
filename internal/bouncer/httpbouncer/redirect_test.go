package httpbouncer

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// redirectAttacks are targets that a browser (or Go, or a server decoding
// the path once) sends to another origin, or that carry bytes a browser
// strips or rewrites.
var redirectAttacks = []struct{ name, in string }{
	{"tab before slash", "/\t/evil.com"},
	{"newline before slash", "/\n/evil.com"},
	{"carriage return", "/\r/evil.com"},
	{"backslash", "/\\evil.com"},
	{"double backslash", "\\\\evil.com"},
	{"protocol relative", "//evil.com"},
	{"protocol relative with path", "//evil.com/x?y"},
	{"scheme without slashes", "https:evil.com"},
	{"scheme", "https://evil.com/"},
	{"mixed-case scheme", "HtTpS://evil.com"},
	{"javascript", "JaVaScRiPt:alert(1)"},
	{"encoded tab", "/%09/evil.com"},
	{"encoded slashes", "/%2F%2Fevil.com"},
	{"encoded slash after slash", "/%2Fevil.com"},
	{"encoded backslash", "/%5Cevil.com"},
	{"encoded newline", "/%0a/evil.com"},
	{"header injection", "/a\r\nSet-Cookie: x=1"},
	{"leading space", " /x"},
	{"inner space", "/a b"},
	{"nul", "/a\x00b"},
	{"del", "/a\x7fb"},
	{"non-ascii", "/caf\xc3\xa9"},
	{"bad escape", "/%zz"},
	{"relative", "evil.com"},
	{"empty", ""},
	{"too long", "/" + strings.Repeat("a", maxRedirect)},
}

func TestSafeRedirect(t *testing.T) {
	t.Parallel()
	for _, tc := range redirectAttacks {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, "/", safeRedirect(tc.in))
		})
	}
	for name, in := range map[string]string{
		"root":                "/",
		"path and query":      "/a?b=c",
		"encoded space":       "/my%20file.pdf",
		"encoded query slash": "/search?q=%2F%2Fevil.com",
		"query with url":      "/login?next=https://example.org/",
		"dot segments":        "/a/../b/./c",
		"scheme-like segment": "/HTTPS://x",
		"longest":             "/" + strings.Repeat("a", maxRedirect-1),
	} {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, in, safeRedirect(in))
		})
	}
}

var redirectFieldRE = regexp.MustCompile(`name="redirect" value="([^"]*)"`)

// TestChallengeRedirectAttacks performs each attack on the challenge flow
// of a visitor under a captcha decision: a target in the request, an
// answer posted cross-site with a junk proof (the page served back must
// not carry the target), and a valid proof posted with the target
// swapped in.
func TestChallengeRedirectAttacks(t *testing.T) {
	t.Parallel()
	b, err := New(Options{Source: SetSource(newSet(t, "captcha 198.51.100.2")), Challenge: ChallengeOptions{Difficulty: 6}})
	require.NoError(t, err)
	h := b.Wrap(upstream)
	post := func(form url.Values) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, DefaultChallengePath, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.RemoteAddr = "198.51.100.2:1"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	challengeFor := func(t *testing.T, w *httptest.ResponseRecorder) (ch, redirect string) {
		t.Helper()
		require.Equal(t, http.StatusForbidden, w.Code)
		m, rm := challengeRE.FindStringSubmatch(w.Body.String()), redirectFieldRE.FindStringSubmatch(w.Body.String())
		require.NotNil(t, m, w.Body.String())
		require.NotNil(t, rm, w.Body.String())
		return m[1], rm[1]
	}
	for _, tc := range redirectAttacks {
		t.Run(tc.name, func(t *testing.T) {
			// In the request itself (when it can be a request target).
			if u, err := url.ParseRequestURI(tc.in); err == nil {
				r := httptest.NewRequest(http.MethodGet, "/", nil)
				r.URL, r.RequestURI = u, tc.in
				r.RemoteAddr = "198.51.100.2:1"
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				// What Go re-escapes ("/a b" is sent as "/a%20b") may stay;
				// the target itself never does.
				_, redirect := challengeFor(t, w)
				require.NotEqual(t, tc.in, redirect)
				require.Equal(t, safeRedirect(r.URL.RequestURI()), redirect, "the challenge page for %q", r.URL.RequestURI())
			}

			// Posted cross-site with a junk answer: the new challenge
			// sends back to "/", and solving it lands there.
			w := post(url.Values{"challenge": {"v1.1.2.3"}, "nonce": {"1"}, "redirect": {tc.in}})
			ch, redirect := challengeFor(t, w)
			require.Equal(t, "/", redirect)
			w = post(url.Values{"challenge": {ch}, "nonce": {solve(t, ch, 6)}, "redirect": {redirect}})
			require.Equal(t, http.StatusSeeOther, w.Code)
			require.Equal(t, "/", w.Header().Get("Location"))

			// A valid proof with the target swapped in is refused.
			w = post(url.Values{"challenge": {"v1.1.2.3"}, "nonce": {"1"}, "redirect": {"/"}})
			ch, _ = challengeFor(t, w)
			w = post(url.Values{"challenge": {ch}, "nonce": {solve(t, ch, 6)}, "redirect": {tc.in}})
			require.Equal(t, http.StatusForbidden, w.Code)
			require.Empty(t, w.Header().Get("Location"))
			require.Empty(t, w.Result().Cookies())
			_, redirect = challengeFor(t, w)
			require.Equal(t, "/", redirect)
		})
	}
}

// browserNormalize reads a Location as the WHATWG URL parser does before
// resolving it on an http(s) page: leading and trailing C0 controls and
// spaces trimmed, tabs and newlines removed, backslashes read as slashes.
func browserNormalize(s string) string {
	s = strings.TrimFunc(s, func(r rune) bool { return r <= ' ' })
	s = strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(s)
	return strings.ReplaceAll(s, "\\", "/")
}

// FuzzSafeRedirect: whatever safeRedirect keeps resolves, against a page
// of the protected site, to the same origin under Go's URL resolution,
// under a browser's reading, and once its path is percent-decoded.
func FuzzSafeRedirect(f *testing.F) {
	for _, tc := range redirectAttacks {
		f.Add(tc.in)
	}
	f.Add("/a?b=c")
	f.Add("/a/../b")
	base, err := url.Parse("https://shop.example:8443/account/page?x=1")
	require.NoError(f, err)
	sameOrigin := func(t *testing.T, how, ref string) {
		u, err := url.Parse(ref)
		if err != nil {
			t.Fatalf("%s: %q does not parse: %v", how, ref, err)
		}
		res := base.ResolveReference(u)
		if res.Scheme != base.Scheme || res.Host != base.Host || res.User != nil {
			t.Fatalf("%s: %q resolves to %v", how, ref, res)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := safeRedirect(s)
		if got != "/" && got != s {
			t.Fatalf("%q became %q", s, got)
		}
		sameOrigin(t, "go", got)
		sameOrigin(t, "browser", browserNormalize(got))
		path, _, _ := strings.Cut(got, "?")
		dec, err := url.PathUnescape(path)
		if err != nil {
			t.Fatalf("%q kept with a bad escape", got)
		}
		// Starting with one "/" and not "//", a reference cannot name a
		// scheme or a host.
		if n := browserNormalize(dec); !strings.HasPrefix(n, "/") || strings.HasPrefix(n, "//") {
			t.Fatalf("%q decodes to %q", got, dec)
		}
	})
}
