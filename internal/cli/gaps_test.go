package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", to age rows in tests

	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
)

func machineNames(t *testing.T, st store.Store) []string {
	t.Helper()
	ms, err := st.ListMachines(context.Background())
	require.NoError(t, err)
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

func bouncerNames(t *testing.T, st store.Store) []string {
	t.Helper()
	bs, err := st.ListBouncers(context.Background())
	require.NoError(t, err)
	var out []string
	for _, b := range bs {
		out = append(out, b.Name)
	}
	return out
}

func TestMachinesInspectPrune(t *testing.T) {
	dir := newDataDir(t)
	st := openTestStore(t, dir)
	ctx := context.Background()
	now := time.Now().UTC()
	for _, m := range []*store.Machine{
		{ID: "web1", IsValidated: true, LastHeartbeat: now, CreatedAt: now.Add(-48 * time.Hour)},
		{ID: "old", IsValidated: true, LastHeartbeat: now.Add(-2 * time.Hour), CreatedAt: now.Add(-48 * time.Hour)},
		{ID: "never", IsValidated: true, CreatedAt: now.Add(-time.Hour)},
		{ID: "fresh", IsValidated: true, CreatedAt: now},
		{ID: "pending", CreatedAt: now},
	} {
		m.IPAddress, m.AuthType, m.Version, m.UpdatedAt = "10.0.0.1", "password", "v1.7.5", now
		m.PasswordHash, m.OSName, m.OSVersion, m.Scenarios = "x", "debian", "12", []string{"crowdsecurity/ssh-bf", "crowdsecurity/http-probing"}
		require.NoError(t, st.CreateMachine(ctx, m))
	}
	runSteps(t, []string{"--data-dir", dir}, []step{
		{name: "inspect", args: []string{"machines", "inspect", "web1"}, gold: "machines-inspect.golden"},
		{name: "inspect raw", args: []string{"machines", "inspect", "web1", "-o", "raw"},
			out: []string{"key,value\nName,web1\nIP Address,10.0.0.1\n", "Validated?,yes\n", "Scenarios,\"crowdsecurity/ssh-bf,crowdsecurity/http-probing\"\n"}},
		{name: "inspect json", args: []string{"machines", "inspect", "pending", "-o", "json"}, out: []string{`"machineId": "pending"`, `"auth_type": "password"`}, notIn: []string{"isValidated"}},
		{name: "inspect unknown", args: []string{"machines", "inspect", "nobody"}, code: ExitError, err: []string{"machine 'nobody' not found"}},
		{name: "inspect needs a name", args: []string{"machines", "inspect"}, code: ExitUsage, err: []string{"accepts 1 arg(s)"}},
		{name: "prune bad duration", args: []string{"machines", "prune", "-d", "toto"}, code: ExitUsage, err: []string{`invalid argument "toto"`}},
		{name: "prune zero duration", args: []string{"machines", "prune", "-d", "0s"}, code: ExitUsage, err: []string{"--duration must be positive"}},
		{name: "prune short duration refused", stdin: "n\n", args: []string{"machines", "prune", "-d", "1m"},
			out: []string{"User aborted prune. No changes were made."}, err: []string{"less than 2 minutes"}},
		{name: "prune not validated only", args: []string{"machines", "prune", "--not-validated-only", "--force"},
			out: []string{" pending "}, notIn: []string{" old ", " never "}, err: []string{"successfully deleted 1 machines"}},
		{name: "prune aborted", stdin: "n\n", args: []string{"machines", "prune", "-d", "30m"},
			out: []string{" old ", " never ", "User aborted prune. No changes were made."}, notIn: []string{" web1 ", " fresh "}, err: []string{"PERMANENTLY"}},
		{name: "prune aborted at end of input", args: []string{"machines", "prune", "-d", "30m"}, out: []string{"User aborted prune."}},
		{name: "prune confirmed", stdin: "yes\n", args: []string{"machines", "prune", "-d", "30m", "-o", "raw"},
			out: []string{"machine_id,", "\nnever,", "\nold,"}, err: []string{"successfully deleted 2 machines"}},
		{name: "prune nothing", args: []string{"machines", "prune", "--force"}, out: []string{"No machines to prune."}},
		{name: "prune short duration confirmed twice", stdin: "y\ny\n", args: []string{"machines", "prune", "-d", "1ns"},
			out: []string{" fresh ", " web1 "}, err: []string{"successfully deleted 2 machines"}},
	})
	require.Empty(t, machineNames(t, st))
}

func TestBouncersInspectPrune(t *testing.T) {
	dir := newDataDir(t)
	st := openTestStore(t, dir)
	ctx := context.Background()
	now := time.Now().UTC()
	for _, b := range []*store.Bouncer{
		{Name: "nginx", LastPull: now, CreatedAt: now.Add(-48 * time.Hour), Type: "crowdsec-nginx-bouncer", Version: "v1.0.8"},
		{Name: "fw", LastPull: now.Add(-3 * time.Hour), CreatedAt: now.Add(-48 * time.Hour), Type: "cs-firewall-bouncer", Version: "v0.0.31"},
		{Name: "fw@10.0.0.9", LastPull: now.Add(-30 * time.Minute), CreatedAt: now.Add(-48 * time.Hour), AutoCreated: true},
		{Name: "unused", CreatedAt: now.Add(-5 * time.Hour)},
		{Name: "new", CreatedAt: now},
	} {
		b.KeyHash, b.IPAddress, b.AuthType, b.UpdatedAt = store.HashAPIKey("key-"+b.Name), "10.0.0.9", "api-key", now
		require.NoError(t, st.CreateBouncer(ctx, b))
	}
	runSteps(t, []string{"--data-dir", dir}, []step{
		{name: "inspect", args: []string{"bouncers", "inspect", "fw"}, gold: "bouncers-inspect.golden"},
		{name: "inspect json", args: []string{"bouncers", "inspect", "fw@10.0.0.9", "-o", "json"}, out: []string{`"name": "fw@10.0.0.9"`, `"auto_created": true`}},
		{name: "inspect raw", args: []string{"bouncers", "inspect", "nginx", "-o", "raw"}, out: []string{"key,value\nName,nginx\n", "Type,crowdsec-nginx-bouncer\n"}},
		{name: "inspect unknown", args: []string{"bouncers", "inspect", "nope"}, code: ExitError, err: []string{"bouncer 'nope' not found"}},
		{name: "prune bad duration", args: []string{"bouncers", "prune", "--duration", "soon"}, code: ExitUsage},
		{name: "prune negative duration", args: []string{"bouncers", "prune", "--duration", "-1h"}, code: ExitUsage, err: []string{"--duration must be positive"}},
		{name: "prune aborted", stdin: "no\n", args: []string{"bouncers", "prune", "--duration", "2h"},
			out: []string{" fw ", " unused ", "User aborted prune."}, notIn: []string{" nginx ", "fw@10.0.0.9", " new "}},
		{name: "prune default hour", args: []string{"bouncers", "prune", "--force"},
			out: []string{" fw ", " unused "}, notIn: []string{" nginx ", "fw@10.0.0.9", " new "}, err: []string{"Successfully deleted 2 bouncers"}},
		{name: "prune ten minutes", args: []string{"bouncers", "prune", "--duration", "10m", "--force"},
			out: []string{"fw@10.0.0.9"}, notIn: []string{" nginx ", " new "}, err: []string{"Successfully deleted 1 bouncers"}},
		{name: "prune nothing", args: []string{"bouncers", "prune", "--duration", "10m", "--force"}, out: []string{"No bouncers to prune."}},
	})
	require.Equal(t, []string{"new", "nginx"}, bouncerNames(t, st))
}

// ageAlerts moves the creation time of the alerts with the given ids back
// by age (the store stamps alerts with its own clock).
func ageAlerts(t *testing.T, dir string, age time.Duration, ids ...int64) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, dbFileName))
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	for _, id := range ids {
		res, err := db.Exec("UPDATE alerts SET created_at = created_at - ? WHERE id = ?", age.Nanoseconds(), id)
		require.NoError(t, err)
		n, err := res.RowsAffected()
		require.NoError(t, err)
		require.Equal(t, int64(1), n, "alert %d", id)
	}
}

