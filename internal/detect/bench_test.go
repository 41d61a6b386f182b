package detect_test

import (
	"context"
	"os"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
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

// benchCorpus is a genlogs corpus kind, its acquisition type and the hub
// collections a real install would run on it.
type benchCorpus struct {
	kind, typ   string
	collections []string
}

// benchCorpora are the two corpora the replay benchmarks run: nginx with
// the linux and nginx collections, sshd with the linux collection.
func benchCorpora() []benchCorpus {
	return []benchCorpus{
		{"nginx", "nginx", []string{"crowdsecurity/linux", "crowdsecurity/nginx"}},
		{"sshd", "syslog", []string{"crowdsecurity/linux"}},
	}
}

// BenchmarkReplay replays 20k-line genlogs corpora through the whole
// pipeline with a real install's content; lines/s is the figure of
// issue 3 (bench/run measures the 1M-line corpora).
//
//	go test ./internal/detect/ -run '^$' -bench Replay -benchtime 3x -cpuprofile /tmp/cpu.prof
func BenchmarkReplay(b *testing.B) {
	for _, tc := range benchCorpora() {
		b.Run(tc.kind, func(b *testing.B) {
			logPath, _ := testutil.GenLogs(b, tc.kind, 20000, 1)
			rt := hubRuntime(b, tc.collections...)
			b.ReportAllocs()
			b.ResetTimer()
			var lines int64
			for b.Loop() {
				_, st := run(b, rt, logPath, tc.typ, 0)
				lines += st.Lines
			}
			b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}

// BenchmarkLive feeds a 200k-line nginx corpus through the pipeline in live
// mode the way the daemon does (a source goroutine handing lines over a
// channel, as acquire.Set does), with the daemon's old one-line batches
// ("batch1"), with CloseIdle batching ("closeidle"), and as a replay
// ("replay"), in the same run: compare the lines/s of the three;
// "closeidle_rawlines" is the daemon's default since alerts carry raw lines
// (agent.raw_lines: 20 lines, 16 KiB): compare its lines/s and B/op with
// "closeidle".
//
//	go test ./internal/detect/ -run '^$' -bench Live -benchtime 3x
func BenchmarkLive(b *testing.B) {
	logPath, _ := testutil.GenLogs(b, "nginx", 200000, 1)
	rt := hubRuntime(b, "crowdsecurity/linux", "crowdsecurity/nginx")
	raw, err := os.ReadFile(logPath)
	require.NoError(b, err)
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	for _, tc := range []struct {
		name      string
		mode      event.Mode
		batch     int
		closeIdle bool
		raw       scenario.RawLineLimit
	}{
		{"batch1", event.LIVE, 1, false, scenario.RawLineLimit{}},
		{"closeidle", event.LIVE, 0, true, scenario.RawLineLimit{}},
		{"closeidle_rawlines", event.LIVE, 0, true, scenario.RawLineLimit{MaxLines: 20, MaxBytes: 16384}},
		{"replay", event.TIMEMACHINE, 0, false, scenario.RawLineLimit{}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			var n int64
			for b.Loop() {
				r := detect.New(detect.Config{Runtime: rt, Mode: tc.mode, BatchSize: tc.batch, CloseIdle: tc.closeIdle,
					RawLines: tc.raw, OnAlert: func(*event.Event) {}})
				st, _, err := r.Run(context.Background(), func(ctx context.Context, emit func(event.Line) error) error {
					ch := make(chan event.Line, 64)
					go func() {
						defer close(ch)
						labels := map[string]string{"type": "nginx"}
						for _, l := range lines {
							ch <- event.Line{Raw: l, Src: logPath, Module: "file", Time: time.Now(), Labels: labels}
						}
					}()
					for l := range ch {
						if err := emit(l); err != nil {
							return err
						}
					}
					return nil
				})
				require.NoError(b, err)
				n += st.Lines
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}

// BenchmarkReplayMemory replays the 200k-line nginx corpus with the
// pipeline depths of before (4 batches between stages, 16 per engine
// worker: "deep") and today's defaults, and reports the peak live heap
// (runtime/metrics /gc/heap/live:bytes, sampled every millisecond: the
// heap marked live by the last GC) and lines/s. The live heap is what a
// GC percentage multiplies into the process's peak RSS. "live" feeds the
// same corpus in live mode as the daemon does (CloseIdle, raw lines kept):
// on the wall clock a burst keeps every source's buckets alive, so its
// peak is the buckets' (what they queue of an event: scenario/record.go).
//
//	go test ./internal/detect/ -run '^$' -bench ReplayMemory -benchtime 2x
func BenchmarkReplayMemory(b *testing.B) {
	logPath, _ := testutil.GenLogs(b, "nginx", 200000, 1)
	rt := hubRuntime(b, "crowdsecurity/linux", "crowdsecurity/nginx")
	for _, tc := range []struct {
		name         string
		depth, inbox int
		live         bool
	}{
		{"deep", 4, 16, false},
		{"default", 0, 0, false},
		{"live", 0, 0, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var peak, lines float64
			for b.Loop() {
				runtime.GC()
				stop := make(chan struct{})
				got := make(chan uint64)
				go func() { got <- samplePeakLive(stop) }()
				cfg := detect.Config{Runtime: rt, Mode: event.TIMEMACHINE, Depth: tc.depth, EngineInbox: tc.inbox,
					OnAlert: func(*event.Event) {}}
				if tc.live {
					cfg.Mode, cfg.CloseIdle = event.LIVE, true
					cfg.RawLines = scenario.RawLineLimit{MaxLines: 20, MaxBytes: 16384}
				}
				r := detect.New(cfg)
				src := &replay.Source{Path: logPath, Type: "nginx"}
				st, _, err := r.Run(context.Background(), func(ctx context.Context, emit func(event.Line) error) error {
					_, err := src.Read(ctx, emit)
					return err
				})
				close(stop)
				require.NoError(b, err)
				peak = max(peak, float64(<-got))
				lines += float64(st.Lines)
			}
			b.ReportMetric(peak/(1<<20), "peak-live-MB")
			b.ReportMetric(lines/b.Elapsed().Seconds(), "lines/s")
		})
	}
}

// samplePeakLive returns the largest /gc/heap/live:bytes seen until stop.
func samplePeakLive(stop <-chan struct{}) uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var peak uint64
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for {
		metrics.Read(s)
		peak = max(peak, s[0].Value.Uint64())
		select {
		case <-stop:
			return peak
		case <-t.C:
		}
	}
}

// BenchmarkScenarios pours the parsed events of a 20k-line corpus into the
// scenarios of a real install's content, with one engine worker and the
// fields read ahead as a pipeline does: the cost of the scenario side
// alone (index, filters, groupby, buckets), without parsing. ns/op is per
// corpus; events/s is the figure to compare. "live" pours the nginx
// corpus as the daemon's burst does: live mode on a clock that moves 50 µs
// an event (the buckets stay alive), with raw lines kept; compare it with
// "nginx" (run the test binary under cachegrind for instructions an event).
//
//	go test ./internal/detect/ -run '^$' -bench Scenarios -benchtime 5x
func BenchmarkScenarios(b *testing.B) {
	cases := benchCorpora()
	cases = append(cases, benchCorpus{"nginx", "nginx", cases[0].collections})
	for ci, tc := range cases {
		live := ci == len(cases)-1
		name := tc.kind
		if live {
			name = "live"
		}
		b.Run(name, func(b *testing.B) {
			logPath, _ := testutil.GenLogs(b, tc.kind, 20000, 1)
			rt := hubRuntime(b, tc.collections...)
			evs, vals := parseAll(b, rt, logPath, tc.typ)
			b.ReportAllocs()
			b.ResetTimer()
			overflows := 0
			for b.Loop() {
				cfg := scenario.Config{Workers: 1, Mode: event.TIMEMACHINE,
					OnOverflow: func(*scenario.Overflow) { overflows++ }}
				var tick atomic.Int64
				if live {
					t0 := time.Now()
					cfg.Mode, cfg.RawLines = event.LIVE, scenario.RawLineLimit{MaxLines: 20, MaxBytes: 16384}
					cfg.Now = func() time.Time { return t0.Add(time.Duration(tick.Load()) * 50 * time.Microsecond) }
				}
				eng := scenario.NewEngine(rt.Scenarios, cfg)
				for i, e := range evs {
					tick.Add(1)
					eng.PourFields(e, vals[i])
				}
				require.NoError(b, eng.Close())
			}
			require.NotZero(b, overflows)
			b.ReportMetric(float64(len(evs)*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// parseAll parses the lines of a corpus into events (whitelisted and
// unparsed lines left out), with the fields the scenarios read ahead.
func parseAll(t testing.TB, rt *content.Runtime, path, typ string) ([]*event.Event, [][]string) {
	t.Helper()
	eng := scenario.NewEngine(rt.Scenarios, scenario.Config{Mode: event.TIMEMACHINE})
	defer eng.Close()
	var evs []*event.Event
	var vals [][]string
	src := &replay.Source{Path: path, Type: typ}
	_, err := src.Read(context.Background(), func(l event.Line) error {
		evt := rt.Parsers.Schema().New(l)
		evt.ExpectMode = int(event.TIMEMACHINE)
		evt.Process = true
		if !rt.Parsers.Parse(evt, nil) || evt.Whitelisted {
			return nil
		}
		v := make([]string, eng.FieldCount())
		eng.ReadFields(evt, v)
		eng.Prepare(evt)
		evs = append(evs, evt)
		vals = append(vals, v)
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, evs)
	return evs, vals
}
