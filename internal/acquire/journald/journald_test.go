package journald

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/acquire"
	"github.com/phalanx-ids/phalanx/internal/event"
)

// 2024-03-05T09:01:02Z
const ts = "1709629262000000"

const script = `#!/bin/sh
echo "$*" >> "$(dirname "$0")/args"
case "$*" in
*"--after-cursor c2"*)
  echo '{"__CURSOR":"c3","__REALTIME_TIMESTAMP":"` + ts + `","_HOSTNAME":"h","SYSLOG_IDENTIFIER":"sshd","_PID":"7","MESSAGE":"third"}'
  exec sleep 30 ;;
*--follow*)
  echo '{"__CURSOR":"c1","__REALTIME_TIMESTAMP":"` + ts + `","_HOSTNAME":"h","SYSLOG_IDENTIFIER":"sshd","_PID":"7","MESSAGE":"first"}'
  echo 'not json'
  echo '{"__CURSOR":"c1b","_HOSTNAME":"h","SYSLOG_IDENTIFIER":"x"}'
  echo '{"__CURSOR":"c2","__REALTIME_TIMESTAMP":"` + ts + `","_HOSTNAME":"h","_COMM":"kernel","MESSAGE":[104,105,255]}'
  echo 'journal rotated' >&2
  exit 1 ;;
*)
  echo '{"__CURSOR":"k1","__REALTIME_TIMESTAMP":"` + ts + `","_HOSTNAME":"h","SYSLOG_IDENTIFIER":"cron","MESSAGE":"cat mode"}'
  exit 0 ;;
esac
`

func fakeJournalctl(t *testing.T) string {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "journalctl"), []byte(script), 0o755))
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return dir
}

type sink struct {
	mu    sync.Mutex
	lines []event.Line
}

func (s *sink) emit(l event.Line) error {
	s.mu.Lock()
	s.lines = append(s.lines, l)
	s.mu.Unlock()
	return nil
}

func (s *sink) raws() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range s.lines {
		out = append(out, l.Raw)
	}
	return out
}

func newSrc(t *testing.T, mode string) *Source {
	src, err := New(&Config{CommonConfig: acquire.CommonConfig{Mode: mode, Labels: map[string]string{"type": "syslog"}},
		Filters: []string{"_SYSTEMD_UNIT=ssh.service"}, Since: "1 hour ago"}, acquire.Deps{})
	require.NoError(t, err)
	src.loc = time.UTC
	src.minBackoff = 10 * time.Millisecond
	return src
}

func TestTailRestartsAfterCursor(t *testing.T) {
	dir := fakeJournalctl(t)
	src := newSrc(t, acquire.ModeTail)
	s := &sink{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, s.emit) }()
	want := []string{
		"Mar 05 09:01:02 h sshd[7]: first",
		"Mar 05 09:01:02 h kernel: hi\uFFFD",
		"Mar 05 09:01:02 h sshd[7]: third",
	}
	require.Eventually(t, func() bool { return len(s.raws()) >= 3 }, 5*time.Second, 5*time.Millisecond)
	time.Sleep(50 * time.Millisecond) // a wrong restart would re-emit here
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("journalctl source did not stop")
	}
	require.Equal(t, want, s.raws())
	require.Equal(t, "journalctl-_SYSTEMD_UNIT=ssh.service", s.lines[0].Src)
	require.Equal(t, "journalctl", s.lines[0].Module)
	args, err := os.ReadFile(filepath.Join(dir, "args"))
	require.NoError(t, err)
	runs := strings.Split(strings.TrimSpace(string(args)), "\n")
	require.GreaterOrEqual(t, len(runs), 2)
	require.Equal(t, "--follow -o json -n 0 _SYSTEMD_UNIT=ssh.service", runs[0])
	require.Equal(t, "--follow -o json --after-cursor c2 _SYSTEMD_UNIT=ssh.service", runs[1])
}

func TestCat(t *testing.T) {
	dir := fakeJournalctl(t)
	src := newSrc(t, acquire.ModeCat)
	s := &sink{}
	require.NoError(t, src.Run(context.Background(), s.emit))
	require.Equal(t, []string{"Mar 05 09:01:02 h cron: cat mode"}, s.raws())
	args, err := os.ReadFile(filepath.Join(dir, "args"))
	require.NoError(t, err)
	require.Equal(t, "-o json --since 1 hour ago _SYSTEMD_UNIT=ssh.service\n", string(args))
}

func TestMissingBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	src := newSrc(t, acquire.ModeCat)
	err := src.Run(context.Background(), (&sink{}).emit)
	require.ErrorContains(t, err, "journalctl")
}

func TestNewErrors(t *testing.T) {
	for name, f := range map[string][]string{"no filter": nil, "follow": {"--follow"}, "output": {"-o"}} {
		t.Run(name, func(t *testing.T) {
			_, err := New(&Config{Filters: f}, acquire.Deps{})
			require.ErrorContains(t, err, "journalctl_filter")
		})
	}
}
