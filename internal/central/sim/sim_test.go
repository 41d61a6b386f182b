package sim

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSmallRun: a small crowd (200 installs, 3 warm-up days, 2 measured
// days): the curation lists most attackers seen by 3 independent honest
// networks, and no benign IP against 10% coordinated or Sybil-farm
// poisoners, where the naive baseline lists the victims.
func TestSmallRun(t *testing.T) {
	var rs []Result
	for _, st := range []Strategy{Coordinated, SybilFarm, SpoofFramer} {
		r := Run(Config{Seed: 1, Installs: 200, WarmupDays: 20, Days: 2, AttackersPerDay: 600, Benign: 2000, PoisonShare: 0.10, Strategy: st})
		rs = append(rs, r)
		var b bytes.Buffer
		Print(&b, []Result{r})
		t.Log("\n" + b.String())
		require.Greater(t, r.Eligible, 50)
		require.Zero(t, r.BenignListed, "%s: benign IPs listed", st)
		require.Greater(t, r.BaselineBenign, 0, "%s: the naive baseline lists victims", st)
		require.GreaterOrEqual(t, float64(r.Recalled)/float64(r.Eligible), 0.9, "%s: recall", st)
	}
	var b bytes.Buffer
	Print(&b, rs)
	t.Log("\n" + b.String())
	// Deterministic: the same seed gives the same figures.
	again := Run(Config{Seed: 1, Installs: 200, WarmupDays: 20, Days: 2, AttackersPerDay: 600, Benign: 2000, PoisonShare: 0.10, Strategy: Coordinated})
	require.Equal(t, rs[0], again)
}

// TestSleepersAndAppeals: sleepers (honest through the warm-up, then
// coordinated) list their victims; upheld appeals of the victims take
// them off at once and refute their reporters, so that far fewer benign
// IPs are listed, and the table says so.
func TestSleepersAndAppeals(t *testing.T) {
	cfg := Config{Seed: 1, Installs: 200, WarmupDays: 20, Days: 2, AttackersPerDay: 600, Benign: 2000, PoisonShare: 0.10, Strategy: Sleeper}
	without := Run(cfg)
	cfg.AppealAfter = 2 * time.Hour
	with := Run(cfg)
	var b bytes.Buffer
	Print(&b, []Result{without, with})
	t.Log("\n" + b.String())
	require.Equal(t, -1, without.Appeals)
	require.Greater(t, without.BenignListed, 20, "the known weakness: sleepers list their victims")
	require.Greater(t, with.Appeals, 0)
	require.Less(t, with.BenignListed, without.BenignListed/2, "appeals refute the sleepers")
	require.Less(t, with.BenignLater, with.BenignListed)
	require.Contains(t, b.String(), "delist")
	require.GreaterOrEqual(t, float64(with.Recalled)/float64(with.Eligible), 0.9, "recall")
}
