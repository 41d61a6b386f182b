package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/testutil"
	"github.com/phalanx-ids/phalanx/internal/ui"
)

func TestDashboardConfig(t *testing.T) {
	tests := []struct {
		name     string
		cfg      func(c *Config)
		onLAPI   bool
		on       bool
		errorHas string
	}{
		{name: "default: on the loopback LAPI", cfg: func(c *Config) {}, onLAPI: true, on: true},
		{name: "LAPI beyond loopback: not on it", cfg: func(c *Config) { c.LAPI.ListenURI = "0.0.0.0:8080" }, on: true},
		{name: "own loopback listener", cfg: func(c *Config) { c.UI.Listen = "127.0.0.1:3000" }, on: true},
		{name: "localhost", cfg: func(c *Config) { c.UI.Listen = "localhost:3000" }, on: true},
		{name: "remote refused", cfg: func(c *Config) { c.UI.Listen = "0.0.0.0:3000" }, errorHas: "ui.allow_remote"},
		{name: "all interfaces refused", cfg: func(c *Config) { c.UI.Listen = ":3000" }, errorHas: "not a loopback address"},
		{name: "remote allowed", cfg: func(c *Config) { c.UI.Listen = "0.0.0.0:3000"; c.UI.AllowRemote = true }, on: true},
		{name: "disabled", cfg: func(c *Config) { f := false; c.UI.Enabled = &f }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			c.DataDir = t.TempDir()
			tc.cfg(&c)
			r, err := c.resolve()
			if tc.errorHas != "" {
				require.ErrorContains(t, err, tc.errorHas)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.on, r.uiOn)
			require.Equal(t, tc.onLAPI, r.uiOnLAPI)
		})
	}
	_, err := ParseConfig("x.yaml", []byte("ui:\n  listen: 127.0.0.1:3000\n  session_idle: 30m\n"))
	require.NoError(t, err)
}

func newBrowser(t *testing.T) context.Context {
	t.Helper()
	ctx := testutil.Browser(t)
	// Hidden scrollbars: the layout is as wide as the viewport, and full
	// screenshots are not cut by the scrollbar's width.
	require.NoError(t, chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetScrollbarsHidden, emulation.SetScrollbarsHiddenParams{Hidden: true})
		return err
	})))
	return ctx
}

// screenshot writes the page to $PHALANX_UI_SCREENSHOTS/name.png when set
// (not committed).
func screenshot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("PHALANX_UI_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o600))
}

// screenshotLog moves the tailed log, when screenshots are taken, to
// $PHALANX_UI_SCREENSHOTS_LOG (a path that reads well in the README's
// picture, e.g. /var/log/demo/auth.log; it must not exist: it is created,
// then removed with its directory when that was created too).
func screenshotLog(t *testing.T, e *env) {
	p := os.Getenv("PHALANX_UI_SCREENSHOTS_LOG")
	if p == "" || os.Getenv("PHALANX_UI_SCREENSHOTS") == "" {
		return
	}
	_, err := os.Stat(p)
	require.True(t, os.IsNotExist(err), "PHALANX_UI_SCREENSHOTS_LOG %s exists: give a new path", p)
	dir := filepath.Dir(p)
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		require.NoError(t, os.MkdirAll(dir, 0o750))
		t.Cleanup(func() { _ = os.Remove(dir) })
	}
	require.NoError(t, os.WriteFile(p, nil, 0o600))
	t.Cleanup(func() { _ = os.Remove(p) })
	e.log = p
	require.NoError(t, os.WriteFile(e.acquis, fmt.Appendf(nil, "filenames:\n  - %s\nlabels:\n  type: syslog\n", p), 0o600))
}

