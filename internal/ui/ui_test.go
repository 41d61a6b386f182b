package ui_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/ui"
)

// pages are every page a logged-in user can GET (alert 1 exists).
var pages = []string{"", "?range=1h", "?range=7d", "?range=30d", "?range=custom&from=2026-01-01T00:00&to=2026-01-02T00:00",
	"alerts", "alerts?scenario=x&country=FR&as=AS64496&simulated=only", "alerts/1", "why", "why?ip=192.0.2.7",
	"why?ip=192.0.2.0/24", "decisions", "decisions?all=1&ip=192.0.2.7", "machines", "bouncers", "metrics", "status"}

// changes are every change route.
var changes = []string{"logout", "decisions", "decisions/delete", "machines/validate", "machines/delete", "bouncers", "bouncers/delete"}

func TestAuthRequiredEverywhere(t *testing.T) {
	e := newEnv(t)
	e.pushAlert(t, "crowdsecurity/ssh-bf", "192.0.2.7", nil)
	c := e.client(t)
	for _, p := range append(pages, "events", "nonexistent") {
		resp, body := c.get(p)
		require.Contains(t, []int{http.StatusSeeOther, http.StatusUnauthorized}, resp.StatusCode, "%s: %s", p, body)
		require.NotContains(t, body, "192.0.2.7", p)
		if resp.StatusCode == http.StatusSeeOther {
			require.Equal(t, ui.Prefix+"login", resp.Header.Get("Location"), p)
		}
	}
	for _, p := range changes {
		resp, _ := c.post(p, url.Values{"csrf": {"x"}, "value": {"192.0.2.9"}})
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, p)
	}
	// A forged session cookie is no session.
	u, _ := url.Parse(e.url)
	c.hc.Jar.SetCookies(u, []*http.Cookie{{Name: "phalanx_session", Value: "forged", Path: ui.Prefix}})
	resp, _ := c.get("")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
}

