package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/store/sqlite"
)

// buildBinary builds cmd/phalanx once per test binary.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "phalanx-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "phalanx")
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/phalanx")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// startDaemon runs `phalanx run` with args and waits for /health.
func startDaemon(t *testing.T, addr string, args ...string) *exec.Cmd {
	t.Helper()
	bin, err := buildBinary()
	require.NoError(t, err)
	cmd := exec.Command(bin, append([]string{"run", "--listen", addr, "--log-level", "error"}, args...)...)
	cmd.Stdout, cmd.Stderr = tWriter{t}, tWriter{t}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_, _ = cmd.Process.Wait()
		}
	})
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond, "daemon never became healthy")
	return cmd
}

func addMachine(t testing.TB, st store.Store, id, password string) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	require.NoError(t, err)
	require.NoError(t, st.CreateMachine(context.Background(), &store.Machine{ID: id, PasswordHash: string(hash), IsValidated: true, AuthType: "password"}))
}

func testAlert(i int) *models.Alert {
	s := func(v string) *string { return &v }
	n, c := int32(1), int32(0)
	f := false
	now := time.Now().UTC().Format(time.RFC3339)
	ip := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
	return &models.Alert{
		Scenario: s("test/kill"), ScenarioHash: s(""), ScenarioVersion: s(""), Message: s(fmt.Sprintf("alert %d", i)),
		EventsCount: &n, StartAt: &now, StopAt: &now, Capacity: &c, Leakspeed: s("0"), Simulated: &f,
		Events: []*models.Event{{Timestamp: &now, Meta: models.Meta{{Key: "n", Value: fmt.Sprint(i)}}}},
		Source: &models.Source{Scope: s("Ip"), Value: s(ip), IP: ip}, Remediation: true,
	}
}

// TestKill9LosesNoAcknowledgedAlert: agents push alerts to a daemon run
// as a real process; it is killed with SIGKILL mid-ingestion; every alert
// whose push was acknowledged (201 with ids) is in the database after.
func TestKill9LosesNoAcknowledgedAlert(t *testing.T) {
	data := t.TempDir()
	addr := freePort(t)
	cmd := startDaemon(t, addr, "--no-agent", "--data-dir", data)
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(data, "phalanx.db")})
	require.NoError(t, err)
	addMachine(t, st, "pusher", "pusher-password")
	require.NoError(t, st.Close())

	var (
		mu    sync.Mutex
		acked = map[string]bool{} // messages
		wg    sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := apiclient.New(apiclient.Config{URL: "http://" + addr + "/", MachineID: "pusher", Password: "pusher-password",
				UserAgent: "crowdsec/v1.7.5", Retry: apiclient.RetryConfig{MaxAttempts: 1}})
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			for i := 0; ctx.Err() == nil; i++ {
				batch := make([]*models.Alert, 10)
				for j := range batch {
					batch[j] = testAlert(w<<20 | i*10 + j)
				}
				ids, err := c.PushAlerts(ctx, batch)
				if err != nil {
					return // the daemon died: this batch was not acknowledged
				}
				require.Len(t, ids, len(batch))
				mu.Lock()
				for _, a := range batch {
					acked[*a.Message] = true
				}
				mu.Unlock()
			}
		}()
	}
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) >= 500 }, 30*time.Second, 10*time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_, _ = cmd.Process.Wait()
	wg.Wait()

	// Restart on the same data: it recovers, and every acked alert is there.
	cmd2 := startDaemon(t, addr, "--no-agent", "--data-dir", data)
	st, err = sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(data, "phalanx.db")})
	require.NoError(t, err)
	defer st.Close()
	all, err := st.ListAlerts(context.Background(), store.AlertFilter{})
	require.NoError(t, err)
	have := map[string]bool{}
	for _, a := range all {
		have[*a.Message] = true
	}
	missing := 0
	for m := range acked {
		if !have[m] {
			missing++
		}
	}
	t.Logf("acknowledged %d alerts before kill -9, stored %d, missing %d", len(acked), len(all), missing)
	require.Zero(t, missing)
	require.NoError(t, cmd2.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd2.Wait(), "SIGTERM must stop the daemon cleanly")
}

