package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sync"

	"github.com/spf13/cobra"

	daemon "github.com/phalanx-ids/phalanx/internal/app"
	"github.com/phalanx-ids/phalanx/internal/hub"
	"github.com/phalanx-ids/phalanx/internal/hub/hubtest"
	"github.com/phalanx-ids/phalanx/internal/hub/install"
)

func newHubtestCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "hubtest",
		Short: "Run CrowdSec hubtest cases against Phalanx's engine",
	}
	c.AddCommand(newHubtestRunCmd(a))
	return c
}

type hubtestFlags struct {
	hubDir, testsDir, jsonOut, dataDir string
	all, verbose                       bool
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
	c.Flags().BoolVarP(&f.verbose, "verbose", "v", false, "print the failing assertions")
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
	opts := hubtest.Options{Hub: idx, TestsDir: f.testsDir, DataDir: dataDir, Logger: a.logger()}
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
		fmt.Fprintf(a.out, "%s %-45s parser=%s scenario=%s", verdict, r.Name, r.Parser, r.Scenario)
		if r.Error != "" {
			fmt.Fprintf(a.out, " error=%q", r.Error)
		} else if len(r.Failures) > 0 {
			fmt.Fprintf(a.out, " failed_assertions=%d", len(r.Failures))
		}
		fmt.Fprintln(a.out)
		if f.verbose {
			for _, l := range r.Failures {
				fmt.Fprintf(a.out, "    %s\n", l)
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
