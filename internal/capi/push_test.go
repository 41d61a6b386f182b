package capi_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/capi"
	"github.com/phalanx-ids/phalanx/internal/capi/capitest"
	"github.com/phalanx-ids/phalanx/internal/models"
)

// Every alert the LAPI accepts is pushed once, in batches of at most 250;
// simulated and community-caused alerts are not.
func TestPushEveryAcceptedAlertOnce(t *testing.T) {
	central := capitest.New(t)
	in := newInstall(t, central, true, nil)
	ag := in.agent()
	ctx := context.Background()
	var batch []*models.Alert
	want := map[string]int{}
	for i := range 300 {
		u := fmt.Sprintf("00000000-0000-0000-0000-%012d", i)
		batch = append(batch, alert(u, ipN(i), "crowdsecurity/ssh-bf"))
		want[u] = 1
	}
	sim := alert("sim-1", "203.0.113.50", "crowdsecurity/ssh-bf")
	*sim.Simulated = true
	capiEcho := alert("capi-1", "203.0.113.51", "crowdsecurity/ssh-bf")
	d := "4h"
	capiEcho.Decisions = []*models.Decision{{Origin: sp("CAPI"), Type: sp("ban"), Scope: sp("Ip"), Value: sp("203.0.113.51"), Duration: &d}}
	batch = append(batch, sim, capiEcho)
	_, err := ag.PushAlerts(ctx, batch)
	require.NoError(t, err)
	// The same alerts again (an agent retrying): nothing new is sent.
	_, err = ag.PushAlerts(ctx, batch[:10])
	require.NoError(t, err)

	require.Eventually(t, func() bool { return len(central.Signals()) >= 300 }, 10*time.Second, 20*time.Millisecond)
	// The central has them before the install has its answers: wait
	// until the outbox recorded every batch as sent.
	require.Eventually(t, func() bool {
		pending, _, err := in.st.OutboxStats(ctx)
		return err == nil && pending == 0
	}, 10*time.Second, 10*time.Millisecond, "the outbox marks the accepted signals sent")
	time.Sleep(300 * time.Millisecond) // nothing is sent again
	require.Equal(t, want, uuids(central.Signals()), "each accepted alert once; no simulated or community-caused one")
	for _, n := range central.Batches() {
		require.LessOrEqual(t, n, 250)
	}
	s := central.Signals()[0]
	require.Equal(t, "crowdsecurity/ssh-bf", s.Scenario)
	require.Equal(t, "abc123", s.ScenarioHash)
	require.Equal(t, "0.3", s.ScenarioVersion)
	require.Equal(t, capi.TrustCertified, s.ScenarioTrust)
	require.Equal(t, agentID, s.MachineID)
	require.NotEmpty(t, s.Decisions, "the profile's decision travels with the signal")
	pending, sent, err := in.st.OutboxStats(ctx)
	require.NoError(t, err)
	require.Zero(t, pending)
	require.Equal(t, int64(300), sent)
}

// A few alerts wait at most BatchWait (1 s) before they go. The install
// runs on a virtual clock: what is checked is the wait on the install's
// time, which a loaded machine cannot stretch.
func TestPushSmallBatchWaitsAtMostOneSecond(t *testing.T) {
	central := capitest.New(t)
	clock := newVClock(time.Now().UTC())
	in := newInstallAt(t, central.URL(), true, "", nil, func(d *capi.Deps) { d.Now, d.Sleep = clock.Now, clock.Sleep })
	const loops = 2 // push and pull
	clock.WaitSleepers(t, loops)
	queued := clock.Now()
	_, err := in.agent().PushAlerts(context.Background(), []*models.Alert{alert("one", "203.0.113.9", "crowdsecurity/ssh-bf")})
	require.NoError(t, err)
	clock.WaitSleeperUntil(t, queued.Add(time.Second)) // the push loop took it and waits for others
	clock.Advance(999 * time.Millisecond)
	clock.WaitSleepers(t, loops)
	require.Empty(t, central.Signals(), "a lone signal waits for others")
	clock.Advance(time.Millisecond)
	clock.WaitSleepers(t, loops) // the push loop sent it and sleeps again
	require.Len(t, central.Signals(), 1, "sent once it has waited 1 s")
}

// Consent flags from the settings: custom scenarios refused.
func TestPushConsent(t *testing.T) {
	central := capitest.New(t)
	in := newInstall(t, central, true, func(s *capi.Settings) { s.Consent = capi.Consent{ShareTainted: true} })
	custom := alert("custom-1", "203.0.113.10", "me/mine")
	custom.ScenarioHash = sp("")
	hub := alert("hub-1", "203.0.113.11", "crowdsecurity/ssh-bf")
	_, err := in.agent().PushAlerts(context.Background(), []*models.Alert{custom, hub})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(central.Signals()) == 1 }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(1200 * time.Millisecond)
	require.Equal(t, map[string]int{"hub-1": 1}, uuids(central.Signals()))
}

