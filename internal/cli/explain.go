package cli

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/phalanx-ids/phalanx/internal/content"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/grok"
	"github.com/phalanx-ids/phalanx/internal/hub/lint"
	"github.com/phalanx-ids/phalanx/internal/parse"
	"github.com/phalanx-ids/phalanx/internal/textsafe"
)

type explainFlags struct {
	content contentFlags
	logs    []string
	file    string
	typ     string
	labels  []string
	verbose bool
}

func newExplainCmd(a *app) *cobra.Command {
	f := &explainFlags{}
	c := &cobra.Command{
		Use:   "explain (--log LINE | --file FILE | FILE) --type TYPE",
		Short: "Show what each parser of each stage did to a log line",
		Long: `Explain runs log lines through the parsers, stage by stage, and shows for each
parser whether it matched and what it added to Parsed, Meta and Enriched, then
whether the line came out parsed, was dropped (and where), or was whitelisted.`,
		Example: `  phalanx explain --type nginx --log '1.2.3.4 - - [01/Mar/2024:00:00:00 +0000] "GET /.env HTTP/1.1" 404 12 "-" "curl/8"'
  phalanx explain --type syslog examples/auth.log
  phalanx explain --hub ../shared/hub --collection crowdsecurity/nginx --type nginx examples/access.log`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if f.file != "" {
					return &usageError{fmt.Errorf("give the file either as an argument or with --file")}
				}
				f.file = args[0]
			}
			return runExplain(cmd.Context(), a, f)
		},
	}
	c.Flags().StringArrayVar(&f.logs, "log", nil, "a log line to explain (repeatable)")
	c.Flags().StringVar(&f.file, "file", "", "a log file to explain, line by line (.gz accepted; - for stdin)")
	c.Flags().StringVarP(&f.typ, "type", "t", "", "log type (the acquisition label type: syslog, nginx, ...)")
	c.Flags().StringArrayVar(&f.labels, "label", nil, "extra acquisition label key:value (repeatable)")
	c.Flags().BoolVarP(&f.verbose, "verbose", "v", false, "also list the parsers that did not match")
	f.content.register(c)
	return c
}

func runExplain(ctx context.Context, a *app, f *explainFlags) error {
	if f.typ == "" {
		return &usageError{fmt.Errorf("--type is required (e.g. --type nginx, --type syslog)")}
	}
	if len(f.logs) == 0 && f.file == "" {
		return &usageError{fmt.Errorf("give a line with --log or a file")}
	}
	labels, err := parseLabels(f.labels)
	if err != nil {
		return err
	}
	labels["type"] = f.typ
	cfg, err := f.content.config(a, false)
	if err != nil {
		return err
	}
	rt, err := content.Build(cfg)
	if err != nil {
		return err
	}
	defer rt.Close()
	risky, err := injectionRisks(cfg)
	if err != nil {
		return err
	}

	src := "explain"
	var lines []string
	lines = append(lines, f.logs...)
	if f.file != "" {
		if f.file != "-" {
			if src, err = filepath.Abs(f.file); err != nil {
				return err
			}
		}
		fl, err := readFileLines(a, f.file)
		if err != nil {
			return err
		}
		lines = append(lines, fl...)
	}
	w := bufio.NewWriter(a.out)
	defer w.Flush()
	var parsed, dropped, white int
	for i, l := range lines {
		if err := ctx.Err(); err != nil {
			return err
		}
		lab := make(map[string]string, len(labels))
		for k, v := range labels {
			lab[k] = v
		}
		evt := event.New(event.Line{Raw: l, Src: src, Time: time.Now(), Labels: lab, Process: true, Module: "file"})
		evt.ExpectMode = event.TIMEMACHINE
		tr := &explainTracer{prev: evt.Clone(), risky: risky}
		ok := rt.Parsers.Parse(evt, tr)
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "line %d: %s\n", i+1, textsafe.Terminal(l))
		tr.print(w, f.verbose, rt.Parsers.Stages())
		switch {
		case ok && evt.Whitelisted:
			white++
			fmt.Fprintf(w, "=> whitelisted: %s\n", textsafe.Terminal(evt.WhitelistReason))
		case ok:
			parsed++
			fmt.Fprintf(w, "=> parsed%s\n", textsafe.Terminal(summaryMeta(evt)))
		default:
			dropped++
			fmt.Fprintf(w, "=> dropped: %s\n", textsafe.Terminal(tr.dropReason(rt.Parsers.Stages())))
		}
	}
	if len(lines) > 1 {
		fmt.Fprintf(w, "\n%d lines: %d parsed, %d whitelisted, %d unparsed\n", len(lines), parsed, white, dropped)
	}
	return nil
}

// explainTracer records, for each top-level node, its outcome and what it
// changed in the event (a before/after diff of the maps and time fields).
type explainTracer struct {
	risky map[string]int // node -> patterns open to log injection (hubtest lint)
	prev  *event.Event
	steps []explainStep
}

type explainStep struct {
	stage, node string
	success     bool
	changes     []string
}

