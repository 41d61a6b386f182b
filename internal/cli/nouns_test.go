package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	daemon "github.com/phalanx-ids/phalanx/internal/app"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/profile"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/store/sqlite"
)

// newDataDir creates a data dir with a migrated SQLite database, as the
// daemon leaves it on its first start.
func newDataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(dir, dbFileName)})
	require.NoError(t, err)
	require.NoError(t, st.Close())
	return dir
}

// openTestStore opens the data dir's database for checks.
func openTestStore(t *testing.T, dir string) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(dir, dbFileName)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

var (
	timeRE = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)
	durRE  = regexp.MustCompile(`\b(\d+h)?\d+m\d+s\b`)
)

// stable replaces wall-clock times by a placeholder of the same width, so
// that golden tables keep their alignment.
func stable(s string) string { return timeRE.ReplaceAllString(s, "YYYY-MM-DDTHH:MM:SSZ") }

type step struct {
	name  string
	stdin string
	args  []string
	code  int
	out   []string         // substrings of stdout
	err   []string         // substrings of stderr
	gold  string           // golden file for stdout (times made stable)
	notIn []string         // not in stdout
	after func(*testing.T) // run after the command (wait for a background reload)
}

func runSteps(t *testing.T, common []string, steps []step) {
	t.Helper()
	for _, s := range steps {
		ok := t.Run(s.name, func(t *testing.T) {
			args := append(append([]string{}, s.args...), common...)
			code, out, errs := runCLI(t, s.stdin, args...)
			require.Equal(t, s.code, code, "stdout:\n%s\nstderr:\n%s", out, errs)
			for _, o := range s.out {
				require.Contains(t, out, o)
			}
			for _, o := range s.notIn {
				require.NotContains(t, out, o)
			}
			for _, e := range s.err {
				require.Contains(t, errs, e)
			}
			if s.gold != "" {
				golden(t, s.gold, stable(out))
			}
			if s.after != nil {
				s.after(t)
			}
		})
		if !ok {
			t.FailNow() // later steps depend on this one
		}
	}
}

func TestMachines(t *testing.T) {
	dir := newDataDir(t)
	creds := filepath.Join(t.TempDir(), "creds.yaml")
	runSteps(t, []string{"--data-dir", dir}, []step{
		{name: "add needs a password", args: []string{"machines", "add", "web1"}, code: ExitUsage, err: []string{"--password"}},
		{name: "add needs a name", args: []string{"machines", "add", "--password", "x"}, code: ExitUsage, err: []string{"--auto"}},
		{name: "add", args: []string{"machines", "add", "web1", "--password", "S3cret-pw", "-f", creds, "-u", "http://127.0.0.1:8081/"},
			err: []string{"Machine 'web1' successfully added to the local API.", "API credentials written to '" + creds + "'."}},
		{name: "add duplicate", args: []string{"machines", "add", "web1", "--password", "x", "-f", "-"}, code: ExitError, err: []string{`machine "web1" already exists`}},
		{name: "credentials file kept", args: []string{"machines", "add", "web2", "--password", "x", "-f", creds}, code: ExitError, err: []string{"already exists", "--force"}},
		{name: "add auto to stdout", args: []string{"machines", "add", "web3", "--auto", "-f", "-"}, out: []string{"login: web3", "password: ", "url: http://127.0.0.1:8080/"}},
		{name: "list", args: []string{"machines", "list"}, gold: "machines-list.golden"},
		{name: "list raw", args: []string{"machines", "list", "-o", "raw"}, out: []string{"machine_id,ip_address,updated_at,validated,version,auth_type,last_heartbeat,os\nweb1,127.0.0.1,"}},
		{name: "validate", args: []string{"machines", "validate", "web1"}, err: []string{"machine 'web1' validated successfully"}},
		{name: "validate unknown", args: []string{"machines", "validate", "nobody"}, code: ExitError, err: []string{"machine 'nobody' not found"}},
		{name: "delete", args: []string{"machines", "delete", "web3"}, err: []string{"machine 'web3' deleted successfully"}},
		{name: "delete again", args: []string{"machines", "delete", "web3"}, code: ExitError, err: []string{"machine 'web3' not found"}},
		{name: "validate needs a name", args: []string{"machines", "validate"}, code: ExitUsage, err: []string{"accepts 1 arg(s)"}},
	})
	code, out, errs := runCLI(t, "", "machines", "list", "-o", "json", "--data-dir", dir)
	require.Equal(t, ExitOK, code, errs)
	var ms []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &ms))
	require.Len(t, ms, 1)
	require.Equal(t, "web1", ms[0]["machineId"])
	require.Equal(t, true, ms[0]["isValidated"])

	var cr daemon.Credentials
	b, err := os.ReadFile(creds)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, &cr))
	require.Equal(t, daemon.Credentials{URL: "http://127.0.0.1:8081/", Login: "web1", Password: "S3cret-pw"}, cr)
	st, err := os.Stat(creds)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
}