func TestLogin(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	tok := c.csrf("login")
	tests := []struct {
		name, user, pw, csrf string
		status               int
	}{
		{"no csrf", "admin", adminPW, "", http.StatusForbidden},
		{"wrong csrf", "admin", adminPW, "nope", http.StatusForbidden},
		{"wrong password", "admin", "wrong-password", tok, http.StatusUnauthorized},
		{"unknown user", "nobody", adminPW, tok, http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := e.client(t)
			c.csrf("login")
			if tc.csrf == tok {
				tc.csrf = c.csrf("login")
			}
			resp, _ := c.post("login", url.Values{"csrf": {tc.csrf}, "user": {tc.user}, "password": {tc.pw}})
			require.Equal(t, tc.status, resp.StatusCode)
			resp, _ = c.get("")
			require.Equal(t, http.StatusSeeOther, resp.StatusCode, "still logged out")
		})
	}
	c.login("admin", adminPW)
	resp, body := c.get("")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, "admin (admin)")
	// The session cookie is HttpOnly and SameSite=Strict.
	c2 := e.client(t)
	tok = c2.csrf("login")
	resp, _ = c2.post("login", url.Values{"csrf": {tok}, "user": {"viewer"}, "password": {viewerPW}})
	var sc *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "phalanx_session" {
			sc = ck
		}
	}
	require.NotNil(t, sc)
	require.True(t, sc.HttpOnly)
	require.Equal(t, http.SameSiteStrictMode, sc.SameSite)
	require.Equal(t, ui.Prefix, sc.Path)
	require.GreaterOrEqual(t, len(sc.Value), 40)

	// Logout ends the session.
	resp, _ = c.post("logout", url.Values{"csrf": {c.csrf("")}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, _ = c.get("")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
}

func TestLoginThrottled(t *testing.T) {
	// A frozen clock: the back-off does not run out while bcrypt works
	// (slow under the race detector).
	at := time.Now()
	e := newEnvClock(t, func() time.Time { return at })
	c := e.client(t)
	var last int
	for i := 0; i < 7; i++ {
		tok := c.csrf("login")
		resp, _ := c.post("login", url.Values{"csrf": {tok}, "user": {"admin"}, "password": {"wrong-password"}})
		last = resp.StatusCode
	}
	require.Equal(t, http.StatusTooManyRequests, last)
	// Even the right password waits now.
	tok := c.csrf("login")
	resp, body := c.post("login", url.Values{"csrf": {tok}, "user": {"admin"}, "password": {adminPW}})
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.Contains(t, body, "too many failed logins")
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
}

func TestCSRFRequiredOnChanges(t *testing.T) {
	e := newEnv(t)
	id := e.pushAlert(t, "crowdsecurity/ssh-bf", "192.0.2.7", nil)
	c := e.client(t)
	c.login("admin", adminPW)
	ds, err := e.st.ListDecisions(context.Background(), store.DecisionFilter{AlertID: id})
	require.NoError(t, err)
	for _, p := range changes {
		for _, tok := range []string{"", "wrong"} {
			form := url.Values{"value": {"192.0.2.9"}, "id": {fmt.Sprint(ds[0].ID)}, "name": {"x"}}
			if tok != "" {
				form.Set("csrf", tok)
			}
			resp, body := c.post(p, form)
			require.Equal(t, http.StatusForbidden, resp.StatusCode, "%s: %s", p, body)
		}
	}
	// Nothing changed.
	ds, err = e.st.ListDecisions(context.Background(), store.DecisionFilter{ActiveAt: time.Now()})
	require.NoError(t, err)
	require.Len(t, ds, 1)
	resp, _ := c.get("")
	require.Equal(t, http.StatusOK, resp.StatusCode, "still logged in")
}

func TestViewerCannotChange(t *testing.T) {
	e := newEnv(t)
	id := e.pushAlert(t, "crowdsecurity/ssh-bf", "192.0.2.7", nil)
	ds, err := e.st.ListDecisions(context.Background(), store.DecisionFilter{AlertID: id})
	require.NoError(t, err)
	c := e.client(t)
	c.login("viewer", viewerPW)
	tok := c.csrf("decisions")
	_, body := c.get("decisions")
	require.NotContains(t, body, "Delete selected", "no delete button for a viewer")
	require.NotContains(t, body, "Add a decision")
	for _, p := range changes {
		if p == "logout" {
			continue
		}
		resp, body := c.post(p, url.Values{"csrf": {tok}, "value": {"192.0.2.9"}, "id": {fmt.Sprint(ds[0].ID)}, "name": {"viewer-bouncer"}})
		require.Equal(t, http.StatusForbidden, resp.StatusCode, "%s: %s", p, body)
	}
	active, err := e.st.ListDecisions(context.Background(), store.DecisionFilter{ActiveAt: time.Now()})
	require.NoError(t, err)
	require.Len(t, active, 1)
	bs, err := e.st.ListBouncers(context.Background())
	require.NoError(t, err)
	require.Empty(t, bs)
}

func TestHeadersAndNoInlineScript(t *testing.T) {
	e := newEnv(t)
	e.pushAlert(t, "crowdsecurity/ssh-bf", "192.0.2.7", nil)
	c := e.client(t)
	resp, body := c.get("login")
	checkPage(t, "login", resp, body)
	c.login("admin", adminPW)
	for _, p := range pages {
		resp, body := c.get(p)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", p, body)
		checkPage(t, p, resp, body)
	}
	resp, _ = c.get("static/app.js")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, ui.ContentSecurityPolicy, resp.Header.Get("Content-Security-Policy"))
}

