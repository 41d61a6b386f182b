package apiclient

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/models"
)

const (
	testMachine  = "agent-1"
	testPassword = "pw-9f2c1e7b-SECRET"
	testAPIKey   = "key-3d5a77c0-SECRET"
	testRegToken = "reg-6b1f0d93aa7e4c21b8e5f0c3d2a1SECRET"
	testUA       = "phalanx-test/1.2.3"
	tokenPrefix  = "jwt-SECRET-"
)

// recorded is one request as the fake LAPI saw it.
type recorded struct {
	Method  string
	Path    string // decoded
	RawPath string // as sent
	Query   url.Values
	Header  http.Header
	Body    []byte // gunzipped when Content-Encoding: gzip
}

type responder func(w http.ResponseWriter, r *http.Request, body []byte)

// fakeLAPI is a test double of the peer: an HTTP server on loopback that
// speaks the LAPI routes with recorded fixtures and enforces the auth each
// route needs (JWT, API key, none).
type fakeLAPI struct {
	t   testing.TB
	srv *httptest.Server

	mu         sync.Mutex
	reqs       []recorded
	logins     int
	refreshes  int
	scenarios  [][]string
	tokens     map[string]bool
	tokenSeq   int
	tokenTTL   time.Duration
	now        func() time.Time
	responders map[string]responder
}

// routeAuth is the authentication of every route the fake serves.
var routeAuth = map[string]string{
	"GET /health":                       "none",
	"POST /v1/watchers":                 "none",
	"GET /v1/heartbeat":                 "jwt",
	"DELETE /v1/watchers/self":          "jwt",
	"POST /v1/alerts":                   "jwt",
	"GET /v1/alerts":                    "jwt",
	"DELETE /v1/alerts":                 "jwt",
	"GET /v1/alerts/{id}":               "jwt",
	"DELETE /v1/alerts/{id}":            "jwt",
	"GET /v1/decisions":                 "key",
	"GET /v1/decisions/stream":          "key",
	"DELETE /v1/decisions":              "jwt",
	"DELETE /v1/decisions/{id}":         "jwt",
	"GET /v1/allowlists":                "jwt",
	"GET /v1/allowlists/{name}":         "jwt",
	"GET /v1/allowlists/check/{target}": "jwt",
	"POST /v1/allowlists/check":         "jwt",
	"POST /v1/usage-metrics":            "jwt|key",
}

func newFakeLAPI(t testing.TB) *fakeLAPI {
	f := newFakeHandler(t)
	newServer(t, f)
	return f
}

// newServer serves f over loopback HTTP.
func newServer(t testing.TB, f *fakeLAPI) *httptest.Server {
	f.srv = httptest.NewServer(f.handler())
	t.Cleanup(f.srv.Close)
	return f.srv
}

func newFakeHandler(t testing.TB) *fakeLAPI {
	return &fakeLAPI{
		t:          t,
		tokens:     map[string]bool{},
		tokenTTL:   time.Hour,
		now:        time.Now,
		responders: map[string]responder{},
	}
}

func (f *fakeLAPI) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/watchers/login", f.login)
	mux.HandleFunc("GET /v1/refresh_token", f.refresh)
	for pattern, auth := range routeAuth {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if !f.authorized(w, r, auth) {
				return
			}
			f.mu.Lock()
			h := f.responders[pattern]
			f.mu.Unlock()
			if h == nil {
				writeJSON(w, http.StatusNotImplemented, `{"message":"no responder for `+pattern+`"}`)
				return
			}
			h(w, r, f.last().Body)
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.record(r)
		mux.ServeHTTP(w, r)
	})
}

func (f *fakeLAPI) record(r *http.Request) {
	var body []byte
	if r.Body != nil {
		var rd io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			require.NoError(f.t, err)
			rd = zr
		}
		b, err := io.ReadAll(rd)
		require.NoError(f.t, err)
		body = b
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, recorded{
		Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(),
		Query: r.URL.Query(), Header: r.Header.Clone(), Body: body,
	})
}

func (f *fakeLAPI) last() recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reqs[len(f.reqs)-1]
}

func (f *fakeLAPI) all() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

// requests returns the recorded requests to pattern ("GET /v1/alerts"),
// matched on method and exact path.
func (f *fakeLAPI) requests(method, path string) []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []recorded
	for _, r := range f.reqs {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeLAPI) counts() (logins, refreshes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logins, f.refreshes
}

func (f *fakeLAPI) revokeTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = map[string]bool{}
}