// TestLAPIDownLosesNoAlert: an agent-only App pushes to a LAPI App that is
// stopped for a while and restarted: every alert arrives.
func TestLAPIDownLosesNoAlert(t *testing.T) {
	lapiData := t.TempDir()
	addr := freePort(t)
	lapiCfg := Config{DataDir: lapiData}
	lapiCfg.LAPI.ListenURI = addr
	lapiCfg.LAPI.DisableNeverBan = true // the attackers below may be this host's addresses (192.0.2.2 here)
	f := false
	lapiCfg.Agent.Enabled = &f
	startLAPI := func() (*App, func() error) {
		l, err := New(lapiCfg, WithLogger(testLogger(t)))
		require.NoError(t, err)
		return l, startApp(t, l)
	}
	l1, stop1 := startLAPI()
	addMachine(t, l1.Store(), "edge", "edge-password")
	key := newBouncer(t, l1.Store(), "fw")

	e := newEnv(t)
	ac := e.config()
	ac.LAPI.Enabled = &f
	ac.Agent.LAPI = apiclient.Config{URL: "http://" + addr + "/", MachineID: "edge", Password: "edge-password",
		Retry: apiclient.RetryConfig{MaxAttempts: 1}, Timeout: 2 * time.Second}
	ac.Agent.RetryMaxInterval = 300 * time.Millisecond
	ag, err := New(ac, WithLogger(testLogger(t)))
	require.NoError(t, err)
	stopAgent := startApp(t, ag)
	waitWatching(t, ag, e.log)

	attack := func(from, to int) {
		for i := from; i < to; i++ {
			appendLines(t, e.log, sshFailures(fmt.Sprintf("192.0.2.%d", i), 7)...)
		}
	}
	attack(1, 6)
	require.Eventually(t, func() bool { return len(streamDecisions(t, l1.LAPIURL(), key)) == 5 }, 15*time.Second, 100*time.Millisecond)

	// LAPI down: alerts pile up in the spool.
	require.NoError(t, stop1())
	require.NoError(t, l1.Close())
	attack(6, 16)
	require.Eventually(t, func() bool { return ag.AgentStats().Spool.Items >= 10 }, 15*time.Second, 50*time.Millisecond,
		"alerts raised while the LAPI is down must wait in the spool")

	// LAPI back: everything is delivered, in order, nothing lost.
	l2, _ := startLAPI()
	attack(16, 21)
	require.Eventually(t, func() bool { return len(streamDecisions(t, l2.LAPIURL(), key)) == 20 }, 20*time.Second, 100*time.Millisecond)
	all, err := l2.Store().ListAlerts(context.Background(), store.AlertFilter{Scenario: "phalanx/ssh-bruteforce"})
	require.NoError(t, err)
	require.Len(t, all, 20)
	require.NoError(t, stopAgent())
	require.Zero(t, ag.AgentStats().Spool.Records)
}

// TestRotationsEndToEnd: the followed log is rotated by rename 50 times
// while lines are written; the pipeline reads every line exactly once.
// (internal/acquire/file's TestRotations1000 proves 1,000 rotations at the
// datasource level.)
func TestRotationsEndToEnd(t *testing.T) {
	e := newEnv(t)
	a, err := New(e.config(), WithLogger(testLogger(t)))
	require.NoError(t, err)
	startApp(t, a)
	waitWatching(t, a, e.log)
	base := a.LinesRead()
	const rotations, perFile = 30, 20
	line := func(r, i int) string {
		return fmt.Sprintf("%s web01 app[1]: rotation %d line %d", time.Now().Format(time.Stamp), r, i)
	}
	want := base
	for r := range rotations {
		for i := range perFile / 2 {
			appendLines(t, e.log, line(r, i))
		}
		want += perFile / 2
		// logrotate is slower than the source's poll: the reader has opened
		// this file before it is rotated.
		require.Eventually(t, func() bool { return a.LinesRead() >= want }, 10*time.Second, 5*time.Millisecond)
		// Lines written just before the rename are read from the rotated file.
		for i := perFile / 2; i < perFile; i++ {
			appendLines(t, e.log, line(r, i))
		}
		want += perFile / 2
		require.NoError(t, os.Rename(e.log, fmt.Sprintf("%s.%d", e.log, r)))
		require.NoError(t, os.WriteFile(e.log, nil, 0o600))
	}
	require.Eventually(t, func() bool { return a.LinesRead() >= want }, 30*time.Second, 50*time.Millisecond)
	time.Sleep(500 * time.Millisecond) // nothing read twice
	require.Equal(t, want, a.LinesRead())
}
