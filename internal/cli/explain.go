package cli

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/phalanx-ids/phalanx/internal/content"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/explain"
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
	risky, err := explain.InjectionRisks(cfg)
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
		res := explain.Line(rt.Parsers, event.Line{Raw: l, Src: src, Time: time.Now(), Labels: lab, Process: true, Module: "file"}, risky)
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "line %d: %s\n", i+1, textsafe.Terminal(l))
		printSteps(w, res.Steps, f.verbose)
		switch res.Outcome {
		case explain.Whitelisted:
			white++
			fmt.Fprintf(w, "=> whitelisted: %s\n", textsafe.Terminal(res.Reason))
		case explain.Parsed:
			parsed++
			sum := ""
			if res.Reason != "" {
				sum = " (" + res.Reason + ")"
			}
			fmt.Fprintf(w, "=> parsed%s\n", textsafe.Terminal(sum))
		default:
			dropped++
			fmt.Fprintf(w, "=> dropped: %s\n", textsafe.Terminal(res.Reason))
		}
	}
	if len(lines) > 1 {
		fmt.Fprintf(w, "\n%d lines: %d parsed, %d whitelisted, %d unparsed\n", len(lines), parsed, white, dropped)
	}
	return nil
}

// printSteps prints a trace: per stage, each parser that matched or
// changed something (every parser when verbose), with its changes.
func printSteps(w io.Writer, steps []explain.Step, verbose bool) {
	last := ""
	for _, s := range steps {
		if !s.Success && !verbose && len(s.Changes) == 0 {
			continue
		}
		if s.Stage != last {
			fmt.Fprintf(w, "  %s\n", textsafe.Terminal(s.Stage))
			last = s.Stage
		}
		mark := "✓"
		if !s.Success {
			mark = "✗"
		}
		fmt.Fprintf(w, "    %s %s\n", mark, textsafe.Terminal(s.Node))
		for _, c := range s.Changes {
			fmt.Fprintf(w, "        %s\n", textsafe.Terminal(c))
		}
		if n := s.InjectionRisks; n > 0 && s.Success {
			fmt.Fprintf(w, "        ! %d pattern(s) of this parser can take the address from text the client wrote (log injection; see phalanx hubtest lint)\n", n)
		}
	}
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
