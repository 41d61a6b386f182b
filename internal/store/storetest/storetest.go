package storetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
)

// NewStore opens a fresh, empty store; the suite closes it (Close must be
// idempotent, so the factory may also register a t.Cleanup closing it).
type NewStore func(t *testing.T) store.Store

// Run runs every behaviour of the store.Store contract against stores from
// newStore, one fresh store per test.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"machines", testMachines},
		{"bouncers", testBouncers},
		{"alerts_roundtrip", testAlertRoundtrip},
		{"alerts_filters", testAlertFilters},
		{"alerts_delete", testAlertDelete},
		{"alerts_invalid_is_atomic", testAlertInvalid},
		{"alerts_idempotent_by_uuid", testAlertIdempotent},
		{"alerts_until_from_stop_at", testAlertUntil},
		{"alerts_ip_through_decisions", testAlertIPThroughDecisions},
		{"decisions_filters", testDecisionFilters},
		{"decisions_expire", testDecisionExpire},
		{"decisions_changed_since", testChangedSince},
		{"decisions_list_active", testListActive},
		{"dashboard_users", testDashboardUsers},
		{"stats", testStats},
		{"alerts_raw_lines", testRawLines},
		{"allowlists", testAllowlists},
		{"allowlists_check", testAllowlistCheck},
		{"flush", testFlush},
		{"outbox", testOutbox},
		{"concurrent_writers", testConcurrent},
		{"context_canceled", testCanceled},
		{"closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			defer func() { require.NoError(t, s.Close()) }()
			tc.fn(t, s)
		})
	}
}

// NewShared opens two handles (as two LAPI replicas would) on one fresh,
// empty database.
type NewShared func(t *testing.T) (a, b store.Store)

// RunShared checks that two handles on one database see each other's
// writes and share one decision change sequence.
func RunShared(t *testing.T, newShared NewShared) {
	t.Run("replicas_see_each_other", func(t *testing.T) {
		a, b := newShared(t)
		defer a.Close()
		defer b.Close()
		testReplicas(t, a, b)
	})
	t.Run("replicas_follow_sequence", func(t *testing.T) {
		a, b := newShared(t)
		defer a.Close()
		defer b.Close()
		testFollow(t, a, b)
	})
}

// t0 is an hour ago: alerts started at t0 stopped (t0 + 1m) in the past,
// so their decisions end at stop_at + duration; those started hours after
// t0 stop in the future, which counts as now.
var t0 = time.Now().UTC().Truncate(time.Second).Add(-time.Hour)

func testMachines(t *testing.T, s store.Store) {
	ctx := context.Background()
	m := &store.Machine{ID: "agent1", PasswordHash: "$2a$10$hash", IPAddress: "127.0.0.1", Version: "v1.6.0",
		Scenarios: []string{"a/b", "c/d"}, AuthType: "password"}
	require.NoError(t, s.CreateMachine(ctx, m))
	require.ErrorIs(t, s.CreateMachine(ctx, m), store.ErrExists)
	require.NoError(t, s.CreateMachine(ctx, &store.Machine{ID: "agent0"}))

	got, err := s.GetMachine(ctx, "agent1")
	require.NoError(t, err)
	require.Equal(t, "$2a$10$hash", got.PasswordHash)
	require.Equal(t, []string{"a/b", "c/d"}, got.Scenarios)
	require.False(t, got.IsValidated)
	require.False(t, got.CreatedAt.IsZero())

	_, err = s.GetMachine(ctx, "nope")
	require.ErrorIs(t, err, store.ErrNotFound)

	up, err := s.UpdateMachine(ctx, "agent1", func(m *store.Machine) error {
		m.IsValidated = true
		m.Version = "v1.7.0"
		m.ID = "renamed" // ignored
		return nil
	})
	require.NoError(t, err)
	require.True(t, up.IsValidated)
	got, err = s.GetMachine(ctx, "agent1")
	require.NoError(t, err)
	require.True(t, got.IsValidated)
	require.Equal(t, "v1.7.0", got.Version)

	boom := errors.New("boom")
	_, err = s.UpdateMachine(ctx, "agent1", func(m *store.Machine) error { m.Version = "x"; return boom })
	require.ErrorIs(t, err, boom)
	got, _ = s.GetMachine(ctx, "agent1")
	require.Equal(t, "v1.7.0", got.Version, "a failed update changes nothing")
	_, err = s.UpdateMachine(ctx, "nope", func(*store.Machine) error { return nil })
	require.ErrorIs(t, err, store.ErrNotFound)

	hb := t0.Add(time.Hour)
	require.NoError(t, s.TouchMachines(ctx, map[string]time.Time{"agent1": hb, "ghost": hb}))
	require.NoError(t, s.TouchMachines(ctx, map[string]time.Time{"agent1": t0})) // never lowered
	got, _ = s.GetMachine(ctx, "agent1")
	require.True(t, got.LastHeartbeat.Equal(hb), got.LastHeartbeat)

	list, err := s.ListMachines(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, "agent0", list[0].ID)

	require.NoError(t, s.DeleteMachine(ctx, "agent0"))
	require.ErrorIs(t, s.DeleteMachine(ctx, "agent0"), store.ErrNotFound)
}

