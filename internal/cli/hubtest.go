package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"runtime"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	daemon "github.com/phalanx-ids/phalanx/internal/app"
	"github.com/phalanx-ids/phalanx/internal/content"
	"github.com/phalanx-ids/phalanx/internal/grok"
	"github.com/phalanx-ids/phalanx/internal/hub"
	"github.com/phalanx-ids/phalanx/internal/hub/hubtest"
	"github.com/phalanx-ids/phalanx/internal/hub/install"
	"github.com/phalanx-ids/phalanx/internal/hub/lint"
	"github.com/phalanx-ids/phalanx/internal/parse"
	"github.com/phalanx-ids/phalanx/internal/textsafe"
)

func newHubtestCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "hubtest",
		Short: "Run CrowdSec hubtest cases against Phalanx's engine",
	}
	c.AddCommand(newHubtestRunCmd(a), newHubtestLintCmd(a))
	return c
}

type hubtestFlags struct {
	hubDir, testsDir, jsonOut, dataDir string
	all, verbose, strict               bool
	jobs                               int
}

func newHubtestRunCmd(a *app) *cobra.Command {
	f := &hubtestFlags{}
	c := &cobra.Command{
		Use:   "run (--all | CASE...)",
		Short: "Run hubtest cases and check their parser.assert and scenario.assert files",
		Long: `Run installs each case's parsers, scenarios and postoverflows from the hub,
feeds its log file through them and evaluates its assertion files unchanged.
It prints one line per case and a summary "N passed, N failed"; it exits 3
when a case failed.

Verdicts are upstream's: like CrowdSec's runner, a false line of
scenario.assert that is not of the form "X == ..." (e.g. "1.2.3.4" in
results[0].Overflow.GetSources()) does not fail the case; such lines are
reported as ignored_assertions (listed with -v), and --strict fails on them.

Without --hub it runs against the content installed in the data dir (the
files "phalanx hub" downloaded, its grok patterns and data files): the cases
must then name installed items, and --tests is required.`,
		Example: `  phalanx hubtest run --hub ../shared/hub --tests ../shared/hub/tests --all
  phalanx hubtest run --hub ../shared/hub --tests ../shared/hub/tests ssh-bf nginx-http-probing --json out.json
  phalanx hubtest run --data-dir /var/lib/phalanx --tests ../shared/hub/tests ssh-bf`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHubtest(cmd.Context(), a, f, args)
		},
	}
	c.Flags().StringVar(&f.hubDir, "hub", "", "hub directory; default: the content installed in the data dir")
	c.Flags().StringVar(&f.dataDir, "data-dir", "", "data directory of the install used without --hub (default /var/lib/phalanx as root, else $XDG_DATA_HOME/phalanx)")
	c.Flags().StringVar(&f.testsDir, "tests", "", "folder of hubtest cases (default: HUB/tests; required without --hub)")
	c.Flags().BoolVar(&f.all, "all", false, "run every case")
	c.Flags().StringVar(&f.jsonOut, "json", "", "write the results as JSON to this file")
	c.Flags().BoolVarP(&f.verbose, "verbose", "v", false, "print the failing (and the ignored) assertions")
	c.Flags().BoolVar(&f.strict, "strict", false, "also fail on the false assertions upstream ignores (not of the form X == ...)")
	c.Flags().IntVarP(&f.jobs, "jobs", "j", runtime.GOMAXPROCS(0), "cases run in parallel")
	return c
}