func TestAlertsFlush(t *testing.T) {
	dir := newDataDir(t)
	st := openTestStore(t, dir)
	ctx := context.Background()
	p := func(s string) *string { return &s }
	now := time.Now()
	var alerts []*models.Alert
	for i, v := range []string{"1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4", "1.1.1.5", "1.1.1.6"} {
		var ds []*models.Decision
		if i == 0 { // old, but its decision is active: kept
			ds = []*models.Decision{{Origin: p("cscli"), Type: p("ban"), Scope: p("Ip"), Value: p(v), Duration: p("4h"), Scenario: p("test")}}
		}
		alerts = append(alerts, manualAlert("", "test", target{"Ip", v}, ds, now))
	}
	ids, err := st.CreateAlerts(ctx, "", alerts)
	require.NoError(t, err)
	require.Len(t, ids, 6)
	ageAlerts(t, dir, 10*24*time.Hour, ids[0], ids[1], ids[2])
	ageAlerts(t, dir, 2*24*time.Hour, ids[3])

	remaining := func() []string {
		als, err := st.ListAlerts(ctx, store.AlertFilter{})
		require.NoError(t, err)
		var out []string
		for _, al := range als {
			out = append(out, al.GetValue())
		}
		return out
	}
	runSteps(t, []string{"--data-dir", dir}, []step{
		{name: "bad max-age", args: []string{"alerts", "flush", "--max-age", "old"}, code: ExitUsage, err: []string{`--max-age: duration: "old": not a duration`}},
		{name: "negative max-items", args: []string{"alerts", "flush", "--max-items", "-1"}, code: ExitUsage, err: []string{"--max-items: -1 is negative"}},
		{name: "bad max-items", args: []string{"alerts", "flush", "--max-items", "many"}, code: ExitUsage},
		{name: "defaults keep recent alerts", args: []string{"alerts", "flush"}, out: []string{"Alerts flushed\n"},
			err: []string{"Flushing alerts. !! This may take a long time !!", "2 alert(s) deleted"}},
		{name: "max-age in days", args: []string{"alerts", "flush", "--max-age", "1d", "--max-items", "0"}, err: []string{"1 alert(s) deleted"}},
		{name: "max-items", args: []string{"alerts", "flush", "--max-age", "", "--max-items", "2"}, err: []string{"1 alert(s) deleted"}},
	})
	got := remaining()
	require.Len(t, got, 2)
	require.Contains(t, got, "1.1.1.1", "an alert with an active decision is never flushed")
}

