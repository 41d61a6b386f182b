package lapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/lapi"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/store/storetest"
)

// untrusted is where the attacks come from: a loopback address that is not
// in trusted_ips (127.0.0.1 and ::1 by default).
const untrusted = "127.0.0.2"

// transportFrom dials from a given local address.
func transportFrom(ip string) *http.Transport {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Transport{DialContext: d.DialContext}
}

// machine is a validated machine seen from one source address.
type machine struct {
	t     testing.TB
	hc    *http.Client
	url   string
	token string
	cl    *apiclient.Client
}

func newMachine(t testing.TB, srv *testServer, from, id string) *machine {
	t.Helper()
	addMachine(t, srv.st, id, "pw-"+id, true)
	tr := transportFrom(from)
	t.Cleanup(tr.CloseIdleConnections)
	cl, err := apiclient.New(apiclient.Config{URL: srv.url, UserAgent: agentUA, MachineID: id,
		Password: apiclient.Secret("pw-" + id), Retry: apiclient.RetryConfig{MaxAttempts: 1}}, apiclient.WithTransport(tr))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	m := &machine{t: t, hc: &http.Client{Transport: tr}, url: srv.url, cl: cl}
	r := m.raw("POST", "/v1/watchers/login", `{"machine_id":"`+id+`","password":"pw-`+id+`"}`)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var auth models.WatcherAuthResponse
	require.NoError(t, json.Unmarshal(r.body, &auth))
	m.token = auth.Token
	return m
}

