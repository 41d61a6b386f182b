package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/capi"
	"github.com/phalanx-ids/phalanx/internal/capi/capitest"
)

// TestCAPICommands: register, status, enroll, consent flags, then a daemon
// on that data dir pulls the community list that `decisions list --origin
// CAPI` shows.
func TestCAPICommands(t *testing.T) {
	central := capitest.New(t)
	dir := t.TempDir()
	code, out, errs := runCLI(t, "", "capi", "register", "--url", central.URL(), "--data-dir", dir)
	require.Equal(t, ExitOK, code, errs)
	require.Contains(t, out, "Registered with "+central.URL())
	creds, err := capi.ReadCredentials(filepath.Join(dir, capi.CredentialsFile))
	require.NoError(t, err)
	require.Len(t, creds.Login, 48)
	fi, err := os.Stat(filepath.Join(dir, capi.CredentialsFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	code, _, errs = runCLI(t, "", "capi", "register", "--url", central.URL(), "--data-dir", dir)
	require.Equal(t, ExitError, code)
	require.Contains(t, errs, "--force")

	// -f: credentials for another install (a CrowdSec one), the data dir's untouched.
	other := filepath.Join(t.TempDir(), "online_api_credentials.yaml")
	code, _, errs = runCLI(t, "", "capi", "register", "--url", central.URL(), "--data-dir", dir, "-f", other)
	require.Equal(t, ExitOK, code, errs)
	oc, err := capi.ReadCredentials(other)
	require.NoError(t, err)
	require.NotEqual(t, creds.Login, oc.Login)
	again, err := capi.ReadCredentials(filepath.Join(dir, capi.CredentialsFile))
	require.NoError(t, err)
	require.Equal(t, creds, again)

	status := func() capi.Status {
		code, out, errs := runCLI(t, "", "capi", "status", "--data-dir", dir, "-o", "json")
		require.Equal(t, ExitOK, code, errs)
		var st capi.Status
		require.NoError(t, json.Unmarshal([]byte(out), &st))
		return st
	}
	st := status()
	require.True(t, st.Push)
	require.True(t, st.Pull)
	require.False(t, st.Enrolled)
	require.Equal(t, creds.Login, st.Login)

	central.AddKey("attach123", "org-7")
	code, _, errs = runCLI(t, "", "console", "enroll", "bad key!", "--data-dir", dir)
	require.Equal(t, ExitUsage, code, errs)
	code, _, errs = runCLI(t, "", "console", "enroll", "nope", "--data-dir", dir)
	require.Equal(t, ExitError, code)
	require.Contains(t, errs, "403")
	code, out, errs = runCLI(t, "", "console", "enroll", "attach123", "--name", "edge-1", "--data-dir", dir)
	require.Equal(t, ExitOK, code, errs)
	require.Contains(t, out, "Enrolled")
	_, org, name, _ := central.Machine(creds.Login)
	require.Equal(t, "org-7", org)
	require.Equal(t, "edge-1", name)
	require.True(t, status().Enrolled)

	code, _, errs = runCLI(t, "", "console", "disable", "custom", "--data-dir", dir)
	require.Equal(t, ExitOK, code, errs)
	code, _, errs = runCLI(t, "", "console", "enable", "context", "--data-dir", dir)
	require.Equal(t, ExitOK, code, errs)
	code, out, errs = runCLI(t, "", "console", "status", "--data-dir", dir, "-o", "json")
	require.Equal(t, ExitOK, code, errs)
	require.JSONEq(t, `{"share_custom":false,"share_tainted":true,"share_manual_decisions":false,"share_context":true}`, out)
	code, _, _ = runCLI(t, "", "console", "enable", "everything", "--data-dir", dir)
	require.Equal(t, ExitUsage, code)

	// A daemon on this data dir pulls the list; decisions list shows it.
	central.List("Ip", "203.0.113.88", "crowdsecurity/ssh-bf", "4h")
	d := startDaemon(t, dir)
	require.NotNil(t, d.CAPI())
	require.Eventually(t, func() bool {
		code, out, _ := runCLI(t, "", "decisions", "list", "--origin", "CAPI", "--data-dir", dir, "-o", "json")
		return code == ExitOK && json.Valid([]byte(out)) && strings.Contains(out, "203.0.113.88")
	}, 10*time.Second, 200*time.Millisecond)
}
