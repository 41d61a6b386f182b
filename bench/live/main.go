// Command live measures the daemon in live mode against replay on the
// same content and corpus, in one run, so that the ratio means something
// on a loaded machine:
//
//  1. replay: `phalanx replay` of -corpus with the hub collections
//     (lines/s and peak RSS from its --stats);
//
//  2. throughput: `phalanx run` tails an empty file of type -type with the
//     same collections (agent.hub_dir); the whole corpus is appended as
//     fast as the disk takes it; the time until the daemon's parsers have
//     seen every line (cs_parser_hits_ok_total + _ko_total on /metrics)
//     gives the live rate, /proc gives the daemon's peak RSS (VmHWM);
//
//     Once the burst's alerts are pushed (the agent's pushed counter equals
//     its received one and the overflow counters stopped moving), the
//     LAPI's alerts are compared with replay's as (scenario, source)
//     pairs: live buckets run on the wall clock and replay's on the
//     lines' own times, so the pairs that differ are listed, not hidden;
//     both CPU times are read too (CPU per line does not depend on how
//     much of the machine the other processes took);
//
//  3. latency: the corpus is appended again, paced at -pace of the live
//     rate for -latency-for, with -markers per second of marker lines, each
//     from a new address and taken by a one-line trigger scenario
//     (crowdsecurity/http-generic-test for nginx, the corpus's own kind
//     otherwise is not supported); a marker's latency is from its write to
//     its alert being listed by the LAPI (GET /v1/alerts, polled every
//     20 ms by a machine of its own).
//
// -perf FILE records the burst's first -profile-for with perf (`perf
// report -i FILE --no-children`); on some VMs Go's own profiler
// (-cpuprofile) charges a large share of its samples to the first
// instruction of runtime.asyncPreempt.
//
//	go build -o /tmp/phalanx ./cmd/phalanx
//	go run ./bench/live -phalanx /tmp/phalanx -hub ../shared/hub -corpus bench/out/nginx-1000000-s1.log
//
// bench/run generates the corpus (bench/out/nginx-1000000-s1.log).
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phalanx-ids/phalanx/bench/internal/procstat"
	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/app"
	"github.com/phalanx-ids/phalanx/internal/models"
)

type options struct {
	phalanx     string
	hub         string
	corpus      string
	collections string
	pace        float64
	latencyFor  time.Duration
	markers     int
	jsonOut     bool
	heapProfile string
	cpuProfile  string
	profileFor  time.Duration
	trace       string
	pollWindow  int
	pacedProf   string
	pacedAllocs string
	pacedHeap   string
	metricsOut  string
	agentExtra  string
	daemonEnv   string
	perfOut     string
}

const markerScenario = "crowdsecurity/http-generic-test"

func main() {
	var o options
	flag.StringVar(&o.phalanx, "phalanx", "", "phalanx binary")
	flag.StringVar(&o.hub, "hub", "../shared/hub", "hub tree")
	flag.StringVar(&o.corpus, "corpus", "", "nginx access log corpus (bench/run makes bench/out/nginx-1000000-s1.log)")
	flag.StringVar(&o.collections, "collections", "crowdsecurity/linux,crowdsecurity/nginx", "hub collections, comma-separated")
	flag.Float64Var(&o.pace, "pace", 0.8, "latency phase: lines/s as a share of the measured live rate")
	flag.DurationVar(&o.latencyFor, "latency-for", 15*time.Second, "latency phase duration")
	flag.IntVar(&o.markers, "markers", 20, "latency phase: marker lines per second")
	flag.BoolVar(&o.jsonOut, "json", false, "print the result as JSON")
	flag.StringVar(&o.agentExtra, "agent", "", "more agent settings, YAML flow style without braces (e.g. \"bucket_workers: 2\")")
	flag.StringVar(&o.daemonEnv, "daemon-env", "", "environment of the daemon only (not of the replay), comma-separated (e.g. \"GOGC=200,GOMEMLIMIT=130MiB\")")
	flag.StringVar(&o.perfOut, "perf", "", "record the daemon's first -profile-for of the burst with perf record -e cpu-clock -g to this file (Go's profiler charges a share of samples to runtime.asyncPreempt on some VMs)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the daemon's first -profile-for of the burst to this file")
	flag.DurationVar(&o.profileFor, "profile-for", 5*time.Second, "length of -cpuprofile (whole seconds)")
	flag.StringVar(&o.trace, "trace", "", "write an execution trace of the daemon's latency phase (go tool trace) to this file")
	flag.IntVar(&o.pollWindow, "poll-window", 8, "latency phase: the newest marker alerts asked for at each poll (0: all of them, every time)")
	flag.StringVar(&o.pacedProf, "paced-cpuprofile", "", "write a CPU profile of the daemon's latency phase to this file")
	flag.StringVar(&o.pacedAllocs, "paced-allocprofile", "", "write the daemon's allocations during the latency phase (a delta allocs profile) to this file")
	flag.StringVar(&o.pacedHeap, "paced-heapprofile", "", "write the daemon's heap profile, taken at the end of the latency phase, to this file")
	flag.StringVar(&o.metricsOut, "metrics-out", "", "write the daemon's /metrics, scraped at the end, to this file")
	flag.StringVar(&o.heapProfile, "heapprofile", "", "write the daemon's heap profile, taken when half the corpus is parsed, to this file")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "live:", err)
		os.Exit(1)
	}
}

