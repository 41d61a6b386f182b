package centralstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	. "github.com/phalanx-ids/phalanx/internal/central/centralstore"
	"github.com/phalanx-ids/phalanx/internal/central/centralstore/cstest"
)

// stores returns the backends to test: SQLite always, PostgreSQL when
// PHALANX_TEST_PG_DSN is set (each test in its own schema).
func stores(t *testing.T) map[string]*Store {
	t.Helper()
	ctx := context.Background()
	out := map[string]*Store{}
	s, err := Open(ctx, filepath.Join(t.TempDir(), "central.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	out["sqlite"] = s
	if dsn := os.Getenv("PHALANX_TEST_PG_DSN"); dsn != "" {
		out["postgres"] = cstest.PGForTest(t, dsn)
	}
	return out
}

func TestStore(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			now := time.Now().UTC().Truncate(time.Millisecond)
			require.NoError(t, s.Register(ctx, "m1", "hash", now))
			require.ErrorIs(t, s.Register(ctx, "m1", "hash", now), ErrExists)
			id, err := s.AddOrg(ctx, "acme", true, "kh")
			require.NoError(t, err)
			_, err = s.AddOrg(ctx, "acme", false, "kh2")
			require.ErrorIs(t, err, ErrExists)
			o, err := s.OrgByKey(ctx, "kh")
			require.NoError(t, err)
			require.True(t, o.Seed)
			require.NoError(t, s.Enroll(ctx, "m1", id, "box", now))
			require.NoError(t, s.Login(ctx, "m1", "1.2.3.0/24", "eh", []string{"a/b"}, now))
			in, err := s.GetInstall(ctx, "m1")
			require.NoError(t, err)
			require.Equal(t, "acme", in.OrgName)
			require.True(t, in.Seed)
			require.Equal(t, []string{"a/b"}, in.Scenarios)

			sig := Signal{MachineID: "m1", UUID: "u1", IP: "5.6.7.8", Scenario: "a/b", ReceivedAt: now}
			n, err := s.InsertSignals(ctx, []Signal{sig, {MachineID: "m1", UUID: "u2", IP: "5.6.7.9", ReceivedAt: now}})
			require.NoError(t, err)
			require.Equal(t, 2, n)
			n, err = s.InsertSignals(ctx, []Signal{sig})
			require.NoError(t, err)
			require.Equal(t, 0, n, "a retried uuid is not stored twice")
			got, err := s.SignalsAfter(ctx, 0, 10)
			require.NoError(t, err)
			require.Len(t, got, 2)
			require.Equal(t, "5.6.7.8", got[0].IP)

			l := Listing{IP: "5.6.7.8", Tier: "community", Scenarios: []string{"a/b"}, ListedAt: now, ExpiresAt: now.Add(time.Hour), LastEscalation: now}
			require.NoError(t, s.ApplyChanges(ctx, Changes{Listings: []Listing{l},
				Events:      []FeedEvent{{Op: "add", IP: l.IP, Tier: l.Tier, Scenarios: l.Scenarios, ExpiresAt: l.ExpiresAt, At: now}},
				Reputations: []Reputation{{MachineID: "m1", Alpha: 3, Beta: 4}}}))
			ls, err := s.Listings(ctx)
			require.NoError(t, err)
			require.Equal(t, []Listing{l}, ls)
			require.NoError(t, s.ApplyChanges(ctx, Changes{Events: []FeedEvent{{Op: "delete", IP: l.IP, At: now}}}))
			ls, err = s.Listings(ctx)
			require.NoError(t, err)
			require.Empty(t, ls)
			evs, err := s.FeedAfter(ctx, 0, 10)
			require.NoError(t, err)
			require.Len(t, evs, 2)
			require.Less(t, evs[0].ID, evs[1].ID)
			in, _ = s.GetInstall(ctx, "m1")
			require.Equal(t, 3.0, in.Alpha)

			v0, _ := s.ConfigVersion(ctx)
			require.NoError(t, s.AddCanary(ctx, "9.9.9.9"))
			require.NoError(t, s.AddAllow(ctx, []AllowEntry{{CIDR: "66.249.64.0/19", Reason: "googlebot"}}))
			require.NoError(t, s.AddDelist(ctx, "5.6.7.8", "appeal"))
			v1, _ := s.ConfigVersion(ctx)
			require.NotEqual(t, v0, v1)
			ds, err := s.PendingDelists(ctx)
			require.NoError(t, err)
			require.Len(t, ds, 1)
			require.NoError(t, s.ApplyChanges(ctx, Changes{Delists: []int64{ds[0].ID}}))
			ds, _ = s.PendingDelists(ctx)
			require.Empty(t, ds)

			l1, ok, err := s.TryCuratorLock(ctx)
			require.NoError(t, err)
			require.True(t, ok)
			if s.Postgres() {
				_, ok2, err := s.TryCuratorLock(ctx)
				require.NoError(t, err)
				require.False(t, ok2, "one curator at a time")
			}
			l1.Release()
		})
	}
}