func (t *explainTracer) NodeDone(stage, node string, success bool, evt *event.Event) {
	cur := evt.Clone()
	t.steps = append(t.steps, explainStep{stage: stage, node: node, success: success, changes: diffEvents(t.prev, cur)})
	t.prev = cur
}

func (t *explainTracer) print(w io.Writer, verbose bool, stages []string) {
	last := ""
	for _, s := range t.steps {
		if !s.success && !verbose && len(s.changes) == 0 {
			continue
		}
		if s.stage != last {
			fmt.Fprintf(w, "  %s\n", textsafe.Terminal(s.stage))
			last = s.stage
		}
		mark := "✓"
		if !s.success {
			mark = "✗"
		}
		fmt.Fprintf(w, "    %s %s\n", mark, textsafe.Terminal(s.node))
		for _, c := range s.changes {
			fmt.Fprintf(w, "        %s\n", textsafe.Terminal(c))
		}
		if n := t.risky[s.node]; n > 0 && s.success {
			fmt.Fprintf(w, "        ! %d pattern(s) of this parser can take the address from text the client wrote (log injection; see phalanx hubtest lint)\n", n)
		}
	}
}

// dropReason names the stage where the event stopped and the parsers tried there.
func (t *explainTracer) dropReason(stages []string) string {
	if len(t.steps) == 0 {
		if len(stages) == 0 {
			return "no parser loaded"
		}
		return fmt.Sprintf("no parser of stage %s applies to it", stages[0])
	}
	lastStage := t.steps[len(t.steps)-1].stage
	var tried []string
	for _, s := range t.steps {
		if s.stage == lastStage {
			if s.success {
				return fmt.Sprintf("stage %s: %s matched but did not move the line to the next stage", lastStage, s.node)
			}
			tried = append(tried, s.node)
		}
	}
	return fmt.Sprintf("no parser of stage %s matched (tried %s)", lastStage, strings.Join(tried, ", "))
}

// injectionRisks counts, per parser node, the grok patterns of the content
// that hubtest lint warns about.
func injectionRisks(cfg content.Config) (map[string]int, error) {
	lib := grok.NewLibrary()
	for _, d := range cfg.PatternDirs {
		if err := lib.LoadDir(d); err != nil {
			return nil, err
		}
	}
	fs, err := lint.Files(lib, append(append([]parse.File{}, cfg.Parsers...), cfg.PostOverflows...))
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, f := range fs {
		out[f.Node]++
	}
	return out, nil
}

func diffEvents(a, b *event.Event) []string {
	var out []string
	out = append(out, diffMap("Parsed", a.Parsed, b.Parsed)...)
	out = append(out, diffMap("Meta", a.Meta, b.Meta)...)
	out = append(out, diffMap("Enriched", a.Enriched, b.Enriched)...)
	if fmt.Sprint(a.Unmarshaled) != fmt.Sprint(b.Unmarshaled) {
		out = append(out, fmt.Sprintf("~ Unmarshaled = %v", b.Unmarshaled))
	}
	for _, f := range []struct{ name, x, y string }{
		{"StrTime", a.StrTime, b.StrTime},
		{"MarshaledTime", a.MarshaledTime, b.MarshaledTime},
		{"WhitelistReason", a.WhitelistReason, b.WhitelistReason},
	} {
		if f.x != f.y {
			out = append(out, fmt.Sprintf("~ %s = %q", f.name, f.y))
		}
	}
	if a.Whitelisted != b.Whitelisted {
		out = append(out, fmt.Sprintf("~ Whitelisted = %v", b.Whitelisted))
	}
	return out
}

func diffMap(name string, a, b map[string]string) []string {
	keys := make([]string, 0, len(b))
	for k := range b {
		keys = append(keys, k)
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		av, inA := a[k]
		bv, inB := b[k]
		switch {
		case !inA && inB:
			out = append(out, fmt.Sprintf("+ %s.%s = %q", name, k, bv))
		case inA && !inB:
			out = append(out, fmt.Sprintf("- %s.%s", name, k))
		case av != bv:
			out = append(out, fmt.Sprintf("~ %s.%s = %q (was %q)", name, k, bv, av))
		}
	}
	return out
}

func summaryMeta(evt *event.Event) string {
	var parts []string
	for _, k := range []string{"log_type", "service", "source_ip", "timestamp"} {
		if v := evt.Meta[k]; v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, " ") + ")"
}

func parseLabels(in []string) (map[string]string, error) {
	out := map[string]string{}
	for _, l := range in {
		k, v, ok := strings.Cut(l, ":")
		if !ok || k == "" {
			return nil, &usageError{fmt.Errorf("label %q: want key:value", l)}
		}
		out[k] = v
	}
	return out, nil
}

// readFileLines reads a whole (small) file for explain: plain, gzip or stdin.
func readFileLines(a *app, name string) ([]string, error) {
	var r io.Reader
	if name == "-" {
		r = a.in
	} else {
		fh, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer fh.Close()
		r = fh
	}
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		defer gz.Close()
		br = bufio.NewReader(gz)
	}
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var out []string
	for sc.Scan() {
		if l := strings.TrimSuffix(sc.Text(), "\r"); l != "" {
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}
