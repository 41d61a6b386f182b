package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(p, []byte(got), 0o644))
	}
	want, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, string(want), got)
}

const nginxLine = `203.0.113.7 - - [01/Mar/2024:10:00:00 +0000] "GET /.env HTTP/1.1" 404 153 "-" "curl/8.5.0"`

func TestExplainGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"explain-nginx.golden", []string{"explain", "--type", "nginx", "--log", nginxLine}},
		{"explain-unparsed.golden", []string{"explain", "--type", "nginx", "-v", "--log", "this is not an access log"}},
		{"explain-whitelisted.golden", []string{"explain", "--type", "nginx", "--log", `192.168.1.20 - - [01/Mar/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 15 "-" "curl/8.5.0"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCLI(t, "", tc.args...)
			require.Equal(t, ExitOK, code, errs)
			golden(t, tc.name, out)
		})
	}
}

func TestExplainStdinAndHub(t *testing.T) {
	code, out, errs := runCLI(t, nginxLine+"\nnot a log line\n", "explain", "--type", "nginx", "--hub", testutil.Hub(t),
		"--collection", "crowdsecurity/linux", "--collection", "crowdsecurity/nginx", "-")
	require.Equal(t, ExitOK, code, errs)
	require.Contains(t, out, "✓ crowdsecurity/nginx-logs")
	require.Contains(t, out, `+ Meta.http_path = "/.env"`)
	require.Contains(t, out, "=> dropped: no parser of stage s01-parse matched (tried crowdsecurity/nginx-logs, crowdsecurity/sshd-logs, crowdsecurity/sshd-success-logs)")
	require.Contains(t, out, "2 lines: 1 parsed, 0 whitelisted, 1 unparsed")
}

func TestReplayJSON(t *testing.T) {
	code, out, errs := runCLI(t, "", "replay", "--type", "nginx", "--json", "--progress", "never", filepath.Join("..", "..", "examples", "access.log"))
	require.Equal(t, ExitOK, code, errs)
	var alerts []models.Alert
	require.NoError(t, json.Unmarshal([]byte(out), &alerts))
	got := map[string]string{}
	for _, a := range alerts {
		if a.GetScenario() == "phalanx/http-probing" {
			require.Contains(t, a.GetMeta("target_uri"), `"/.git/config"`, "alert context")
			require.Contains(t, a.GetMeta("status"), `"404"`, "alert context")
		}
		got[a.GetScenario()] = a.GetValue()
		require.Equal(t, "Ip", a.GetScope())
		require.NotNil(t, a.StartAt)
		require.NotNil(t, a.Message)
		require.Positive(t, a.GetEventsCount())
		require.NotEmpty(t, a.Events)
	}
	require.Equal(t, map[string]string{
		"phalanx/http-probing":                 "203.0.113.45",
		"phalanx/http-sensitive-files":         "203.0.113.45",
		"phalanx/http-admin-interface-probing": "203.0.113.45",
		"phalanx/http-path-traversal":          "203.0.113.77",
		"phalanx/http-bad-user-agent":          "192.0.2.200",
	}, got)
	require.Contains(t, errs, "62 lines read")
}

func TestReplayTableAndStdin(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "auth.log"))
	require.NoError(t, err)
	code, out, errs := runCLI(t, string(b), "replay", "--type", "syslog", "--progress", "never", "-")
	require.Equal(t, ExitOK, code, errs)
	require.Contains(t, out, "phalanx/ssh-bruteforce")
	require.Contains(t, out, "Ip:203.0.113.9")
	require.Contains(t, out, "3 alerts")
}

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"missing type", []string{"replay", "x.log"}, ExitUsage, "--type is required"},
		{"bad flag", []string{"replay", "--nope"}, ExitUsage, "unknown flag"},
		{"missing file", []string{"replay", "--type", "nginx", "--progress", "never", "/nonexistent/x.log"}, ExitError, "/nonexistent/x.log"},
		{"bad label", []string{"explain", "--type", "nginx", "--label", "nocolon", "--log", "x"}, ExitUsage, `label "nocolon"`},
		{"collection without hub", []string{"explain", "--type", "nginx", "--collection", "a/b", "--log", "x"}, ExitUsage, "--collection needs --hub"},
		{"unknown collection", []string{"replay", "--type", "nginx", "--hub", "HUB", "--collection", "nobody/nothing", filepath.Join("..", "..", "examples", "access.log")}, ExitError, `unknown collection "nobody/nothing"`},
		{"hubtest without cases", []string{"hubtest", "run", "--hub", "HUB"}, ExitUsage, "give case names or --all"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i, a := range tc.args {
				if a == "HUB" {
					tc.args[i] = testutil.Hub(t)
				}
			}
			code, _, errs := runCLI(t, "", tc.args...)
			require.Equal(t, tc.code, code, errs)
			require.Contains(t, errs, tc.msg)
		})
	}
}

func TestHubtestRun(t *testing.T) {
	hubDir := testutil.Hub(t)
	jsonPath := filepath.Join(t.TempDir(), "out.json")
	code, out, errs := runCLI(t, "", "hubtest", "run", "--hub", hubDir, "--tests", filepath.Join(hubDir, "tests"),
		"nginx_http-logs", "ssh-bf", "geoip-enrich", "--json", jsonPath)
	require.Equal(t, ExitFailure, code, errs)
	require.Contains(t, out, "PASS nginx_http-logs")
	require.Contains(t, out, "PASS ssh-bf")
	require.Contains(t, out, "FAIL geoip-enrich")
	require.Contains(t, out, "2 passed, 1 failed\n")
	var res []map[string]any
	b, err := os.ReadFile(jsonPath)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &res))
	require.Len(t, res, 3)
	for _, r := range res {
		for _, k := range []string{"name", "parser", "scenario", "passed"} {
			require.Contains(t, r, k)
		}
	}
	require.Equal(t, "pass", res[1]["scenario"])
}

func TestHubtestLint(t *testing.T) {
	hubDir := testutil.Hub(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  []string
		err  string
	}{
		{"embedded", []string{"hubtest", "lint"}, ExitOK, []string{"parser files, 0 warnings\n"}, ""},
		{"embedded strict", []string{"hubtest", "lint", "--strict", "phalanx/sshd"}, ExitOK, []string{"1 parser files, 0 warnings\n"}, ""},
		{"hub sshd", []string{"hubtest", "lint", "--hub", hubDir, "crowdsecurity/sshd-logs"}, ExitOK,
			[]string{"WARN ", "grok SSHD_INVALID_USER: address \"sshd_client_ip\" is captured after the user-controlled field %{USERNAME:sshd_invalid_user}", "1 parser files, 10 warnings\n"}, ""},
		{"hub sshd strict", []string{"hubtest", "lint", "--hub", hubDir, "--strict", "crowdsecurity/sshd-logs"}, ExitFailure, []string{"WARN "}, "10 warnings"},
		{"unknown item", []string{"hubtest", "lint", "--hub", hubDir, "nobody/nothing"}, ExitUsage, nil, `"nobody/nothing": no such parser or file`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCLI(t, "", tc.args...)
			require.Equal(t, tc.code, code, errs)
			for _, o := range tc.out {
				require.Contains(t, out, o)
			}
			if tc.err != "" {
				require.Contains(t, errs, tc.err)
			}
		})
	}
}

// TestExplainWarnsInjection: explain flags a parser open to log injection
// where it matched (the hub's sshd parser keeps CrowdSec's behaviour and
// takes the address from the user name); the embedded parser takes the
// attacker's and has nothing to flag.
func TestExplainWarnsInjection(t *testing.T) {
	const line = "Mar  1 10:00:00 web01 sshd[1]: Invalid user admin from 198.51.100.77 port 22 from 203.0.113.66 port 40001"
	code, out, errs := runCLI(t, "", "explain", "--hub", testutil.Hub(t), "--collection", "crowdsecurity/linux", "--collection", "crowdsecurity/sshd",
		"--type", "syslog", "--log", line)
	require.Equal(t, ExitOK, code, errs)
	require.Contains(t, out, `+ Meta.source_ip = "198.51.100.77"`)
	require.Contains(t, out, "    ✓ crowdsecurity/sshd-logs\n")
	require.Contains(t, out, "! 10 pattern(s) of this parser can take the address from text the client wrote (log injection; see phalanx hubtest lint)")

	code, out, errs = runCLI(t, "", "explain", "--type", "syslog", "--log", line)
	require.Equal(t, ExitOK, code, errs)
	require.Contains(t, out, `+ Meta.source_ip = "203.0.113.66"`)
	require.NotContains(t, out, "log injection")
}