func TestBouncers(t *testing.T) {
	dir := newDataDir(t)
	runSteps(t, []string{"--data-dir", dir, "--lapi-url", "http://10.0.0.1:8080/"}, []step{
		{name: "empty list json", args: []string{"bouncers", "list", "-o", "json"}, out: []string{"[]\n"}},
		{name: "add with key", args: []string{"bouncers", "add", "nginx", "-k", "0123456789abcdef0123456789abcdef"}, gold: "bouncers-add.golden"},
		{name: "add raw", args: []string{"bouncers", "add", "fw1", "-o", "raw"}},
		{name: "add duplicate", args: []string{"bouncers", "add", "nginx"}, code: ExitError, err: []string{"bouncer nginx already exists"}},
		{name: "one-character key", args: []string{"bouncers", "add", "short", "-k", "x"}, code: ExitUsage, err: []string{"API key too short (1 characters): at least 16 are required"}},
		{name: "15-character key", args: []string{"bouncers", "add", "short", "-k", "0123456789abcde"}, code: ExitUsage, err: []string{"too short"}},
		{name: "key with a space", args: []string{"bouncers", "add", "short", "-k", "0123456789 abcdef"}, code: ExitUsage, err: []string{"character 11"}},
		{name: "key with a control character", args: []string{"bouncers", "add", "short", "-k", "0123456789abcdef\x1b"}, code: ExitUsage, err: []string{"character 17"}},
		{name: "key reuse", args: []string{"bouncers", "add", "other", "-k", "0123456789abcdef0123456789abcdef"}, code: ExitError, err: []string{`already used by bouncer "nginx"`}},
		{name: "list", args: []string{"bouncers", "list"}, gold: "bouncers-list.golden"},
		{name: "delete", args: []string{"bouncers", "delete", "fw1"}, err: []string{"bouncer 'fw1' deleted successfully"}},
		{name: "delete unknown", args: []string{"bouncers", "delete", "fw1"}, code: ExitError, err: []string{"bouncer 'fw1' not found"}},
		{name: "16-character key", args: []string{"bouncers", "add", "ok16", "-k", "0123456789abcdeF"}},
		{name: "cscli's older 43-character key", args: []string{"bouncers", "add", "ok43", "-k", "lq3bHpvrQKCS2S/IpmGcHhKqJ9Wm8Ux7oE+qKXc+ZQk"}},
	})
	// -o raw prints only the key, and the store holds its hash.
	code, out, errs := runCLI(t, "", "bouncers", "add", "fw9", "-o", "raw", "--data-dir", dir)
	require.Equal(t, ExitOK, code, errs)
	key := strings.TrimSuffix(out, "\n")
	require.Regexp(t, `^[A-Za-z0-9]{32}$`, key)
	bs, err := openTestStore(t, dir).BouncersByKeyHash(context.Background(), store.HashAPIKey(key))
	require.NoError(t, err)
	require.Len(t, bs, 1)
	require.Equal(t, "fw9", bs[0].Name)
}

