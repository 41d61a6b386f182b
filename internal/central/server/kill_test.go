package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// TestHelperCentralProcess is not a test: TestKill9KeepsAcknowledgedSignals
// runs the test binary with it to have a central in a process it can kill.
func TestHelperCentralProcess(t *testing.T) {
	dir := os.Getenv("PHALANX_CENTRAL_HELPER_DIR")
	if dir == "" {
		return
	}
	cfg := Config{DataDir: dir, Listen: "127.0.0.1:0", TrustedProxies: []string{"127.0.0.1/32"}, RegistrationBurst: 100}
	cfg.SignalRate, cfg.SignalBurst = 1e6, 1e6
	cfg.Limits.RequestRate = -1
	s, err := New(context.Background(), cfg, Deps{PasswordCost: bcrypt.MinCost})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	fmt.Println("ADDR", s.Addr())
	_ = s.Run(context.Background())
	os.Exit(0)
}

func startHelper(t *testing.T, dir string) (*exec.Cmd, string) {
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHelperCentralProcess$")
	cmd.Env = append(os.Environ(), "PHALANX_CENTRAL_HELPER_DIR="+dir)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
			go func() {
				for sc.Scan() {
				}
			}()
			return cmd, a
		}
	}
	t.Fatal("helper central did not start")
	return nil, ""
}

// TestKill9KeepsAcknowledgedSignals: signals answered 200 are in the
// database after the central is killed with SIGKILL mid-ingestion.
func TestKill9KeepsAcknowledgedSignals(t *testing.T) {
	dir := t.TempDir()
	cmd, addr := startHelper(t, dir)
	c := &central{url: "http://" + addr}
	in := c.newInstall(t, "11.1.1.10")
	var acked []string
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; !stop.Load(); i++ {
			batch := make([]any, 50)
			var ids []string
			for k := range batch {
				u := fmt.Sprintf("u-%d-%d", i, k)
				ids = append(ids, u)
				batch[k] = map[string]any{"scenario": sshBF, "uuid": u, "source": map[string]any{"scope": "ip", "value": fmt.Sprintf("1.2.%d.%d", i%250, 1+k)}}
			}
			code, err := postQuiet(c.url+"/v3/signals", in.token, batch)
			if err != nil || code != 200 {
				return
			}
			acked = append(acked, ids...)
		}
	}()
	time.Sleep(700 * time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	stop.Store(true)
	testutil.Recv(t, done, "the signal sender stops")
	require.NotEmpty(t, acked)
	st, err := OpenStore(context.Background(), Config{DataDir: dir})
	require.NoError(t, err)
	defer st.Close()
	sigs, err := st.SignalsAfter(context.Background(), 0, 1_000_000)
	require.NoError(t, err)
	have := map[string]bool{}
	for _, s := range sigs {
		have[s.UUID] = true
	}
	for _, u := range acked {
		require.True(t, have[u], "acknowledged signal %s lost", u)
	}
	t.Logf("%d acknowledged signals, %d stored", len(acked), len(sigs))
}

func postQuiet(url, token string, body any) (int, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