func TestInsertSignalsBatch(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			var sigs []Signal
			for i := range 1200 {
				sigs = append(sigs, Signal{MachineID: "m", UUID: fmt.Sprint(i), IP: "1.1.1.1", ReceivedAt: time.Now()})
			}
			n, err := s.InsertSignals(ctx, sigs)
			require.NoError(t, err)
			require.Equal(t, 1200, n)
			c, _ := s.CountSignals(ctx)
			require.EqualValues(t, 1200, c)
		})
	}
}

// An install's report: metrics overwrite, deletions add up (once per
// uuid); usage reports overwrite and are counted.
func TestReports(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			now := time.Now().UTC().Truncate(time.Millisecond)
			r, err := s.GetReport(ctx, "m1")
			require.NoError(t, err)
			require.Equal(t, Report{}, r, "none sent")
			n, err := s.AddDeletions(ctx, "m1", []string{"a", "b", "c"}, now)
			require.NoError(t, err)
			require.Equal(t, 3, n)
			require.NoError(t, s.SetMetrics(ctx, "m1", 2, 1, "v1", now))
			require.NoError(t, s.SetMetrics(ctx, "m1", 4, 2, "v2", now.Add(time.Second)))
			n, err = s.AddDeletions(ctx, "m1", []string{"c", "d", "e"}, now.Add(2*time.Second))
			require.NoError(t, err)
			require.Equal(t, 2, n, "c counts once")
			n, err = s.AddDeletions(ctx, "m1", []string{"a", "e"}, now.Add(3*time.Second))
			require.NoError(t, err)
			require.Zero(t, n, "a batch sent again")
			n, err = s.AddDeletions(ctx, "m2", []string{"a"}, now)
			require.NoError(t, err)
			require.Equal(t, 1, n, "another install's")
			r, err = s.GetReport(ctx, "m1")
			require.NoError(t, err)
			require.Equal(t, Report{Bouncers: 4, Machines: 2, Version: "v2", MetricsAt: now.Add(time.Second),
				Deletions: 5, DeletedAt: now.Add(2 * time.Second)}, r)

			u, err := s.GetUsage(ctx, "m1")
			require.NoError(t, err)
			require.Equal(t, Usage{}, u, "none sent")
			require.NoError(t, s.SetUsage(ctx, "m1", Usage{RemediationComponents: 1, LogProcessors: 2, Windows: 3, LAPIVersion: "v1", At: now}))
			require.NoError(t, s.SetUsage(ctx, "m1", Usage{RemediationComponents: 2, LogProcessors: 1, Windows: 1, LAPIVersion: "v2",
				ConsoleOptions: []string{"custom", "tainted"}, At: now.Add(time.Second)}))
			u, err = s.GetUsage(ctx, "m1")
			require.NoError(t, err)
			require.Equal(t, Usage{RemediationComponents: 2, LogProcessors: 1, Windows: 1, LAPIVersion: "v2",
				ConsoleOptions: []string{"custom", "tainted"}, Reports: 2, At: now.Add(time.Second)}, u)
			all, err := s.Usages(ctx)
			require.NoError(t, err)
			require.Equal(t, map[string]Usage{"m1": u}, all)
		})
	}
}

