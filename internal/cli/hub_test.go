package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// TestHubCommands: the hub and item commands against a hub served over
// loopback, with cscli's words, flags and exit codes.
func TestHubCommands(t *testing.T) {
	srv := testutil.NewHubServer(t)
	dir := t.TempDir()
	common := []string{"--data-dir", dir, "--hub-url", srv.URL}
	runSteps(t, common, []step{
		{name: "empty list", args: []string{"hub", "list"}, out: []string{"No hub items installed"}},
		{name: "update", args: []string{"hub", "update"}, out: []string{"Hub index updated: ", srv.URL}},
		{name: "update again", args: []string{"hub", "update"}, out: []string{"Hub index already up to date"}},
		{name: "dry run", args: []string{"collections", "install", "crowdsecurity/nginx", "--dry-run"},
			out: []string{"Dry run", "downloading collections:crowdsecurity/nginx", "enabling parsers:crowdsecurity/nginx-logs"}},
		{name: "dry run changed nothing", args: []string{"parsers", "list"}, out: []string{"No parsers installed"}},
		{name: "install", args: []string{"collections", "install", "crowdsecurity/linux", "crowdsecurity/nginx"},
			out: []string{"enabling parsers:crowdsecurity/nginx-logs", "data file GeoLite2-City.mmdb: downloaded", "Reload the daemon"}},
		{name: "install again", args: []string{"collection", "install", "crowdsecurity/nginx"},
			out: []string{"note: collection crowdsecurity/nginx is already installed"}, notIn: []string{"downloading"}},
		{name: "list", args: []string{"parsers", "list"}, out: []string{"PARSERS", "crowdsecurity/nginx-logs", "enabled", filepath.Join(dir, "parsers/s01-parse/nginx-logs.yaml")}},
		{name: "list all", args: []string{"scenarios", "list", "-a", "-o", "raw"}, out: []string{"scenarios,crowdsecurity/ssh-bf,enabled,", "scenarios,crowdsecurity/mysql-bf,disabled,"}},
		{name: "inspect", args: []string{"parsers", "inspect", "crowdsecurity/sshd-logs"}, out: []string{"belongs to collections", "crowdsecurity/sshd", "up to date"}},
		{name: "remove needed parser", args: []string{"parsers", "remove", "crowdsecurity/http-logs"}, code: ExitError,
			err: []string{"belongs to the installed collection crowdsecurity/base-http-scenarios"}},
		{name: "unknown item", args: []string{"scenarios", "install", "nobody/nothing"}, code: ExitError, err: []string{`unknown scenario "nobody/nothing"`}},
		{name: "no names", args: []string{"collections", "remove"}, code: ExitUsage, err: []string{"give names or --all"}},
		{name: "bad output", args: []string{"hub", "list", "-o", "yaml"}, code: ExitUsage, err: []string{`output format "yaml"`}},
		{name: "upgrade, all current", args: []string{"hub", "upgrade"}, out: []string{"data file GeoLite2-City.mmdb: not modified"}, notIn: []string{"downloading"}},
		{name: "remove", args: []string{"collections", "remove", "crowdsecurity/nginx"},
			out: []string{"disabling collections:crowdsecurity/nginx", "disabling parsers:crowdsecurity/nginx-logs", "disabling parsers:crowdsecurity/http-logs"}},
	})

	code, out, errs := runCLI(t, "", append([]string{"hub", "list", "-o", "json"}, common...)...)
	require.Equal(t, ExitOK, code, errs)
	var got map[string][]itemJSON
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	names := map[string]string{}
	for _, it := range got["parsers"] {
		names[it.Name] = it.Status
	}
	require.Equal(t, "enabled", names["crowdsecurity/sshd-logs"])
	require.NotContains(t, names, "crowdsecurity/nginx-logs")

	// A tainted item: reported, and not overwritten by an upgrade.
	link := filepath.Join(dir, "scenarios/ssh-bf.yaml")
	b, err := os.ReadFile(link)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(link, append(b, "# local tweak\n"...), 0o644))
	runSteps(t, common, []step{
		{name: "tainted listed", args: []string{"scenarios", "list"}, out: []string{"enabled,tainted"}},
		{name: "tainted kept", args: []string{"scenarios", "upgrade", "crowdsecurity/ssh-bf"}, out: []string{"ssh-bf is tainted (edited locally): not upgraded"}},
		{name: "tainted forced", args: []string{"scenarios", "upgrade", "crowdsecurity/ssh-bf", "--force"}, out: []string{"downloading scenarios:crowdsecurity/ssh-bf"}},
		{name: "clean again", args: []string{"scenarios", "inspect", "crowdsecurity/ssh-bf", "-o", "json"}, out: []string{`"status": "enabled"`, `"tainted": false`}},
	})
}

// TestInstalledContentByDefault: replay, explain and hubtest run what is
// installed in the data dir; --embedded and --hub override.
func TestInstalledContentByDefault(t *testing.T) {
	srv := testutil.NewHubServer(t)
	dir := t.TempDir()
	code, out, errs := runCLI(t, "", "collections", "install", "crowdsecurity/linux", "--data-dir", dir, "--hub-url", srv.URL)
	require.Equal(t, ExitOK, code, out+errs)
	auth := filepath.Join("..", "..", "examples", "auth.log")

	code, out, errs = runCLI(t, "", "replay", "--type", "syslog", "--data-dir", dir, auth)
	require.Equal(t, ExitOK, code, errs)
	require.Contains(t, out, "crowdsecurity/ssh-bf")
	require.NotContains(t, out, "phalanx/ssh-bruteforce")

	code, out, errs = runCLI(t, "", "replay", "--type", "syslog", "--data-dir", dir, "--embedded", auth)
	require.Equal(t, ExitOK, code, errs)
	require.Contains(t, out, "phalanx/ssh-bruteforce")

	code, out, errs = runCLI(t, "", "explain", "--type", "syslog", "--data-dir", dir,
		"--log", "Mar  1 10:00:09 web01 sshd[1]: Failed password for root from 203.0.113.9 port 40001 ssh2")
	require.Equal(t, ExitOK, code, errs)
	require.Contains(t, out, "crowdsecurity/sshd-logs")

	tests := filepath.Join(testutil.Hub(t), "tests")
	code, out, errs = runCLI(t, "", "hubtest", "run", "--data-dir", dir, "--tests", tests, "ssh-bf")
	require.Equal(t, ExitOK, code, out+errs)
	require.Contains(t, out, "PASS ssh-bf")
	code, _, errs = runCLI(t, "", "hubtest", "run", "--data-dir", t.TempDir(), "--tests", tests, "ssh-bf")
	require.Equal(t, ExitError, code)
	require.Contains(t, errs, "no hub index")
}
