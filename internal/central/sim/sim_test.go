package sim

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSmallRun: a small crowd (200 installs, 20 warm-up days, 2 measured
// days, appeals after 2 h) against every strategy at 10 %: the curation
// lists most attackers seen by 3 independent honest networks, quarantines
// few honest installs, and lists no benign IP against naive,
// coordinated, Sybil-farm and spoof-framing poisoners, where the naive
// baseline lists their victims; no benign listing outlives the first
// detection after it by more than the appeal delay.
func TestSmallRun(t *testing.T) {
	var cfgs []Config
	for _, st := range Strategies() {
		cfgs = append(cfgs, Config{Seed: 1, Installs: 200, WarmupDays: 20, Days: 2, AttackersPerDay: 600, Benign: 2000,
			PoisonShare: 0.10, Strategy: st, AppealAfter: 2 * time.Hour})
	}
	rs := RunAll(cfgs, 2)
	var b bytes.Buffer
	Print(&b, rs)
	t.Log("\n" + b.String())
	for _, r := range rs {
		require.Greater(t, r.Eligible, 50)
		require.GreaterOrEqual(t, float64(r.Recalled)/float64(r.Eligible), 0.95, "%s: recall", r.Strategy)
		require.LessOrEqual(t, r.HonestQuarantin, r.Honest*3/100, "%s: honest installs quarantined", r.Strategy)
		require.Greater(t, r.BaselineBenign, 0, "%s: the naive baseline lists victims", r.Strategy)
		require.LessOrEqual(t, r.DelistMax, 2*time.Hour, "%s: a benign listing outlived a detection", r.Strategy)
		switch r.Strategy {
		case Naive, Coordinated, SybilFarm, SpoofFramer:
			require.Zero(t, r.BenignListed, "%s: benign IPs listed", r.Strategy)
		}
	}
	// Deterministic: the same seed gives the same figures, run alone.
	require.Equal(t, rs[1], Run(cfgs[1]))
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
	require.LessOrEqual(t, with.AttackersBurned, with.Recalled/10, "the clique burn spares real attackers")
}
