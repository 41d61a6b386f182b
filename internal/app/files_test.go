package app

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/secfile"
)

// TestRunState: the daemon records where it serves in the data dir (0600),
// removes it at close; a file left by a dead process is ignored.
func TestRunState(t *testing.T) {
	e := newEnv(t)
	a, err := New(e.config(), WithLogger(testLogger(t)))
	require.NoError(t, err)
	s, ok := ReadRunState(e.data)
	require.True(t, ok)
	require.Equal(t, RunState{PID: os.Getpid(), LAPIURL: a.LAPIURL(), MetricsURL: a.MetricsURL()}, s)
	st, err := os.Stat(filepath.Join(e.data, RunStateFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	require.NoError(t, a.Close())
	_, ok = ReadRunState(e.data)
	require.False(t, ok)
	require.NoFileExists(t, filepath.Join(e.data, RunStateFile))

	// A daemon killed with -9 leaves its file behind: its pid is gone.
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	dead := cmd.ProcessState.Pid()
	require.NoError(t, os.WriteFile(filepath.Join(e.data, RunStateFile), []byte("pid: "+strconv.Itoa(dead)+"\nlapi_url: http://127.0.0.1:1/\n"), 0o600))
	_, ok = ReadRunState(e.data)
	require.False(t, ok, "stale run state (pid %d) taken", dead)
}

// TestFileModes: every file the daemon writes that holds secrets or alert
// data is readable by its owner only (the SQLite database and its WAL,
// the credentials, the spool, the run state).
func TestFileModes(t *testing.T) {
	e := newEnv(t)
	a, err := New(e.config(), WithLogger(testLogger(t)))
	require.NoError(t, err)
	stop := startApp(t, a)
	waitWatching(t, a, e.log)
	require.NoError(t, stop())
	require.NoError(t, a.Close())
	var seen int
	require.NoError(t, filepath.Walk(e.data, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(e.data, p)
		if info.IsDir() {
			require.Zero(t, info.Mode().Perm()&0o027, "%s: folder mode %04o", rel, info.Mode().Perm())
			return nil
		}
		seen++
		require.Zero(t, info.Mode().Perm()&0o037, "%s: mode %04o (want 0600 or 0640)", rel, info.Mode().Perm())
		return nil
	}))
	require.NoFileExists(t, filepath.Join(e.data, RunStateFile))
	require.FileExists(t, filepath.Join(e.data, "phalanx.db"))
	require.FileExists(t, filepath.Join(e.data, CredentialsFile))
	require.Positive(t, seen)
}

// TestWorldWritableRefused: a config or credentials file any local user
// can change is refused (with the way out in the message) unless the
// policy allows it. The attack: a local user who can write the data dir's
// credentials picks a login and password that the daemon registers as a
// validated machine.
func TestWorldWritableRefused(t *testing.T) {
	e := newEnv(t)
	// The daemon creates its credentials, then someone opens them up.
	a, err := New(e.config(), WithLogger(testLogger(t)))
	require.NoError(t, err)
	require.NoError(t, a.Close())
	creds := filepath.Join(e.data, CredentialsFile)
	require.NoError(t, WriteCredentials(creds, Credentials{Login: "intruder", Password: "chosen-by-anyone"}))
	require.NoError(t, os.Chmod(creds, 0o666))
	_, err = New(e.config(), WithLogger(testLogger(t)))
	require.ErrorIs(t, err, secfile.ErrWorldWritable)
	require.ErrorContains(t, err, "--allow-world-writable")
	a, err = New(e.config(), WithLogger(testLogger(t)), WithFilePolicy(FilePolicy{AllowWorldWritable: true}))
	require.NoError(t, err, "the override reads it")
	_, err = a.Store().GetMachine(context.Background(), "intruder")
	require.NoError(t, err)
	require.NoError(t, a.Close())

	cfgFile := filepath.Join(e.dir, "phalanx.yaml")
	require.NoError(t, os.WriteFile(cfgFile, []byte("log_level: info\n"), 0o644))
	_, err = LoadConfig(cfgFile)
	require.NoError(t, err)
	require.NoError(t, os.Chmod(cfgFile, 0o646))
	_, err = LoadConfig(cfgFile)
	require.ErrorIs(t, err, secfile.ErrWorldWritable)
	require.ErrorContains(t, err, cfgFile)
	_, err = LoadConfig(cfgFile, FilePolicy{AllowWorldWritable: true})
	require.NoError(t, err)

	agentCreds := filepath.Join(e.dir, "agent-creds.yaml")
	require.NoError(t, WriteCredentials(agentCreds, Credentials{URL: "http://127.0.0.1:1/", Login: "a", Password: "b"}))
	require.NoError(t, os.Chmod(agentCreds, 0o622))
	c := e.config()
	c.LAPI.Enabled = new(bool)
	c.Agent.CredentialsPath = agentCreds
	_, err = New(c, WithLogger(testLogger(t)))
	require.ErrorIs(t, err, secfile.ErrWorldWritable)
}