func testBouncers(t *testing.T, s store.Store) {
	ctx := context.Background()
	key := store.HashAPIKey("secret")
	require.Len(t, key, 128)
	require.NoError(t, s.CreateBouncer(ctx, &store.Bouncer{Name: "fw", KeyHash: key, IPAddress: "10.0.0.1"}))
	require.ErrorIs(t, s.CreateBouncer(ctx, &store.Bouncer{Name: "fw"}), store.ErrExists)
	require.NoError(t, s.CreateBouncer(ctx, &store.Bouncer{Name: "fw@10.0.0.2", KeyHash: key, IPAddress: "10.0.0.2", AutoCreated: true}))
	require.NoError(t, s.CreateBouncer(ctx, &store.Bouncer{Name: "other", KeyHash: store.HashAPIKey("x")}))

	bs, err := s.BouncersByKeyHash(ctx, key)
	require.NoError(t, err)
	require.Len(t, bs, 2)
	require.Equal(t, "fw", bs[0].Name)
	require.Equal(t, "api-key", bs[0].AuthType)
	require.True(t, bs[1].AutoCreated)
	bs, err = s.BouncersByKeyHash(ctx, store.HashAPIKey("unknown"))
	require.NoError(t, err)
	require.Empty(t, bs)

	_, err = s.UpdateBouncer(ctx, "fw", func(b *store.Bouncer) error { b.Type, b.Version = "cs-firewall-bouncer", "v0.0.31"; return nil })
	require.NoError(t, err)
	pull := t0.Add(time.Minute)
	require.NoError(t, s.TouchBouncers(ctx, map[string]time.Time{"fw": pull}))
	b, err := s.GetBouncer(ctx, "fw")
	require.NoError(t, err)
	require.Equal(t, "cs-firewall-bouncer", b.Type)
	require.True(t, b.LastPull.Equal(pull))

	all, err := s.ListBouncers(ctx)
	require.NoError(t, err)
	require.Len(t, all, 3)
	require.NoError(t, s.DeleteBouncer(ctx, "other"))
	require.ErrorIs(t, s.DeleteBouncer(ctx, "other"), store.ErrNotFound)
	_, err = s.GetBouncer(ctx, "other")
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testAlertRoundtrip(t *testing.T, s store.Store) {
	ctx := context.Background()
	require.NoError(t, s.CreateMachine(ctx, &store.Machine{ID: "agent1"}))
	in := Alert("crowdsecurity/ssh-bf", "Ip", "192.0.2.7", t0, Dec{}, Dec{Type: "captcha", Duration: "1d"})
	in.UUID = "5a0f8a2e-0000-4000-8000-000000000001"
	in.Decisions[1].Until = ""
	ids, err := s.CreateAlerts(ctx, "agent1", []*models.Alert{in, Alert("b", "Range", "198.51.100.0/24", t0)})
	require.NoError(t, err)
	require.Len(t, ids, 2)
	require.Less(t, ids[0], ids[1])

	got, err := s.GetAlert(ctx, ids[0])
	require.NoError(t, err)
	require.Equal(t, ids[0], got.ID)
	require.Equal(t, in.UUID, got.UUID)
	require.Equal(t, "agent1", got.MachineID)
	require.NotEmpty(t, got.CreatedAt)
	for _, f := range []struct{ want, got any }{
		{*in.Scenario, *got.Scenario}, {*in.ScenarioHash, *got.ScenarioHash}, {*in.ScenarioVersion, *got.ScenarioVersion},
		{*in.Message, *got.Message}, {*in.EventsCount, *got.EventsCount}, {*in.StartAt, *got.StartAt},
		{*in.StopAt, *got.StopAt}, {*in.Capacity, *got.Capacity}, {*in.Leakspeed, *got.Leakspeed},
		{*in.Simulated, *got.Simulated}, {in.Remediation, got.Remediation}, {in.Kind, got.Kind},
		{in.Labels, got.Labels}, {in.Meta, got.Meta}, {in.Events, got.Events}, {in.Source, got.Source},
	} {
		require.Equal(t, f.want, f.got)
	}
	require.Len(t, got.Decisions, 2)
	d := got.Decisions[0]
	require.NotZero(t, d.ID)
	require.NotEmpty(t, d.UUID)
	require.Equal(t, "ban", *d.Type)
	require.Equal(t, "Ip", *d.Scope)
	require.Equal(t, "192.0.2.7", *d.Value)
	require.Equal(t, "crowdsecurity/ssh-bf", *d.Scenario)
	require.Equal(t, "crowdsec", *d.Origin)
	// until = the alert's stop_at + duration (CrowdSec's rule), not now + duration.
	stop, err := time.Parse(time.RFC3339, *in.StopAt)
	require.NoError(t, err)
	ds0, err := s.ListDecisions(ctx, store.DecisionFilter{AlertID: ids[0]})
	require.NoError(t, err)
	require.Len(t, ds0, 2)
	require.True(t, ds0[0].Until.Equal(stop.Add(4*time.Hour)), "until %s, stop_at %s", ds0[0].Until, stop)
	require.True(t, ds0[1].Until.Equal(stop.Add(24*time.Hour)), "until %s, stop_at %s", ds0[1].Until, stop)
	dur, err := time.ParseDuration(*d.Duration)
	require.NoError(t, err)
	require.InDelta(t, time.Until(stop.Add(4*time.Hour)), dur, float64(time.Minute))

	m, err := s.GetMachine(ctx, "agent1")
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), m.LastPush, time.Minute)

	second, err := s.GetAlert(ctx, ids[1])
	require.NoError(t, err)
	require.NotEmpty(t, second.UUID, "a missing uuid is generated")
	require.Empty(t, second.Decisions)

	_, err = s.GetAlert(ctx, ids[1]+100)
	require.ErrorIs(t, err, store.ErrNotFound)

	// An explicit until wins over the duration.
	until := time.Now().Add(90 * time.Minute).UTC().Truncate(time.Second)
	a := Alert("c", "Ip", "192.0.2.8", t0, Dec{})
	a.Decisions[0].Until = until.Format(time.RFC3339)
	ids, err = s.CreateAlerts(ctx, "", []*models.Alert{a})
	require.NoError(t, err)
	ds, err := s.ListDecisions(ctx, store.DecisionFilter{AlertID: ids[0]})
	require.NoError(t, err)
	require.Len(t, ds, 1)
	require.True(t, ds[0].Until.Equal(until), ds[0].Until)
	require.Equal(t, ids[0], ds[0].AlertID)
}

