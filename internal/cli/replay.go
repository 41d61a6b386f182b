package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"sort"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/phalanx-ids/phalanx/internal/acquire/replay"
	"github.com/phalanx-ids/phalanx/internal/content"
	"github.com/phalanx-ids/phalanx/internal/detect"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/gcpolicy"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/textsafe"
)

type replayFlags struct {
	content    contentFlags
	typ        string
	dsn        string
	labels     []string
	jsonOut    bool
	progress   string
	workers    int
	summaryOut bool
	parseOnly  bool
	statsFile  string
	cpuProfile string
	memProfile string
}

func newReplayCmd(a *app) *cobra.Command {
	f := &replayFlags{}
	c := &cobra.Command{
		Use:   "replay --type TYPE (FILE... | - | --dsn file://PATH)",
		Short: "Forensic replay: run log files through parsers and scenarios, print the alerts",
		Long: `Replay reads log files (plain or gzip, or standard input with -) once, from
start to end, following the logs' own timestamps, and prints the alerts the
scenarios raise: a table by default, or with --json a JSON array of alerts in
the Local API's Alert model. The content is Phalanx's embedded defaults, or a
hub tree with --hub (and --collection to pick collections).`,
		Example: `  phalanx replay --type nginx examples/access.log
  phalanx replay --type syslog --json /var/log/auth.log
  zcat access.log.gz | phalanx replay --type nginx -
  phalanx replay --hub ../shared/hub --collection crowdsecurity/linux --collection crowdsecurity/nginx --type nginx access.log`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReplay(cmd.Context(), a, f, args)
		},
	}
	c.Flags().StringVarP(&f.typ, "type", "t", "", "log type (the acquisition label type: syslog, nginx, ...)")
	c.Flags().StringVar(&f.dsn, "dsn", "", "input as a DSN, e.g. file:///var/log/nginx/access.log")
	c.Flags().StringArrayVar(&f.labels, "label", nil, "extra acquisition label key:value (repeatable)")
	c.Flags().BoolVar(&f.jsonOut, "json", false, "print the alerts as a JSON array (LAPI Alert model)")
	c.Flags().StringVar(&f.progress, "progress", "auto", "progress bar on stderr: auto (when stderr is a terminal), always, never")
	c.Flags().IntVarP(&f.workers, "workers", "w", 0, "parser and bucket workers (default: number of CPUs)")
	c.Flags().BoolVar(&f.summaryOut, "summary", true, "print a summary on stderr at the end")
	c.Flags().BoolVar(&f.parseOnly, "parse-only", false, "run the parsers only (no scenario): measures parsing")
	c.Flags().StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the replay to this file (go tool pprof)")
	c.Flags().StringVar(&f.memProfile, "memprofile", "", "write an allocation profile of the replay to this file at its end (go tool pprof -sample_index=alloc_space)")
	c.Flags().StringVar(&f.statsFile, "stats", "", "write the run's figures as JSON to this file (lines, seconds, lines_per_sec, peak_rss_bytes, ...)")
	f.content.register(c)
	return c
}

