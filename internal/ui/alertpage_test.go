package ui_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/content"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/explain"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/ui"
)

// embeddedExplain traces lines through the embedded parsers, as the
// daemon's explainer does with its content.
func embeddedExplain(t *testing.T) func(context.Context, []*models.RawLine) ([]explain.Result, error) {
	cfg, err := content.Select("", nil, false)
	require.NoError(t, err)
	cfg.DataDir = t.TempDir()
	rt, err := content.Build(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = rt.Close() })
	return func(_ context.Context, ls []*models.RawLine) ([]explain.Result, error) {
		var out []explain.Result
		for _, l := range ls {
			out = append(out, explain.Line(rt.Parsers, event.Line{Raw: l.Raw, Labels: l.Labels, Time: time.Now()}, nil))
		}
		return out, nil
	}
}

// storeWithLines stores an sshd alert with raw lines and a profile.
func storeWithLines(t *testing.T, e *env) int64 {
	now := time.Now().UTC().Format(time.RFC3339)
	one, five, no := int32(1), int32(5), false
	ip := "192.0.2.77"
	a := &models.Alert{Scenario: sp("crowdsecurity/ssh-bf"), ScenarioHash: sp("h"), ScenarioVersion: sp("0.1"), Message: sp("m"),
		EventsCount: &one, StartAt: sp(now), StopAt: sp(now), Capacity: &five, Leakspeed: sp("10s"), Simulated: &no,
		Events: []*models.Event{{Timestamp: sp(now)}}, Source: &models.Source{Scope: sp("Ip"), Value: sp(ip), IP: ip},
		Profile: "ssh_ban_profile",
		Decisions: []*models.Decision{{Origin: sp("crowdsec"), Type: sp("ban"), Scope: sp("Ip"), Value: sp(ip), Duration: sp("4h"),
			Scenario: sp("crowdsecurity/ssh-bf")}},
		RawLines: []*models.RawLine{
			{Raw: "Jan  2 03:04:05 host sshd[12]: Failed password for root from 192.0.2.77 port 22 ssh2",
				Labels: map[string]string{"type": "syslog"}, Source: "/var/log/auth.log", Time: now},
			{Raw: "Jan  2 03:04:06 host sshd[12]: junk <script>alert(1)</script> \x1b[31mred", Labels: map[string]string{"type": "syslog"}},
		}}
	ids, err := e.st.CreateAlerts(context.Background(), "", []*models.Alert{a})
	require.NoError(t, err)
	return ids[0]
}

// TestAlertRawLinesWithTrace: the alert page shows each raw line (hostile
// text escaped, control characters visible) with what each parser did to
// it, and the profile that made the decisions.
func TestAlertRawLinesWithTrace(t *testing.T) {
	ex := embeddedExplain(t)
	e := newEnvWith(t, func(d *ui.Deps) { d.Explain = ex })
	id := storeWithLines(t, e)
	c := e.client(t)
	c.login("viewer", viewerPW)
	resp, body := c.get(fmt.Sprintf("alerts/%d", id))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, "Failed password for root from 192.0.2.77")
	require.Contains(t, body, `id="raw-lines"`)
	require.Contains(t, body, `&#43; Meta.source_ip = &#34;192.0.2.77&#34;`, "the first line's parser trace")
	require.Contains(t, body, `class="outcome-parsed"`)
	require.Contains(t, body, `class="outcome-dropped"`, "the junk line did not parse")
	require.NotContains(t, body, "<script>alert(1)")
	require.Contains(t, body, "&lt;script&gt;alert(1)")
	require.NotContains(t, body, "\x1b")
	require.Contains(t, body, `\x1b[31mred`)
	require.Contains(t, body, "ssh_ban_profile")
}

