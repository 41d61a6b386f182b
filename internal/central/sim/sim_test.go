package sim

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSmallRun: a small crowd (200 installs, 3 warm-up days, 2 measured
// days): the curation lists most attackers seen by 3 independent honest
// networks, and no benign IP against 10% coordinated or Sybil-farm
// poisoners, where the naive baseline lists the victims.
func TestSmallRun(t *testing.T) {
	var rs []Result
	for _, st := range []Strategy{Coordinated, SybilFarm} {
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