// seedAlerts stores a varied set of alerts and returns their ids by name.
func seedAlerts(t *testing.T, s store.Store) map[string]int64 {
	t.Helper()
	named := []struct {
		name string
		a    *models.Alert
	}{
		{"v4", Alert("ssh-bf", "Ip", "192.0.2.1", t0, Dec{})},
		{"v4-expired", Alert("ssh-bf", "Ip", "192.0.2.2", t0.Add(time.Hour), Dec{Until: time.Now().Add(-time.Hour)})},
		{"v4-range", Alert("http-scan", "Range", "198.51.100.0/24", t0.Add(2*time.Hour), Dec{Type: "captcha"})},
		{"v6", Alert("http-scan", "Ip", "2001:db8::1", t0.Add(3*time.Hour), Dec{Origin: "cscli"})},
		{"v6-range", Alert("http-probe", "Range", "2001:db8::/32", t0.Add(4*time.Hour), Dec{Origin: "CAPI"})},
		{"no-decision", Alert("http-probe", "Ip", "203.0.113.9", t0.Add(5*time.Hour))},
		{"simulated", Alert("ssh-bf", "Ip", "203.0.113.10", t0.Add(6*time.Hour), Dec{Simulated: true})},
		{"country", Alert("geo", "Country", "FR", t0.Add(7*time.Hour))},
	}
	named[6].a.Simulated = bp(true)
	named[7].a.Kind = "cscli"
	out := map[string]int64{}
	for _, n := range named {
		ids, err := s.CreateAlerts(context.Background(), "agent1", []*models.Alert{n.a})
		require.NoError(t, err)
		out[n.name] = ids[0]
	}
	return out
}

func alertNames(ids map[string]int64, got []*models.Alert) []string {
	rev := map[int64]string{}
	for n, id := range ids {
		rev[id] = n
	}
	out := []string{}
	for _, a := range got {
		out = append(out, rev[a.ID])
	}
	return out
}

func testAlertFilters(t *testing.T, s store.Store) {
	ids := seedAlerts(t, s)
	f := false
	tr := true
	cases := []struct {
		name   string
		filter store.AlertFilter
		want   []string // in result order
	}{
		{"all, newest first, simulated left out", store.AlertFilter{}, []string{"country", "no-decision", "v6-range", "v6", "v4-range", "v4-expired", "v4"}},
		{"ascending with limit", store.AlertFilter{SortAsc: true, Limit: 2}, []string{"v4", "v4-expired"}},
		{"include simulated", store.AlertFilter{IncludeSimulated: true, Scenario: "ssh-bf"}, []string{"simulated", "v4-expired", "v4"}},
		{"scenario", store.AlertFilter{Scenario: "http-scan"}, []string{"v6", "v4-range"}},
		{"scope case-insensitive", store.AlertFilter{Scope: "range"}, []string{"v6-range", "v4-range"}},
		{"value", store.AlertFilter{Value: "192.0.2.1"}, []string{"v4"}},
		{"ip inside a range alert", store.AlertFilter{IP: "198.51.100.77"}, []string{"v4-range"}},
		{"ipv6 inside v6 range", store.AlertFilter{IP: "2001:db8::1"}, []string{"v6-range", "v6"}},
		{"mapped ipv4 is ipv4", store.AlertFilter{IP: "::ffff:192.0.2.1"}, []string{"v4"}},
		{"range contains (default)", store.AlertFilter{Range: "198.51.100.0/25"}, []string{"v4-range"}},
		{"range contained", store.AlertFilter{Range: "192.0.2.0/24", Contains: &f}, []string{"v4-expired", "v4"}},
		{"v6 range contained", store.AlertFilter{Range: "2001:db8::/16", Contains: &f}, []string{"v6-range", "v6"}},
		{"since", store.AlertFilter{Since: t0.Add(5 * time.Hour)}, []string{"country", "no-decision"}},
		{"until", store.AlertFilter{Until: t0.Add(time.Hour)}, []string{"v4-expired", "v4"}},
		{"has active decision", store.AlertFilter{HasActiveDecision: &tr}, []string{"v6-range", "v6", "v4-range", "v4"}},
		{"has no active decision", store.AlertFilter{HasActiveDecision: &f}, []string{"country", "no-decision", "v4-expired"}},
		{"decision type", store.AlertFilter{DecisionType: "captcha"}, []string{"v4-range"}},
		{"origin", store.AlertFilter{Origin: "cscli"}, []string{"v6"}},
		{"exclude capi", store.AlertFilter{ExcludeOrigins: []string{"CAPI", "lists"}, Scenario: "http-probe"}, []string{"no-decision"}},
		{"kind", store.AlertFilter{Kind: "cscli"}, []string{"country"}},
		{"created before (all)", store.AlertFilter{CreatedBefore: time.Now().Add(time.Hour), Scenario: "geo"}, []string{"country"}},
		{"created before (none)", store.AlertFilter{CreatedBefore: t0}, []string{}},
		{"ids", store.AlertFilter{IDs: []int64{ids["v4"], ids["v6"]}}, []string{"v6", "v4"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListAlerts(context.Background(), tc.filter)
			require.NoError(t, err)
			require.Equal(t, tc.want, alertNames(ids, got))
		})
	}
	_, err := s.ListAlerts(context.Background(), store.AlertFilter{IP: "not-an-ip"})
	require.ErrorIs(t, err, store.ErrInvalid)
}

func testAlertDelete(t *testing.T, s store.Store) {
	ctx := context.Background()
	ids := seedAlerts(t, s)
	seq, err := s.DecisionSeq(ctx)
	require.NoError(t, err)

	n, err := s.DeleteAlerts(ctx, store.AlertFilter{Scenario: "http-scan"})
	require.NoError(t, err)
	require.EqualValues(t, 2, n)
	_, err = s.GetAlert(ctx, ids["v6"])
	require.ErrorIs(t, err, store.ErrNotFound)

	// The active decisions of deleted alerts were expired (streams see
	// them) and kept, detached.
	changed, err := s.DecisionsChangedSince(ctx, seq, 0)
	require.NoError(t, err)
	require.Len(t, changed, 2)
	for _, d := range changed {
		require.False(t, d.Active(time.Now()))
		require.Zero(t, d.AlertID)
	}

	require.NoError(t, s.DeleteAlert(ctx, ids["v4"]))
	require.ErrorIs(t, s.DeleteAlert(ctx, ids["v4"]), store.ErrNotFound)
	left, err := s.ListAlerts(ctx, store.AlertFilter{IncludeSimulated: true})
	require.NoError(t, err)
	require.Len(t, left, 5)
}