// TestAlertRawLinesWithoutTrace: without parsers (no agent here, or they
// fail to load) the lines are shown with the reason there is no trace.
func TestAlertRawLinesWithoutTrace(t *testing.T) {
	for _, tc := range []struct {
		name string
		ex   func(context.Context, []*models.RawLine) ([]explain.Result, error)
		note string
	}{
		{"no agent", nil, "no agent runs in this process"},
		{"build fails", func(context.Context, []*models.RawLine) ([]explain.Result, error) {
			return nil, errors.New("boom")
		}, "the parsers could not be loaded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvWith(t, func(d *ui.Deps) { d.Explain = tc.ex })
			id := storeWithLines(t, e)
			c := e.client(t)
			c.login("viewer", viewerPW)
			resp, body := c.get(fmt.Sprintf("alerts/%d", id))
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Contains(t, body, "Failed password for root from 192.0.2.77")
			require.Contains(t, body, tc.note)
			require.NotContains(t, body, "boom")
			require.NotContains(t, body, `class="outcome-`)
		})
	}
}

// TestWhyCommunityListing: for a decision pulled from the central, "why
// blocked?" gives the reason the central lists the address for (the
// decision's scenario), or the blocklist's name.
func TestWhyCommunityListing(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC().Format(time.RFC3339)
	one, zero, no := int32(1), int32(0), false
	pulled := func(origin, scope, scen string, vals ...string) *models.Alert {
		a := &models.Alert{Scenario: sp("update : +2/-0 IPs"), ScenarioHash: sp(""), ScenarioVersion: sp(""), Message: sp(""),
			EventsCount: &one, StartAt: sp(now), StopAt: sp(now), Capacity: &zero, Leakspeed: sp("0"), Simulated: &no,
			Events: []*models.Event{}, Source: &models.Source{Scope: sp(scope), Value: sp("")}}
		for _, v := range vals {
			a.Decisions = append(a.Decisions, &models.Decision{Origin: sp(origin), Type: sp("ban"), Scope: sp("Ip"), Value: sp(v),
				Duration: sp("24h"), Scenario: sp(scen)})
		}
		return a
	}
	_, err := e.st.CreateAlerts(context.Background(), "", []*models.Alert{
		pulled("CAPI", "crowdsecurity/community-blocklist", "crowdsecurity/http-probing", "203.0.113.50"),
		pulled("lists", "lists:tor-exits", "tor-exits", "203.0.113.51"),
	})
	require.NoError(t, err)
	c := e.client(t)
	c.login("viewer", viewerPW)
	_, body := c.get("why?ip=203.0.113.50")
	require.Contains(t, body, `id="community"`)
	require.Contains(t, body, "the central lists it for <strong>crowdsecurity/http-probing</strong>")
	_, body = c.get("why?ip=203.0.113.51")
	require.Contains(t, body, "subscribed blocklist <strong>tor-exits</strong>")
	_, body = c.get("why?ip=203.0.113.52")
	require.NotContains(t, body, `id="community"`)
	require.Contains(t, body, "not-blocked")
}

// TestOverviewActiveCount: the overview's active decisions come from the
// LAPI's index (simulated ones aside) and follow a deletion at once.
func TestOverviewActiveCount(t *testing.T) {
	e := newEnv(t)
	e.pushAlert(t, "crowdsecurity/ssh-bf", "192.0.2.7", nil)
	e.pushAlert(t, "crowdsecurity/ssh-bf", "192.0.2.8", nil)
	c := e.client(t)
	c.login("admin", adminPW)
	_, body := c.get("")
	require.Contains(t, body, `<span class="big" id="active-count">2</span>`)
	require.Contains(t, body, "<li>crowdsec: 2</li>")
	ds, err := e.st.ListDecisions(context.Background(), store.DecisionFilter{Value: "192.0.2.7"})
	require.NoError(t, err)
	tok := c.csrf("decisions")
	resp, _ := c.post("decisions/delete", url.Values{"csrf": {tok}, "id": {fmt.Sprint(ds[0].ID)}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, body = c.get("?range=30d")
	require.Contains(t, body, `<span class="big" id="active-count">1</span>`)
}