// raw sends method path (with query) and body with the machine's token.
func (m *machine) raw(method, path, body string) rawResp {
	m.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, m.url+path, rd)
	require.NoError(m.t, err)
	req.Header.Set("User-Agent", agentUA)
	if m.token != "" {
		req.Header.Set("Authorization", "Bearer "+m.token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := m.hc.Do(req)
	require.NoError(m.t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(m.t, err)
	return rawResp{status: resp.StatusCode, header: resp.Header, body: b}
}

func (m *machine) post(alerts ...*models.Alert) rawResp {
	m.t.Helper()
	b, err := json.Marshal(alerts)
	require.NoError(m.t, err)
	return m.raw("POST", "/v1/alerts", string(b))
}

func activeValues(t testing.TB, st store.Store) []string {
	t.Helper()
	ds, err := st.ListDecisions(context.Background(), store.DecisionFilter{ActiveAt: time.Now()})
	require.NoError(t, err)
	out := []string{}
	for _, d := range ds {
		out = append(out, d.Value)
	}
	return out
}

func counterValue(t testing.TB, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestDeletionRoutesTrustedOnly: a validated machine connecting from an
// address outside trusted_ips can delete neither decisions nor alerts; the
// same requests from a trusted address work.
func TestDeletionRoutesTrustedOnly(t *testing.T) {
	st := openSQLite(t)
	srv := startServer(t, st, lapi.Config{}, lapi.Deps{})
	ctx := context.Background()
	ids, err := st.CreateAlerts(ctx, "", []*models.Alert{
		decided("a", "Ip", "192.0.2.1", storetest.Dec{}), decided("b", "Ip", "192.0.2.2", storetest.Dec{})})
	require.NoError(t, err)
	ds, err := st.ListDecisions(ctx, store.DecisionFilter{})
	require.NoError(t, err)
	attacker := newMachine(t, srv, untrusted, "attacker")
	admin := newMachine(t, srv, "127.0.0.1", "admin")
	routes := []struct {
		name, method, path string
	}{
		{"delete decisions by ip", "DELETE", "/v1/decisions?ip=192.0.2.1"},
		{"delete every decision", "DELETE", "/v1/decisions?all=true"},
		{"delete decision by id", "DELETE", "/v1/decisions/" + itoa(ds[1].ID)},
		{"delete alerts", "DELETE", "/v1/alerts?ip=192.0.2.1"},
		{"delete alert by id", "DELETE", "/v1/alerts/" + itoa(ids[1])},
	}
	for _, rt := range routes {
		t.Run(rt.name, func(t *testing.T) {
			r := attacker.raw(rt.method, rt.path, "")
			require.Equal(t, http.StatusForbidden, r.status, string(r.body))
			require.Contains(t, string(r.body), "access forbidden from this IP ("+untrusted+")")
			require.ElementsMatch(t, []string{"192.0.2.1", "192.0.2.2"}, activeValues(t, st), "nothing was deleted")
		})
	}
	r := admin.raw("DELETE", "/v1/decisions?ip=192.0.2.1", "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.JSONEq(t, `{"nbDeleted":"1"}`, string(r.body))
	r = admin.raw("DELETE", "/v1/decisions/"+itoa(ds[1].ID), "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Empty(t, activeValues(t, st))
	r = admin.raw("DELETE", "/v1/alerts/"+itoa(ids[0]), "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestUnfilteredDecisionDelete: DELETE /v1/decisions without a filter
// expires nothing unless "all" is asked explicitly (all=true, or cscli's
// `decisions delete --all`, an empty query string).
func TestUnfilteredDecisionDelete(t *testing.T) {
	for _, tc := range []struct {
		name    string
		path    string
		status  int
		deleted int
	}{
		{"bare path", "/v1/decisions", http.StatusUnprocessableEntity, 0},
		{"unknown parameters only", "/v1/decisions?foo=bar", http.StatusUnprocessableEntity, 0},
		{"empty filter values", "/v1/decisions?ip=&scope=", http.StatusUnprocessableEntity, 0},
		{"contains alone is no filter", "/v1/decisions?contains=false", http.StatusUnprocessableEntity, 0},
		{"all=false", "/v1/decisions?all=false", http.StatusUnprocessableEntity, 0},
		{"all=true", "/v1/decisions?all=true", http.StatusOK, 3},
		{"cscli --all (empty query)", "/v1/decisions?", http.StatusOK, 3},
		{"all with a filter", "/v1/decisions?all=true&ip=192.0.2.1", http.StatusBadRequest, 0},
		{"a filter", "/v1/decisions?type=captcha", http.StatusOK, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := openSQLite(t)
			srv := startServer(t, st, lapi.Config{}, lapi.Deps{})
			_, err := st.CreateAlerts(context.Background(), "", []*models.Alert{
				decided("a", "Ip", "192.0.2.1", storetest.Dec{}, storetest.Dec{Type: "captcha"}),
				decided("b", "Ip", "192.0.2.2", storetest.Dec{})})
			require.NoError(t, err)
			admin := newMachine(t, srv, "127.0.0.1", "admin")
			r := admin.raw("DELETE", tc.path, "")
			require.Equal(t, tc.status, r.status, string(r.body))
			require.Len(t, activeValues(t, st), 3-tc.deleted)
			if tc.status == http.StatusOK {
				require.JSONEq(t, `{"nbDeleted":"`+itoa(int64(tc.deleted))+`"}`, string(r.body))
			}
		})
	}
}

// hostAddr returns a non-loopback address of this host, if it has one.
func hostAddr(t testing.TB) (netip.Addr, bool) {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	require.NoError(t, err)
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ad, ok := netip.AddrFromSlice(ipn.IP); ok && !ad.Unmap().IsLoopback() && !ad.IsLinkLocalUnicast() {
				return ad.Unmap(), true
			}
		}
	}
	return netip.Addr{}, false
}

// TestDecisionGuard: a validated machine (from an untrusted address) posts
// alerts with explicit decisions on what must never be banned; each is
// refused (422 when nothing else was asked), logged and counted, and
// nothing is stored. Allowed decisions next to refused ones are kept.
func TestDecisionGuard(t *testing.T) {
	ctx := context.Background()
	type dec = storetest.Dec
	cases := []struct {
		name    string
		cfg     lapi.Config
		decs    []dec
		status  int
		reason  string // refusal counted, "" for none
		msg     string
		stored  []string
		noHost  bool // needs a non-loopback host address
		hostDec func(a netip.Addr) dec
	}{
		{name: "allowlisted ip", decs: []dec{{Scope: "Ip", Value: "192.168.1.10"}}, status: 422, reason: "allowlist",
			msg: "192.168.1.10 is allowlisted by 192.168.0.0/16 from lan"},
		{name: "range around an allowlisted ip", decs: []dec{{Scope: "Range", Value: "192.168.0.0/15"}}, status: 422, reason: "allowlist"},
		{name: "mapped allowlisted ip", decs: []dec{{Scope: "Ip", Value: "::ffff:192.168.1.10"}}, status: 422, reason: "allowlist"},
		{name: "everyone v4", decs: []dec{{Scope: "Range", Value: "0.0.0.0/0"}}, status: 422, reason: "prefix",
			msg: "0.0.0.0/0 is wider than /8"},
		{name: "everyone v6", decs: []dec{{Scope: "Range", Value: "::/0"}}, status: 422, reason: "prefix", msg: "::/0 is wider than /32"},
		{name: "wider than /8", decs: []dec{{Scope: "Range", Value: "10.0.0.0/7"}}, status: 422, reason: "prefix"},
		{name: "wider than /32 v6", decs: []dec{{Scope: "Range", Value: "2001:db8::/31"}}, status: 422, reason: "prefix"},
		{name: "a /8 is fine", decs: []dec{{Scope: "Range", Value: "10.0.0.0/8"}}, status: 201, stored: []string{"10.0.0.0/8"}},
		{name: "a /32 v6 is fine", decs: []dec{{Scope: "Range", Value: "2001:db8::/32"}}, status: 201, stored: []string{"2001:db8::/32"}},
		{name: "configured wider ranges", cfg: lapi.Config{MinDecisionPrefix: lapi.PrefixLengths{IPv4: ptr(0)}},
			decs: []dec{{Scope: "Range", Value: "0.0.0.0/0"}}, status: 422, reason: "never_ban", msg: "0.0.0.0/0 contains 127.0.0.0/8, a loopback address, never banned"},
		{name: "configured /4", cfg: lapi.Config{MinDecisionPrefix: lapi.PrefixLengths{IPv4: ptr(4)}},
			decs: []dec{{Scope: "Range", Value: "64.0.0.0/4"}}, status: 201, stored: []string{"64.0.0.0/4"}},
		{name: "loopback", decs: []dec{{Scope: "Ip", Value: "127.0.0.1"}}, status: 422, reason: "never_ban",
			msg: "127.0.0.1 is a loopback address, never banned"},
		{name: "never-ban disabled (labs)", cfg: lapi.Config{DisableNeverBan: true}, decs: []dec{{Scope: "Ip", Value: "127.0.0.2"}},
			status: 201, stored: []string{"127.0.0.2"}},
		{name: "loopback range", decs: []dec{{Scope: "Range", Value: "127.0.0.0/8"}}, status: 422, reason: "never_ban"},
		{name: "loopback v6", decs: []dec{{Scope: "Ip", Value: "::1"}}, status: 422, reason: "never_ban"},
		{name: "the LAPI's listen address", cfg: lapi.Config{ListenURI: "198.51.100.80:8080"},
			decs: []dec{{Scope: "Ip", Value: "198.51.100.80"}}, status: 422, reason: "never_ban",
			msg: "198.51.100.80 is the address the LAPI listens on"},
		{name: "the host's address", noHost: true, status: 422, reason: "never_ban",
			hostDec: func(a netip.Addr) dec { return dec{Scope: "Ip", Value: a.String()} }},
		{name: "a range around the host's address", noHost: true, status: 422, reason: "never_ban",
			hostDec: func(a netip.Addr) dec {
				bits := 24
				if a.Is6() {
					bits = 64
				}
				return dec{Scope: "Range", Value: netip.PrefixFrom(a, bits).Masked().String()}
			}},
		{name: "other scopes pass", decs: []dec{{Scope: "Country", Value: "FR"}}, status: 201, stored: []string{"FR"}},
		{name: "refused next to allowed", decs: []dec{{Scope: "Ip", Value: "127.0.0.1"}, {Scope: "Ip", Value: "203.0.113.7"}},
			status: 201, reason: "never_ban", stored: []string{"203.0.113.7"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.hostDec != nil {
				a, ok := hostAddr(t)
				if !ok {
					t.Skip("this host has no non-loopback address")
				}
				tc.decs = []dec{tc.hostDec(a)}
			}
			st := openSQLite(t)
			require.NoError(t, st.CreateAllowlist(ctx, &store.Allowlist{Name: "lan", Items: []store.AllowlistItem{{Value: "192.168.0.0/16"}}}))
			srv := startServer(t, st, tc.cfg, lapi.Deps{})
			attacker := newMachine(t, srv, untrusted, "attacker")
			r := attacker.post(decided("manual 'ban' from 'attacker'", "Ip", "203.0.113.1", tc.decs...))
			require.Equal(t, tc.status, r.status, string(r.body))
			if tc.msg != "" {
				require.Contains(t, string(r.body), tc.msg)
			}
			want := tc.stored
			if want == nil {
				want = []string{}
			}
			require.ElementsMatch(t, want, activeValues(t, st))
			if tc.reason != "" {
				require.InDelta(t, 1, counterValue(t, srv.reg, "cs_lapi_decisions_refused_total", "reason", tc.reason), 0)
			}
			if tc.status == 422 {
				all, err := st.ListAlerts(ctx, store.AlertFilter{})
				require.NoError(t, err)
				require.Empty(t, all, "an alert that asked only for refused decisions is not stored")
			}
		})
	}
}

// TestProfileDecisionsGuarded: an agent's alert about a loopback source
// (a log forged to make the LAPI ban itself) is stored, but the default
// profile's ban is refused and counted.
func TestProfileDecisionsGuarded(t *testing.T) {
	st := openSQLite(t)
	srv := startServer(t, st, lapi.Config{}, lapi.Deps{})
	agent := newMachine(t, srv, untrusted, "agent")
	r := agent.post(overflow("crowdsecurity/ssh-bf", "127.0.0.1"), overflow("crowdsecurity/ssh-bf", "203.0.113.50"))
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	var ids []string
	require.NoError(t, json.Unmarshal(r.body, &ids))
	require.Len(t, ids, 2, "both alerts are kept")
	require.Equal(t, []string{"203.0.113.50"}, activeValues(t, st))
	require.InDelta(t, 1, counterValue(t, srv.reg, "cs_lapi_decisions_refused_total", "reason", "never_ban"), 0)
}

// TestDurationsRejected: NaN, Inf, negative, zero and out-of-range
// durations and until times are refused with 422 and store nothing.
func TestDurationsRejected(t *testing.T) {
	st := openSQLite(t)
	srv := startServer(t, st, lapi.Config{}, lapi.Deps{})
	m := newMachine(t, srv, "127.0.0.1", "cli")
	for _, tc := range []struct {
		name, duration, until, msg string
	}{
		{name: "NaN days", duration: "NaNd", msg: `duration: \"NaNd\": not a duration`},
		{name: "Inf days", duration: "Infd", msg: "not a duration"},
		{name: "exponent days", duration: "1e308d", msg: "not a duration"},
		{name: "overflowing days", duration: "9999999999d", msg: "out of range"},
		{name: "beyond 100 years", duration: "36501d", msg: "out of range"},
		{name: "negative", duration: "-5h", msg: "not positive"},
		{name: "zero", duration: "0s", msg: "not positive"},
		{name: "garbage", duration: "soon", msg: "not a duration"},
		{name: "until year 9999", until: "9999-12-31T00:00:00Z", msg: "out of range"},
		{name: "until before 1970", until: "1900-01-01T00:00:00Z", msg: "out of range"},
		{name: "until not a time", until: "tomorrow", msg: "not RFC 3339"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := manual("203.0.113.9", "ban", tc.duration)
			a.Decisions[0].Until = tc.until
			r := m.post(a)
			require.Equal(t, http.StatusUnprocessableEntity, r.status, string(r.body))
			require.Contains(t, string(r.body), tc.msg)
			require.Empty(t, activeValues(t, st))
		})
	}
	t.Run("stop_at out of range", func(t *testing.T) {
		a := manual("203.0.113.9", "ban", "4h")
		a.StopAt = ptr("9999-01-01T00:00:00Z")
		r := m.post(a)
		require.Equal(t, http.StatusUnprocessableEntity, r.status, string(r.body))
		require.Contains(t, string(r.body), "stop_at")
	})
}

// TestRequestCaps: alerts per request and events per alert are capped
// (422 naming the cap); GET /v1/alerts caps limit (limit=0 is "all", up to
// the cap) and defaults to 100.
func TestRequestCaps(t *testing.T) {
	st := openSQLite(t)
	srv := startServer(t, st, lapi.Config{MaxAlertsPerRequest: 3, MaxEventsPerAlert: 2, MaxAlertsLimit: 4}, lapi.Deps{})
	m := newMachine(t, srv, "127.0.0.1", "agent")
	four := []*models.Alert{overflow("s", "203.0.113.1"), overflow("s", "203.0.113.2"), overflow("s", "203.0.113.3"), overflow("s", "203.0.113.4")}
	r := m.post(four...)
	require.Equal(t, http.StatusUnprocessableEntity, r.status, string(r.body))
	require.Contains(t, string(r.body), "max_alerts_per_request (3)")
	all, err := st.ListAlerts(context.Background(), store.AlertFilter{})
	require.NoError(t, err)
	require.Empty(t, all)

	r = m.post(four[:3]...)
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	fat := overflow("s", "203.0.113.5")
	fat.Events = append(fat.Events, fat.Events[0])
	r = m.post(fat)
	require.Equal(t, http.StatusUnprocessableEntity, r.status, string(r.body))
	require.Contains(t, string(r.body), "3 events, more than max_events_per_alert (2)")
	r = m.post(four[3])
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	m2 := newMachine(t, srv, "127.0.0.1", "agent2")
	r = m2.post(overflow("s", "203.0.113.6"))
	require.Equal(t, http.StatusCreated, r.status, string(r.body))

	count := func(query string) int {
		r := m.raw("GET", "/v1/alerts"+query, "")
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		var out []*models.Alert
		require.NoError(t, json.Unmarshal(r.body, &out))
		return len(out)
	}
	require.Equal(t, 4, count("?limit=0"), "limit=0 gets the cap")
	require.Equal(t, 4, count("?limit=1000"), "and so does a larger limit")
	require.Equal(t, 2, count("?limit=2"))
	require.Equal(t, 5, count(""), "no limit: CrowdSec's default of 100")
	require.Equal(t, http.StatusBadRequest, m.raw("GET", "/v1/alerts?limit=-1", "").status)
}

// TestAlertsFilterThroughDecisions: ip/range on GET and DELETE /v1/alerts
// match the alerts' decisions (CrowdSec): an imported decision is listed
// and deleted by its address, though its alert's source is the import.
func TestAlertsFilterThroughDecisions(t *testing.T) {
	st := openSQLite(t)
	srv := startServer(t, st, lapi.Config{}, lapi.Deps{})
	m := newMachine(t, srv, "127.0.0.1", "cli")
	imp := decided("import", "cscli-import", "list.csv", storetest.Dec{Scope: "Ip", Value: "192.0.2.77", Origin: "cscli-import"})
	r := m.post(imp, overflow("crowdsecurity/ssh-bf", "203.0.113.8"))
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	list := func(q string) []*models.Alert {
		r := m.raw("GET", "/v1/alerts?"+q, "")
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		var out []*models.Alert
		require.NoError(t, json.Unmarshal(r.body, &out))
		return out
	}
	got := list("ip=192.0.2.77")
	require.Len(t, got, 1)
	require.Equal(t, "list.csv", got[0].GetValue())
	require.Len(t, list("has_active_decision=true&ip=192.0.2.77"), 1)
	require.Len(t, list("range=192.0.2.0/24&contains=false"), 1)
	r = m.raw("DELETE", "/v1/alerts?ip=192.0.2.77", "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.JSONEq(t, `{"nbDeleted":"1"}`, string(r.body))
	require.Equal(t, []string{"203.0.113.8"}, activeValues(t, st))
}

// TestSimulatedAlertsListed: simulated alerts are listed unless
// simulated=false is sent (CrowdSec).
func TestSimulatedAlertsListed(t *testing.T) {
	st := openSQLite(t)
	srv := startServer(t, st, lapi.Config{}, lapi.Deps{})
	m := newMachine(t, srv, "127.0.0.1", "agent")
	sim := overflow("crowdsecurity/ssh-bf", "203.0.113.20")
	sim.Simulated = ptr(true)
	r := m.post(sim, overflow("crowdsecurity/ssh-bf", "203.0.113.21"))
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	for q, want := range map[string]int{"": 2, "?simulated=true": 2, "?simulated=false": 1} {
		r := m.raw("GET", "/v1/alerts"+q, "")
		require.Equal(t, http.StatusOK, r.status)
		var out []*models.Alert
		require.NoError(t, json.Unmarshal(r.body, &out))
		require.Len(t, out, want, q)
	}
}

// TestUntilFromStopAt: a decision lasts from its alert's stop_at (CrowdSec):
// an alert replayed from logs 90 days old gives an already expired
// decision, one stopped an hour ago a 4h ban with 3h left.
func TestUntilFromStopAt(t *testing.T) {
	st := openSQLite(t)
	srv := startServer(t, st, lapi.Config{}, lapi.Deps{})
	m := newMachine(t, srv, "127.0.0.1", "agent")
	key := addBouncer(t, st, "fw")
	old := storetest.Alert("crowdsecurity/ssh-bf", "Ip", "203.0.113.30", time.Now().Add(-90*24*time.Hour))
	old.Decisions = nil
	recent := storetest.Alert("crowdsecurity/ssh-bf", "Ip", "203.0.113.31", time.Now().Add(-time.Hour-time.Minute))
	recent.Decisions = nil
	r := m.post(old, recent)
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	s := streamOf(t, srv.url, key, "startup=true")
	require.Len(t, s.New, 1, "the replayed alert's decision is already over")
	require.Equal(t, "203.0.113.31", *s.New[0].Value)
	left, err := time.ParseDuration(*s.New[0].Duration)
	require.NoError(t, err)
	require.InDelta(t, 3*time.Hour, left, float64(time.Minute))
}

// TestStartupStreamHasNoDeleted: after a deletion, a startup pull answers
// the active decisions and "deleted": [] (CrowdSec); an incremental pull
// reports the deletion.
func TestStartupStreamHasNoDeleted(t *testing.T) {
	st := openSQLite(t)
	srv := startServer(t, st, lapi.Config{}, lapi.Deps{})
	m := newMachine(t, srv, "127.0.0.1", "cli")
	key := addBouncer(t, st, "fw")
	streamOf(t, srv.url, key, "startup=true")
	r := m.post(manual("203.0.113.40", "ban", "4h"), manual("203.0.113.41", "ban", "4h"))
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	r = m.raw("DELETE", "/v1/decisions?ip=203.0.113.40", "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	raw := do(t, "GET", srv.url+"/v1/decisions/stream?startup=true", nil, "X-Api-Key: "+key)
	require.Equal(t, http.StatusOK, raw.status)
	var s models.DecisionsStreamResponse
	require.NoError(t, json.Unmarshal(raw.body, &s))
	require.Equal(t, []string{"Ip:203.0.113.41:ban"}, values(s.New))
	require.True(t, strings.HasSuffix(strings.TrimSpace(string(raw.body)), `"deleted":[]}`), string(raw.body))
	key2 := addBouncer(t, st, "fw2")
	streamOf(t, srv.url, key2, "startup=true")
	r = m.raw("DELETE", "/v1/decisions?ip=203.0.113.41", "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	inc := streamOf(t, srv.url, key2, "")
	require.Equal(t, []string{"Ip:203.0.113.41:ban"}, values(inc.Deleted))
}