func testAlertInvalid(t *testing.T, s store.Store) {
	ctx := context.Background()
	cases := []struct {
		name  string
		alert *models.Alert
	}{
		{"bad ip decision", Alert("x", "Ip", "999.1.1.1", t0, Dec{})},
		{"bad range decision", Alert("x", "Range", "10.0.0.0/99", t0, Dec{})},
		{"bad duration", Alert("x", "Ip", "10.0.0.1", t0, Dec{Duration: "soon"})},
		{"NaN duration", Alert("x", "Ip", "10.0.0.1", t0, Dec{Duration: "NaNd"})},
		{"negative duration", Alert("x", "Ip", "10.0.0.1", t0, Dec{Duration: "-5h"})},
		{"zero duration", Alert("x", "Ip", "10.0.0.1", t0, Dec{Duration: "0s"})},
		{"overflowing duration", Alert("x", "Ip", "10.0.0.1", t0, Dec{Duration: "9999999999d"})},
		{"until beyond year 2200", Alert("x", "Ip", "10.0.0.1", t0, Dec{Until: time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)})},
		{"until before 1970", Alert("x", "Ip", "10.0.0.1", t0, Dec{Until: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)})},
		{"stop_at beyond year 2200", Alert("x", "Ip", "10.0.0.1", time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), Dec{})},
		{"bad start_at", func() *models.Alert { a := Alert("x", "Ip", "10.0.0.1", t0); a.StartAt = sp("yesterday"); return a }()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ok := Alert("ok", "Ip", "10.0.0.2", t0, Dec{})
			_, err := s.CreateAlerts(ctx, "", []*models.Alert{ok, tc.alert})
			require.ErrorIs(t, err, store.ErrInvalid)
			all, err := s.ListAlerts(ctx, store.AlertFilter{IncludeSimulated: true})
			require.NoError(t, err)
			require.Empty(t, all, "nothing of a failed batch is stored")
		})
	}
}

// seedDecisions stores one alert per decision and returns decision ids by name.
func seedDecisions(t *testing.T, s store.Store) map[string]int64 {
	t.Helper()
	named := []struct {
		name string
		a    *models.Alert
	}{
		{"ip4", Alert("crowdsecurity/ssh-bf", "Ip", "192.0.2.1", t0, Dec{})},
		{"ip4-captcha", Alert("crowdsecurity/http-bf", "Ip", "192.0.2.1", t0, Dec{Type: "captcha"})},
		{"range4", Alert("crowdsecurity/http-scan", "Range", "192.0.2.0/24", t0, Dec{Origin: "cscli"})},
		{"ip6", Alert("crowdsecurity/ssh-bf", "Ip", "2001:db8::5", t0, Dec{Origin: "CAPI"})},
		{"range6", Alert("crowdsecurity/http-probe", "Range", "2001:db8:1::/48", t0, Dec{Origin: "lists"})},
		{"expired", Alert("crowdsecurity/ssh-bf", "Ip", "192.0.2.9", t0, Dec{Until: time.Now().Add(-time.Minute)})},
		{"simulated", Alert("crowdsecurity/ssh-slow", "Ip", "192.0.2.10", t0, Dec{Simulated: true})},
		{"country", Alert("geo", "Country", "RU", t0, Dec{})},
		{"mapped", Alert("x/mapped", "Ip", "::ffff:203.0.113.5", t0, Dec{})},
	}
	out := map[string]int64{}
	for _, n := range named {
		ids, err := s.CreateAlerts(context.Background(), "", []*models.Alert{n.a})
		require.NoError(t, err)
		ds, err := s.ListDecisions(context.Background(), store.DecisionFilter{AlertID: ids[0]})
		require.NoError(t, err)
		require.Len(t, ds, 1)
		out[n.name] = ds[0].ID
	}
	return out
}

func decisionNames(ids map[string]int64, got []*store.Decision) []string {
	rev := map[int64]string{}
	for n, id := range ids {
		rev[id] = n
	}
	out := []string{}
	for _, d := range got {
		out = append(out, rev[d.ID])
	}
	sort.Strings(out)
	return out
}

func testDecisionFilters(t *testing.T, s store.Store) {
	ids := seedDecisions(t, s)
	now := time.Now()
	f := false
	cases := []struct {
		name   string
		filter store.DecisionFilter
		want   []string
	}{
		{"active", store.DecisionFilter{ActiveAt: now}, []string{"country", "ip4", "ip4-captcha", "ip6", "mapped", "range4", "range6", "simulated"}},
		{"active, not simulated", store.DecisionFilter{ActiveAt: now, ExcludeSimulated: true}, []string{"country", "ip4", "ip4-captcha", "ip6", "mapped", "range4", "range6"}},
		{"ip contained in range and ips", store.DecisionFilter{IP: "192.0.2.1"}, []string{"ip4", "ip4-captcha", "range4"}},
		{"ip only in range", store.DecisionFilter{IP: "192.0.2.200"}, []string{"range4"}},
		{"mapped query", store.DecisionFilter{IP: "::ffff:192.0.2.200"}, []string{"range4"}},
		{"mapped decision", store.DecisionFilter{IP: "203.0.113.5"}, []string{"mapped"}},
		{"v6 ip", store.DecisionFilter{IP: "2001:db8::5"}, []string{"ip6"}},
		{"v6 in range", store.DecisionFilter{IP: "2001:db8:1::42"}, []string{"range6"}},
		{"v6 range contains", store.DecisionFilter{Range: "2001:db8:1:2::/64"}, []string{"range6"}},
		{"v4 contained in range", store.DecisionFilter{Range: "192.0.2.0/24", Contains: &f}, []string{"expired", "ip4", "ip4-captcha", "range4", "simulated"}},
		{"v6 contained in range", store.DecisionFilter{Range: "2001:db8::/32", Contains: &f}, []string{"ip6", "range6"}},
		{"type", store.DecisionFilter{Type: "captcha"}, []string{"ip4-captcha"}},
		{"scope ci", store.DecisionFilter{Scope: "country"}, []string{"country"}},
		{"value", store.DecisionFilter{Value: "192.0.2.1"}, []string{"ip4", "ip4-captcha"}},
		{"origins", store.DecisionFilter{Origins: []string{"CAPI", "lists"}}, []string{"ip6", "range6"}},
		{"scenario exact", store.DecisionFilter{Scenario: "crowdsecurity/ssh-bf"}, []string{"expired", "ip4", "ip6"}},
		{"scenarios containing", store.DecisionFilter{ScenariosContaining: []string{"HTTP", "slow"}}, []string{"ip4-captcha", "range4", "range6", "simulated"}},
		{"scenarios not containing", store.DecisionFilter{ScenariosNotContaining: []string{"crowdsecurity"}}, []string{"country", "mapped"}},
		{"like wildcards are literal", store.DecisionFilter{ScenariosContaining: []string{"%"}}, []string{}},
		{"ids", store.DecisionFilter{IDs: []int64{ids["ip6"], ids["country"]}}, []string{"country", "ip6"}},
		{"no ids", store.DecisionFilter{IDs: []int64{}}, []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListDecisions(context.Background(), tc.filter)
			require.NoError(t, err)
			require.Equal(t, tc.want, decisionNames(ids, got))
		})
	}
	t.Run("paging", func(t *testing.T) {
		var seen []int64
		var after int64
		for {
			page, err := s.ListDecisions(context.Background(), store.DecisionFilter{AfterID: after, Limit: 4})
			require.NoError(t, err)
			if len(page) == 0 {
				break
			}
			for _, d := range page {
				seen = append(seen, d.ID)
				after = d.ID
			}
		}
		require.Len(t, seen, len(ids))
		require.True(t, sort.SliceIsSorted(seen, func(i, j int) bool { return seen[i] < seen[j] }))
	})
	t.Run("model", func(t *testing.T) {
		ds, err := s.ListDecisions(context.Background(), store.DecisionFilter{IDs: []int64{ids["ip4"]}})
		require.NoError(t, err)
		m := ds[0].Model(ds[0].Until.Add(-90 * time.Second))
		require.Equal(t, "1m30s", *m.Duration)
		require.Equal(t, ds[0].Until.UTC().Format(time.RFC3339), m.Until)
		require.False(t, *m.Simulated)
	})
}

