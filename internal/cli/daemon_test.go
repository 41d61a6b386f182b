package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	daemon "github.com/phalanx-ids/phalanx/internal/app"
)

// startDaemon runs the daemon in-process on dataDir, its LAPI and its
// metrics each on a free loopback port (never the default ones), watching
// an empty log.
func startDaemon(t *testing.T, dataDir string) *daemon.App {
	t.Helper()
	dir := t.TempDir()
	log, acquis := filepath.Join(dir, "auth.log"), filepath.Join(dir, "acquis.yaml")
	require.NoError(t, os.WriteFile(log, nil, 0o600))
	require.NoError(t, os.WriteFile(acquis, fmt.Appendf(nil, "filenames: [%s]\nlabels: {type: syslog}\n", log), 0o600))
	var cfg daemon.Config
	cfg.DataDir = dataDir
	cfg.LAPI.ListenURI = "127.0.0.1:0"
	cfg.Agent.AcquisitionPath = acquis
	cfg.Metrics.ListenAddr = "127.0.0.1:0"
	d, err := daemon.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("daemon did not stop")
		}
		require.NoError(t, d.Close())
	})
	return d
}

// TestCLIFindsTheDaemon is issue 8 item 12: with a daemon of the data dir
// listening on a port of its own, `machines add` leaves the local agent's
// credentials alone, and every command finds the daemon from --data-dir
// alone.
func TestCLIFindsTheDaemon(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir)
	require.NotEqual(t, defaultLAPIURL, d.LAPIURL())
	agentCreds := filepath.Join(dir, daemon.CredentialsFile)
	before, err := os.ReadFile(agentCreds)
	require.NoError(t, err)
	run, ok := daemon.ReadRunState(dir)
	require.True(t, ok)
	require.Equal(t, d.LAPIURL(), run.LAPIURL)
	require.Equal(t, d.MetricsURL(), run.MetricsURL)

	common := []string{"--data-dir", dir}
	other := filepath.Join(t.TempDir(), "web2.yaml")
	runSteps(t, common, []step{
		{name: "add prints the credentials", args: []string{"machines", "add", "web1", "--password", "S3cret-pw"},
			out: []string{"login: web1\n", "password: S3cret-pw\n", "url: " + d.LAPIURL() + "\n"},
			err: []string{"Machine 'web1' successfully added", "is left as it is"}},
		{name: "add to a file", args: []string{"machines", "add", "web2", "--auto", "-f", other},
			err: []string{"API credentials written to '" + other + "'"}},
		{name: "the agent's file needs --force", args: []string{"machines", "add", "web3", "--auto", "-f", agentCreds},
			code: ExitError, err: []string{"already exists", "--force"}},
		{name: "decisions list", args: []string{"decisions", "list"}, out: []string{"No active decisions"}},
		{name: "decisions add", args: []string{"decisions", "add", "-i", "192.0.2.1"}, err: []string{"Decision successfully added"}},
		{name: "alerts list", args: []string{"alerts", "list", "-o", "raw"}, out: []string{"192.0.2.1"}},
		{name: "metrics on their own port", args: []string{"metrics", "show", "lapi"}, out: []string{"Local API Metrics"}},
		{name: "machines list", args: []string{"machines", "list", "-o", "raw"}, out: []string{"web1,", "web2,"}},
		{name: "bouncers add shows the daemon's url", args: []string{"bouncers", "add", "fw1"}, out: []string{"api_url: " + d.LAPIURL() + "\n"}},
	})
	after, err := os.ReadFile(agentCreds)
	require.NoError(t, err)
	require.Equal(t, string(before), string(after), "the local agent's credentials changed")
	var cr daemon.Credentials
	b, err := os.ReadFile(other)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, &cr))
	require.Equal(t, d.LAPIURL(), cr.URL)
	require.Equal(t, "web2", cr.Login)
}

// TestCLIRestartedDaemon: after `machines add`, the daemon restarts on
// another port with its agent's login intact, and the CLI follows it.
func TestCLIRestartedDaemon(t *testing.T) {
	dir := t.TempDir()
	var cfg daemon.Config
	cfg.DataDir = dir
	cfg.LAPI.ListenURI = "127.0.0.1:0"
	cfg.Agent.Enabled = new(bool) // LAPI only for the first start: no credentials file yet
	first, err := daemon.New(cfg)
	require.NoError(t, err)

	// A fresh install: the first machine added becomes the install's, with
	// the url of the running daemon (found in the data dir).
	code, _, errs := runCLI(t, "", "machines", "add", "local", "--password", "pw-local-1", "--data-dir", dir)
	require.Equal(t, ExitOK, code, errs)
	require.Contains(t, errs, "API credentials written to '"+filepath.Join(dir, daemon.CredentialsFile)+"'")
	cr, err := daemon.ReadCredentials(filepath.Join(dir, daemon.CredentialsFile))
	require.NoError(t, err)
	require.Equal(t, first.LAPIURL(), cr.URL)
	require.NoError(t, first.Close())
	_, running := daemon.ReadRunState(dir)
	require.False(t, running, "the run state is removed at close")

	d := startDaemon(t, dir) // agent on: it logs in as "local"
	cr, err = daemon.ReadCredentials(filepath.Join(dir, daemon.CredentialsFile))
	require.NoError(t, err)
	require.Equal(t, "local", cr.Login)
	require.Equal(t, d.LAPIURL(), cr.URL)
	code, out, errs := runCLI(t, "", "decisions", "list", "--data-dir", dir)
	require.Equal(t, ExitOK, code, errs)
	require.Contains(t, out, "No active decisions")
}