// The central goes down; alerts keep coming; the LAPI restarts (a new
// process on the same SQLite file) while the central is still down; the
// agent pushes some alerts again; the central comes back: everything
// arrives, nothing twice.
func TestPushAcrossOutageAndRestart(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			dsn := ""
			if db == "postgres" {
				dsn = pg.DSN(t)
			}
			testPushAcrossOutageAndRestart(t, dsn)
		})
	}
}

func testPushAcrossOutageAndRestart(t *testing.T, dsn string) {
	central := capitest.New(t)
	in := newInstallOn(t, central, true, dsn, nil)
	ctx := context.Background()
	_, err := in.agent().PushAlerts(ctx, []*models.Alert{alert("before", "203.0.113.1", "crowdsecurity/ssh-bf")})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(central.Signals()) == 1 }, 5*time.Second, 10*time.Millisecond)

	central.Down()
	var during []*models.Alert
	for i := range 120 {
		during = append(during, alert(fmt.Sprintf("during-%03d", i), ipN(i), "crowdsecurity/http-probing"))
	}
	_, err = in.agent().PushAlerts(ctx, during[:60])
	require.NoError(t, err)
	time.Sleep(1500 * time.Millisecond) // several failed pushes
	in.restart(true)
	_, err = in.agent().PushAlerts(ctx, during) // 60 again (a retry), 60 new
	require.NoError(t, err)
	time.Sleep(500 * time.Millisecond)
	require.Equal(t, 1, len(central.Signals()))
	pending, _, err := in.st.OutboxStats(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(120), pending, "kept in the outbox across the restart")

	central.Up()
	require.Eventually(t, func() bool { return len(central.Signals()) >= 121 }, 10*time.Second, 20*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	got := uuids(central.Signals())
	require.Len(t, got, 121)
	for u, n := range got {
		require.Equal(t, 1, n, "uuid %s sent %d times", u, n)
	}
}

// 503s (the central overloaded) are retried with back-off.
func TestPushRetries503(t *testing.T) {
	central := capitest.New(t)
	central.FailPushes(3)
	in := newInstall(t, central, true, nil)
	_, err := in.agent().PushAlerts(context.Background(), []*models.Alert{alert("r-1", "203.0.113.2", "crowdsecurity/ssh-bf")})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(central.Signals()) == 1 }, 10*time.Second, 20*time.Millisecond)
}

// A central that refuses large batches (413): the pusher halves its
// batches until they pass; nothing is lost or sent twice.
func TestPushShrinksRefusedBatches(t *testing.T) {
	central := capitest.New(t)
	central.MaxBatch(40)
	in := newInstall(t, central, true, nil)
	var batch []*models.Alert
	for i := range 200 {
		batch = append(batch, alert(fmt.Sprintf("shrink-%03d", i), ipN(i), "crowdsecurity/ssh-bf"))
	}
	_, err := in.agent().PushAlerts(context.Background(), batch)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(central.Signals()) == 200 }, 15*time.Second, 20*time.Millisecond)
	got := uuids(central.Signals())
	require.Len(t, got, 200)
	for _, n := range central.Batches() {
		require.LessOrEqual(t, n, 40)
	}
}

// A signal the central refuses for its content (400) is set aside: the
// signals queued after it still go, and it is never sent again. Before,
// the outbox retried it forever and every later signal waited behind it.
func TestPushSetsAsideARefusedSignal(t *testing.T) {
	central := capitest.New(t)
	central.Refuse("refused-2")
	in := newInstall(t, central, true, nil)
	var batch []*models.Alert
	for i := range 5 {
		batch = append(batch, alert(fmt.Sprintf("refused-%d", i), ipN(i), "crowdsecurity/ssh-bf"))
	}
	_, err := in.agent().PushAlerts(context.Background(), batch)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(central.Signals()) == 4 }, 15*time.Second, 20*time.Millisecond)
	require.Equal(t, map[string]int{"refused-0": 1, "refused-1": 1, "refused-3": 1, "refused-4": 1}, uuids(central.Signals()))
	require.Eventually(t, func() bool {
		pending, sent, err := in.st.OutboxStats(context.Background())
		return err == nil && pending == 0 && sent == 4
	}, 5*time.Second, 20*time.Millisecond, "the refused signal is neither pending nor sent")
	// Later signals still go; the refused one is not retried.
	_, err = in.agent().PushAlerts(context.Background(), []*models.Alert{alert("after", ipN(9), "crowdsecurity/ssh-bf")})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(central.Signals()) == 5 }, 5*time.Second, 20*time.Millisecond)
	require.NotContains(t, uuids(central.Signals()), "refused-2")
}
