package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
)

// TestEndToEnd: attack lines appended to a watched log become an alert in
// the store and a decision a bouncer fetches over HTTP; /metrics shows the
// pipeline and LAPI counters.
func TestEndToEnd(t *testing.T) {
	e := newEnv(t)
	a, err := New(e.config(), WithLogger(testLogger(t)))
	require.NoError(t, err)
	stop := startApp(t, a)
	require.Len(t, a.Watching(), 1)
	require.Contains(t, a.Watching()[0], e.log)
	key := newBouncer(t, a.Store(), "fw1")

	waitWatching(t, a, e.log)
	appendLines(t, e.log, sshFailures("203.0.113.77", 8)...)

	var got map[string]*models.Decision
	require.Eventually(t, func() bool {
		got = streamDecisions(t, a.LAPIURL(), key)
		return got["203.0.113.77"] != nil
	}, 15*time.Second, 100*time.Millisecond, "no decision for the attacker")
	d := got["203.0.113.77"]
	require.Equal(t, "ban", *d.Type)
	require.Equal(t, "Ip", *d.Scope)
	require.Equal(t, "crowdsec", *d.Origin)
	require.Contains(t, *d.Scenario, "ssh")

	alerts, err := a.Store().ListAlerts(context.Background(), store.AlertFilter{Value: "203.0.113.77"})
	require.NoError(t, err)
	require.NotEmpty(t, alerts)
	require.NotEmpty(t, alerts[0].MachineID, "the alert was pushed by the local machine")

	// The credentials file lets local clients log in as the agent.
	creds, err := readCredentials(filepath.Join(e.data, CredentialsFile), FilePolicy{})
	require.NoError(t, err)
	require.Equal(t, a.LAPIURL(), creds.URL)
	require.Equal(t, alerts[0].MachineID, creds.MachineID)

	metrics := getBody(t, a.MetricsURL())
	for _, m := range []string{
		"cs_filesource_hits_total{", "cs_parser_hits_ok_total ", "cs_parser_hits_ko_total ",
		"cs_node_hits_ok_total{", `cs_bucket_overflowed_total{name="phalanx/ssh-bruteforce"}`,
		"cs_lapi_route_requests_total{", "cs_active_decisions{", "phalanx_agent_alerts_pushed_total ",
		"phalanx_agent_spool_bytes ",
	} {
		require.Contains(t, metrics, m)
	}
	require.NoError(t, stop())
	require.NoError(t, a.Close())
}

// TestReload: a bad config is refused and the daemon keeps detecting with
// the old one; a good one is applied.
func TestReload(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	a, err := New(cfg, WithLogger(testLogger(t)))
	require.NoError(t, err)
	startApp(t, a)
	key := newBouncer(t, a.Store(), "fw1")
	waitWatching(t, a, e.log)

	bad := map[string]func(c *Config){
		"missing acquisition file": func(c *Config) { c.Agent.AcquisitionPath = filepath.Join(e.dir, "nope.yaml") },
		"bad profiles": func(c *Config) {
			c.LAPI.ProfilesPath = writeFile(t, e.dir, "profiles.yaml", "name: x\nfilters: [\"1 +\"]\n")
		},
		"unknown log level": func(c *Config) { c.LogLevel = "loud" },
		"bad hub dir":       func(c *Config) { c.Agent.HubDir = filepath.Join(e.dir, "nohub") },
	}
	for name, mutate := range bad {
		c := cfg
		mutate(&c)
		require.Error(t, a.Reload(c), name)
	}
	appendLines(t, e.log, sshFailures("198.51.100.200", 8)...)
	require.Eventually(t, func() bool {
		return streamDecisions(t, a.LAPIURL(), key)["198.51.100.200"] != nil
	}, 15*time.Second, 100*time.Millisecond, "the daemon stopped detecting after a bad reload")

	// A good reload (a second log) swaps the pipeline; the first log keeps
	// its position (no line read twice, none lost).
	log2 := filepath.Join(e.dir, "auth2.log")
	require.NoError(t, os.WriteFile(log2, nil, 0o600))
	c := cfg
	c.Agent.AcquisitionPath = writeFile(t, e.dir, "acquis2.yaml",
		"filenames:\n  - "+e.log+"\n  - "+log2+"\nlabels:\n  type: syslog\n")
	require.NoError(t, a.Reload(c))
	require.Eventually(t, func() bool { return strings.Contains(strings.Join(a.Watching(), " "), log2) }, 5*time.Second, 50*time.Millisecond)
	waitWatching(t, a, log2)
	appendLines(t, log2, sshFailures("198.51.100.201", 8)...)
	require.Eventually(t, func() bool {
		return streamDecisions(t, a.LAPIURL(), key)["198.51.100.201"] != nil
	}, 15*time.Second, 100*time.Millisecond, "no detection after a good reload")
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}