// respond sets what pattern answers: status and a testdata fixture ("" for
// no body).
func (f *fakeLAPI) respond(pattern string, status int, fixture string) {
	body := ""
	if fixture != "" {
		body = string(readFixture(f.t, fixture))
	}
	f.on(pattern, func(w http.ResponseWriter, _ *http.Request, _ []byte) { writeJSON(w, status, body) })
}

func (f *fakeLAPI) on(pattern string, h responder) {
	_, ok := routeAuth[pattern]
	require.True(f.t, ok, "unknown route %s", pattern)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.responders[pattern] = h
}

func (f *fakeLAPI) authorized(w http.ResponseWriter, r *http.Request, auth string) bool {
	if auth == "none" {
		return true
	}
	if strings.Contains(auth, "key") && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && r.Header.Get("X-Api-Key") == "" {
		return true // mTLS bouncer
	}
	if strings.Contains(auth, "key") && r.Header.Get("X-Api-Key") != "" {
		if r.Header.Get("X-Api-Key") != testAPIKey {
			writeJSON(w, http.StatusForbidden, `{"message":"access forbidden"}`)
			return false
		}
		return true
	}
	if strings.Contains(auth, "jwt") {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		f.mu.Lock()
		valid := ok && f.tokens[tok]
		f.mu.Unlock()
		if !valid {
			writeJSON(w, http.StatusUnauthorized, `{"code":401,"message":"Token is expired"}`)
			return false
		}
		return true
	}
	writeJSON(w, http.StatusForbidden, `{"message":"access forbidden"}`)
	return false
}

func (f *fakeLAPI) issue() string {
	f.tokenSeq++
	tok := fmt.Sprintf("%s%d", tokenPrefix, f.tokenSeq)
	f.tokens[tok] = true
	return tok
}

func (f *fakeLAPI) login(w http.ResponseWriter, r *http.Request) {
	name, version, _ := strings.Cut(r.UserAgent(), "/")
	if name == "" || version == "" {
		writeJSON(w, http.StatusUnauthorized, `{"code":401,"message":"bad user agent"}`)
		return
	}
	var req models.WatcherAuthRequest
	if err := json.Unmarshal(f.last().Body, &req); err != nil || req.MachineID == nil || req.Password == nil {
		writeJSON(w, http.StatusBadRequest, `{"message":"missing machine_id or password"}`)
		return
	}
	if *req.MachineID != testMachine || *req.Password != testPassword {
		writeJSON(w, http.StatusUnauthorized, readFixtureString(f.t, "error_login.json"))
		return
	}
	f.mu.Lock()
	f.logins++
	f.scenarios = append(f.scenarios, req.Scenarios)
	tok := f.issue()
	exp := f.now().Add(f.tokenTTL).UTC().Format(time.RFC3339)
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, fmt.Sprintf(`{"code":200,"expire":%q,"token":%q}`, exp, tok))
}

func (f *fakeLAPI) refresh(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r, "jwt") {
		return
	}
	f.mu.Lock()
	f.refreshes++
	tok := f.issue()
	exp := f.now().Add(f.tokenTTL).UTC().Format(time.RFC3339)
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, fmt.Sprintf(`{"code":200,"expire":%q,"token":%q}`, exp, tok))
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	if body != "" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

func readFixtureString(t testing.TB, name string) string {
	return string(bytes.TrimSpace(readFixture(t, name)))
}

// decodeFixture decodes a testdata fixture into a value of type T.
func decodeFixture[T any](t testing.TB, name string) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(readFixture(t, name), &v))
	return v
}

// testConfig is a Config with both credentials, fast retries and url u.
func testConfig(u string) Config {
	return Config{
		URL:       u,
		UserAgent: testUA,
		MachineID: testMachine,
		Password:  testPassword,
		Scenarios: []string{"crowdsecurity/ssh-bf"},
		APIKey:    testAPIKey,
		Timeout:   5 * time.Second,
		Retry:     RetryConfig{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond},
	}
}

func newTestClient(t testing.TB, cfg Config, opts ...Option) *Client {
	t.Helper()
	c, err := New(cfg, opts...)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

func ptr[T any](v T) *T { return &v }

// requireJSONEqual compares two JSON documents semantically.
func requireJSONEqual(t testing.TB, want, got []byte) {
	t.Helper()
	var w, g any
	require.NoError(t, json.Unmarshal(want, &w))
	require.NoError(t, json.Unmarshal(got, &g), "got %s", got)
	require.Equal(t, w, g)
}
