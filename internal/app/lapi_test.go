package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/store/postgres/pgtest"
)

// pg is the package run's PostgreSQL server (PHALANX_TEST_PG_DSN, or
// scripts/pg.sh on first use), stopped by TestMain.
var pg pgtest.Server

func TestMain(m *testing.M) {
	code := m.Run()
	if err := pg.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// lapiOnly is a LAPI-only config (no agent) on a free loopback port.
func lapiOnly(t *testing.T) Config {
	t.Helper()
	f := false
	var c Config
	c.DataDir = filepath.Join(t.TempDir(), "data")
	c.LAPI.ListenURI = "127.0.0.1:0"
	c.Agent.Enabled = &f
	return c
}

// pushAlert logs in as machine id and pushes alerts to the LAPI at url.
func pushAlert(t *testing.T, url, id, password string, alerts ...*models.Alert) {
	t.Helper()
	c, err := apiclient.New(apiclient.Config{URL: url, MachineID: id, Password: apiclient.Secret(password), UserAgent: "crowdsec/v1.7.5",
		Retry: apiclient.RetryConfig{MaxAttempts: 1}})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ids, err := c.PushAlerts(ctx, alerts)
	require.NoError(t, err)
	require.Len(t, ids, len(alerts))
}

// decisionsOn lists the decisions stored on value, oldest first.
func decisionsOn(t *testing.T, st store.Store, value string) []*store.Decision {
	t.Helper()
	ds, err := st.ListDecisions(context.Background(), store.DecisionFilter{Value: value})
	require.NoError(t, err)
	return ds
}

// TestSimulationFromDataDir: with simulation_path empty, the daemon reads
// <data_dir>/simulation.yaml (what `phalanx simulation enable` writes);
// without the file nothing is simulated; an explicit path that is missing
// is an error.
func TestSimulationFromDataDir(t *testing.T) {
	cases := map[string]struct {
		file    string // content of <data_dir>/simulation.yaml; "" = no file
		path    string // simulation_path
		wantSim bool
		wantErr string
	}{
		"no file":               {wantSim: false},
		"global simulation":     {file: "simulation: true\n", wantSim: true},
		"scenario excluded":     {file: "simulation: true\nexclusions:\n  - test/kill\n", wantSim: false},
		"simulation off":        {file: "simulation: off\n", wantSim: false},
		"explicit missing path": {path: "nope.yaml", wantErr: "app: simulation"},
		"invalid data dir file": {file: "simulation: true\nbogus: 1\n", wantErr: "simulation.yaml"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := lapiOnly(t)
			require.NoError(t, os.MkdirAll(cfg.DataDir, 0o700))
			if tc.file != "" {
				require.NoError(t, os.WriteFile(filepath.Join(cfg.DataDir, SimulationFile), []byte(tc.file), 0o600))
			}
			if tc.path != "" {
				cfg.LAPI.SimulationPath = filepath.Join(cfg.DataDir, tc.path)
			}
			a, err := New(cfg, WithLogger(testLogger(t)))
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			startApp(t, a)
			addMachine(t, a.Store(), "m1", "m1-password")
			al := testAlert(7)
			pushAlert(t, a.LAPIURL(), "m1", "m1-password", al)
			ds := decisionsOn(t, a.Store(), al.Source.IP)
			require.Len(t, ds, 1)
			require.Equal(t, tc.wantSim, ds[0].Simulated)
		})
	}
}

// TestDurationExprCountsPastDecisions: a profile's duration_expr with
// GetDecisionsCount sees the decisions already stored: each new alert on
// the same address gets a longer ban. The profile's notification reaches
// its (Slack) receiver.
func TestDurationExprCountsPastDecisions(t *testing.T) {
	cfg := lapiOnly(t)
	cfg.LAPI.ProfilesPath = writeFile(t, t.TempDir(), "profiles.yaml", `name: escalate
filters:
  - Alert.Remediation == true && Alert.GetScope() == "Ip"
decisions:
  - type: ban
    duration: 4h
duration_expr: Sprintf('%dh', (GetDecisionsCount(Alert.GetValue()) + 1) * 4)
notifications:
  - slack_default
on_success: break
`)
	slackHook := newHookReceiver(t)
	cfg.LAPI.NotificationDir = t.TempDir()
	writeFile(t, cfg.LAPI.NotificationDir, "slack.yaml", "type: slack\nname: slack_default\nwebhook: "+slackHook.URL+"\n")
	a, err := New(cfg, WithLogger(testLogger(t)))
	require.NoError(t, err)
	startApp(t, a)
	addMachine(t, a.Store(), "m1", "m1-password")
	al := testAlert(9)
	for range 3 {
		pushAlert(t, a.LAPIURL(), "m1", "m1-password", testAlert(9))
	}
	ds := decisionsOn(t, a.Store(), al.Source.IP)
	require.Len(t, ds, 3)
	var got []time.Duration
	for _, d := range ds {
		got = append(got, d.Until.Sub(d.CreatedAt).Round(time.Hour))
	}
	require.Equal(t, []time.Duration{4 * time.Hour, 8 * time.Hour, 12 * time.Hour}, got)
	waitFor(t, func() bool { return len(slackHook.got()) == 3 }, "one Slack message per alert")
	require.Contains(t, slackHook.got()[0], `"text":"`+al.Source.IP+` will get ban for 4h`)
}

// TestReplicasOnPostgres: two LAPI-only daemons on one PostgreSQL
// database; a decision added through either is served by the other on
// /v1/decisions/stream (startup and incremental).
func TestReplicasOnPostgres(t *testing.T) {
	dsn := pg.DSN(t)
	apps := make([]*App, 2)
	for i := range apps {
		cfg := lapiOnly(t)
		cfg.LAPI.Database = DatabaseConfig{Type: "postgres", DSN: dsn}
		cfg.LAPI.FollowInterval = 200 * time.Millisecond
		a, err := New(cfg, WithLogger(testLogger(t)))
		require.NoError(t, err)
		startApp(t, a)
		apps[i] = a
	}
	addMachine(t, apps[0].Store(), "m1", "m1-password")
	key := newBouncer(t, apps[0].Store(), "fw")
	cases := []struct {
		name     string
		via, see int
		alert    int
	}{
		{"through replica 0, served by replica 1", 0, 1, 21},
		{"through replica 1, served by replica 0", 1, 0, 22},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			al := testAlert(tc.alert)
			ip := al.Source.IP
			// the bouncer's previous pull, so that the next one is incremental
			_ = streamDecisions(t, apps[tc.see].LAPIURL(), key)
			pushAlert(t, apps[tc.via].LAPIURL(), "m1", "m1-password", al)
			require.Eventually(t, func() bool {
				var resp models.DecisionsStreamResponse
				bouncerGet(t, apps[tc.see].LAPIURL(), key, "/v1/decisions/stream", &resp)
				for _, d := range resp.New {
					if *d.Value == ip {
						return true
					}
				}
				return false
			}, 10*time.Second, 100*time.Millisecond, "incremental pull of the other replica never served %s", ip)
			require.NotNil(t, streamDecisions(t, apps[tc.see].LAPIURL(), key)[ip], "startup pull of the other replica")
		})
	}
}