func runReplay(ctx context.Context, a *app, f *replayFlags, args []string) error {
	if f.typ == "" {
		return &usageError{fmt.Errorf("--type is required (e.g. --type nginx, --type syslog)")}
	}
	labels, err := parseLabels(f.labels)
	if err != nil {
		return err
	}
	var srcs []*replay.Source
	if f.dsn != "" {
		s, err := replay.FromDSN(f.dsn, labels)
		if err != nil {
			return &usageError{err}
		}
		srcs = append(srcs, s)
	}
	for _, p := range args {
		srcs = append(srcs, &replay.Source{Path: p, Labels: labels})
	}
	if len(srcs) == 0 {
		return &usageError{fmt.Errorf("give log files, - for standard input, or --dsn")}
	}
	var total int64
	read := &atomic.Int64{}
	for _, s := range srcs {
		s.Type = f.typ
		s.Stdin = a.in
		s.BytesRead = read
		s.Logger = a.logger()
		if s.Path != "-" {
			n, err := s.TotalSize()
			if err != nil {
				return err
			}
			total += n
		}
	}

	cfg, err := f.content.config(a, !f.parseOnly)
	if err != nil {
		return err
	}
	cfg.Now = time.Now
	rt, err := content.Build(cfg)
	if err != nil {
		return err
	}
	defer rt.Close()

	var alerts []models.Alert
	r := detect.New(detect.Config{
		Runtime:       rt,
		ParseWorkers:  f.workers,
		BucketWorkers: f.workers,
		Mode:          event.TIMEMACHINE,
		OnAlert: func(ov *event.Event) {
			alerts = append(alerts, ov.Overflow.APIAlerts...)
		},
	})
	defer gcpolicy.Apply(replayGC())()
	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	stopProgress := startProgress(a, f.progress, read, total, r, start)
	st, es, err := r.Run(ctx, func(ctx context.Context, emit func(event.Line) error) error {
		for _, s := range srcs {
			if _, err := s.Read(ctx, emit); err != nil {
				return err
			}
		}
		return nil
	})
	stopProgress()
	elapsed := time.Since(start)
	if err != nil {
		return err
	}
	if f.memProfile != "" {
		if err := writeHeapProfile(f.memProfile); err != nil {
			return err
		}
	}
	sortAlerts(alerts)
	if f.jsonOut {
		if err := writeAlertsJSON(a.out, alerts); err != nil {
			return err
		}
	} else {
		printAlertTable(a.out, alerts)
	}
	rate := float64(st.Lines) / elapsed.Seconds()
	rss := peakRSS()
	if f.summaryOut {
		fmt.Fprintf(a.err, "replay: %d lines read in %s (%.0f lines/s, peak RSS %.0f MB): %d parsed, %d unparsed, %d whitelisted; %d poured, %d overflows (%d suppressed by postoverflows), %d alerts; %d events without a time\n",
			st.Lines, elapsed.Round(time.Millisecond), rate, float64(rss)/(1<<20), st.Parsed, st.Unparsed, st.Whitelisted,
			st.Poured, st.Overflows, st.Suppressed, len(alerts), es.NoTime)
	}
	if f.statsFile != "" {
		b, err := json.MarshalIndent(map[string]any{
			"lines": st.Lines, "parsed": st.Parsed, "unparsed": st.Unparsed, "whitelisted": st.Whitelisted,
			"poured": st.Poured, "overflows": st.Overflows, "suppressed": st.Suppressed, "alerts": len(alerts),
			"seconds": elapsed.Seconds(), "lines_per_sec": rate, "peak_rss_bytes": rss,
		}, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(f.statsFile, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// writeHeapProfile writes the heap profile, which holds what was allocated
// since the process started (alloc_space, alloc_objects) as well as what is
// in use, to path.
func writeHeapProfile(path string) error {
	pf, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("replay: memprofile: %w", err)
	}
	if err := pprof.Lookup("allocs").WriteTo(pf, 0); err != nil {
		pf.Close()
		return fmt.Errorf("replay: memprofile: %w", err)
	}
	if err := pf.Close(); err != nil {
		return fmt.Errorf("replay: memprofile: %w", err)
	}
	return nil
}

// writeAlertsJSON writes alerts as an indented JSON array, the bytes a
// json.Encoder with SetIndent("", "  ") writes for the slice, one alert at
// a time: encoding the array at once held the whole output (5 MB for the
// 1M-line bench corpora, with its indented copy) in memory.
func writeAlertsJSON(w io.Writer, alerts []models.Alert) error {
	bw := bufio.NewWriter(w)
	if len(alerts) == 0 {
		bw.WriteString("[]\n")
		return bw.Flush()
	}
	bw.WriteString("[\n  ")
	for i := range alerts {
		if i > 0 {
			bw.WriteString(",\n  ")
		}
		b, err := json.MarshalIndent(&alerts[i], "  ", "  ")
		if err != nil {
			return err
		}
		bw.Write(b)
	}
	bw.WriteString("\n]\n")
	return bw.Flush()
}

// replayGC is the replay's GC policy. A replay is a batch job in a process
// of its own: GOGC 200 trades memory for less GC work (~11% less CPU on the
// nginx corpus), under a soft memory limit of 100 MB: the Go runtime's
// memory (heap, stacks, metadata, memory not yet returned) stays under it,
// so that peak RSS, which adds ~21 MB of program text, stays under 128 MB.
// The live heap of a 1M-line replay is 40-65 MB (content ~20 MB, events in
// flight, buckets), so the limit is a safety net that makes the GC run more
// often near it, not a cap the run lives against; a replay whose buckets
// outgrow it goes over it (the runtime bounds the GC's CPU) rather than
// failing. GOGC and GOMEMLIMIT in the environment take precedence.
func replayGC() gcpolicy.Policy { return gcpolicy.Policy{Percent: 200, Limit: 100 << 20} }

// peakRSS returns the process's peak resident set size (VmHWM) in bytes, 0
// where /proc is not available.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb * 1024
		}
	}
	return 0
}