// The curator's holds and its signal cursor survive in the store: what a
// restarted central restores before it replays the signals.
func TestHoldsAndCuratedCursor(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			now := time.UnixMilli(time.Now().UnixMilli()).UTC()
			cur, err := s.CuratedSignal(ctx)
			require.NoError(t, err)
			require.Zero(t, cur, "a new database: no signal taken")
			_, err = s.InsertSignals(ctx, []Signal{{MachineID: "m1", UUID: "a", IP: "5.6.7.8", ReceivedAt: now},
				{MachineID: "m1", UUID: "b", IP: "5.6.7.9", ReceivedAt: now}})
			require.NoError(t, err)
			last, err := s.LastSignalID(ctx)
			require.NoError(t, err)
			cur, err = s.CuratedSignal(ctx)
			require.NoError(t, err)
			require.Zero(t, cur, "stored, not taken")

			appeal := Hold{IP: "5.6.7.8", Since: now, Until: now.Add(time.Hour), Appealed: true}
			burn := Hold{IP: "5.6.7.9", Since: now, Until: now.Add(2 * time.Hour)}
			gone := Hold{IP: "5.6.7.10", Since: now.Add(-2 * time.Hour), Until: now.Add(-time.Hour)}
			require.NoError(t, s.ApplyChanges(ctx, Changes{Holds: []Hold{appeal, burn, gone}, Curated: last - 1}))
			cur, err = s.CuratedSignal(ctx)
			require.NoError(t, err)
			require.Equal(t, last-1, cur)
			hs, err := s.Holds(ctx, now)
			require.NoError(t, err)
			require.Equal(t, []Hold{appeal, burn}, hs, "expired holds are not in force")
			h, err := s.GetHold(ctx, "5.6.7.8", now)
			require.NoError(t, err)
			require.Equal(t, appeal, h)
			_, err = s.GetHold(ctx, "5.6.7.10", now)
			require.ErrorIs(t, err, ErrNotFound, "expired")
			_, err = s.GetHold(ctx, "5.6.7.11", now)
			require.ErrorIs(t, err, ErrNotFound)

			burn.Until, burn.Appealed = now.Add(3*time.Hour), true
			require.NoError(t, s.ApplyChanges(ctx, Changes{Holds: []Hold{burn}}))
			hs, err = s.Holds(ctx, now.Add(90*time.Minute))
			require.NoError(t, err)
			require.Equal(t, []Hold{burn}, hs, "a hold set again replaces the old one")

			require.NoError(t, s.Prune(ctx, now, now.Add(-30*time.Minute)))
			hs, err = s.Holds(ctx, now.Add(-3*time.Hour))
			require.NoError(t, err)
			require.Equal(t, []Hold{appeal, burn}, hs, "pruned: the hold that ended before the signals kept")
		})
	}
}

// TestCuratedSignalOfAnOlderDatabase: a database an older central wrote
// (no curated signal recorded) counts every stored signal as taken once
// migrated, so that the first curator of the new version does not judge
// them again.
func TestCuratedSignalOfAnOlderDatabase(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "central.db")
	s, err := Open(ctx, path)
	require.NoError(t, err)
	_, err = s.InsertSignals(ctx, []Signal{{MachineID: "m1", UUID: "a", IP: "5.6.7.8", ReceivedAt: time.Now()}})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	raw, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = raw.ExecContext(ctx, `DELETE FROM meta WHERE k = 'curated_signal'`)
	require.NoError(t, err)
	require.NoError(t, raw.Close())

	s, err = Open(ctx, path)
	require.NoError(t, err)
	defer s.Close()
	last, err := s.LastSignalID(ctx)
	require.NoError(t, err)
	cur, err := s.CuratedSignal(ctx)
	require.NoError(t, err)
	require.NotZero(t, cur)
	require.Equal(t, last, cur)
}
