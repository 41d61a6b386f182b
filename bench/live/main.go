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
//  3. latency: the corpus is appended again, paced at -pace of the live
//     rate for -latency-for, with -markers per second of marker lines, each
//     from a new address and taken by a one-line trigger scenario
//     (crowdsecurity/http-generic-test for nginx, the corpus's own kind
//     otherwise is not supported); a marker's latency is from its write to
//     its alert being listed by the LAPI (GET /v1/alerts, polled every
//     20 ms by a machine of its own).
//
//     go build -o /tmp/phalanx ./cmd/phalanx
//     go run ./bench/live -phalanx /tmp/phalanx -hub ../shared/hub -corpus bench/out/nginx-1000000-s1.log
//
// bench/run generates the corpus (bench/out/nginx-1000000-s1.log).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/phalanx-ids/phalanx/bench/internal/procstat"
	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/app"
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
	agentExtra  string
	daemonEnv   string
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
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the daemon's first 5 s of the burst to this file")
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
	LiveLinesPerS    float64 `json:"live_lines_per_s"`
	LiveRatio        float64 `json:"live_to_replay"`
	LivePeakRSSMB    float64 `json:"live_peak_rss_mb"`
	PacedLinesPerS   float64 `json:"paced_lines_per_s"`
	Markers          int     `json:"markers"`
	MarkersAlerted   int     `json:"markers_alerted"`
	LatencyP50ms     float64 `json:"latency_p50_ms"`
	LatencyP99ms     float64 `json:"latency_p99_ms"`
	LatencyMaxms     float64 `json:"latency_max_ms"`
	AlertsInLAPI     int     `json:"alerts_in_lapi"`
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
	rp := exec.Command(o.phalanx, append(args, o.corpus)...)
	rp.Stdout, rp.Stderr = io.Discard, os.Stderr
	if err := rp.Run(); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
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
	fmt.Fprintf(os.Stderr, "live: replay %.0f lines/s, peak RSS %.0f MB\n", r.ReplayLinesPerS, r.ReplayPeakRSSMB)

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
	hc := &http.Client{Timeout: 10 * time.Second}
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
			cpuDone <- fetch(&http.Client{Timeout: time.Minute}, strings.TrimSuffix(rs.MetricsURL, "metrics")+"debug/pprof/profile?seconds=5", o.cpuProfile)
		}()
	} else {
		cpuDone <- nil
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
	if err := <-cpuDone; err != nil {
		return err
	}
	r.LiveLinesPerS = float64(lines) / live.Seconds()
	r.LiveRatio = r.LiveLinesPerS / r.ReplayLinesPerS
	r.LivePeakRSSMB = float64(procstat.PeakRSSKiB(d.Process.Pid)) / 1024
	fmt.Fprintf(os.Stderr, "live: %d lines parsed in %.2f s = %.0f lines/s (%.0f %% of replay), peak RSS %.0f MB\n",
		lines, live.Seconds(), r.LiveLinesPerS, 100*r.LiveRatio, r.LivePeakRSSMB)

	// 3. Latency under a paced load.
	rate := o.pace * r.LiveLinesPerS
	markers := &markerLog{written: map[string]time.Time{}}
	writing := make(chan struct{})
	latc := make(chan []time.Duration, 1)
	go func() { latc <- awaitMarkers(ctx, client, markers, writing, 30*time.Second) }()
	written, err := paced(f, corpus, rate, o.markers, o.latencyFor, markers)
	close(writing)
	if err != nil {
		return err
	}
	lat := <-latc
	r.PacedLinesPerS, r.Markers = rate, markers.count()
	r.MarkersAlerted = len(lat)
	r.LatencyP50ms, r.LatencyP99ms, r.LatencyMaxms = quantiles(lat)
	if err := waitParsed(hc, rs.MetricsURL, base+lines+written, 5*time.Minute); err != nil {
		return err
	}
	r.LivePeakRSSMB = max(r.LivePeakRSSMB, float64(procstat.PeakRSSKiB(d.Process.Pid))/1024)
	r.DaemonCPUSeconds = (procstat.CPU(d.Process.Pid) - cpu0).Seconds()
	zero := 0
	all, err := client.ListAlerts(ctx, apiclient.AlertFilter{Limit: &zero})
	if err == nil {
		r.AlertsInLAPI = len(all)
	}
	if o.jsonOut {
		return json.NewEncoder(os.Stdout).Encode(r)
	}
	fmt.Printf("replay: %d lines, %.0f lines/s, peak RSS %.0f MB\n", r.Lines, r.ReplayLinesPerS, r.ReplayPeakRSSMB)
	fmt.Printf("live:   %.0f lines/s (%.0f %% of replay), peak RSS %.0f MB, %d alerts in the LAPI\n",
		r.LiveLinesPerS, 100*r.LiveRatio, r.LivePeakRSSMB, r.AlertsInLAPI)
	fmt.Printf("latency at %.0f lines/s (%.0f %% of live): %d/%d markers alerted, line written -> alert in LAPI p50 %.0f ms, p99 %.0f ms, max %.0f ms\n",
		r.PacedLinesPerS, 100*o.pace, r.MarkersAlerted, r.Markers, r.LatencyP50ms, r.LatencyP99ms, r.LatencyMaxms)
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
func paced(f *os.File, corpus []byte, rate float64, perSec int, d time.Duration, markers *markerLog) (int, error) {
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
		time.Sleep(time.Until(now.Add(tick)))
	}
	return written, nil
}

// awaitMarkers polls the LAPI's marker alerts while the markers are
// written (until writing is closed) and then until every marker has one
// or timeout passes, and returns the latencies.
func awaitMarkers(ctx context.Context, c *apiclient.Client, markers *markerLog, writing <-chan struct{}, timeout time.Duration) []time.Duration {
	seen := map[string]time.Duration{}
	zero := 0
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
		alerts, err := c.ListAlerts(ctx, apiclient.AlertFilter{Scenario: markerScenario, Limit: &zero})
		now := time.Now()
		if err == nil {
			for _, a := range alerts {
				if a.Source == nil {
					continue
				}
				if w, ok := markers.get(a.Source.IP); ok {
					if _, done := seen[a.Source.IP]; !done {
						seen[a.Source.IP] = now.Sub(w)
					}
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	out := make([]time.Duration, 0, len(seen))
	for _, d := range seen {
		out = append(out, d)
	}
	return out
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
	resp, err := hc.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("metrics: %s", resp.Status)
	}
	n := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		for _, m := range []string{"cs_parser_hits_ok_total", "cs_parser_hits_ko_total"} {
			if v, ok := strings.CutPrefix(l, m+" "); ok {
				f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
				n += int(f)
			}
		}
	}
	return n, sc.Err()
}

func waitParsed(hc *http.Client, url string, want int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		n, err := parsedLines(hc, url)
		if err == nil && n >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the daemon parsed %d of %d lines in %s (err %v)", n, want, timeout, err)
		}
		// Every 100 ms: a scrape costs the daemon (a 1M-line burst takes
		// tens of seconds, so the rate's resolution stays under 1 %).
		time.Sleep(100 * time.Millisecond)
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