func runHubtest(ctx context.Context, a *app, f *hubtestFlags, names []string) error {
	dataDir := ""
	if f.hubDir == "" {
		if f.testsDir == "" {
			return &usageError{fmt.Errorf("--tests is required without --hub")}
		}
		inst := install.New(pick(f.dataDir, daemon.DefaultDataDir()), nil)
		f.hubDir, dataDir = inst.HubPath(), inst.DataPath()
		if _, err := inst.Index(); err != nil {
			return err
		}
	}
	if f.testsDir == "" {
		f.testsDir = f.hubDir + "/tests"
	}
	if f.all == (len(names) > 0) {
		return &usageError{fmt.Errorf("give case names or --all (not both)")}
	}
	idx, err := hub.Open(f.hubDir)
	if err != nil {
		return err
	}
	if f.all {
		if names, err = hubtest.Cases(f.testsDir); err != nil {
			return err
		}
	}
	if f.jobs < 1 {
		f.jobs = 1
	}
	opts := hubtest.Options{Hub: idx, TestsDir: f.testsDir, DataDir: dataDir, Logger: a.logger(), Strict: f.strict}
	results := make([]hubtest.Result, len(names))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < f.jobs; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = hubtest.Run(ctx, opts, names[i])
			}
		}()
	}
	for i := range names {
		next <- i
	}
	close(next)
	wg.Wait()

	passed, failed := 0, 0
	for _, r := range results {
		verdict := "PASS"
		if r.Passed {
			passed++
		} else {
			failed++
			verdict = "FAIL"
		}
		fmt.Fprintf(a.out, "%s %-45s parser=%s scenario=%s", verdict, textsafe.Terminal(r.Name), r.Parser, r.Scenario)
		if r.Error != "" {
			fmt.Fprintf(a.out, " error=%q", r.Error)
		} else if len(r.Failures) > 0 {
			fmt.Fprintf(a.out, " failed_assertions=%d", len(r.Failures))
		}
		if len(r.Ignored) > 0 {
			fmt.Fprintf(a.out, " ignored_assertions=%d", len(r.Ignored))
		}
		fmt.Fprintln(a.out)
		if f.verbose {
			for _, l := range r.Failures {
				fmt.Fprintf(a.out, "    %s\n", textsafe.Terminal(l))
			}
			for _, l := range r.Ignored {
				if f.strict {
					break // already listed with the failures
				}
				fmt.Fprintf(a.out, "    ignored (upstream does not count it): %s\n", textsafe.Terminal(l))
			}
		}
	}
	fmt.Fprintf(a.out, "%d passed, %d failed\n", passed, failed)
	if f.jsonOut != "" {
		b, err := json.MarshalIndent(results, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(f.jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if failed > 0 {
		return &failureError{fmt.Sprintf("%d of %d cases failed", failed, len(names))}
	}
	return nil
}

type hubtestLintFlags struct {
	hubDir string
	strict bool
}

func newHubtestLintCmd(a *app) *cobra.Command {
	f := &hubtestLintFlags{}
	c := &cobra.Command{
		Use:   "lint [ITEM...]",
		Short: "Warn about parser patterns open to log injection",
		Long: `Lint checks the grok patterns of parsers for an address captured after a
field the remote party writes (a user name, a request, free text) with nothing
tying the address to the end of the line: text written in that field can then
supply the address, and a third party gets banned (sshd logs user names
verbatim: "Invalid user admin from 198.51.100.77 port 22 from 203.0.113.66 port
40001"). See internal/hub/lint for the heuristic.

Without --hub it checks Phalanx's embedded parsers; with --hub, the hub's
parsers and postoverflows, or the ITEMs named (parser names or files). It
prints one warning per pattern and address and exits 0; --strict exits 3 when
there is a warning.`,
		Example: `  phalanx hubtest lint
  phalanx hubtest lint --hub ../shared/hub crowdsecurity/sshd-logs
  phalanx hubtest lint --hub ../shared/hub --strict`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHubtestLint(a, f, args)
		},
	}
	c.Flags().StringVar(&f.hubDir, "hub", "", "hub directory (default: the embedded parsers)")
	c.Flags().BoolVar(&f.strict, "strict", false, "exit 3 when there is a warning")
	return c
}

func runHubtestLint(a *app, f *hubtestLintFlags, items []string) error {
	cfg, err := content.Select(f.hubDir, nil, f.hubDir != "")
	if err != nil {
		return err
	}
	lib := grok.NewLibrary()
	for _, d := range cfg.PatternDirs {
		if err := lib.LoadDir(d); err != nil {
			return err
		}
	}
	files := append(append([]parse.File{}, cfg.Parsers...), cfg.PostOverflows...)
	if len(items) > 0 {
		if files, err = lintItems(f.hubDir, files, items); err != nil {
			return err
		}
	}
	fs, err := lint.Files(lib, files)
	if err != nil {
		return err
	}
	for _, x := range fs {
		fmt.Fprintln(a.out, "WARN "+textsafe.Terminal(x.String()))
	}
	fmt.Fprintf(a.out, "%d parser files, %d warnings\n", len(files), len(fs))
	if f.strict && len(fs) > 0 {
		return &failureError{fmt.Sprintf("%d warnings", len(fs))}
	}
	return nil
}

// lintItems picks the files of the items named: a hub parser or
// postoverflow name, an embedded parser's name (phalanx/sshd), or a file.
func lintItems(hubDir string, all []parse.File, items []string) ([]parse.File, error) {
	var idx *hub.Index
	if hubDir != "" {
		var err error
		if idx, err = hub.Open(hubDir); err != nil {
			return nil, err
		}
	}
	var out []parse.File
	for _, name := range items {
		if idx != nil {
			if it, ok := idx.Get(hub.Parsers, name); ok {
				out = append(out, parse.File{Stage: it.Stage, Path: idx.FilePath(it)})
				continue
			}
			if it, ok := idx.Get(hub.PostOverflows, name); ok {
				out = append(out, parse.File{Stage: it.Stage, Path: idx.FilePath(it)})
				continue
			}
		}
		found := false
		for _, fl := range all {
			if fl.Path == name || strings.TrimSuffix(path.Base(fl.Path), path.Ext(fl.Path)) == path.Base(name) {
				out, found = append(out, fl), true
			}
		}
		if !found {
			if st, err := os.Stat(name); err == nil && !st.IsDir() {
				out, found = append(out, parse.File{Stage: hub.StageOf(name), Path: name}), true
			}
		}
		if !found {
			return nil, &usageError{fmt.Errorf("hubtest lint: %q: no such parser or file", name)}
		}
	}
	return out, nil
}
