package cli

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/notify"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// TestNotifications runs list, inspect and test against the files of
// testdata/notifications (CrowdSec's format), a real webhook on loopback
// and a real file.
func TestNotifications(t *testing.T) {
	srv := testutil.NewWebhook(t, nil)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	t.Setenv("PHX_TEST_HOOK_PORT", port)
	logPath := filepath.Join(t.TempDir(), "alerts.json")
	t.Setenv("PHX_TEST_LOG_PATH", logPath)
	conf := filepath.Join(t.TempDir(), "phalanx.yaml")
	require.NoError(t, os.WriteFile(conf, []byte("data_dir: "+t.TempDir()+"\nlapi:\n  notification_dir: testdata/notifications\n  profiles_path: testdata/notifications-profiles.yaml\n"), 0o600))
	received := func() []string {
		var out []string
		for _, r := range srv.Delivered() {
			out = append(out, r.Path+" "+r.Body)
		}
		return out
	}

	runSteps(t, []string{"-c", conf}, []step{
		{name: "list", args: []string{"notifications", "list"}, gold: "notifications-list.golden"},
		{name: "list raw", args: []string{"notifications", "list", "-o", "raw"},
			out: []string{"Active,Name,Type,Profiles,File\nno,escape,http,,testdata/notifications/http.yaml:10\n"}},
		{name: "inspect", args: []string{"notifications", "inspect", "http_default"},
			out: []string{"Notification: http_default", "default_ip_remediation,range_notify", "http://127.0.0.1:" + port + "/<redacted>",
				"headers                Authorization: <redacted>", "format:\n  | {{range .}}{{.Scenario}} {{.Source.Value}} {{(index .Decisions 0).Type}}{{end}}\n"},
			notIn: []string{"SECRET"}},
		{name: "inspect unknown", args: []string{"notifications", "inspect", "nope"}, code: ExitError,
			err: []string{`notification "nope": not in testdata/notifications (configured: escape, file_default, http_default, slack_default)`}},
		{name: "inspect needs a name", args: []string{"notifications", "inspect"}, code: ExitUsage},
		{name: "test webhook", args: []string{"notifications", "test", "http_default"},
			out: []string{"  | " + notify.TestScenario + " " + notify.TestIP + " ban\n", "Sent: http_default accepted the test alert."}},
		{name: "test with alert fields", args: []string{"notifications", "test", "http_default", "--alert", `{"scenario": "my/scenario"}`},
			out: []string{"my/scenario " + notify.TestIP}},
		{name: "test bad alert JSON", args: []string{"notifications", "test", "http_default", "--alert", `{`}, code: ExitUsage, err: []string{"--alert"}},
		{name: "test file", args: []string{"notifications", "test", "file_default", "-o", "json"}, out: []string{`"sent": true`}},
		{name: "test CrowdSec placeholder", args: []string{"notifications", "test", "slack_default"}, code: ExitFailure,
			out: []string{"Not sent (the daemon would not retry): notify: testdata/notifications/slack.yaml:1: slack_default: webhook <redacted>"}},
		{name: "control characters are escaped", args: []string{"notifications", "test", "escape"},
			out: []string{`  | \x1b[31mred\x1b[0m 1`}, notIn: []string{"\x1b"}},
	})
	require.Equal(t, []string{
		"/hook " + notify.TestScenario + " " + notify.TestIP + " ban\n",
		"/hook my/scenario " + notify.TestIP + " ban\n",
		"/escape \x1b[31mred\x1b[0m 1",
	}, received(), "what the receiver got is the rendered text, unescaped")
	var line map[string]any
	b, err := os.ReadFile(logPath)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &line), "one JSON line")
	require.Equal(t, notify.TestScenario, line["scenario"])

	srv.SetStatus(func(int) int { return http.StatusServiceUnavailable })
	code, out, _ := runCLI(t, "", "notifications", "test", "http_default", "-c", conf, "-o", "json")
	require.Equal(t, ExitFailure, code)
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	require.Equal(t, false, res["sent"])
	require.Equal(t, true, res["retryable"])
	require.Contains(t, res["error"], "503 Service Unavailable")
	require.NotContains(t, out, "SECRET")

	code, out, errs := runCLI(t, "", "notifications", "list", "-c", conf, "-o", "json")
	require.Equal(t, ExitOK, code, errs)
	var list []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &list))
	require.Len(t, list, 4)
	require.Equal(t, "file_default", list[1]["name"])
	require.Equal(t, true, list[1]["active"])
	require.Equal(t, []any{"default_ip_remediation"}, list[1]["profiles"])
}

func TestNotificationsEmpty(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := runCLI(t, "", "notifications", "list", "--data-dir", dir)
	require.Equal(t, ExitOK, code, errs)
	require.Equal(t, "No notification in "+filepath.Join(dir, "notifications")+"\n", out)
	code, _, errs = runCLI(t, "", "notifications", "test", "x", "--data-dir", dir)
	require.Equal(t, ExitError, code)
	require.Contains(t, errs, `notification "x": none is configured in`)
}
