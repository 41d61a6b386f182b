package server

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/central/centralstore"
	"github.com/phalanx-ids/phalanx/internal/central/centralstore/cstest"
	"github.com/phalanx-ids/phalanx/internal/central/curate"
)

// restartDBs are the databases a restart test runs on: a SQLite file, and
// PostgreSQL when PHALANX_TEST_PG_DSN is set (a schema of its own).
func restartDBs() map[string]func(t *testing.T) Config {
	dbs := map[string]func(t *testing.T) Config{
		"sqlite": func(t *testing.T) Config { return Config{DataDir: t.TempDir()} },
	}
	if dsn := os.Getenv("PHALANX_TEST_PG_DSN"); dsn != "" {
		dbs["postgres"] = func(t *testing.T) Config {
			_, sdsn := cstest.PGForTestDSN(t, dsn)
			return Config{DB: sdsn}
		}
	}
	return dbs
}

// eventually waits (real time) until cond holds, or fails with msg.
func eventually(t *testing.T, within time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDelistSurvivesRestart: an address delisted by an upheld appeal stays
// off every stream after the central restarts, although the signals that
// listed it are still in the curation window and its reporters count
// again (their quarantine is over, and their refuted trust still votes
// under these thresholds): only the persisted hold keeps the old evidence
// from listing it again. The appeal is remembered too: a reporter that
// reports the address again after the restart is refuted.
func TestDelistSurvivesRestart(t *testing.T) {
	for name, db := range restartDBs() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			cfg := db(t)
			cfg.Curation = curate.Config{QuarantineFor: time.Minute, MinVote: 0.01}
			c := startCentral(t, cfg)
			seed, b, d, consumer := crowd(t, c)
			for _, in := range []*install{seed, b, d} {
				in.report("1.2.3.4")
			}
			require.True(t, consumer.listedSoon("1.2.3.4", 5*time.Second))
			require.NoError(t, c.st.AddDelist(ctx, "1.2.3.4", "appeal upheld"))
			eventually(t, 10*time.Second, func() bool { a, _ := consumer.pull(true); return a["1.2.3.4"] == "" }, "not delisted")

			c.clock.add(2 * time.Minute) // the reporters' quarantine ends
			c.restart(t)
			for _, in := range []*install{seed, b, d} {
				in.login()
			}
			consumer.login(sshBF)
			before, err := c.st.GetInstall(ctx, b.id)
			require.NoError(t, err)
			require.False(t, c.clock.now().Before(before.QuarantinedUntil), "the reporter's quarantine is over")
			b.report("1.2.3.4")
			eventually(t, 5*time.Second, func() bool {
				in, err := c.st.GetInstall(ctx, b.id)
				return err == nil && in.Beta > before.Beta
			}, "reporting the appealed address after the restart did not refute")
			c.neverListed(t, consumer, "1.2.3.4", "the old evidence listed the delisted address again")
			ls, err := c.st.Listings(ctx)
			require.NoError(t, err)
			require.Empty(t, ls)
		})
	}
}

// TestSignalsStoredWhileNoCuratorRanCount: signals stored while no
// curator took them (a crash before its step was written; a replica whose
// curator died) are taken as new after the restart, not replayed as
// already judged: a canary reported meanwhile refutes its reporter.
func TestSignalsStoredWhileNoCuratorRanCount(t *testing.T) {
	for name, db := range restartDBs() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			c := startCentral(t, db(t))
			_, b, _, _ := crowd(t, c)
			require.NoError(t, c.st.AddCanary(ctx, "8.8.4.4"))
			b.report("1.2.3.4") // taken by the running curator
			eventually(t, 10*time.Second, func() bool {
				last, err := c.st.LastSignalID(ctx)
				if err != nil {
					return false
				}
				cur, err := c.st.CuratedSignal(ctx)
				return err == nil && cur == last
			}, "the curator did not record the signal it took")
			c.stop()
			before, err := c.st.GetInstall(ctx, b.id)
			require.NoError(t, err)
			now := c.clock.now()
			n, err := c.st.InsertSignals(ctx, []centralstore.Signal{{MachineID: b.id, UUID: "while-down", IP: "8.8.4.4",
				Scenario: sshBF, ScenarioHash: sshBFHash, ScenarioVersion: sshBFVer, ScenarioTrust: "certified",
				StartAt: now, StopAt: now, CreatedAt: now, ReceivedAt: now}})
			require.NoError(t, err)
			require.Equal(t, 1, n)
			c.run(t)
			eventually(t, 5*time.Second, func() bool {
				in, err := c.st.GetInstall(ctx, b.id)
				return err == nil && in.Beta > before.Beta && c.clock.now().Before(in.QuarantinedUntil)
			}, "the canary reported while no curator ran did not refute its reporter")
		})
	}
}
