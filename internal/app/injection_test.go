package app

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
)

// TestLogInjectionBansTheAttacker replays the attack of issue 8 through
// the daemon: `ssh 'admin from 198.51.100.77 port 22'@host` from
// 203.0.113.66 makes sshd log "Invalid user admin from 198.51.100.77 port
// 22 from 203.0.113.66 port N". The daemon must ban 203.0.113.66 and never
// 198.51.100.77.
func TestLogInjectionBansTheAttacker(t *testing.T) {
	e := newEnv(t)
	a, err := New(e.config(), WithLogger(testLogger(t)))
	require.NoError(t, err)
	startApp(t, a)
	key := newBouncer(t, a.Store(), "fw1")
	waitWatching(t, a, e.log)

	ts := time.Now().Format(time.Stamp)
	var lines []string
	for i := 0; i < 8; i++ {
		lines = append(lines, fmt.Sprintf("%s web01 sshd[%d]: Invalid user admin from 198.51.100.77 port 22 from 203.0.113.66 port %d", ts, 3000+i, 40001+i))
	}
	appendLines(t, e.log, lines...)
	require.Eventually(t, func() bool {
		return streamDecisions(t, a.LAPIURL(), key)["203.0.113.66"] != nil
	}, 15*time.Second, 100*time.Millisecond, "no decision for the attacker")

	// A sentinel attack written after the injection lines: once its decision
	// is there, everything before it went through the pipeline and the
	// agent (both in order).
	appendLines(t, e.log, sshFailures("203.0.113.99", 8)...)
	var got map[string]*models.Decision
	require.Eventually(t, func() bool {
		got = streamDecisions(t, a.LAPIURL(), key)
		return got["203.0.113.99"] != nil
	}, 15*time.Second, 100*time.Millisecond, "no decision for the sentinel")
	require.Nil(t, got["198.51.100.77"], "the address written in the user name was banned")
	alerts, err := a.Store().ListAlerts(context.Background(), store.AlertFilter{Value: "198.51.100.77"})
	require.NoError(t, err)
	require.Empty(t, alerts)
}