// TestDashboardInChromium: a real daemon tails a real log, detects an SSH
// brute force and bans; in headless Chromium a user logs in, sees the
// alert on the overview, finds the decision with "why is this IP
// blocked?", adds a ban and deletes it (a bouncer's next pull no longer
// has it); the overview is usable 375 px wide and from the keyboard.
func TestDashboardInChromium(t *testing.T) {
	e := newEnv(t)
	screenshotLog(t, &e)
	a, err := New(e.config(), WithLogger(testLogger(t)))
	require.NoError(t, err)
	stop := startApp(t, a)
	defer func() { require.NoError(t, stop()) }()
	base := a.DashboardURL()
	require.Equal(t, a.LAPIURL()+"ui/", base)
	ctx0 := context.Background()
	require.NoError(t, ui.AddUser(ctx0, a.Store(), "alice", ui.RoleAdmin, "alice-password"))
	key := newBouncer(t, a.Store(), "fw")

	waitWatching(t, a, e.log)
	appendLines(t, e.log, sshFailures("203.0.113.9", 8)...)
	require.Eventually(t, func() bool {
		ds, err := a.Store().ListDecisions(ctx0, store.DecisionFilter{Value: "203.0.113.9"})
		return err == nil && len(ds) > 0
	}, 20*time.Second, 100*time.Millisecond, "no decision from the log")

	ctx := newBrowser(t)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.EmulateViewport(1200, 800),
		chromedp.Navigate(base),
		chromedp.WaitVisible("#user"),
		chromedp.SendKeys("#user", "alice"),
		chromedp.SendKeys("#password", "alice-password"),
		chromedp.Submit("#password"),
		chromedp.WaitVisible("#feed"),
	))
	feed, err := chromedp.Run(ctx, chromedp.Text("#feed"))
	require.NoError(t, err)
	require.Contains(t, feed, "203.0.113.9")
	require.Contains(t, feed, "ssh")
	bars, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("figure.chart svg rect").length`))
	require.NoError(t, err)
	require.Positive(t, bars, "the alerts chart has bars")
	sw, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, document.documentElement.clientWidth]`))
	require.NoError(t, err)
	require.LessOrEqual(t, sw[0], sw[1], "the overview fits the desktop width")
	screenshot(t, ctx, "overview-desktop")

	// The live feed shows a new alert without reloading.
	appendLines(t, e.log, sshFailures("203.0.113.77", 8)...)
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible("#feed li.new")))
	feed, err = chromedp.Run(ctx, chromedp.Text("#feed li.new"))
	require.NoError(t, err)
	require.Contains(t, feed, "203.0.113.77")

	// Why is it blocked?
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"why"),
		chromedp.SendKeys("#ip", "203.0.113.9"),
		chromedp.Submit("#ip"),
		chromedp.WaitVisible("table.decisions"),
	))
	txt, err := chromedp.Run(ctx, chromedp.Text("main"))
	require.NoError(t, err)
	require.Contains(t, txt, "Active decisions covering 203.0.113.9")
	require.Contains(t, txt, "ssh")
	require.NotContains(t, txt, "is not blocked")
	screenshot(t, ctx, "why-desktop")

	// The alert behind it: the raw log lines with what each parser did,
	// and the profile that made the decision.
	ds, err := a.Store().ListDecisions(ctx0, store.DecisionFilter{Value: "203.0.113.9"})
	require.NoError(t, err)
	require.NotZero(t, ds[0].AlertID)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(fmt.Sprintf("%salerts/%d", base, ds[0].AlertID)),
		chromedp.WaitVisible("#raw-lines"),
	))
	lines, err := chromedp.Run(ctx, chromedp.Text("#raw-lines"))
	require.NoError(t, err)
	require.Contains(t, lines, "Failed password for root from 203.0.113.9", "the raw line")
	require.Contains(t, lines, `+ Meta.source_ip = "203.0.113.9"`, "the parser trace of the first line")
	require.Contains(t, lines, "parsed: log_type=ssh_failed-auth")
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#raw-lines > li").length`))
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, 5, "the lines that filled the bucket")
	prof, err := chromedp.Run(ctx, chromedp.Text("#profile"))
	require.NoError(t, err)
	require.Equal(t, "default_ip_remediation", strings.TrimSpace(prof))
	screenshot(t, ctx, "alert-desktop")

	// The other parts: hub content, sharing, notifications.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"status"), chromedp.WaitVisible("#notifications")))
	txt, err = chromedp.Run(ctx, chromedp.Text("main"))
	require.NoError(t, err)
	require.Contains(t, txt, "the embedded defaults")
	require.Contains(t, txt, "Not sharing")

	// Add a ban, then delete it; confirm() dialogs are accepted.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"decisions"),
		chromedp.SendKeys(`input[name="value"]`, "198.51.100.7"),
		chromedp.Click("form.add button"),
	))
	waitFlash(t, ctx, "198.51.100.7")
	require.Contains(t, streamDecisions(t, a.LAPIURL(), key), "198.51.100.7", "the bouncer pulls the new ban")
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`window.confirm = function () { return true; }; true`))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(`input[aria-label$="on 198.51.100.7"]`),
		chromedp.Click(`button[data-confirm="Delete the selected decisions?"]`),
	))
	waitFlash(t, ctx, "1 decision(s) deleted")
	require.NotContains(t, streamDecisions(t, a.LAPIURL(), key), "198.51.100.7", "the bouncer's next pull drops it")
	require.Contains(t, streamDecisions(t, a.LAPIURL(), key), "203.0.113.9")

	// A change without the session's CSRF token is refused, even from the
	// logged-in admin's own browser (the cookie goes with it): what a
	// forged cross-site form would send.
	ds, err = a.Store().ListDecisions(ctx0, store.DecisionFilter{Value: "203.0.113.9"})
	require.NoError(t, err)
	require.NotEmpty(t, ds)
	deleteURL := base + "decisions/delete"
	forged := fmt.Sprintf(`fetch(%q, {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: "id=%d"}).then(r => r.status)`, deleteURL, ds[0].ID)
	status, err := chromedp.Run(ctx, chromedp.Evaluate[int](forged, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	require.Equal(t, http.StatusForbidden, status, "a change without the CSRF token")
	require.Contains(t, streamDecisions(t, a.LAPIURL(), key), "203.0.113.9", "the forged request deleted nothing")

	// 375 px wide: nothing wider than the screen.
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(375, 800), chromedp.Navigate(base), chromedp.WaitVisible("#feed")))
	for _, p := range []string{"", "alerts", "decisions", "why?ip=203.0.113.9", "status", fmt.Sprintf("alerts/%d", ds[0].AlertID)} {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+p), chromedp.WaitVisible("main")))
		w, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		require.NoError(t, err)
		if w > 375 {
			wide, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll("main *")).filter(e => e.getBoundingClientRect().right > 376).slice(0, 5).map(e => e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().right)).join("; ")`))
			t.Errorf("page %q is %d px wide: %s", p, w, wide)
		}
		screenshot(t, ctx, "phone-"+strings.NewReplacer("?", "-", "=", "-", "/", "-").Replace(p))
	}

	// Keyboard: Tab reaches the skip link first, then the menu; Enter follows.
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"alerts"), chromedp.WaitVisible("main"),
		chromedp.KeyEvent("\t")))
	focused, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.className`))
	require.NoError(t, err)
	require.Equal(t, "skip", focused)
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent("\t"), chromedp.KeyEvent("\t"), chromedp.KeyEvent("\r"), chromedp.WaitVisible("table.list")))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(loc, "/ui/alerts"), loc)

	// A viewer reads but cannot change: no delete controls, and a change
	// sent with the viewer's own valid CSRF token is refused.
	require.NoError(t, ui.AddUser(ctx0, a.Store(), "victor", ui.RoleViewer, "victor-password"))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click("form.logout button"),
		chromedp.WaitVisible("#user"),
		chromedp.SendKeys("#user", "victor"),
		chromedp.SendKeys("#password", "victor-password"),
		chromedp.Submit("#password"),
		chromedp.WaitVisible("#feed"),
		chromedp.Navigate(base+"decisions"),
		chromedp.WaitVisible("table.list"),
	))
	controls, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('input[name="id"], form.add').length`))
	require.NoError(t, err)
	require.Zero(t, controls, "a viewer sees no delete or add controls")
	withToken := fmt.Sprintf(`fetch(%q, {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"},
		body: "csrf=" + encodeURIComponent(document.querySelector('input[name="csrf"]').value) + "&id=%d"}).then(r => r.status)`, deleteURL, ds[0].ID)
	status, err = chromedp.Run(ctx, chromedp.Evaluate[int](withToken, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	require.Equal(t, http.StatusForbidden, status, "a viewer's change")
	require.Contains(t, streamDecisions(t, a.LAPIURL(), key), "203.0.113.9", "the viewer deleted nothing")
}

// waitFlash waits until the page shows a flash message containing want.
// A form's submission navigates: the page that was there (and its flash)
// may still answer for a moment, and queries fail while the new page
// loads, so the text is polled across the navigation.
func waitFlash(t *testing.T, ctx context.Context, want string) {
	t.Helper()
	expr := `(function(){var f=document.querySelector("p.flash");return f?f.textContent:""})()`
	require.Eventually(t, func() bool {
		txt, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			return false
		}
		return strings.Contains(txt, want)
	}, 15*time.Second, 50*time.Millisecond, "flash %q never came", want)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// dashboardGet logs in to a's dashboard as a new viewer and returns the
// page at path.
func dashboardGet(t *testing.T, a *App, path string) string {
	t.Helper()
	ctx := context.Background()
	_ = a.Store().DeleteDashboardUser(ctx, "probe")
	require.NoError(t, ui.AddUser(ctx, a.Store(), "probe", ui.RoleViewer, "probe-password"))
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	// The login is a bcrypt compare at the default cost: seconds under
	// -race on a loaded machine.
	hc := &http.Client{Jar: jar, Timeout: testutil.WaitLimit}
	base := a.DashboardURL()
	resp, err := hc.Get(base + "login")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	m := csrfRe.FindSubmatch(body)
	require.NotNil(t, m)
	resp, err = hc.PostForm(base+"login", url.Values{"csrf": {string(m[1])}, "user": {"probe"}, "password": {"probe-password"}})
	require.NoError(t, err)
	_ = resp.Body.Close()
	resp, err = hc.Get(base + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err = io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body)
}