// checkPage checks the security headers and parses the HTML: no inline
// script, no event handler attribute, no javascript: URL, no inline style.
func checkPage(t *testing.T, name string, resp *http.Response, body string) {
	t.Helper()
	csp := resp.Header.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'self'", "script-src 'self'", "object-src 'none'", "frame-ancestors 'none'"} {
		require.Contains(t, csp, d, name)
	}
	require.NotContains(t, csp, "unsafe-inline", name)
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), name)
	doc, err := html.Parse(strings.NewReader(body))
	require.NoError(t, err, name)
	scripts := 0
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			if n.Data == "script" {
				scripts++
				src := ""
				for _, a := range n.Attr {
					if a.Key == "src" {
						src = a.Val
					}
				}
				require.NotEmpty(t, src, "%s: inline script", name)
				require.Nil(t, n.FirstChild, "%s: script with a body", name)
			}
			require.NotEqual(t, "style", n.Data, "%s: inline style element", name)
			for _, a := range n.Attr {
				require.False(t, strings.HasPrefix(strings.ToLower(a.Key), "on"), "%s: event handler attribute %s", name, a.Key)
				require.NotEqual(t, "style", a.Key, "%s: style attribute", name)
				require.False(t, strings.HasPrefix(strings.ToLower(strings.TrimSpace(a.Val)), "javascript:"), "%s: javascript URL", name)
			}
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch)
		}
	}
	walk(doc)
	require.Equal(t, 1, scripts, name)
}

func TestHostileAlertContentEscaped(t *testing.T) {
	e := newEnv(t)
	evil := `<script>alert(1)</script><img src=x onerror=alert(2)>"'`
	id := e.pushAlert(t, evil, "192.0.2.66", models.Meta{{Key: "user_agent" + evil, Value: evil}})
	c := e.client(t)
	c.login("admin", adminPW)
	for _, p := range []string{"", "alerts", fmt.Sprintf("alerts/%d", id), "why?ip=192.0.2.66", "decisions"} {
		resp, body := c.get(p)
		require.Equal(t, http.StatusOK, resp.StatusCode, p)
		require.NotContains(t, body, "<script>alert", p)
		require.NotContains(t, body, "<img src=x", p)
		require.Contains(t, body, "&lt;script&gt;alert(1)&lt;/script&gt;", p)
		checkPage(t, p, resp, body)
	}
}

