package app

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/capi"
	"github.com/phalanx-ids/phalanx/internal/capi/capitest"
	"github.com/phalanx-ids/phalanx/internal/models"
)

// TestDaemonSharesAndPulls: a daemon whose data dir holds central API
// credentials pushes the alerts it detects as signals and pulls the
// community list into decisions of origin CAPI that its bouncers receive
// and detection sees; without credentials it shares nothing.
func TestDaemonSharesAndPulls(t *testing.T) {
	central := capitest.New(t)
	central.SetPullInterval("1s") // a Phalanx central's short interval
	central.List("Ip", "203.0.113.77", "crowdsecurity/ssh-bf", "4h")
	e := newEnv(t)
	cfg := e.config()
	creds, err := capi.Register(context.Background(), central.URL(), filepath.Join(e.data, capi.CredentialsFile), false, capi.ClientOptions{})
	require.NoError(t, err)
	a, err := New(cfg, WithLogger(testLogger(t)))
	require.NoError(t, err)
	require.NotNil(t, a.CAPI(), "credentials exist: the daemon shares")
	startApp(t, a)
	key := newBouncer(t, a.Store(), "fw")

	// Pull: the community list reaches the bouncer stream and detection.
	var st models.DecisionsStreamResponse
	require.Eventually(t, func() bool {
		st = models.DecisionsStreamResponse{}
		return bouncerGet(t, a.LAPIURL(), key, "/v1/decisions/stream?startup=true&origins=CAPI", &st) == 200 && len(st.New) == 1
	}, 10*time.Second, 100*time.Millisecond)
	require.Equal(t, "203.0.113.77", *st.New[0].Value)
	require.Equal(t, "CAPI", *st.New[0].Origin)
	// Detection's view is reloaded from the store right after the pull
	// stored the decisions: it may trail the bouncer stream by a moment.
	require.Eventually(t, func() bool { return a.Community().Listed(netip.MustParseAddr("203.0.113.77")) },
		5*time.Second, 20*time.Millisecond)
	require.NotEmpty(t, central.Logins())
	require.Equal(t, creds.Login, central.Logins()[0].MachineID)

	// A new listing arrives within seconds (pull interval from the central).
	start := time.Now()
	central.List("Ip", "203.0.113.78", "crowdsecurity/http-probing", "4h")
	require.Eventually(t, func() bool {
		st = models.DecisionsStreamResponse{}
		return bouncerGet(t, a.LAPIURL(), key, "/v1/decisions/stream?startup=true&origins=CAPI", &st) == 200 && len(st.New) == 2
	}, 15*time.Second, 100*time.Millisecond)
	t.Logf("new listing -> bouncer stream: %v", time.Since(start))

	// Push: an SSH brute force detected here becomes a signal.
	waitWatching(t, a, e.log)
	appendLines(t, e.log, sshFailures("198.51.100.23", 8)...)
	// Waited for up to a minute: the chain (file, detection, alert, LAPI,
	// push) took over 15 s under -race at load ~25.
	require.Eventually(t, func() bool { return len(central.Signals()) > 0 }, time.Minute, 100*time.Millisecond)
	sig := central.Signals()[0]
	require.Equal(t, "198.51.100.23", sig.Source.Value)
	require.Equal(t, "phalanx/ssh-bruteforce", sig.Scenario)
	require.NotEmpty(t, sig.UUID)
	require.NotEmpty(t, sig.MachineID)
	require.Eventually(t, func() bool { return gathered(t, a, "phalanx_capi_signals_pushed_total") >= 1 }, 5*time.Second, 50*time.Millisecond)
	require.GreaterOrEqual(t, gathered(t, a, "phalanx_capi_community_entries"), 2.0)

	// The dashboard's status page shows it, and "why blocked?" the
	// central's reason for a community decision.
	page := dashboardGet(t, a, "status")
	require.Regexp(t, `<dd id="signals-pushed">[1-9][0-9]*</dd>`, page)
	require.Contains(t, page, `<dd id="community-size">2 entries</dd>`)
	page = dashboardGet(t, a, "why?ip=203.0.113.78")
	require.Contains(t, page, "the central lists it for <strong>crowdsecurity/http-probing</strong>")
}

// gathered sums the samples of a metric of the daemon's registry.
func gathered(t *testing.T, a *App, name string) float64 {
	mfs, err := a.Registry().Gather()
	require.NoError(t, err)
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

func TestDaemonWithoutCredentialsDoesNotShare(t *testing.T) {
	e := newEnv(t)
	a, err := New(e.config(), WithLogger(testLogger(t)))
	require.NoError(t, err)
	require.Nil(t, a.CAPI())
	require.NotNil(t, a.Community())
	require.NoError(t, a.Close())
}

// TestProfileUsesCommunityList: profiles see IsInCommunityList too: a
// profile bans community-listed attackers longer.
func TestProfileUsesCommunityList(t *testing.T) {
	central := capitest.New(t)
	central.List("Ip", "10.0.0.7", "crowdsecurity/ssh-bf", "4h")
	cfg := lapiOnly(t)
	require.NoError(t, os.MkdirAll(cfg.DataDir, 0o700))
	_, err := capi.Register(context.Background(), central.URL(), filepath.Join(cfg.DataDir, capi.CredentialsFile), false, capi.ClientOptions{})
	require.NoError(t, err)
	prof := filepath.Join(cfg.DataDir, "profiles.yaml")
	require.NoError(t, os.WriteFile(prof, []byte(`name: known_attackers
filters:
  - Alert.Remediation == true && Alert.GetScope() == "Ip" && IsInCommunityList(Alert.GetValue())
decisions:
  - type: ban
    duration: 48h
on_success: break
---
name: default_ip_remediation
filters:
  - Alert.Remediation == true && Alert.GetScope() == "Ip"
decisions:
  - type: ban
    duration: 4h
on_success: break
`), 0o600))
	cfg.LAPI.ProfilesPath = prof
	a, err := New(cfg, WithLogger(testLogger(t)))
	require.NoError(t, err)
	startApp(t, a)
	require.Eventually(t, func() bool { return a.Community().Listed(netip.MustParseAddr("10.0.0.7")) }, 10*time.Second, 50*time.Millisecond)
	addMachine(t, a.Store(), "m1", "m1-password")
	pushAlert(t, a.LAPIURL(), "m1", "m1-password", testAlert(7), testAlert(8))
	until := func(ip string) time.Duration {
		for _, d := range decisionsOn(t, a.Store(), ip) {
			if d.Origin == "crowdsec" {
				return time.Until(d.Until)
			}
		}
		t.Fatalf("no local decision on %s", ip)
		return 0
	}
	require.InDelta(t, 48*time.Hour, until("10.0.0.7"), float64(time.Minute), "listed: the stricter profile")
	require.InDelta(t, 4*time.Hour, until("10.0.0.8"), float64(time.Minute))
}