func testDecisionExpire(t *testing.T, s store.Store) {
	ctx := context.Background()
	ids := seedDecisions(t, s)
	now := time.Now()
	before, err := s.ListDecisions(ctx, store.DecisionFilter{})
	require.NoError(t, err)
	seqOf := map[int64]int64{}
	for _, d := range before {
		seqOf[d.ID] = d.Seq
	}
	seq0, err := s.DecisionSeq(ctx)
	require.NoError(t, err)

	n, err := s.ExpireDecisions(ctx, now, store.DecisionFilter{IP: "192.0.2.1"})
	require.NoError(t, err)
	require.EqualValues(t, 3, n)
	n, err = s.ExpireDecisions(ctx, now, store.DecisionFilter{IP: "192.0.2.1"})
	require.NoError(t, err)
	require.Zero(t, n, "already expired decisions are not expired again")
	n, err = s.ExpireDecisions(ctx, now, store.DecisionFilter{Value: "192.0.2.9"})
	require.NoError(t, err)
	require.Zero(t, n, "a decision that expired by itself is left alone")

	ds, err := s.ListDecisions(ctx, store.DecisionFilter{IDs: []int64{ids["ip4"], ids["ip4-captcha"], ids["range4"]}})
	require.NoError(t, err)
	for _, d := range ds {
		require.True(t, d.Until.Equal(now.UTC()) || d.Until.Sub(now).Abs() < time.Millisecond, d.Until)
		require.Greater(t, d.Seq, seq0, "expiry bumps the change sequence")
		require.Greater(t, d.Seq, seqOf[d.ID])
	}
	seq1, err := s.DecisionSeq(ctx)
	require.NoError(t, err)
	require.Equal(t, seq0+3, seq1)

	require.NoError(t, s.ExpireDecision(ctx, now, ids["country"]))
	require.NoError(t, s.ExpireDecision(ctx, now, ids["country"]), "expiring twice is a no-op")
	seq2, _ := s.DecisionSeq(ctx)
	require.Equal(t, seq1+1, seq2)
	require.ErrorIs(t, s.ExpireDecision(ctx, now, 1<<40), store.ErrNotFound)

	active, err := s.ListDecisions(ctx, store.DecisionFilter{ActiveAt: now})
	require.NoError(t, err)
	require.Equal(t, []string{"ip6", "mapped", "range6", "simulated"}, decisionNames(ids, active))
}

func testChangedSince(t *testing.T, s store.Store) {
	ctx := context.Background()
	seq, err := s.DecisionSeq(ctx)
	require.NoError(t, err)
	require.Zero(t, seq)
	all, err := s.DecisionsChangedSince(ctx, 0, 0)
	require.NoError(t, err)
	require.Empty(t, all)

	var batch []*models.Alert
	for i := range 10 {
		batch = append(batch, Alert("s", "Ip", fmt.Sprintf("10.0.0.%d", i), t0, Dec{}, Dec{Type: "captcha"}))
	}
	_, err = s.CreateAlerts(ctx, "", batch)
	require.NoError(t, err)
	n, err := s.ExpireDecisions(ctx, time.Now(), store.DecisionFilter{Type: "captcha", Value: "10.0.0.3"})
	require.NoError(t, err)
	require.EqualValues(t, 1, n)

	// Page through with a small limit: 20 rows, the expired one last (its
	// expiry moved it to the end of the sequence).
	var got []*store.Decision
	var last int64
	for {
		page, err := s.DecisionsChangedSince(ctx, last, 6)
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		last = page[len(page)-1].Seq
	}
	require.Len(t, got, 20)
	for i := 1; i < len(got); i++ {
		require.Greater(t, got[i].Seq, got[i-1].Seq)
	}
	tail := got[len(got)-1]
	require.Equal(t, "10.0.0.3", tail.Value)
	require.Equal(t, "captcha", tail.Type)
	require.False(t, tail.Active(time.Now()))
	cur, err := s.DecisionSeq(ctx)
	require.NoError(t, err)
	require.Equal(t, tail.Seq, cur)
}

func testListActive(t *testing.T, s store.Store) {
	ctx := context.Background()
	ids := seedDecisions(t, s)
	var seen []*store.Decision
	require.NoError(t, s.ListActiveDecisions(ctx, time.Now(), func(d *store.Decision) error {
		seen = append(seen, d)
		return nil
	}))
	require.Equal(t, []string{"country", "ip4", "ip4-captcha", "ip6", "mapped", "range4", "range6", "simulated"}, decisionNames(ids, seen))

	stop := errors.New("stop")
	calls := 0
	err := s.ListActiveDecisions(ctx, time.Now(), func(*store.Decision) error { calls++; return stop })
	require.ErrorIs(t, err, stop)
	require.Equal(t, 1, calls)
}

