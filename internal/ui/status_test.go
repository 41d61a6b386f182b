package ui_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/ui"
)

// TestStatusPage: the hub's installed, tainted and outdated items,
// community sharing's counters and outbox, and each notification's
// deliveries and failures, from the daemon's metrics (the names
// internal/capi and internal/notify register).
func TestStatusPage(t *testing.T) {
	hub := func(context.Context) (ui.HubStatus, error) {
		return ui.HubStatus{Content: "the hub items installed in /var/lib/phalanx", Indexed: true, Items: []ui.HubItem{
			{Type: "collections", Name: "crowdsecurity/sshd", Status: "enabled", Version: "0.5", Latest: "0.5"},
			{Type: "parsers", Name: "crowdsecurity/sshd-logs", Status: "enabled,tainted", Version: "?", Latest: "2.9"},
			{Type: "scenarios", Name: "crowdsecurity/ssh-bf", Status: "enabled,update-available", Version: "0.2", Latest: "0.3"},
			{Type: "scenarios", Name: "me/<b>local</b>", Status: "enabled,local"},
		}}, nil
	}
	e := newEnvWith(t, func(d *ui.Deps) { d.Hub = hub })
	counter := func(name string, v float64, labels ...string) {
		if len(labels) == 0 {
			c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: "h"})
			c.Add(v)
			e.reg.MustRegister(c)
			return
		}
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: "h"}, []string{labels[0]})
		for _, l := range labels[1:] {
			c.WithLabelValues(l).Add(v)
		}
		e.reg.MustRegister(c)
	}
	counter("phalanx_capi_signals_queued_total", 12)
	counter("phalanx_capi_signals_pushed_total", 11)
	counter("phalanx_capi_push_failures_total", 2)
	counter("phalanx_capi_pulls_total", 3, "result", "ok")
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "phalanx_capi_community_entries", Help: "h"})
	g.Set(15000)
	e.reg.MustRegister(g)
	counter("phalanx_notification_deliveries_total", 4, "notification", "slack_default", "http_default")
	counter("phalanx_notification_failures_total", 7, "notification", "http_default")
	_, err := e.st.OutboxAdd(context.Background(), []store.OutboxItem{{UUID: "u1", Payload: []byte(`{}`)}})
	require.NoError(t, err)

	c := e.client(t)
	c.login("viewer", viewerPW)
	resp, body := c.get("status")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	for _, want := range []string{
		`<span id="hub-installed">4</span>`, `<span id="hub-tainted">1</span>`, `<span id="hub-updates">1</span>`,
		"crowdsecurity/sshd-logs", "me/&lt;b&gt;local&lt;/b&gt;", "phalanx hub upgrade",
		`<dd id="signals-pushed">11</dd>`, `<dd id="community-size">15000 entries</dd>`, `<span id="outbox-pending">1</span>`,
		`<td>http_default</td><td class="num">0</td><td class="num">4</td><td class="num">0</td><td class="num">7</td>`,
		`<td>slack_default</td>`,
	} {
		require.Contains(t, body, want)
	}

	// Nothing registered: said so; a hub that cannot be read: said so, no detail.
	e = newEnvWith(t, func(d *ui.Deps) {
		d.Hub = func(context.Context) (ui.HubStatus, error) { return ui.HubStatus{}, errors.New("secret path /x") }
	})
	c = e.client(t)
	c.login("viewer", viewerPW)
	_, body = c.get("status")
	require.Contains(t, body, "Not sharing")
	require.Contains(t, body, "No notification has been used yet")
	require.Contains(t, body, "could not be read")
	require.NotContains(t, body, "secret path")
}
