package ui_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/lapi"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/store/sqlite"
	"github.com/phalanx-ids/phalanx/internal/ui"
	"golang.org/x/crypto/bcrypt"
)

// env is a dashboard on a real SQLite store and a real LAPI server, served
// over loopback HTTP.
type env struct {
	st  store.Store
	srv *lapi.Server
	ui  *ui.UI
	url string // the dashboard's base URL (ending in /ui/)
	reg *prometheus.Registry
}

const (
	adminPW  = "admin-password-1"
	viewerPW = "viewer-password-1"
)

func newEnv(t *testing.T) *env { return newEnvClock(t, nil) }

// newEnvClock is newEnv with the dashboard's clock (nil: time.Now).
func newEnvClock(t *testing.T, clock func() time.Time) *env {
	t.Helper()
	return newEnvWith(t, func(d *ui.Deps) { d.Clock = clock })
}

// newEnvWith is newEnv with deps changed by set.
func newEnvWith(t *testing.T, set func(*ui.Deps)) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "phalanx.db")})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	reg := prometheus.NewRegistry()
	srv, err := lapi.New(lapi.Config{JWTSecret: strings.Repeat("s", 64)}, lapi.Deps{Store: st, Registerer: reg})
	require.NoError(t, err)
	require.NoError(t, srv.Sync(ctx))
	deps := ui.Deps{Store: st, Admin: srv, Gatherer: reg, PasswordCost: bcrypt.MinCost}
	set(&deps)
	u, err := ui.New(ui.Settings{FeedPoll: 50 * time.Millisecond, SampleEvery: 20 * time.Millisecond}, deps)
	require.NoError(t, err)
	require.NoError(t, ui.AddUser(ctx, st, "admin", ui.RoleAdmin, adminPW))
	require.NoError(t, ui.AddUser(ctx, st, "viewer", ui.RoleViewer, viewerPW))
	hs := httptest.NewServer(u.Handler())
	t.Cleanup(hs.Close)
	return &env{st: st, srv: srv, ui: u, url: hs.URL + ui.Prefix, reg: reg}
}

// client is a browser-like client: cookies, no redirects followed.
type client struct {
	t    testing.TB
	hc   *http.Client
	base string
}

func (e *env) client(t testing.TB) *client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &client{t: t, base: e.url, hc: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *client) get(path string) (*http.Response, string) {
	c.t.Helper()
	resp, err := c.hc.Get(c.base + path)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp, string(b)
}

func (c *client) post(path string, form url.Values) (*http.Response, string) {
	c.t.Helper()
	resp, err := c.hc.PostForm(c.base+path, form)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp, string(b)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the CSRF token of the page at path.
func (c *client) csrf(path string) string {
	c.t.Helper()
	resp, body := c.get(path)
	require.Equal(c.t, http.StatusOK, resp.StatusCode, body)
	m := csrfRe.FindStringSubmatch(body)
	require.NotNil(c.t, m, "no csrf token in %s", path)
	return m[1]
}

func (c *client) login(user, pw string) {
	c.t.Helper()
	tok := c.csrf("login")
	resp, body := c.post("login", url.Values{"csrf": {tok}, "user": {user}, "password": {pw}})
	require.Equal(c.t, http.StatusSeeOther, resp.StatusCode, body)
}

var regexpKey = regexp.MustCompile(`<code class="secret">([A-Za-z0-9]+)</code>`)

func sp(s string) *string { return &s }

// pushAlert stores an alert with a ban decision on ip, as an agent's push would.
func (e *env) pushAlert(t *testing.T, scenario, ip string, meta models.Meta) int64 {
	t.Helper()
	now := time.Now().UTC().Format(time.RFC3339)
	one, five, no := int32(1), int32(5), false
	a := &models.Alert{Scenario: sp(scenario), ScenarioHash: sp("h"), ScenarioVersion: sp("0.1"), Message: sp("msg " + scenario),
		EventsCount: &one, StartAt: sp(now), StopAt: sp(now), Capacity: &five, Leakspeed: sp("10s"), Simulated: &no,
		Remediation: true, Meta: meta,
		Events:    []*models.Event{{Timestamp: sp(now), Meta: models.Meta{{Key: "source_ip", Value: ip}}}},
		Source:    &models.Source{Scope: sp("Ip"), Value: sp(ip), IP: ip, Cn: "FR", AsNumber: "64496", AsName: "EXAMPLE"},
		Decisions: []*models.Decision{{Origin: sp("crowdsec"), Type: sp("ban"), Scope: sp("Ip"), Value: sp(ip), Duration: sp("4h"), Scenario: sp(scenario)}}}
	ids, err := e.st.CreateAlerts(context.Background(), "", []*models.Alert{a})
	require.NoError(t, err)
	require.NoError(t, e.srv.Sync(context.Background()))
	return ids[0]
}
