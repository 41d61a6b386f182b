package detect_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/acquire/replay"
	"github.com/phalanx-ids/phalanx/internal/content"
	"github.com/phalanx-ids/phalanx/internal/detect"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/scenario"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// hubRuntime loads the content of a real install: the hub collections given,
// resolved recursively, data files from the hub's data mirror.
func hubRuntime(t testing.TB, collections ...string) *content.Runtime {
	t.Helper()
	cfg, err := content.Select(testutil.Hub(t), collections, true)
	require.NoError(t, err)
	cfg.DataDir = t.TempDir()
	rt, err := content.Build(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { rt.Close() })
	return rt
}

// run replays a file and returns the alerts as sorted "scenario\tip\tevents" rows.
func run(t testing.TB, rt *content.Runtime, path, typ string, workers int) ([]string, detect.Stats) {
	t.Helper()
	var rows []string
	r := detect.New(detect.Config{Runtime: rt, Mode: event.TIMEMACHINE, ParseWorkers: workers, BucketWorkers: workers,
		OnAlert: func(ev *event.Event) {
			for _, a := range ev.Overflow.APIAlerts {
				rows = append(rows, fmt.Sprintf("%s\t%s\t%d", a.GetScenario(), a.GetValue(), a.GetEventsCount()))
			}
		}})
	src := &replay.Source{Path: path, Type: typ}
	st, _, err := r.Run(context.Background(), func(ctx context.Context, emit func(event.Line) error) error {
		_, err := src.Read(ctx, emit)
		return err
	})
	require.NoError(t, err)
	sort.Strings(rows)
	return rows, st
}

func readTruth(t testing.TB, path string) map[string]bool {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if p := strings.Split(sc.Text(), "\t"); len(p) > 2 && p[0] == "attacker" {
			out[p[1]] = true
		}
	}
	require.NoError(t, sc.Err())
	return out
}

// TestReplayFindsTheAttackers replays genlogs corpora with the hub's linux
// and nginx collections: every attacker of the truth file is alerted, no
// benign address is, and the alerts do not depend on the number of workers.
func TestReplayFindsTheAttackers(t *testing.T) {
	for _, tc := range []struct {
		kind, typ   string
		collections []string
	}{
		{"nginx", "nginx", []string{"crowdsecurity/linux", "crowdsecurity/nginx"}},
		{"sshd", "syslog", []string{"crowdsecurity/linux"}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			logPath, truthPath := testutil.GenLogs(t, tc.kind, 20000, 1)
			rt := hubRuntime(t, tc.collections...)
			one, st := run(t, rt, logPath, tc.typ, 1)
			two, _ := run(t, rt, logPath, tc.typ, 2)
			require.Equal(t, one, two, "alerts depend on the number of workers")
			require.EqualValues(t, 20000, st.Lines)
			truth := readTruth(t, truthPath)
			alerted := map[string]bool{}
			for _, r := range one {
				alerted[strings.Split(r, "\t")[1]] = true
			}
			for ip := range truth {
				require.True(t, alerted[ip], "attacker %s not alerted", ip)
			}
			for ip := range alerted {
				require.True(t, truth[ip], "benign %s alerted", ip)
			}
		})
	}
}

// TestCloseIdleSameAlerts: batches that close when the source has nothing
// ready (live batching) give the alerts of full batches, in replay.
func TestCloseIdleSameAlerts(t *testing.T) {
	logPath, _ := testutil.GenLogs(t, "nginx", 20000, 1)
	rt := hubRuntime(t, "crowdsecurity/linux", "crowdsecurity/nginx")
	full, _ := run(t, rt, logPath, "nginx", 2)
	var rows []string
	r := detect.New(detect.Config{Runtime: rt, Mode: event.TIMEMACHINE, ParseWorkers: 2, BucketWorkers: 2, CloseIdle: true,
		OnAlert: func(ev *event.Event) {
			for _, a := range ev.Overflow.APIAlerts {
				rows = append(rows, fmt.Sprintf("%s\t%s\t%d", a.GetScenario(), a.GetValue(), a.GetEventsCount()))
			}
		}})
	src := &replay.Source{Path: logPath, Type: "nginx"}
	st, _, err := r.Run(context.Background(), func(ctx context.Context, emit func(event.Line) error) error {
		_, err := src.Read(ctx, emit)
		return err
	})
	require.NoError(t, err)
	require.EqualValues(t, 20000, st.Lines)
	sort.Strings(rows)
	require.NotEmpty(t, rows)
	require.Equal(t, full, rows)
}

// TestSameAlertsAsCrowdSec replays the seed-2 sshd corpus and compares the
// alerts, events_count included, with what real CrowdSec raised
// (shared/bench/reference).
func TestSameAlertsAsCrowdSec(t *testing.T) {
	logPath, _ := testutil.GenLogs(t, "sshd", 200000, 2)
	rt := hubRuntime(t, "crowdsecurity/linux")
	got, _ := run(t, rt, logPath, "syslog", 2)
	b, err := os.ReadFile(filepath.Join(testutil.Shared(t), "bench", "reference", "sshd-seed2-200k.tsv"))
	require.NoError(t, err)
	var want []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if !strings.HasPrefix(l, "#") {
			want = append(want, l)
		}
	}
	sort.Strings(want)
	require.Equal(t, want, got)
}