func TestAllowlists(t *testing.T) {
	dir := newDataDir(t)
	// Active decisions that allowlisting must expire.
	st := openTestStore(t, dir)
	ctx := context.Background()
	p := func(s string) *string { return &s }
	var alerts []*models.Alert
	for _, v := range []string{"192.168.1.7", "10.0.0.0/23", "8.8.8.8"} {
		scope := "Ip"
		if strings.Contains(v, "/") {
			scope = "Range"
		}
		alerts = append(alerts, manualAlert("", "test", target{scope, v}, []*models.Decision{{Origin: p("cscli"), Type: p("ban"),
			Scope: p(scope), Value: p(v), Duration: p("4h"), Scenario: p("test")}}, time.Now()))
	}
	_, err := st.CreateAlerts(ctx, "", alerts)
	require.NoError(t, err)

	runSteps(t, []string{"--data-dir", dir}, []step{
		{name: "list empty", args: []string{"allowlists", "list"}, gold: "allowlists-list-empty.golden"},
		{name: "list empty raw", args: []string{"allowlists", "list", "-o", "raw"}, out: []string{"name,description,created_at,updated_at,console_managed,size\n"}},
		{name: "create needs description", args: []string{"allowlists", "create", "foo"}, code: ExitError, err: []string{`required flag(s) "description" not set`}},
		{name: "create", args: []string{"allowlist", "create", "foo", "-d", "A Foo"}, out: []string{"allowlist 'foo' created successfully\n"}},
		{name: "create duplicate", args: []string{"allowlists", "create", "foo", "-d", "x"}, code: ExitError, err: []string{"allowlist 'foo' already exists"}},
		{name: "add to unknown", args: []string{"allowlists", "add", "bar", "1.2.3.4"}, code: ExitError, err: []string{"allowlist 'bar' not found"}},
		{name: "add invalid", args: []string{"allowlists", "add", "foo", "bar", "1.1.1.1/2/3"}, out: []string{"no new values for allowlist"},
			err: []string{"invalid ip address 'bar'", "invalid ip range '1.1.1.1/2/3'"}},
		{name: "add", args: []string{"allowlists", "add", "foo", "192.168.0.0/16", "10.0.0.0/24", "-d", "lan"},
			out: []string{"added 2 values to allowlist foo"}, err: []string{"2 active decisions on allowlisted values expired"}},
		{name: "add existing", args: []string{"allowlists", "add", "foo", "10.0.0.0/24"}, out: []string{"no new values for allowlist"}, err: []string{"value 10.0.0.0/24 already in allowlist"}},
		{name: "add bad expiration", args: []string{"allowlists", "add", "foo", "1.2.3.4", "-e", "toto"}, code: ExitUsage, err: []string{"--expiration"}},
		{name: "add with expiration", args: []string{"allowlists", "add", "foo", "1.2.3.4", "-e", "1d"}, out: []string{"added 1 values to allowlist foo"}},
		{name: "list", args: []string{"allowlists", "list"}, gold: "allowlists-list.golden"},
		{name: "inspect", args: []string{"allowlists", "inspect", "foo"}, gold: "allowlists-inspect.golden"},
		{name: "inspect unknown", args: []string{"allowlists", "inspect", "nope"}, code: ExitError, err: []string{"allowlist 'nope' not found"}},
		{name: "check", args: []string{"allowlists", "check", "192.168.4.4", "8.8.8.8"}, gold: "allowlists-check.golden"},
		{name: "check invalid", args: []string{"allowlists", "check", "nope"}, code: ExitUsage, err: []string{`"nope" is not an IP or a range`}},
		{name: "remove none", args: []string{"allowlists", "remove", "foo", "9.9.9.9"}, out: []string{"no value to remove from allowlist"}},
		{name: "remove", args: []string{"allowlists", "remove", "foo", "1.2.3.4", "9.9.9.9"}, out: []string{"removed 1 values from allowlist foo"}},
		{name: "delete", args: []string{"allowlists", "delete", "foo"}, out: []string{"allowlist 'foo' deleted successfully"}},
		{name: "delete unknown", args: []string{"allowlists", "delete", "foo"}, code: ExitError, err: []string{"allowlist 'foo' not found"}},
	})
	var active []string
	require.NoError(t, st.ListActiveDecisions(ctx, time.Now(), func(d *store.Decision) error {
		active = append(active, d.Value)
		return nil
	}))
	require.Equal(t, []string{"8.8.8.8"}, active)
}