type result struct {
	Lines            int     `json:"lines"`
	ReplayLinesPerS  float64 `json:"replay_lines_per_s"`
	ReplayPeakRSSMB  float64 `json:"replay_peak_rss_mb"`
	ReplayCPUus      float64 `json:"replay_cpu_us_per_line"`
	LiveLinesPerS    float64 `json:"live_lines_per_s"`
	LiveCPUus        float64 `json:"live_cpu_us_per_line"`
	LiveRatio        float64 `json:"live_to_replay"`
	LivePeakRSSMB    float64 `json:"live_peak_rss_mb"`
	PacedLinesPerS   float64 `json:"paced_lines_per_s"`
	MaxBacklog       int     `json:"paced_max_backlog_lines"`
	Markers          int     `json:"markers"`
	MarkersAlerted   int     `json:"markers_alerted"`
	LatencyP50ms     float64 `json:"latency_p50_ms"`
	LatencyP99ms     float64 `json:"latency_p99_ms"`
	LatencyMaxms     float64 `json:"latency_max_ms"`
	AlertsInLAPI     int     `json:"alerts_in_lapi"`
	ReplayAlerts     int     `json:"replay_alerts"`
	BurstAlerts      int     `json:"burst_alerts"`
	OnlyReplay       int     `json:"alerts_only_in_replay"`
	OnlyLive         int     `json:"alerts_only_in_live"`
	DaemonCPUSeconds float64 `json:"daemon_cpu_s"`
}