func TestRunCancelled(t *testing.T) {
	rt := hubRuntime(t, "crowdsecurity/sshd")
	ctx, cancel := context.WithCancel(context.Background())
	r := detect.New(detect.Config{Runtime: rt, Mode: event.TIMEMACHINE})
	n := 0
	_, _, err := r.Run(ctx, func(ctx context.Context, emit func(event.Line) error) error {
		for {
			n++
			if n == 5000 {
				cancel()
			}
			l := event.Line{Raw: "Mar  1 00:00:00 h sshd[1]: Invalid user x from 1.2.3.4 port 1", Labels: map[string]string{"type": "syslog"}, Time: time.Now()}
			if err := emit(l); err != nil {
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	})
	require.ErrorIs(t, err, context.Canceled)
}

// TestLiveAlertsWithoutMoreInput: in live mode an overflow raised by a
// bucket worker reaches OnAlert while the source is idle (no next line to
// carry it, no batch filling up), within the collector's drain tick.
func TestLiveAlertsWithoutMoreInput(t *testing.T) {
	rt := hubRuntime(t, "crowdsecurity/linux")
	got := make(chan string, 16)
	// CloseIdle with a large BatchSize: the six lines must not wait for
	// the batch to fill.
	r := detect.New(detect.Config{Runtime: rt, Mode: event.LIVE, ParseWorkers: 2, BucketWorkers: 2, BatchSize: 512, CloseIdle: true,
		OnAlert: func(ev *event.Event) { got <- ev.Overflow.Alert.GetScenario() }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, _, err := r.Run(ctx, func(ctx context.Context, emit func(event.Line) error) error {
			now := time.Now()
			for i := 0; i < 6; i++ {
				raw := fmt.Sprintf("%s web01 sshd[%d]: Failed password for root from 203.0.113.9 port %d ssh2", now.Format(time.Stamp), 100+i, 4000+i)
				if err := emit(event.Line{Raw: raw, Src: "auth.log", Module: "file", Time: now, Labels: map[string]string{"type": "syslog"}}); err != nil {
					return err
				}
			}
			<-ctx.Done() // idle source: no more lines
			return nil
		})
		done <- err
	}()
	select {
	case sc := <-got:
		require.Equal(t, "crowdsecurity/ssh-bf", sc)
	case <-time.After(5 * time.Second):
		t.Fatal("the overflow did not reach OnAlert while the source was idle")
	}
	require.Positive(t, r.ScenarioStats().Received)
	cancel()
	require.NoError(t, <-done)
}

// TestLiveReusesEvents: in a live burst the engine's inboxes fill up, and
// every line's event must still be a reused one once the pipeline is full:
// the events made stay under what can be in flight, whatever the number
// of lines (the free list once held two batches, and a burst made a new
// event for about every other line).
func TestLiveReusesEvents(t *testing.T) {
	logPath, _ := testutil.GenLogs(t, "nginx", 20000, 1)
	rt := hubRuntime(t, "crowdsecurity/linux", "crowdsecurity/nginx")
	raw, err := os.ReadFile(logPath)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	const batch = 16
	r := detect.New(detect.Config{Runtime: rt, Mode: event.LIVE, ParseWorkers: 2, BucketWorkers: 1, BatchSize: batch, CloseIdle: true,
		RawLines: scenario.RawLineLimit{MaxLines: 20, MaxBytes: 16384}, OnAlert: func(*event.Event) {}})
	st, _, err := r.Run(context.Background(), func(ctx context.Context, emit func(event.Line) error) error {
		labels := map[string]string{"type": "nginx"}
		for _, l := range lines {
			if err := emit(event.Line{Raw: l, Src: logPath, Module: "file", Time: time.Now(), Labels: labels}); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, err)
	require.EqualValues(t, len(lines), st.Lines)
	// The parse workers' window (Depth + 2 per worker), then the engine's
	// inboxes (scenario.Engine.MaxPending at its defaults).
	inFlight := (2+2*2)*batch + (4+2)*256
	t.Logf("%d events made for %d lines, %d kept by the scenarios", st.NewEvents, st.Lines, st.KeptEvents)
	require.LessOrEqual(t, st.NewEvents, int64(inFlight)+st.KeptEvents)
}

// TestOnPouredReadTimes: OnPoured is called once per poured batch, in
// input order, with the read time of the batch's first line.
func TestOnPouredReadTimes(t *testing.T) {
	rt := hubRuntime(t, "crowdsecurity/linux")
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var got []time.Time
	r := detect.New(detect.Config{Runtime: rt, Mode: event.LIVE, ParseWorkers: 2, BucketWorkers: 1, BatchSize: 4,
		OnPoured: func(read time.Time) { got = append(got, read) }})
	_, _, err := r.Run(context.Background(), func(ctx context.Context, emit func(event.Line) error) error {
		for i := range 10 {
			raw := fmt.Sprintf("Jan  2 03:04:05 web01 sshd[%d]: Connection closed by 198.51.100.%d port 22", 100+i, i)
			if err := emit(event.Line{Raw: raw, Src: "auth.log", Module: "file", Time: base.Add(time.Duration(i) * time.Second),
				Labels: map[string]string{"type": "syslog"}}); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, []time.Time{base, base.Add(4 * time.Second), base.Add(8 * time.Second)}, got)
}