func TestSimulation(t *testing.T) {
	dir := t.TempDir()
	runSteps(t, []string{"--data-dir", dir}, []step{
		{name: "status without file", args: []string{"simulation", "status"}, out: []string{"global simulation: disabled\n"}},
		{name: "enable needs a target", args: []string{"simulation", "enable"}, code: ExitUsage, err: []string{"--global"}},
		{name: "not both", args: []string{"simulation", "enable", "--global", "a/b"}, code: ExitUsage},
		{name: "enable scenarios", args: []string{"simulation", "enable", "crowdsecurity/ssh-bf", "crowdsecurity/http-probing"},
			out: []string{"simulation mode for 'crowdsecurity/ssh-bf' enabled"}},
		{name: "enable again", args: []string{"simulation", "enable", "crowdsecurity/ssh-bf"}, err: []string{"already enabled"}},
		{name: "status", args: []string{"simulation", "status"}, gold: "simulation-status.golden"},
		{name: "global on", args: []string{"simulation", "enable", "-g"}, out: []string{"global simulation: enabled"}},
		{name: "except one", args: []string{"simulation", "disable", "crowdsecurity/ssh-bf"}},
		{name: "status json", args: []string{"simulation", "status", "-o", "json"}, out: []string{`"simulation": true`, `"crowdsecurity/ssh-bf"`}},
	})
	b, err := os.ReadFile(filepath.Join(dir, simulationFileName))
	require.NoError(t, err)
	sim, err := profile.ParseSimulation("simulation.yaml", b)
	require.NoError(t, err)
	require.Equal(t, profile.Simulation{Enabled: true, Exclusions: []string{"crowdsecurity/ssh-bf"}}, sim)
	require.False(t, sim.IsSimulated("crowdsecurity/ssh-bf"))
	require.True(t, sim.IsSimulated("crowdsecurity/http-probing"))
}

func TestMetrics(t *testing.T) {
	fixture, err := os.ReadFile(filepath.Join("testdata", "metrics.prom"))
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write(fixture)
	}))
	defer srv.Close()
	url := srv.URL + "/metrics"
	runSteps(t, []string{"--url", url}, []step{
		{name: "all", args: []string{"metrics"}, gold: "metrics.golden"},
		{name: "show some", args: []string{"metrics", "show", "lapi"}, out: []string{"Local API Metrics", "/v1/decisions/stream"}, notIn: []string{"Acquisition"}},
		{name: "unknown section", args: []string{"metrics", "show", "nope"}, code: ExitUsage, err: []string{`unknown section "nope"`}},
		{name: "list", args: []string{"metrics", "list"}, out: []string{"acquisition", "lapi-bouncer"}},
		{name: "raw", args: []string{"metrics", "show", "parsers", "-o", "raw"}, out: []string{"section,key,metric,value\nparsers,crowdsecurity/nginx-logs,Hits,120\n"}},
	})
	code, out, errs := runCLI(t, "", "metrics", "-o", "json", "--url", url)
	require.Equal(t, ExitOK, code, errs)
	var got map[string]map[string]map[string]float64
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Equal(t, map[string]float64{"Lines read": 150, "Lines parsed": 120, "Lines unparsed": 30, "Lines poured to bucket": 44}, got["acquisition"]["/var/log/nginx/access.log"])
	require.Equal(t, 3.0, got["scenarios"]["crowdsecurity/http-probing"]["Overflows"])

	code, _, errs = runCLI(t, "", "metrics", "--url", srv.URL+"/nothing")
	require.Equal(t, ExitError, code)
	require.Contains(t, errs, "HTTP 404")
}