func TestAllowlistsImport(t *testing.T) {
	dir := newDataDir(t)
	st := openTestStore(t, dir)
	ctx := context.Background()
	p := func(s string) *string { return &s }
	_, err := st.CreateAlerts(ctx, "", []*models.Alert{manualAlert("", "test", target{"Ip", "172.16.3.3"},
		[]*models.Decision{{Origin: p("cscli"), Type: p("ban"), Scope: p("Ip"), Value: p("172.16.3.3"), Duration: p("4h"), Scenario: p("test")}}, time.Now())})
	require.NoError(t, err)

	tmp := t.TempDir()
	good := filepath.Join(tmp, "good.csv")
	require.NoError(t, os.WriteFile(good, []byte("comment,value,expiration\n"+
		"office,172.16.0.0/12,\n"+
		"vpn,10.8.0.1,7d\n"+
		",2001:db8::/32,1d12h\n"+
		"\n"+
		"office again,172.16.0.0/12,\n"), 0o644))
	bad := filepath.Join(tmp, "bad.csv")
	require.NoError(t, os.WriteFile(bad, []byte("value\n1.2.3.4\nnot-an-ip\n"), 0o644))
	noValue := filepath.Join(tmp, "novalue.csv")
	require.NoError(t, os.WriteFile(noValue, []byte("ip,comment\n1.2.3.4,x\n"), 0o644))

	runSteps(t, []string{"--data-dir", dir}, []step{
		{name: "create", args: []string{"allowlists", "create", "lan", "-d", "LAN"}},
		{name: "needs input", args: []string{"allowlists", "import", "lan"}, code: ExitError, err: []string{`required flag(s) "input" not set`}},
		{name: "needs a name", args: []string{"allowlists", "import", "-i", good}, code: ExitUsage},
		{name: "unknown allowlist", args: []string{"allowlists", "import", "wan", "-i", good}, code: ExitError, err: []string{"allowlist 'wan' not found"}},
		{name: "missing file", args: []string{"allowlists", "import", "lan", "-i", filepath.Join(tmp, "nope.csv")}, code: ExitError, err: []string{"allowlists import:", "nope.csv"}},
		{name: "invalid value", args: []string{"allowlists", "import", "lan", "-i", bad}, code: ExitError, err: []string{"bad.csv", "line 3"}},
		{name: "no value column", args: []string{"allowlists", "import", "lan", "-i", noValue}, code: ExitError, err: []string{"no value column"}},
		{name: "header only", stdin: "value,comment\n", args: []string{"allowlists", "import", "lan", "-i", "-"}, out: []string{"no new values for allowlist"}},
		{name: "import", args: []string{"allowlists", "import", "lan", "-i", good}, out: []string{"imported 3 values to allowlist lan\n"},
			err: []string{"1 active decisions on allowlisted values expired"}},
		{name: "import stdin", stdin: "value\n192.168.1.0/24\n10.8.0.1\n", args: []string{"allowlists", "import", "lan", "-i", "-"},
			out: []string{"imported 2 values to allowlist lan\n"}},
		{name: "inspect", args: []string{"allowlists", "inspect", "lan", "-o", "raw"},
			out: []string{"lan,LAN,172.16.0.0/12,office again,never,", "lan,LAN,192.168.1.0/24,,never,", "lan,LAN,2001:db8::/32,,20"}},
	})
	l, err := st.GetAllowlist(ctx, "lan")
	require.NoError(t, err)
	byValue := map[string]store.AllowlistItem{}
	for _, it := range l.Items {
		byValue[it.Value] = it
	}
	require.Len(t, byValue, 4)
	// Re-imported without expiration: the stdin line replaced the CSV's 7d.
	require.True(t, byValue["10.8.0.1"].Expiration.IsZero())
	exp := byValue["2001:db8::/32"].Expiration
	require.WithinDuration(t, time.Now().Add(36*time.Hour), exp, time.Minute)

	var active []string
	require.NoError(t, st.ListActiveDecisions(ctx, time.Now(), func(d *store.Decision) error {
		active = append(active, d.Value)
		return nil
	}))
	require.Empty(t, active)

	code, out, errs := runCLI(t, "", "allowlists", "check", "172.16.9.9", "-o", "json", "--data-dir", dir)
	require.Equal(t, ExitOK, code, errs)
	require.True(t, json.Valid([]byte(out)))
	require.True(t, strings.Contains(out, "172.16.0.0/12"), out)
}