// sortAlerts orders alerts by first event time, then scenario and source.
func sortAlerts(al []models.Alert) {
	s := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	sort.SliceStable(al, func(i, j int) bool {
		if a, b := s(al[i].StartAt), s(al[j].StartAt); a != b {
			return a < b
		}
		if a, b := al[i].GetScenario(), al[j].GetScenario(); a != b {
			return a < b
		}
		return al[i].GetValue() < al[j].GetValue()
	})
}

func printAlertTable(w io.Writer, al []models.Alert) {
	if len(al) == 0 {
		fmt.Fprintln(w, "No alert.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tSOURCE\tCOUNTRY/AS\tEVENTS\tFIRST SEEN\tLAST SEEN")
	for _, a := range al {
		src := a.GetScope() + ":" + a.GetValue()
		geo := ""
		if a.Source != nil {
			var parts []string
			if a.Source.Cn != "" {
				parts = append(parts, a.Source.Cn)
			}
			if a.Source.AsNumber != "" {
				as := "AS" + a.Source.AsNumber
				if a.Source.AsName != "" {
					as += " " + a.Source.AsName
				}
				parts = append(parts, as)
			}
			geo = strings.Join(parts, " ")
		}
		first, last := "", ""
		if a.StartAt != nil {
			first = *a.StartAt
		}
		if a.StopAt != nil {
			last = *a.StopAt
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", textsafe.Terminal(a.GetScenario()), textsafe.Terminal(src), textsafe.Terminal(geo), a.GetEventsCount(), textsafe.Terminal(first), textsafe.Terminal(last))
	}
	tw.Flush()
	fmt.Fprintf(w, "%d alerts\n", len(al))
}

// startProgress shows bytes read and lines/s on stderr while a replay runs.
func startProgress(a *app, mode string, read *atomic.Int64, total int64, r *detect.Runner, start time.Time) func() {
	show := mode == "always"
	if mode == "auto" {
		if f, ok := a.err.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				show = true
			}
		}
	}
	if !show {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(a.err, "\r\033[K")
				return
			case <-t.C:
				el := time.Since(start).Seconds()
				lines := r.LinesRead()
				b := read.Load()
				bar := ""
				if total > 0 {
					pct := float64(b) / float64(total)
					if pct > 1 {
						pct = 1
					}
					n := int(pct * 30)
					bar = fmt.Sprintf("[%s%s] %3.0f%% ", strings.Repeat("#", n), strings.Repeat(".", 30-n), pct*100)
				}
				fmt.Fprintf(a.err, "\r\033[K%s%.1f MB, %d lines, %.0f lines/s", bar, float64(b)/1e6, lines, float64(lines)/el)
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