func TestLAPINouns(t *testing.T) {
	dir := newDataDir(t)
	lapi := startTestLAPI(t, filepath.Join(dir, dbFileName))
	common := []string{"--data-dir", dir}
	importCSV := filepath.Join(t.TempDir(), "d.csv")
	require.NoError(t, os.WriteFile(importCSV, []byte("value,duration,type,scope,reason\n5.5.5.5,1h,captcha,ip,bad\n5.5.5.0/24,,,range,\n"), 0o644))
	runSteps(t, common, []step{
		{name: "no credentials yet", args: []string{"decisions", "list"}, code: ExitError, err: []string{"credentials:", daemon.CredentialsFile}},
		{name: "machine for the cli", args: []string{"machines", "add", "cli", "--password", "pw-cli-1", "-u", lapi.url}},
		{name: "empty list", args: []string{"decisions", "list"}, out: []string{"No active decisions"}},
		{name: "empty list json", args: []string{"decisions", "list", "-o", "json"}, out: []string{"[]\n"}},
		{name: "add needs a value", args: []string{"decisions", "add"}, code: ExitUsage, err: []string{"missing arguments, a value is required (--ip, --range or --scope and --value)"}},
		{name: "add bad duration", args: []string{"decisions", "add", "-i", "1.2.3.4", "-d", "soon"}, code: ExitUsage, err: []string{`"soon"`}},
		{name: "add NaN duration", args: []string{"decisions", "add", "-i", "1.2.3.4", "-d", "NaNd"}, code: ExitUsage, err: []string{`duration: "NaNd": not a duration`}},
		{name: "add negative duration", args: []string{"decisions", "add", "-i", "1.2.3.4", "-d=-5h"}, code: ExitUsage, err: []string{`duration: "-5h": not positive`}},
		{name: "add zero duration", args: []string{"decisions", "add", "-i", "1.2.3.4", "-d", "0s"}, code: ExitUsage, err: []string{`duration: "0s": not positive`}},
		{name: "add overflowing duration", args: []string{"decisions", "add", "-i", "1.2.3.4", "-d", "9999999999d"}, code: ExitUsage, err: []string{`duration: "9999999999d": out of range`}},
		{name: "add", args: []string{"decisions", "add", "-i", "1.2.3.4"}, err: []string{"Decision successfully added"}},
		{name: "add range", args: []string{"decisions", "add", "-r", "10.0.0.0/16", "-d", "1d", "-t", "captcha", "-R", "scanner"}},
		{name: "allowlist", args: []string{"allowlists", "create", "lan", "-d", "lan"}},
		{name: "allowlist add", args: []string{"allowlists", "add", "lan", "192.168.0.0/16"}, after: func(t *testing.T) { lapi.waitAllowlisted(t, "192.168.1.1") }},
		{name: "add allowlisted", args: []string{"decisions", "add", "-i", "192.168.1.1"}, code: ExitError,
			err: []string{"192.168.1.1 is allowlisted by item 192.168.0.0/16 from lan, use --bypass-allowlist to add the decision anyway"}},
		{name: "add bypass refused by the LAPI", args: []string{"decisions", "add", "-i", "192.168.1.1", "--bypass-allowlist"}, code: ExitError,
			err: []string{"422", "no decision stored: 192.168.1.1 is allowlisted by 192.168.0.0/16 from lan"}},
		{name: "add loopback refused", args: []string{"decisions", "add", "-i", "127.0.0.1"}, code: ExitError,
			err: []string{"no decision stored: 127.0.0.1 is a loopback address, never banned"}},
		{name: "add a /4 refused", args: []string{"decisions", "add", "-r", "16.0.0.0/4"}, code: ExitError,
			err: []string{"no decision stored: 16.0.0.0/4 is wider than /8"}},
		{name: "list", args: []string{"decisions", "list"}, out: []string{" ID ", "Ip:1.2.3.4", "manual 'ban' from 'cli'", "Range:10.0.0.0/16", "scanner", "captcha"},
			notIn: []string{"192.168.1.1", "127.0.0.1", "16.0.0.0/4"}},
		{name: "list machine", args: []string{"decisions", "list", "-m"}, out: []string{"Machine", " cli "}},
		{name: "list by ip", args: []string{"decisions", "list", "-i", "10.0.3.3", "-o", "raw"},
			out: []string{"id,source,ip,reason,action,country,as,events_count,expiration,simulated,alert_id\n2,cscli,Range:10.0.0.0/16,scanner,captcha,,,1,"}, notIn: []string{"1.2.3.4"}},
		{name: "list by type", args: []string{"decisions", "list", "-t", "ban", "-o", "raw"}, out: []string{"Ip:1.2.3.4"}, notIn: []string{"10.0.0.0/16"}},
		{name: "list bad since", args: []string{"decisions", "list", "--since", "toto"}, code: ExitUsage, err: []string{`invalid argument "toto" for --since`}},
		{name: "import needs input", args: []string{"decisions", "import"}, code: ExitError, err: []string{`required flag(s) "input" not set`}},
		{name: "import needs format", args: []string{"decisions", "import", "-i", "-"}, code: ExitUsage, err: []string{"unable to guess format"}},
		{name: "import bad format", args: []string{"decisions", "import", "-i", "-", "--format", "xml"}, code: ExitUsage, err: []string{"invalid format 'xml'"}},
		{name: "import empty default", args: []string{"decisions", "import", "-i", "-", "--format", "values", "--reason", ""}, code: ExitUsage, err: []string{"default reason cannot be empty"}},
		{name: "import csv", args: []string{"decisions", "import", "-i", importCSV}, out: []string{"Parsing csv\n", "Imported 2 decisions\n"}},
		{name: "import values", stdin: "  6.6.6.1\n6.6.6.2  \n\n192.168.9.9\n", args: []string{"decisions", "import", "-i", "-", "--format", "values", "--batch", "2"},
			out: []string{"Parsing values\nValue 192.168.9.9 is allowlisted by [192.168.0.0/16 from lan]\nImported 2 decisions\n"}},
		{name: "import json", stdin: `[{"value":"7.7.7.7","duration":"2h","origin":"lists"},{"value":"FR","scope":"country"}]`, args: []string{"decisions", "import", "-i", "-", "--format", "json", "--batch", "1"},
			out: []string{"Imported 2 decisions"}},
		{name: "import invalid ip", stdin: "1.2.3.4\nbad-apple\n", args: []string{"decisions", "import", "-i", "-", "--format", "values"}, code: ExitError,
			err: []string{`decision 2: "bad-apple" is not a valid Ip`}},
		{name: "import invalid json", stdin: `{"value":"1.2.3.4"}`, args: []string{"decisions", "import", "-i", "-", "--format", "json"}, code: ExitError, err: []string{"json: cannot unmarshal object"}},
		{name: "list imports", args: []string{"decisions", "list", "--origin", "cscli-import", "-o", "raw"},
			out: []string{"cscli-import,Ip:5.5.5.5,bad,captcha", "cscli-import,Range:5.5.5.0/24,manual,ban", "Ip:6.6.6.1", "Ip:6.6.6.2", "Country:FR"}, notIn: []string{"7.7.7.7"}},
		{name: "list imported by ip", args: []string{"decisions", "list", "-i", "5.5.5.5", "-o", "raw"},
			out: []string{"cscli-import,Ip:5.5.5.5,bad,captcha", "cscli-import,Range:5.5.5.0/24,manual,ban"}},
		{name: "list imported by ip shows that ip only", args: []string{"decisions", "list", "-i", "6.6.6.1", "-o", "raw"},
			out: []string{"Ip:6.6.6.1"}, notIn: []string{"6.6.6.2"}},
		{name: "list lists hidden", args: []string{"decisions", "list", "-o", "raw"}, notIn: []string{"7.7.7.7"}},
		{name: "list all", args: []string{"decisions", "list", "-a", "-o", "raw"}, out: []string{"7.7.7.7"}},
		{name: "delete needs a filter", args: []string{"decisions", "delete"}, code: ExitUsage, err: []string{"at least one filter or --all must be specified"}},
		{name: "delete id and filter", args: []string{"decisions", "delete", "--id", "1", "-i", "1.2.3.4"}, code: ExitUsage},
		{name: "delete by ip", args: []string{"decisions", "delete", "-i", "1.2.3.4"}, err: []string{"1 decision(s) deleted"}},
		{name: "delete by id", args: []string{"decisions", "delete", "--id", "2", "-o", "json"}, out: []string{`"nbDeleted": 1`}},
		{name: "delete unknown id", args: []string{"decisions", "delete", "--id", "999"}, code: ExitError, err: []string{"decision 999 not found"}},
		{name: "deleted are gone", args: []string{"decisions", "list", "-o", "raw"}, notIn: []string{"1.2.3.4", "10.0.0.0/16"}},
		{name: "delete all", args: []string{"decisions", "delete", "--all"}, err: []string{"6 decision(s) deleted"}},
		{name: "all gone", args: []string{"decisions", "list", "-a"}, out: []string{"No active decisions"}},
		{name: "alerts list", args: []string{"alerts", "list"}, out: []string{" ID ", "Ip:1.2.3.4", "Range:10.0.0.0/16", "import:stdin", "ban:2"}},
		{name: "alerts list by scenario", args: []string{"alerts", "list", "-s", "scanner", "-o", "raw"},
			out: []string{"id,scope,value,reason,country,as,decisions,created_at\n2,Range,10.0.0.0/16,scanner,,,captcha:1,"}},
		{name: "alerts inspect", args: []string{"alerts", "inspect", "2", "-d"}, out: []string{" - ID           : 2", " - Reason       : scanner", " - Machine      : cli", "Active Decisions"}},
		{name: "alerts inspect json", args: []string{"alerts", "inspect", "2", "-o", "json"}, out: []string{`"scenario": "scanner"`}},
		{name: "alerts inspect unknown", args: []string{"alerts", "inspect", "999"}, code: ExitError, err: []string{"alert 999 not found"}},
		{name: "alerts inspect bad id", args: []string{"alerts", "inspect", "x"}, code: ExitUsage},
		{name: "alerts delete needs a filter", args: []string{"alerts", "delete"}, code: ExitUsage},
		{name: "alerts delete by id", args: []string{"alerts", "delete", "--id", "1"}, err: []string{"1 alert(s) deleted"}},
		{name: "alerts delete all", args: []string{"alerts", "delete", "--all"}, err: []string{"alert(s) deleted"}},
		{name: "alerts list empty", args: []string{"alerts", "list", "-o", "json"}, out: []string{"[]\n"}},
	})
}

