package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/central/centralstore"
	"github.com/phalanx-ids/phalanx/internal/central/server"
	"golang.org/x/crypto/bcrypt"
)

func TestCentralOperatorCommands(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := runCLI(t, "", "central", "orgs", "add", "operator", "--seed", "-o", "raw", "--data-dir", dir)
	require.Equal(t, 0, code, errs)
	key := strings.TrimSpace(out)
	require.Regexp(t, `^[A-Za-z0-9]{32}$`, key)
	code, _, errs = runCLI(t, "", "central", "orgs", "add", "operator", "--data-dir", dir)
	require.Equal(t, 1, code, "duplicate name refused")
	require.Contains(t, errs, "already exists")

	code, _, errs = runCLI(t, "", "central", "canaries", "add", "8.8.4.4", "--data-dir", dir)
	require.Equal(t, 0, code, errs)
	code, _, _ = runCLI(t, "", "central", "canaries", "add", "not-an-ip", "--data-dir", dir)
	require.Equal(t, 2, code)

	google := filepath.Join(dir, "googlebot.json")
	require.NoError(t, os.WriteFile(google, []byte(`{"creationTime":"x","prefixes":[{"ipv6Prefix":"2001:4860:4801:10::/64"},{"ipv4Prefix":"66.249.64.0/27"}]}`), 0o600))
	lines := filepath.Join(dir, "list.txt")
	require.NoError(t, os.WriteFile(lines, []byte("# monitors\n1.2.3.0/24\n5.6.7.8 # one\n\n"), 0o600))
	bad := filepath.Join(dir, "bad.txt")
	require.NoError(t, os.WriteFile(bad, []byte("1.2.3.0/24\nnope\n"), 0o600))
	for _, f := range []string{google, lines} {
		code, _, errs = runCLI(t, "", "central", "allowlist", "import", f, "--data-dir", dir)
		require.Equal(t, 0, code, errs)
	}
	code, _, errs = runCLI(t, "", "central", "allowlist", "import", bad, "--data-dir", dir)
	require.Equal(t, 1, code)
	require.Contains(t, errs, "line 2")
	code, _, errs = runCLI(t, "", "central", "allowlist", "add", "9.9.0.0/16", "--reason", "partner", "--data-dir", dir)
	require.Equal(t, 0, code, errs)
	code, out, _ = runCLI(t, "", "central", "allowlist", "list", "-o", "json", "--data-dir", dir)
	require.Equal(t, 0, code)
	var al []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &al))
	require.Len(t, al, 5)

	// central ip: evidence without reporter identities.
	ctx := context.Background()
	st, err := centralstore.Open(ctx, filepath.Join(dir, "central.db"))
	require.NoError(t, err)
	now := time.Now()
	require.NoError(t, st.Register(ctx, "machineaaaaaaaaaaaaaaaa", "h", now))
	_, err = st.InsertSignals(ctx, []centralstore.Signal{{MachineID: "machineaaaaaaaaaaaaaaaa", UUID: "u", IP: "4.3.2.1", Scenario: "crowdsecurity/ssh-bf", ReceivedAt: now}})
	require.NoError(t, err)
	require.NoError(t, st.SetMetrics(ctx, "machineaaaaaaaaaaaaaaaa", 3, 2, "v1.7.5", now))
	require.NoError(t, st.SetUsage(ctx, "machineaaaaaaaaaaaaaaaa", centralstore.Usage{LAPIVersion: "v1.7.5", ConsoleOptions: []string{"custom", "manual"}, At: now}))
	require.NoError(t, st.Close())
	code, out, errs = runCLI(t, "", "central", "ip", "4.3.2.1", "-o", "json", "--data-dir", dir)
	require.Equal(t, 0, code, errs)
	var rep map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	for _, k := range []string{"ip", "listed", "tier", "reports", "clusters", "scenarios", "first_seen", "last_seen", "expires_at"} {
		require.Contains(t, rep, k)
	}
	require.Equal(t, false, rep["listed"])
	require.EqualValues(t, 1, rep["reports"])
	require.NotContains(t, out, "machineaaaa")

	code, out, errs = runCLI(t, "", "central", "installs", "list", "-o", "json", "--data-dir", dir)
	require.Equal(t, 0, code, errs)
	require.Contains(t, out, `"trust": 0.2`)
	var installs []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &installs))
	require.Len(t, installs, 1)
	require.Equal(t, "v1.7.5", installs[0]["version"], "from the install's metrics")
	require.EqualValues(t, 3, installs[0]["bouncers"])
	require.EqualValues(t, 2, installs[0]["machines"])
	require.EqualValues(t, 1, installs[0]["usage_reports"], "from its usage metrics")
	require.Equal(t, []any{"custom", "manual"}, installs[0]["console_options"])

	code, _, _ = runCLI(t, "", "central", "delist", "4.3.2.1", "--data-dir", dir)
	require.Equal(t, 2, code, "--reason is required")
	code, _, errs = runCLI(t, "", "central", "delist", "4.3.2.1", "--reason", "appeal", "--data-dir", dir)
	require.Equal(t, 0, code, errs)
	code, _, _ = runCLI(t, "", "central", "orgs", "list")
	require.Equal(t, 2, code, "a database is required")
}