func run(o options) error {
	if o.phalanx == "" || o.corpus == "" {
		return errors.New("-phalanx and -corpus are required")
	}
	corpus, err := os.ReadFile(o.corpus)
	if err != nil {
		return err
	}
	lines := bytes.Count(corpus, []byte("\n"))
	cols := strings.Split(o.collections, ",")
	dir, err := os.MkdirTemp("", "live-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	r := result{Lines: lines}

	// 1. Replay.
	args := []string{"replay", "--hub", o.hub, "--type", "nginx", "--progress", "never", "--stats", filepath.Join(dir, "stats.json")}
	for _, c := range cols {
		args = append(args, "--collection", c)
	}
	rp := exec.Command(o.phalanx, append(args, "--json", o.corpus)...)
	var replayOut bytes.Buffer
	rp.Stdout, rp.Stderr = &replayOut, os.Stderr
	if err := rp.Run(); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	var replayAlerts []*models.Alert
	if err := json.Unmarshal(replayOut.Bytes(), &replayAlerts); err != nil {
		return fmt.Errorf("replay: alerts: %w", err)
	}
	r.ReplayAlerts = len(replayAlerts)
	r.ReplayCPUus = float64((rp.ProcessState.UserTime()+rp.ProcessState.SystemTime())/time.Microsecond) / float64(lines)
	var st struct {
		LinesPerSec  float64 `json:"lines_per_sec"`
		PeakRSSBytes float64 `json:"peak_rss_bytes"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "stats.json"))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return err
	}
	r.ReplayLinesPerS, r.ReplayPeakRSSMB = st.LinesPerSec, st.PeakRSSBytes/(1<<20)
	fmt.Fprintf(os.Stderr, "live: replay %.0f lines/s, %.1f µs CPU a line, peak RSS %.0f MB, %d alerts\n",
		r.ReplayLinesPerS, r.ReplayCPUus, r.ReplayPeakRSSMB, r.ReplayAlerts)

	// 2. The daemon.
	logf := filepath.Join(dir, "access.log")
	if err := os.WriteFile(logf, nil, 0o600); err != nil {
		return err
	}
	acq := filepath.Join(dir, "acquis.yaml")
	if err := os.WriteFile(acq, fmt.Appendf(nil, "filenames: [%s]\nlabels: {type: nginx}\n", logf), 0o600); err != nil {
		return err
	}
	cfgPath := filepath.Join(dir, "phalanx.yaml")
	cfg := fmt.Sprintf("log_level: error\nmetrics: {pprof: true}\nagent:\n  acquisition_path: %s\n  hub_dir: %s\n  collections: [%s]\n",
		acq, o.hub, strings.Join(cols, ", "))
	for _, kv := range strings.Split(o.agentExtra, ",") {
		if kv = strings.TrimSpace(kv); kv != "" {
			cfg += "  " + kv + "\n"
		}
	}
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	data := filepath.Join(dir, "data")
	d := exec.Command(o.phalanx, "run", "-c", cfgPath, "--data-dir", data, "--listen", "127.0.0.1:0")
	d.Stdout, d.Stderr = io.Discard, os.Stderr
	if o.daemonEnv != "" {
		d.Env = append(os.Environ(), strings.Split(o.daemonEnv, ",")...)
	}
	if err := d.Start(); err != nil {
		return err
	}
	defer func() { _ = d.Process.Kill(); _ = d.Wait() }()
	var rs app.RunState
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var ok bool
		if rs, ok = app.ReadRunState(data); ok && rs.LAPIURL != "" && rs.MetricsURL != "" {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("the daemon did not start")
		}
	}
	if out, err := exec.Command(o.phalanx, "machines", "add", "bench", "--password", "bench-password-1234",
		"--data-dir", data, "-f", "-").CombinedOutput(); err != nil {
		return fmt.Errorf("machines add: %v: %s", err, out)
	}
	client, err := apiclient.New(apiclient.Config{URL: rs.LAPIURL, MachineID: "bench", Password: "bench-password-1234",
		UserAgent: "phalanx-bench/live", Timeout: 30 * time.Second})
	if err != nil {
		return err
	}
	defer client.Close()
	ctx := context.Background()
	if err := client.Login(ctx); err != nil {
		return err
	}
	// Uncompressed scrapes: gzip was a share of the daemon's CPU at 10
	// scrapes a second.
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableCompression: true}}
	// The tailer must have opened the file before lines arrive.
	time.Sleep(2 * time.Second)
	cpu0 := procstat.CPU(d.Process.Pid)

	f, err := os.OpenFile(logf, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	base, err := parsedLines(hc, rs.MetricsURL)
	if err != nil {
		return err
	}
	start := time.Now()
	cpuDone := make(chan error, 1)
	if o.cpuProfile != "" {
		go func() {
			err := fetch(&http.Client{Timeout: o.profileFor + time.Minute}, strings.TrimSuffix(rs.MetricsURL, "metrics")+
				fmt.Sprintf("debug/pprof/profile?seconds=%d", max(int(o.profileFor.Seconds()), 1)), o.cpuProfile)
			if n, perr := parsedLines(hc, rs.MetricsURL); err == nil && perr == nil {
				fmt.Fprintf(os.Stderr, "live: the CPU profile covers the burst's first %d lines\n", n-base)
			}
			cpuDone <- err
		}()
	} else {
		cpuDone <- nil
	}
	perfDone := make(chan error, 1)
	if o.perfOut != "" {
		pr := exec.Command("perf", "record", "-q", "-e", "cpu-clock", "-g", "-p", strconv.Itoa(d.Process.Pid), "-o", o.perfOut,
			"--", "sleep", strconv.Itoa(max(int(o.profileFor.Seconds()), 1)))
		pr.Stdout, pr.Stderr = io.Discard, os.Stderr
		if err := pr.Start(); err != nil {
			return fmt.Errorf("perf: %w", err)
		}
		// perf attaches before the burst is written.
		time.Sleep(200 * time.Millisecond)
		go func() { perfDone <- pr.Wait() }()
	} else {
		perfDone <- nil
	}
	if _, err := f.Write(corpus); err != nil {
		return err
	}
	if o.heapProfile != "" {
		if err := waitParsed(hc, rs.MetricsURL, base+lines/2, 10*time.Minute); err != nil {
			return err
		}
		if err := fetch(hc, strings.TrimSuffix(rs.MetricsURL, "metrics")+"debug/pprof/heap", o.heapProfile); err != nil {
			return err
		}
	}
	if err := waitParsed(hc, rs.MetricsURL, base+lines, 10*time.Minute); err != nil {
		return err
	}
	live := time.Since(start)
	r.LiveCPUus = float64((procstat.CPU(d.Process.Pid)-cpu0)/time.Microsecond) / float64(lines)
	if err := errors.Join(<-cpuDone, <-perfDone); err != nil {
		return err
	}
	r.LiveLinesPerS = float64(lines) / live.Seconds()
	r.LiveRatio = r.LiveLinesPerS / r.ReplayLinesPerS
	r.LivePeakRSSMB = float64(procstat.PeakRSSKiB(d.Process.Pid)) / 1024
	fmt.Fprintf(os.Stderr, "live: %d lines parsed in %.2f s = %.0f lines/s (%.0f %% of replay), %.1f µs CPU a line, peak RSS %.0f MB\n",
		lines, live.Seconds(), r.LiveLinesPerS, 100*r.LiveRatio, r.LiveCPUus, r.LivePeakRSSMB)
	burst, err := settledAlerts(ctx, hc, rs.MetricsURL, client, 2*time.Minute)
	if err != nil {
		return err
	}
	r.BurstAlerts = len(burst)
	onlyReplay, onlyLive := alertDiff(replayAlerts, burst)
	r.OnlyReplay, r.OnlyLive = len(onlyReplay), len(onlyLive)
	fmt.Fprintf(os.Stderr, "live: the burst's alerts in the LAPI: %d (replay %d); (scenario, source) only in replay: %d, only in live: %d\n",
		r.BurstAlerts, r.ReplayAlerts, r.OnlyReplay, r.OnlyLive)
	for _, l := range []struct {
		what string
		ks   []string
	}{{"only in replay", onlyReplay}, {"only in live", onlyLive}} {
		by := map[string]int{}
		for _, k := range l.ks {
			sc, _, _ := strings.Cut(k, " ")
			by[sc]++
		}
		for _, sc := range slices.Sorted(maps.Keys(by)) {
			fmt.Fprintf(os.Stderr, "live:   %s: %s x%d\n", l.what, sc, by[sc])
		}
	}

	// 3. Latency under a paced load.
	rate := o.pace * r.LiveLinesPerS
	markers := &markerLog{written: map[string]time.Time{}}
	writing := make(chan struct{})
	latc := make(chan []markerLatency, 1)
	go func() { latc <- awaitMarkers(ctx, client, markers, writing, 30*time.Second, o.pollWindow) }()
	traceDone := make(chan error, 3)
	for _, p := range []struct{ file, what string }{{o.trace, "trace"}, {o.pacedProf, "profile"}, {o.pacedAllocs, "allocs"}} {
		if p.file == "" {
			traceDone <- nil
			continue
		}
		go func() {
			traceDone <- fetch(&http.Client{Timeout: o.latencyFor + time.Minute}, strings.TrimSuffix(rs.MetricsURL, "metrics")+
				fmt.Sprintf("debug/pprof/%s?seconds=%d", p.what, max(int(o.latencyFor.Seconds()), 1)), p.file)
		}()
	}
	var sent atomic.Int64
	backlog := make(chan int, 1)
	go func() { backlog <- watchBacklog(hc, rs.MetricsURL, base+lines, &sent, writing) }()
	fmt.Fprintf(os.Stderr, "live: the paced phase starts (%.0f lines/s for %s)\n", rate, o.latencyFor)
	written, err := paced(f, corpus, rate, o.markers, o.latencyFor, markers, &sent)
	close(writing)
	if o.pacedHeap != "" {
		if err := fetch(hc, strings.TrimSuffix(rs.MetricsURL, "metrics")+"debug/pprof/heap", o.pacedHeap); err != nil {
			return err
		}
	}
	r.MaxBacklog = <-backlog
	if err != nil {
		return err
	}
	ml := <-latc
	lat := make([]time.Duration, len(ml))
	for i, m := range ml {
		lat[i] = m.latency
	}
	if len(ml) > 0 {
		worst := slices.Clone(ml)
		slices.SortFunc(worst, func(a, b markerLatency) int { return cmp.Compare(b.latency, a.latency) })
		for _, m := range worst[:min(5, len(worst))] {
			fmt.Fprintf(os.Stderr, "live: slow marker written %.2f s into the phase: %.0f ms\n",
				m.written.Sub(ml[0].written).Seconds(), float64(m.latency)/float64(time.Millisecond))
		}
	}
	if err := errors.Join(<-traceDone, <-traceDone, <-traceDone); err != nil {
		return err
	}
	r.PacedLinesPerS, r.Markers = rate, markers.count()
	r.MarkersAlerted = len(lat)
	r.LatencyP50ms, r.LatencyP99ms, r.LatencyMaxms = quantiles(lat)
	if err := waitParsed(hc, rs.MetricsURL, base+lines+written, 5*time.Minute); err != nil {
		return err
	}
	r.LivePeakRSSMB = max(r.LivePeakRSSMB, float64(procstat.PeakRSSKiB(d.Process.Pid))/1024)
	r.DaemonCPUSeconds = (procstat.CPU(d.Process.Pid) - cpu0).Seconds()
	if o.metricsOut != "" {
		if err := fetch(hc, rs.MetricsURL, o.metricsOut); err != nil {
			return err
		}
	}
	zero := 0
	all, err := client.ListAlerts(ctx, apiclient.AlertFilter{Limit: &zero})
	if err == nil {
		r.AlertsInLAPI = len(all)
	}
	if o.jsonOut {
		return json.NewEncoder(os.Stdout).Encode(r)
	}
	fmt.Printf("replay: %d lines, %.0f lines/s, %.1f µs CPU a line, peak RSS %.0f MB, %d alerts\n",
		r.Lines, r.ReplayLinesPerS, r.ReplayCPUus, r.ReplayPeakRSSMB, r.ReplayAlerts)
	fmt.Printf("live:   %.0f lines/s (%.0f %% of replay), %.1f µs CPU a line (%.2fx replay's), peak RSS %.0f MB, %d alerts in the LAPI\n",
		r.LiveLinesPerS, 100*r.LiveRatio, r.LiveCPUus, r.LiveCPUus/r.ReplayCPUus, r.LivePeakRSSMB, r.AlertsInLAPI)
	fmt.Printf("alerts: burst %d, replay %d; (scenario, source) pairs only in replay %d, only in live %d\n",
		r.BurstAlerts, r.ReplayAlerts, r.OnlyReplay, r.OnlyLive)
	fmt.Printf("latency at %.0f lines/s (%.0f %% of live): %d/%d markers alerted, line written -> alert in LAPI p50 %.0f ms, p99 %.0f ms, max %.0f ms; largest backlog %d lines (%.0f ms at that pace)\n",
		r.PacedLinesPerS, 100*o.pace, r.MarkersAlerted, r.Markers, r.LatencyP50ms, r.LatencyP99ms, r.LatencyMaxms,
		r.MaxBacklog, 1000*float64(r.MaxBacklog)/r.PacedLinesPerS)
	return nil
}

// markerLog is when each marker address was written; the writer adds,
// the poller reads, concurrently.
type markerLog struct {
	mu      sync.Mutex
	written map[string]time.Time
}

func (m *markerLog) add(ip string, t time.Time) {
	m.mu.Lock()
	m.written[ip] = t
	m.mu.Unlock()
}

func (m *markerLog) get(ip string) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.written[ip]
	return t, ok
}

func (m *markerLog) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.written)
}

// paced appends the corpus (from its start, wrapping) at rate lines/s for
// d, with perSec marker lines a second, recorded in markers; it returns
// the lines written (markers included).
func paced(f *os.File, corpus []byte, rate float64, perSec int, d time.Duration, markers *markerLog, sent *atomic.Int64) (int, error) {
	const tick = 10 * time.Millisecond
	perTick := rate * tick.Seconds()
	markerEvery := time.Second / time.Duration(max(perSec, 1))
	var (
		pos, written, n int
		owed            float64
		buf             []byte
		nextMarker      = time.Now()
		start           = time.Now()
	)
	for now := time.Now(); now.Sub(start) < d; now = time.Now() {
		owed += perTick
		buf = buf[:0]
		for ; owed >= 1; owed-- {
			if pos >= len(corpus) {
				pos = 0
			}
			end := bytes.IndexByte(corpus[pos:], '\n')
			if end < 0 {
				pos = len(corpus)
				continue
			}
			buf = append(buf, corpus[pos:pos+end+1]...)
			pos += end + 1
			written++
		}
		var ip string
		if !now.Before(nextMarker) {
			n++
			ip = fmt.Sprintf("7.%d.%d.%d", n>>16&255, n>>8&255, n&255)
			buf = fmt.Appendf(buf, "%s - - [%s] \"GET /crowdsec-test-NtktlJHV4TfBSK3wvlhiOBnl HTTP/1.1\" 404 153 \"-\" \"curl/8.5.0\"\n",
				ip, now.UTC().Format("02/Jan/2006:15:04:05 -0700"))
			written++
			nextMarker = nextMarker.Add(markerEvery)
		}
		if ip != "" {
			markers.add(ip, time.Now()) // before the write: the daemon may see it at once
		}
		if _, err := f.Write(buf); err != nil {
			return written, err
		}
		sent.Store(int64(written))
		time.Sleep(time.Until(now.Add(tick)))
	}
	return written, nil
}

// watchBacklog samples, every 100 ms until done is closed, how many of
// the lines written in the paced phase (sent, counted from base parsed
// lines) the daemon has not parsed yet, and returns the largest.
func watchBacklog(hc *http.Client, url string, base int, sent *atomic.Int64, done <-chan struct{}) int {
	most := 0
	for {
		select {
		case <-done:
			return most
		case <-time.After(100 * time.Millisecond):
		}
		w := int(sent.Load())
		if n, err := parsedLines(hc, url); err == nil {
			most = max(most, w-(n-base))
		}
	}
}

// awaitMarkers polls the LAPI's marker alerts while the markers are
// written (until writing is closed) and then until every marker has one
// or timeout passes, and returns the latencies.
//
// A poll asks for the newest window alerts only (the LAPI lists newest
// first), and for all of them after a poll whose oldest alert was new (a
// stall longer than the window may have hidden some): listing every marker
// alert 50 times a second made the LAPI's listing a large part of the
// daemon's CPU by the end of the phase, a load on the measured pipeline
// that no real client puts. window 0 lists all of them at every poll.
func awaitMarkers(ctx context.Context, c *apiclient.Client, markers *markerLog, writing <-chan struct{}, timeout time.Duration, window int) []markerLatency {
	seen := map[string]markerLatency{}
	zero := 0
	full := true
	var deadline time.Time
	for {
		select {
		case <-writing:
			if deadline.IsZero() {
				deadline = time.Now().Add(timeout)
			}
		default:
		}
		if !deadline.IsZero() && (len(seen) >= markers.count() || time.Now().After(deadline)) {
			break
		}
		f := apiclient.AlertFilter{Scenario: markerScenario, Limit: &window}
		if full || window == 0 {
			f.Limit = &zero
		}
		alerts, err := c.ListAlerts(ctx, f)
		now := time.Now()
		if err == nil {
			oldestNew := false
			for _, a := range alerts {
				oldestNew = false
				if a.Source == nil {
					continue
				}
				if w, ok := markers.get(a.Source.IP); ok {
					if _, done := seen[a.Source.IP]; !done {
						seen[a.Source.IP] = markerLatency{written: w, latency: now.Sub(w)}
						oldestNew = true
					}
				}
			}
			full = window > 0 && len(alerts) >= window && oldestNew
		}
		time.Sleep(20 * time.Millisecond)
	}
	out := make([]markerLatency, 0, len(seen))
	for _, d := range seen {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b markerLatency) int { return a.written.Compare(b.written) })
	return out
}

// markerLatency is when a marker was written and how long its alert took
// to be listed.
type markerLatency struct {
	written time.Time
	latency time.Duration
}

func quantiles(ds []time.Duration) (p50, p99, mx float64) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return ms(s[len(s)/2]), ms(s[min(len(s)-1, len(s)*99/100)]), ms(s[len(s)-1])
}

// parsedLines is the daemon's cs_parser_hits_ok_total + _ko_total.
func parsedLines(hc *http.Client, url string) (int, error) {
	m, err := scrape(hc, url, "cs_parser_hits_ok_total", "cs_parser_hits_ko_total")
	return int(m[0] + m[1]), err
}

// scrape returns the values of the named metrics on url, each summed over
// its label sets.
func scrape(hc *http.Client, url string, names ...string) ([]float64, error) {
	out := make([]float64, len(names))
	resp, err := hc.Get(url)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return out, fmt.Errorf("metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		for i, m := range names {
			rest, ok := strings.CutPrefix(l, m)
			if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
				continue
			}
			if j := strings.LastIndexByte(rest, ' '); j >= 0 {
				f, _ := strconv.ParseFloat(strings.TrimSpace(rest[j+1:]), 64)
				out[i] += f
			}
		}
	}
	return out, sc.Err()
}

// settledAlerts waits until the daemon's agent has pushed every alert it
// received and the scenarios' overflow counter has not moved for a second,
// then returns the LAPI's alerts.
func settledAlerts(ctx context.Context, hc *http.Client, url string, c *apiclient.Client, timeout time.Duration) ([]*models.Alert, error) {
	deadline := time.Now().Add(timeout)
	last, since := -1.0, time.Now()
	for {
		m, err := scrape(hc, url, "phalanx_agent_alerts_received_total", "phalanx_agent_alerts_pushed_total", "cs_bucket_overflowed_total")
		if err != nil {
			return nil, err
		}
		recv, pushed, ovf := m[0], m[1], m[2]
		if ovf != last {
			last, since = ovf, time.Now()
		}
		if recv == pushed && time.Since(since) >= time.Second {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("alerts did not settle in %s: %v received, %v pushed", timeout, recv, pushed)
		}
		time.Sleep(100 * time.Millisecond)
	}
	zero := 0
	return c.ListAlerts(ctx, apiclient.AlertFilter{Limit: &zero})
}

// alertDiff compares two alert lists as multisets of "scenario source"
// and returns what only one of them holds, sorted.
func alertDiff(a, b []*models.Alert) (onlyA, onlyB []string) {
	key := func(al *models.Alert) string {
		src := ""
		if al.Source != nil {
			src = al.Source.IP
			if src == "" && al.Source.Value != nil {
				src = *al.Source.Value
			}
		}
		return al.GetScenario() + " " + src
	}
	n := map[string]int{}
	for _, al := range a {
		n[key(al)]++
	}
	for _, al := range b {
		n[key(al)]--
	}
	for k, v := range n {
		for ; v > 0; v-- {
			onlyA = append(onlyA, k)
		}
		for ; v < 0; v++ {
			onlyB = append(onlyB, k)
		}
	}
	slices.Sort(onlyA)
	slices.Sort(onlyB)
	return onlyA, onlyB
}

// waitParsed waits until the daemon has parsed want lines. It scrapes
// /metrics, which costs the daemon 1.5-2 ms of CPU (the process
// collector reads /proc, every series is encoded): 10 scrapes a second were
// 3-4 % of the daemon's CPU in a burst, a load no Prometheus puts on it.
// So it sleeps for a third of the time the remaining lines should take at
// the rate seen so far (at most 500 ms), and every 20 ms near the end: a
// few dozen scrapes a burst, its end still seen within 20 ms.
func waitParsed(hc *http.Client, url string, want int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	first, t0 := -1, time.Time{}
	for {
		n, err := parsedLines(hc, url)
		if err == nil && n >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the daemon parsed %d of %d lines in %s (err %v)", n, want, timeout, err)
		}
		sleep := 100 * time.Millisecond
		switch {
		case err != nil:
		case first < 0:
			first, t0 = n, time.Now()
		case n > first:
			rate := float64(n-first) / time.Since(t0).Seconds()
			left := time.Duration(float64(want-n) / rate * float64(time.Second))
			sleep = min(max(left/3, 20*time.Millisecond), 500*time.Millisecond)
		}
		time.Sleep(sleep)
	}
}

func fetch(hc *http.Client, url, file string) error {
	resp, err := hc.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(file, b, 0o600)
}