func TestCommonFlags(t *testing.T) {
	dir := newDataDir(t)
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("data_dir: "+dir+"\nlapi:\n  listen_uri: 127.0.0.1:18080\nmetrics:\n  listen_addr: 0.0.0.0:16060\n"), 0o644))
	badCfg := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(badCfg, []byte("nope: 1\n"), 0o644))
	wwCfg := filepath.Join(t.TempDir(), "ww.yaml")
	require.NoError(t, os.WriteFile(wwCfg, []byte("data_dir: "+dir+"\n"), 0o644))
	require.NoError(t, os.Chmod(wwCfg, 0o666))
	runSteps(t, nil, []step{
		{name: "bad output", args: []string{"machines", "list", "-o", "yaml", "--data-dir", dir}, code: ExitUsage, err: []string{`output format "yaml"`}},
		{name: "missing database", args: []string{"bouncers", "list", "--data-dir", t.TempDir()}, code: ExitError, err: []string{dbFileName, "start the daemon once"}},
		{name: "config file", args: []string{"bouncers", "list", "-o", "json", "-c", cfg}, out: []string{"[]"}},
		{name: "db flag", args: []string{"bouncers", "list", "-o", "json", "--db", filepath.Join(dir, dbFileName)}, out: []string{"[]"}},
		{name: "config metrics url", args: []string{"metrics", "-c", cfg}, code: ExitError, err: []string{"http://127.0.0.1:16060/metrics"}},
		{name: "config strict", args: []string{"bouncers", "list", "-c", badCfg}, code: ExitError, err: []string{"nope"}},
		{name: "world-writable config refused", args: []string{"bouncers", "list", "-c", wwCfg}, code: ExitError,
			err: []string{wwCfg + " is world-writable (mode 0666)", "--allow-world-writable"}},
		{name: "world-writable config allowed", args: []string{"bouncers", "list", "-o", "json", "-c", wwCfg, "--allow-world-writable"}, out: []string{"[]"}},
		{name: "run refuses it too", args: []string{"run", "-c", wwCfg}, code: ExitError, err: []string{"is world-writable"}},
		{name: "noun alone prints help", args: []string{"machines"}, out: []string{"Available Commands:"}},
		{name: "unknown action", args: []string{"decisions", "lsit"}, code: ExitUsage, err: []string{`unknown command "lsit" for "phalanx decisions"`}},
		{name: "unknown flag", args: []string{"alerts", "list", "--nope"}, code: ExitUsage},
	})
}