// TestCentralCommandsReachRunningCentral: a delisting made with the CLI
// while the central runs takes effect within 2 s.
func TestCentralCommandsReachRunningCentral(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := server.New(ctx, server.Config{DataDir: dir, Listen: "127.0.0.1:0", Poll: 100 * time.Millisecond}, server.Deps{PasswordCost: bcrypt.MinCost})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	st, err := centralstore.Open(ctx, filepath.Join(dir, "central.db"))
	require.NoError(t, err)
	defer st.Close()
	now := time.Now()
	require.NoError(t, st.ApplyChanges(ctx, centralstore.Changes{
		Listings: []centralstore.Listing{{IP: "7.7.7.7", Tier: "community", ListedAt: now, ExpiresAt: now.Add(time.Hour)}},
		Events:   []centralstore.FeedEvent{{Op: "add", IP: "7.7.7.7", Tier: "community", ExpiresAt: now.Add(time.Hour), At: now}}}))
	code, _, errs := runCLI(t, "", "central", "delist", "7.7.7.7", "--reason", "appeal", "--data-dir", dir)
	require.Equal(t, 0, code, errs)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := st.GetListing(ctx, "7.7.7.7"); err == centralstore.ErrNotFound {
			// central ip says why it stays off: the appeal's hold.
			code, out, errs := runCLI(t, "", "central", "ip", "7.7.7.7", "-o", "json", "--data-dir", dir)
			require.Equal(t, 0, code, errs)
			var rep map[string]any
			require.NoError(t, json.Unmarshal([]byte(out), &rep))
			require.Equal(t, false, rep["listed"])
			require.Equal(t, true, rep["appealed"])
			until, err := time.Parse(time.RFC3339, rep["held_until"].(string))
			require.NoError(t, err)
			require.WithinDuration(t, time.Now().Add(7*24*time.Hour), until, time.Hour)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the running central did not apply the delisting within 2 s")
}

// TestCentralSimulate: the command prints one row per strategy and share
// (a tiny crowd), refuses unknown strategies and shares out of range, and
// --http prints the end-to-end latency over loopback.
func TestCentralSimulate(t *testing.T) {
	code, out, errs := runCLI(t, "", "central", "simulate", "--installs", "100", "--warmup-days", "3", "--days", "1",
		"--attackers-per-day", "240", "--benign", "1000", "--strategies", "naive,mixed", "--shares", "0,0.1")
	require.Equal(t, 0, code, errs)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 5, out)
	require.Contains(t, lines[0], "delist")
	require.True(t, strings.HasPrefix(lines[4], "mixed"), out)
	code, _, errs = runCLI(t, "", "central", "simulate", "--strategies", "bogus\x1b[31m")
	require.Equal(t, 1, code)
	require.Contains(t, errs, `unknown strategy "bogus\x1b[31m"`)
	code, _, errs = runCLI(t, "", "central", "simulate", "--shares", "1.5")
	require.Equal(t, 1, code)
	require.Contains(t, errs, "want 0 to 1")
	code, out, errs = runCLI(t, "", "central", "simulate", "--http", "--installs", "12", "--http-seeds", "2", "--http-attackers", "5")
	require.Equal(t, 0, code, errs)
	require.Contains(t, out, "attackers 5 (each pushed by 3 trusted installs of independent clusters), listed 5")
}
