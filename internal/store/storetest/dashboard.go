package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
)

func testDashboardUsers(t *testing.T, s store.Store) {
	ctx := context.Background()
	require.NoError(t, s.CreateDashboardUser(ctx, &store.DashboardUser{Name: "bob", PasswordHash: "h2", Role: "viewer"}))
	require.NoError(t, s.CreateDashboardUser(ctx, &store.DashboardUser{Name: "alice", PasswordHash: "h1", Role: "admin"}))
	err := s.CreateDashboardUser(ctx, &store.DashboardUser{Name: "alice", PasswordHash: "x", Role: "viewer"})
	require.True(t, errors.Is(err, store.ErrExists), "%v", err)
	err = s.CreateDashboardUser(ctx, &store.DashboardUser{Name: "carol", Role: "viewer"})
	require.True(t, errors.Is(err, store.ErrInvalid), "%v", err)

	u, err := s.GetDashboardUser(ctx, "alice")
	require.NoError(t, err)
	require.Equal(t, "h1", u.PasswordHash)
	require.Equal(t, "admin", u.Role)
	require.False(t, u.CreatedAt.IsZero())
	require.True(t, u.LastLogin.IsZero())
	at := time.Now().UTC().Truncate(time.Millisecond)
	require.NoError(t, s.TouchDashboardUser(ctx, "alice", at))
	u, err = s.GetDashboardUser(ctx, "alice")
	require.NoError(t, err)
	require.True(t, u.LastLogin.Equal(at), "%v != %v", u.LastLogin, at)
	require.ErrorIs(t, s.TouchDashboardUser(ctx, "nobody", at), store.ErrNotFound)

	us, err := s.ListDashboardUsers(ctx)
	require.NoError(t, err)
	require.Len(t, us, 2)
	require.Equal(t, "alice", us[0].Name)
	require.Equal(t, "bob", us[1].Name)

	require.NoError(t, s.DeleteDashboardUser(ctx, "bob"))
	require.ErrorIs(t, s.DeleteDashboardUser(ctx, "bob"), store.ErrNotFound)
	_, err = s.GetDashboardUser(ctx, "bob")
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testStats(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now().UTC()
	a1 := Alert("ssh-bf", "Ip", "192.0.2.1", t0, Dec{Duration: "4h"})
	a2 := Alert("ssh-bf", "Ip", "192.0.2.2", t0, Dec{Duration: "4h", Origin: "cscli"})
	a3 := Alert("http-probing", "Ip", "192.0.2.3", t0)
	a3.Source.Cn, a3.Source.AsNumber, a3.Source.AsName = "DE", "64500", "OTHER"
	sim := Alert("http-probing", "Ip", "192.0.2.4", t0)
	*sim.Simulated = true
	_, err := s.CreateAlerts(ctx, "", []*models.Alert{a1, a2, a3, sim})
	require.NoError(t, err)

	st, err := s.Stats(ctx, store.StatsQuery{Since: now.Add(-time.Hour), Until: now.Add(time.Hour), Step: time.Hour, Now: now})
	require.NoError(t, err)
	require.EqualValues(t, 3, st.Alerts)
	require.Equal(t, []store.Count{{Key: "ssh-bf", Count: 2}, {Key: "http-probing", Count: 1}}, st.TopScenarios)
	require.Equal(t, []store.Count{{Key: "FR", Count: 2}, {Key: "DE", Count: 1}}, st.TopCountries)
	require.Equal(t, []store.Count{{Key: "AS64496 EXAMPLE", Count: 2}, {Key: "AS64500 OTHER", Count: 1}}, st.TopAS)
	// Everything was created now: in the second bucket (since = now - 1h).
	require.Equal(t, []store.SeriesPoint{{Bucket: 1, Key: "http-probing", Count: 1}, {Bucket: 1, Key: "ssh-bf", Count: 2}}, st.AlertSeries)
	require.Len(t, st.DecisionSeries, 2)
	require.EqualValues(t, 2, st.ActiveDecisions)

	st, err = s.Stats(ctx, store.StatsQuery{Since: now.Add(-time.Hour), Until: now.Add(time.Hour), Step: time.Hour, IncludeSimulated: true})
	require.NoError(t, err)
	require.EqualValues(t, 4, st.Alerts)

	// Whole hours are read from the per-hour rollup: the same counts.
	hour := now.Truncate(time.Hour)
	st, err = s.Stats(ctx, store.StatsQuery{Since: hour.Add(-2 * time.Hour), Until: hour.Add(2 * time.Hour), Step: time.Hour, Now: now})
	require.NoError(t, err)
	require.EqualValues(t, 3, st.Alerts)
	require.Equal(t, []store.Count{{Key: "ssh-bf", Count: 2}, {Key: "http-probing", Count: 1}}, st.TopScenarios)
	require.Equal(t, []store.Count{{Key: "AS64496 EXAMPLE", Count: 2}, {Key: "AS64500 OTHER", Count: 1}}, st.TopAS)
	require.Equal(t, []store.SeriesPoint{{Bucket: 2, Key: "http-probing", Count: 1}, {Bucket: 2, Key: "ssh-bf", Count: 2}}, st.AlertSeries)
	// Decisions too (decision_rollup), by origin.
	require.Equal(t, []store.SeriesPoint{{Bucket: 2, Key: "crowdsec", Count: 1}, {Bucket: 2, Key: "cscli", Count: 1}}, st.DecisionSeries)
	require.EqualValues(t, 2, st.ActiveDecisions)
	st, err = s.Stats(ctx, store.StatsQuery{Since: hour.Add(-2 * time.Hour), Until: hour.Add(2 * time.Hour), Step: 2 * time.Hour, Now: now, SkipActive: true})
	require.NoError(t, err)
	require.Equal(t, []store.SeriesPoint{{Bucket: 1, Key: "crowdsec", Count: 1}, {Bucket: 1, Key: "cscli", Count: 1}}, st.DecisionSeries)
	require.Zero(t, st.ActiveDecisions, "SkipActive")
	require.Empty(t, st.ActiveByOrigin)
	// Whole minutes of the last day: the per-minute rollups, the same counts.
	minute := now.Truncate(time.Minute)
	st, err = s.Stats(ctx, store.StatsQuery{Since: minute.Add(-30 * time.Minute), Until: minute.Add(30 * time.Minute), Step: time.Minute, Now: now})
	require.NoError(t, err)
	require.EqualValues(t, 3, st.Alerts)
	require.Equal(t, []store.Count{{Key: "ssh-bf", Count: 2}, {Key: "http-probing", Count: 1}}, st.TopScenarios)
	require.Equal(t, []store.Count{{Key: "FR", Count: 2}, {Key: "DE", Count: 1}}, st.TopCountries)
	require.Equal(t, []store.SeriesPoint{{Bucket: 30, Key: "http-probing", Count: 1}, {Bucket: 30, Key: "ssh-bf", Count: 2}}, st.AlertSeries)
	require.Equal(t, []store.SeriesPoint{{Bucket: 30, Key: "crowdsec", Count: 1}, {Bucket: 30, Key: "cscli", Count: 1}}, st.DecisionSeries)
	st, err = s.Stats(ctx, store.StatsQuery{Since: minute.Add(-30 * time.Minute), Until: minute.Add(30 * time.Minute), Step: time.Minute,
		Now: now, IncludeSimulated: true})
	require.NoError(t, err)
	require.EqualValues(t, 4, st.Alerts)
	// Flush keeps the minutes of the last 48 hours: two days on, the range
	// (read from the alerts then) still counts them, the rollup is gone.
	_, err = s.Flush(ctx, now.Add(49*time.Hour), store.FlushPolicy{})
	require.NoError(t, err)
	st, err = s.Stats(ctx, store.StatsQuery{Since: minute.Add(-30 * time.Minute), Until: minute.Add(30 * time.Minute), Step: time.Minute,
		Now: now.Add(49 * time.Hour)})
	require.NoError(t, err)
	require.EqualValues(t, 3, st.Alerts, "older than the minute rollups: read from the alerts")
	st, err = s.Stats(ctx, store.StatsQuery{Since: minute.Add(-30 * time.Minute), Until: minute.Add(30 * time.Minute), Step: time.Minute, Now: now})
	require.NoError(t, err)
	require.Zero(t, st.Alerts, "the minute rollup was flushed (a clock going backwards would see it)")
	// A retried push (same uuids) counts nothing twice.
	dup := Alert("ssh-bf", "Ip", "192.0.2.9", t0)
	dup.UUID = "dup-uuid"
	_, err = s.CreateAlerts(ctx, "", []*models.Alert{dup})
	require.NoError(t, err)
	_, err = s.CreateAlerts(ctx, "", []*models.Alert{dup})
	require.NoError(t, err)
	st, err = s.Stats(ctx, store.StatsQuery{Since: hour.Add(-2 * time.Hour), Until: hour.Add(2 * time.Hour), Step: time.Hour, Now: now})
	require.NoError(t, err)
	require.EqualValues(t, 4, st.Alerts)

	// A range before anything was created counts nothing.
	st, err = s.Stats(ctx, store.StatsQuery{Since: now.Add(-48 * time.Hour), Until: now.Add(-24 * time.Hour), Step: time.Hour})
	require.NoError(t, err)
	require.Zero(t, st.Alerts)
	require.Empty(t, st.AlertSeries)

	_, err = s.Stats(ctx, store.StatsQuery{Since: now, Until: now.Add(-time.Hour), Step: time.Hour})
	require.ErrorIs(t, err, store.ErrInvalid)
	_, err = s.Stats(ctx, store.StatsQuery{Since: now.Add(-30 * 24 * time.Hour), Until: now, Step: time.Minute})
	require.ErrorIs(t, err, store.ErrInvalid)

	// The dashboard's list filters and paging.
	as, err := s.ListAlerts(ctx, store.AlertFilter{Country: "DE"})
	require.NoError(t, err)
	require.Len(t, as, 1)
	require.Equal(t, "192.0.2.3", as[0].Source.GetValue())
	as, err = s.ListAlerts(ctx, store.AlertFilter{ASNumber: "64496", Value: "192.0.2.1"})
	require.NoError(t, err)
	require.Len(t, as, 1)
	as, err = s.ListAlerts(ctx, store.AlertFilter{ASNumber: "64496", Scenario: "ssh-bf", IDs: []int64{as[0].ID, as[0].ID + 1}})
	require.NoError(t, err)
	require.Len(t, as, 2)
	as, err = s.ListAlerts(ctx, store.AlertFilter{BeforeID: as[0].ID})
	require.NoError(t, err)
	require.Len(t, as, 1)
	require.Equal(t, "192.0.2.1", as[0].Source.GetValue())

	ds, err := s.ListDecisions(ctx, store.DecisionFilter{Desc: true, Limit: 1, Origins: []string{"cscli", "crowdsec"}})
	require.NoError(t, err)
	require.Len(t, ds, 1)
	require.Equal(t, "192.0.2.2", ds[0].Value)
	ds, err = s.ListDecisions(ctx, store.DecisionFilter{Desc: true, BeforeID: ds[0].ID})
	require.NoError(t, err)
	require.Len(t, ds, 1)
	require.Equal(t, "192.0.2.1", ds[0].Value)
}

// testRawLines: the raw lines and profile of an alert are stored with it,
// read back by AlertRawLines (never by ListAlerts/GetAlert), not stored
// twice by a retried push, and gone with the alert.
func testRawLines(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now()
	a := Alert("crowdsecurity/ssh-bf", "Ip", "192.0.2.7", now, Dec{})
	a.UUID = "raw-1"
	a.Profile = "default_ip_remediation"
	a.RawLines = []*models.RawLine{
		{Time: "2026-01-02T03:04:05Z", Source: "/var/log/auth.log", Module: "file", Labels: map[string]string{"type": "syslog"},
			Raw: "Jan  2 03:04:05 host sshd[1]: Failed password for root from 192.0.2.7 port 22 ssh2"},
		{Raw: "line with \x1b[31mcontrol\x00 bytes and ünïcode", Truncated: true},
	}
	plain := Alert("crowdsecurity/ssh-bf", "Ip", "192.0.2.8", now)
	ids, err := s.CreateAlerts(ctx, "", []*models.Alert{a, plain})
	require.NoError(t, err)

	got, err := s.AlertRawLines(ctx, ids[0])
	require.NoError(t, err)
	require.Equal(t, a.RawLines, got)
	none, err := s.AlertRawLines(ctx, ids[1])
	require.NoError(t, err)
	require.Empty(t, none)

	g, err := s.GetAlert(ctx, ids[0])
	require.NoError(t, err)
	require.Equal(t, "default_ip_remediation", g.Profile)
	require.Nil(t, g.RawLines, "GetAlert does not return raw lines")
	list, err := s.ListAlerts(ctx, store.AlertFilter{IncludeSimulated: true})
	require.NoError(t, err)
	for _, l := range list {
		require.Nil(t, l.RawLines)
	}

	// A retried push (same uuid) stores nothing twice.
	again, err := s.CreateAlerts(ctx, "", []*models.Alert{a})
	require.NoError(t, err)
	require.Equal(t, ids[0], again[0])
	got, err = s.AlertRawLines(ctx, ids[0])
	require.NoError(t, err)
	require.Len(t, got, 2)

	require.NoError(t, s.DeleteAlert(ctx, ids[0]))
	gone, err := s.AlertRawLines(ctx, ids[0])
	require.NoError(t, err)
	require.Empty(t, gone, "deleted with the alert")
}