func testAllowlists(t *testing.T, s store.Store) {
	ctx := context.Background()
	exp := t0.Add(48 * time.Hour)
	require.NoError(t, s.CreateAllowlist(ctx, &store.Allowlist{Name: "office", Description: "our nets", Items: []store.AllowlistItem{
		{Value: "192.0.2.0/24", Comment: "lan"},
		{Value: "2001:db8::/32", Expiration: exp},
	}}))
	require.ErrorIs(t, s.CreateAllowlist(ctx, &store.Allowlist{Name: "office"}), store.ErrExists)
	require.ErrorIs(t, s.CreateAllowlist(ctx, &store.Allowlist{Name: "bad", Items: []store.AllowlistItem{{Value: "nope"}}}), store.ErrInvalid)
	require.NoError(t, s.CreateAllowlist(ctx, &store.Allowlist{Name: "empty"}))

	a, err := s.GetAllowlist(ctx, "office")
	require.NoError(t, err)
	require.Equal(t, "our nets", a.Description)
	require.Len(t, a.Items, 2)
	require.Equal(t, "lan", a.Items[0].Comment)
	require.True(t, a.Items[1].Expiration.Equal(exp))
	require.True(t, a.Items[0].Expiration.IsZero())

	n, err := s.AddAllowlistItems(ctx, "office", []store.AllowlistItem{{Value: "192.0.2.0/24", Comment: "replaced"}, {Value: "203.0.113.4"}})
	require.NoError(t, err)
	require.EqualValues(t, 2, n)
	_, err = s.AddAllowlistItems(ctx, "ghost", []store.AllowlistItem{{Value: "1.2.3.4"}})
	require.ErrorIs(t, err, store.ErrNotFound)
	a, _ = s.GetAllowlist(ctx, "office")
	require.Len(t, a.Items, 3)

	n, err = s.RemoveAllowlistItems(ctx, "office", []string{"203.0.113.4", "absent"})
	require.NoError(t, err)
	require.EqualValues(t, 1, n)

	lists, err := s.ListAllowlists(ctx, false)
	require.NoError(t, err)
	require.Len(t, lists, 2)
	require.Equal(t, "empty", lists[0].Name)
	require.Empty(t, lists[1].Items)
	lists, err = s.ListAllowlists(ctx, true)
	require.NoError(t, err)
	require.Len(t, lists[1].Items, 2)

	require.NoError(t, s.DeleteAllowlist(ctx, "empty"))
	require.ErrorIs(t, s.DeleteAllowlist(ctx, "empty"), store.ErrNotFound)
	_, err = s.GetAllowlist(ctx, "empty")
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testAllowlistCheck(t *testing.T, s store.Store) {
	ctx := context.Background()
	require.NoError(t, s.CreateAllowlist(ctx, &store.Allowlist{Name: "a", Items: []store.AllowlistItem{
		{Value: "192.0.2.0/24", Comment: "lan"},
		{Value: "2001:db8::/32"},
		{Value: "198.51.100.7", Expiration: t0},
	}}))
	require.NoError(t, s.CreateAllowlist(ctx, &store.Allowlist{Name: "b", Items: []store.AllowlistItem{{Value: "192.0.2.128/25"}}}))
	cases := []struct {
		name  string
		value string
		want  []string // list:value
	}{
		{"v4 in two lists", "192.0.2.200", []string{"a:192.0.2.0/24", "b:192.0.2.128/25"}},
		{"v4 in one", "192.0.2.1", []string{"a:192.0.2.0/24"}},
		{"mapped v4", "::ffff:192.0.2.1", []string{"a:192.0.2.0/24"}},
		{"range inside", "192.0.2.0/26", []string{"a:192.0.2.0/24"}},
		{"range wider than items", "192.0.0.0/16", nil},
		{"v6", "2001:db8:abcd::1", []string{"a:2001:db8::/32"}},
		{"expired item", "198.51.100.7", nil},
		{"outside", "203.0.113.1", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := s.CheckAllowlists(ctx, tc.value, t0.Add(time.Hour))
			require.NoError(t, err)
			var got []string
			for _, m := range ms {
				got = append(got, m.Allowlist+":"+m.Item.Value)
			}
			require.Equal(t, tc.want, got)
		})
	}
	ms, err := s.CheckAllowlists(ctx, "198.51.100.7", t0.Add(-time.Hour))
	require.NoError(t, err)
	require.Len(t, ms, 1, "not yet expired")
	_, err = s.CheckAllowlists(ctx, "garbage", t0)
	require.ErrorIs(t, err, store.ErrInvalid)
}

func testFlush(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now()
	// 6 alerts: 2 with an active decision, 2 with an expired one (one
	// expired long ago), 2 without decisions.
	_, err := s.CreateAlerts(ctx, "", []*models.Alert{
		Alert("s", "Ip", "10.0.0.1", t0, Dec{Until: now.Add(-72 * time.Hour)}),
		Alert("s", "Ip", "10.0.0.2", t0, Dec{Until: now.Add(-time.Minute)}),
		Alert("s", "Ip", "10.0.0.3", t0),
		Alert("s", "Ip", "10.0.0.4", t0, Dec{}),
		Alert("s", "Ip", "10.0.0.5", t0),
		Alert("s", "Ip", "10.0.0.6", t0, Dec{}),
	})
	require.NoError(t, err)
	require.NoError(t, s.CreateAllowlist(ctx, &store.Allowlist{Name: "a", Items: []store.AllowlistItem{
		{Value: "10.1.0.0/16", Expiration: now.Add(-time.Second)}, {Value: "10.2.0.0/16"},
	}}))

	res, err := s.Flush(ctx, now, store.FlushPolicy{})
	require.NoError(t, err)
	require.Equal(t, store.FlushResult{AllowlistItems: 1}, res, "a zero policy only drops expired allowlist items")

	res, err = s.Flush(ctx, now, store.FlushPolicy{DecisionsExpiredFor: 24 * time.Hour})
	require.NoError(t, err)
	require.EqualValues(t, 1, res.Decisions)
	ds, err := s.ListDecisions(ctx, store.DecisionFilter{})
	require.NoError(t, err)
	require.Len(t, ds, 3)

	res, err = s.Flush(ctx, now, store.FlushPolicy{AlertsMaxItems: 3})
	require.NoError(t, err)
	require.EqualValues(t, 3, res.Alerts, "the 3 oldest unprotected alerts go")
	left, err := s.ListAlerts(ctx, store.AlertFilter{SortAsc: true})
	require.NoError(t, err)
	var vals []string
	for _, a := range left {
		vals = append(vals, a.GetValue())
	}
	require.Equal(t, []string{"10.0.0.4", "10.0.0.5", "10.0.0.6"}, vals)

	res, err = s.Flush(ctx, now.Add(time.Hour), store.FlushPolicy{AlertsMaxAge: time.Minute})
	require.NoError(t, err)
	require.EqualValues(t, 1, res.Alerts, "alerts with an active decision are kept")
	left, err = s.ListAlerts(ctx, store.AlertFilter{})
	require.NoError(t, err)
	require.Len(t, left, 2)
}

func testConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	const workers, perWorker = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker*2)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				v := fmt.Sprintf("10.%d.%d.1", w, i)
				if _, err := s.CreateAlerts(ctx, "", []*models.Alert{Alert("c", "Ip", v, t0, Dec{}, Dec{Type: "captcha"})}); err != nil {
					errs <- err
				}
				if i%3 == 0 {
					if _, err := s.ExpireDecisions(ctx, time.Now(), store.DecisionFilter{Value: v, Type: "captcha"}); err != nil {
						errs <- err
					}
				}
				if _, err := s.ListDecisions(ctx, store.DecisionFilter{Value: v}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	alerts, err := s.ListAlerts(ctx, store.AlertFilter{})
	require.NoError(t, err)
	require.Len(t, alerts, workers*perWorker)
	changes, err := s.DecisionsChangedSince(ctx, 0, 0)
	require.NoError(t, err)
	require.Len(t, changes, workers*perWorker*2)
	expired := 0
	for i, d := range changes {
		if i > 0 {
			require.Greater(t, d.Seq, changes[i-1].Seq)
		}
		if !d.Active(time.Now()) {
			expired++
		}
	}
	require.Equal(t, workers*4, expired)
}

func testCanceled(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.CreateAlerts(ctx, "", []*models.Alert{Alert("c", "Ip", "10.0.0.1", t0, Dec{})})
	require.ErrorIs(t, err, context.Canceled)
	_, err = s.ListAlerts(ctx, store.AlertFilter{})
	require.ErrorIs(t, err, context.Canceled)
	all, err := s.ListAlerts(context.Background(), store.AlertFilter{})
	require.NoError(t, err)
	require.Empty(t, all)
}

func testClosed(t *testing.T, s store.Store) {
	ctx := context.Background()
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")
	_, err := s.CreateAlerts(ctx, "", []*models.Alert{Alert("c", "Ip", "10.0.0.1", t0)})
	require.ErrorIs(t, err, store.ErrClosed)
	_, err = s.ListAlerts(ctx, store.AlertFilter{})
	require.ErrorIs(t, err, store.ErrClosed)
	_, err = s.GetMachine(ctx, "x")
	require.ErrorIs(t, err, store.ErrClosed)
}

func testReplicas(t *testing.T, a, b store.Store) {
	ctx := context.Background()
	require.NoError(t, a.CreateBouncer(ctx, &store.Bouncer{Name: "fw", KeyHash: store.HashAPIKey("k")}))
	require.ErrorIs(t, b.CreateBouncer(ctx, &store.Bouncer{Name: "fw"}), store.ErrExists)
	_, err := a.CreateAlerts(ctx, "", []*models.Alert{Alert("s", "Ip", "192.0.2.1", t0, Dec{})})
	require.NoError(t, err)
	ds, err := b.ListDecisions(ctx, store.DecisionFilter{IP: "192.0.2.1", ActiveAt: time.Now()})
	require.NoError(t, err)
	require.Len(t, ds, 1)
	seq, err := b.DecisionSeq(ctx)
	require.NoError(t, err)
	_, err = b.CreateAlerts(ctx, "", []*models.Alert{Alert("s", "Ip", "192.0.2.2", t0, Dec{})})
	require.NoError(t, err)
	n, err := b.ExpireDecisions(ctx, time.Now(), store.DecisionFilter{Value: "192.0.2.1"})
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	changed, err := a.DecisionsChangedSince(ctx, seq, 0)
	require.NoError(t, err)
	require.Len(t, changed, 2)
	require.Equal(t, "192.0.2.2", changed[0].Value)
	require.Equal(t, "192.0.2.1", changed[1].Value)
	require.False(t, changed[1].Active(time.Now()))
}

// testFollow has both handles write concurrently while a follower on a
// tails DecisionsChangedSince: it must see every change exactly once, in order.
func testFollow(t *testing.T, a, b store.Store) {
	ctx := context.Background()
	const perWriter = 40
	var wg sync.WaitGroup
	errs := make(chan error, 2*perWriter)
	for w, s := range []store.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				v := fmt.Sprintf("10.%d.%d.%d", w, i/256, i%256)
				if _, err := s.CreateAlerts(ctx, "", []*models.Alert{Alert("f", "Ip", v, t0, Dec{})}); err != nil {
					errs <- err
				}
				if i%4 == 0 {
					if _, err := s.ExpireDecisions(ctx, time.Now(), store.DecisionFilter{Value: v}); err != nil {
						errs <- err
					}
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var last int64
	seen := map[int64]bool{}
	count := 0
	follow := func() {
		page, err := a.DecisionsChangedSince(ctx, last, 7)
		require.NoError(t, err)
		for _, d := range page {
			require.Greater(t, d.Seq, last)
			require.False(t, seen[d.Seq], "seq %d seen twice", d.Seq)
			seen[d.Seq] = true
			last = d.Seq
			count++
		}
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			follow()
		}
	}
	for range 1000 {
		before := count
		follow()
		if count == before {
			break
		}
	}
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	// Every decision row's latest change was seen: inserts (2*perWriter)
	// plus expiries (2*perWriter/4), minus inserts superseded by their
	// own expiry before the follower read them: compare with the table.
	all, err := a.DecisionsChangedSince(ctx, 0, 0)
	require.NoError(t, err)
	require.Len(t, all, 2*perWriter)
	for _, d := range all {
		require.True(t, seen[d.Seq], "change %d of %s was missed", d.Seq, d.Value)
	}
}