func TestDecisionsAddDeleteAndWhy(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	c.login("admin", adminPW)
	tok := c.csrf("decisions")
	resp, _ := c.post("decisions", url.Values{"csrf": {tok}, "value": {"198.51.100.4"}, "duration": {"2h"}, "reason": {"manual test"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, body := c.get("decisions")
	require.Contains(t, body, "added (alert")
	require.Contains(t, body, "198.51.100.4")
	ds, err := e.st.ListDecisions(context.Background(), store.DecisionFilter{Value: "198.51.100.4", ActiveAt: time.Now()})
	require.NoError(t, err)
	require.Len(t, ds, 1)
	require.Equal(t, "manual test", ds[0].Scenario)
	require.Equal(t, "cscli", ds[0].Origin)

	// Why: the range search finds it, the alert behind it too.
	_, body = c.get("why?ip=198.51.100.0/24")
	require.Contains(t, body, "manual test")
	require.Contains(t, body, fmt.Sprintf("alerts/%d", ds[0].AlertID))
	require.NotContains(t, body, "not-blocked")

	// The guard refuses loopback, and a bad value is a message, not a 500.
	for _, v := range []string{"127.0.0.1", "not-an-ip", "0.0.0.0/0"} {
		resp, _ = c.post("decisions", url.Values{"csrf": {tok}, "value": {v}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, v)
		_, body = c.get("decisions")
		require.Contains(t, body, "flash error", v)
	}

	resp, _ = c.post("decisions/delete", url.Values{"csrf": {tok}, "id": {fmt.Sprint(ds[0].ID)}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, body = c.get("why?ip=198.51.100.4")
	require.Contains(t, body, "not-blocked")
	active, err := e.st.ListDecisions(context.Background(), store.DecisionFilter{ActiveAt: time.Now()})
	require.NoError(t, err)
	require.Empty(t, active)
}

func TestMachinesAndBouncers(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	require.NoError(t, e.st.CreateMachine(ctx, &store.Machine{ID: "edge-1", PasswordHash: "x"}))
	c := e.client(t)
	c.login("admin", adminPW)
	tok := c.csrf("machines")
	resp, _ := c.post("machines/validate", url.Values{"csrf": {tok}, "name": {"edge-1"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	m, err := e.st.GetMachine(ctx, "edge-1")
	require.NoError(t, err)
	require.True(t, m.IsValidated)
	resp, _ = c.post("machines/delete", url.Values{"csrf": {tok}, "name": {"edge-1"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, err = e.st.GetMachine(ctx, "edge-1")
	require.ErrorIs(t, err, store.ErrNotFound)

	resp, _ = c.post("bouncers", url.Values{"csrf": {tok}, "name": {"fw-1"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, body := c.get("bouncers")
	m2 := regexpKey.FindStringSubmatch(body)
	require.NotNil(t, m2, "key shown")
	bs, err := e.st.BouncersByKeyHash(ctx, store.HashAPIKey(m2[1]))
	require.NoError(t, err)
	require.Len(t, bs, 1)
	_, body = c.get("bouncers")
	require.NotContains(t, body, m2[1], "the key is shown once")
	resp, _ = c.post("bouncers/delete", url.Values{"csrf": {tok}, "name": {"fw-1"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, err = e.st.GetBouncer(ctx, "fw-1")
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestDeletedUserLosesSession(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	c.login("viewer", viewerPW)
	resp, _ := c.get("")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, e.st.DeleteDashboardUser(context.Background(), "viewer"))
	resp, _ = c.get("")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
}

func TestLiveFeed(t *testing.T) {
	e := newEnv(t)
	e.pushAlert(t, "crowdsecurity/old", "192.0.2.1", nil)
	c := e.client(t)
	c.login("viewer", viewerPW)
	req, err := http.NewRequest(http.MethodGet, c.base+"events", nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.hc.Do(req.WithContext(ctx))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	id := e.pushAlert(t, "crowdsecurity/new-one", "192.0.2.2", nil)
	buf := make([]byte, 0, 4096)
	tmp := make([]byte, 1024)
	for !strings.Contains(string(buf), "crowdsecurity/new-one") {
		n, err := resp.Body.Read(tmp)
		require.NoError(t, err, string(buf))
		buf = append(buf, tmp[:n]...)
	}
	require.Contains(t, string(buf), fmt.Sprintf("id: %d\nevent: alert\n", id))
	require.NotContains(t, string(buf), "crowdsecurity/old", "only alerts newer than the connection")
}

func TestMetricsPagePlots(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.ui.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	c := e.client(t)
	c.login("viewer", viewerPW)
	require.Eventually(t, func() bool {
		_, body := c.get("metrics")
		return strings.Contains(body, "<polyline")
	}, 5*time.Second, 50*time.Millisecond)
	_, body := c.get("metrics")
	require.Contains(t, body, "cs_lapi")
}

func TestAddUserValidates(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, tc := range []struct{ name, role, pw, err string }{
		{"x", "root", "password-1", "role"},
		{"x", ui.RoleViewer, "short", "too short"},
		{"has space", ui.RoleViewer, "password-1", "user name"},
		{"", ui.RoleViewer, "password-1", "user name"},
		{"admin", ui.RoleViewer, "password-1", "already exists"},
	} {
		err := ui.AddUser(ctx, e.st, tc.name, tc.role, tc.pw)
		require.ErrorContains(t, err, tc.err, tc.name)
	}
	u, err := e.st.GetDashboardUser(ctx, "admin")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(u.PasswordHash, "$2"), "bcrypt")
	require.NotContains(t, u.PasswordHash, adminPW)
}