// testAlertIdempotent: a repeated push of the same alert uuid (a retry
// whose first answer was lost) stores nothing twice and answers the first
// ids; another machine cannot reuse the uuid.
func testAlertIdempotent(t *testing.T, s store.Store) {
	ctx := context.Background()
	require.NoError(t, s.CreateMachine(ctx, &store.Machine{ID: "agent1"}))
	require.NoError(t, s.CreateMachine(ctx, &store.Machine{ID: "agent2"}))
	mk := func(uuid, ip string) *models.Alert {
		a := Alert("crowdsecurity/ssh-bf", "Ip", ip, t0, Dec{}, Dec{Type: "captcha"})
		a.UUID = uuid
		return a
	}
	first, err := s.CreateAlerts(ctx, "agent1", []*models.Alert{mk("u-1", "192.0.2.1"), mk("u-2", "192.0.2.2")})
	require.NoError(t, err)
	seq, err := s.DecisionSeq(ctx)
	require.NoError(t, err)

	again, err := s.CreateAlerts(ctx, "agent1", []*models.Alert{mk("u-1", "192.0.2.1"), mk("u-3", "192.0.2.3"), mk("u-2", "192.0.2.2")})
	require.NoError(t, err)
	require.Equal(t, first[0], again[0])
	require.Equal(t, first[1], again[2])
	require.NotContains(t, first, again[1])

	all, err := s.ListAlerts(ctx, store.AlertFilter{IncludeSimulated: true})
	require.NoError(t, err)
	require.Len(t, all, 3, "the repeated alerts are stored once")
	ds, err := s.ListDecisions(ctx, store.DecisionFilter{})
	require.NoError(t, err)
	require.Len(t, ds, 6, "and their decisions once")
	changed, err := s.DecisionsChangedSince(ctx, seq, 0)
	require.NoError(t, err)
	require.Len(t, changed, 2, "only the new alert's decisions are changes")

	// A uuid repeated inside one batch: stored once, both get its id.
	ids, err := s.CreateAlerts(ctx, "agent1", []*models.Alert{mk("u-4", "192.0.2.4"), mk("u-4", "192.0.2.4")})
	require.NoError(t, err)
	require.Equal(t, ids[0], ids[1])
	ds, err = s.ListDecisions(ctx, store.DecisionFilter{Value: "192.0.2.4"})
	require.NoError(t, err)
	require.Len(t, ds, 2)

	// Another machine reusing a uuid: refused, nothing of its batch stored.
	_, err = s.CreateAlerts(ctx, "agent2", []*models.Alert{mk("u-5", "192.0.2.5"), mk("u-1", "192.0.2.1")})
	require.ErrorIs(t, err, store.ErrExists)
	ds, err = s.ListDecisions(ctx, store.DecisionFilter{Value: "192.0.2.5"})
	require.NoError(t, err)
	require.Empty(t, ds)
}

// testAlertUntil: a decision ends at its alert's stop_at + duration, so a
// replayed old alert gives an already expired decision; a stop_at in the
// future counts as now.
func testAlertUntil(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now()
	old := now.Add(-90 * 24 * time.Hour).UTC().Truncate(time.Second)
	future := now.Add(30 * 24 * time.Hour)
	ids, err := s.CreateAlerts(ctx, "", []*models.Alert{
		Alert("replayed", "Ip", "192.0.2.1", old, Dec{}),
		Alert("future", "Ip", "192.0.2.2", future, Dec{}),
	})
	require.NoError(t, err)
	ds, err := s.ListDecisions(ctx, store.DecisionFilter{AlertID: ids[0]})
	require.NoError(t, err)
	require.Len(t, ds, 1)
	require.True(t, ds[0].Until.Equal(old.Add(time.Minute+4*time.Hour)), ds[0].Until)
	require.False(t, ds[0].Active(now), "a decision of a replayed old alert is already over")
	ds, err = s.ListDecisions(ctx, store.DecisionFilter{AlertID: ids[1]})
	require.NoError(t, err)
	require.Len(t, ds, 1)
	require.WithinDuration(t, now.Add(4*time.Hour), ds[0].Until, time.Minute, "a future stop_at counts as now")
}

// testAlertIPThroughDecisions: ip/range filters match the alerts' decisions
// (an import's decisions are found by their address), not their sources.
func testAlertIPThroughDecisions(t *testing.T, s store.Store) {
	ctx := context.Background()
	imp := Alert("import", "cscli-import", "list.csv", t0,
		Dec{Scope: "Ip", Value: "192.0.2.50"}, Dec{Scope: "Range", Value: "198.51.100.0/24"})
	bare := Alert("no-decision", "Ip", "192.0.2.60", t0)
	ids, err := s.CreateAlerts(ctx, "", []*models.Alert{imp, bare})
	require.NoError(t, err)
	f := false
	for _, tc := range []struct {
		name string
		f    store.AlertFilter
		want []int64
	}{
		{"ip of an imported decision", store.AlertFilter{IP: "192.0.2.50"}, []int64{ids[0]}},
		{"ip inside an imported range", store.AlertFilter{IP: "198.51.100.9"}, []int64{ids[0]}},
		{"range containing a decision", store.AlertFilter{Range: "192.0.2.0/24", Contains: &f}, []int64{ids[0]}},
		{"source of an alert without decisions", store.AlertFilter{IP: "192.0.2.60"}, nil},
		{"no match", store.AlertFilter{IP: "203.0.113.1"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListAlerts(ctx, tc.f)
			require.NoError(t, err)
			var gotIDs []int64
			for _, a := range got {
				gotIDs = append(gotIDs, a.ID)
			}
			require.Equal(t, tc.want, gotIDs)
		})
	}
	n, err := s.DeleteAlerts(ctx, store.AlertFilter{IP: "192.0.2.50"})
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "deleting by ip deletes the import's alert")
}
