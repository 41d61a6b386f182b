package app

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"github.com/phalanx-ids/phalanx/internal/acquire"
	"github.com/phalanx-ids/phalanx/internal/acquire/file"
	"github.com/phalanx-ids/phalanx/internal/acquire/journald"
	"github.com/phalanx-ids/phalanx/internal/content"
	"github.com/phalanx-ids/phalanx/internal/detect"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/scenario"
	"github.com/phalanx-ids/phalanx/internal/ui"
)

// pipeline is one generation of the detection side: content, sources and
// the detect runner built from one Config. A reload builds a new one, and
// swaps it in only if it built.
type pipeline struct {
	rt      *content.Runtime
	set     *acquire.Set
	runner  *detect.Runner
	watches []string       // what the sources read, for humans
	items   []content.Item // the hub items loaded (usage metrics)

	// The scenario files, described for the dashboard on first use.
	scenSrc  []scenario.Source
	scenHub  map[string]scenario.HubInfo
	defsOnce sync.Once
	defs     map[string]ui.ScenarioInfo

	explain *explainer // the dashboard's parser traces

	// set by run
	mu      sync.Mutex
	stats   detect.Stats
	scStats scenario.Stats
	done    bool
}

// buildPipeline compiles the content and provisions the datasources of r.
// Nothing runs yet.
func (a *App) buildPipeline(r *resolved) (*pipeline, error) {
	ccfg, err := contentConfig(r.Agent, r.DataDir, a.log)
	if err != nil {
		return nil, err
	}
	if a.community != nil {
		ccfg.Community = a.community
	}
	rt, err := content.Build(ccfg)
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	deps := acquire.Deps{Logger: a.log, StateDir: filepath.Join(r.DataDir, "acquis-state"), Expr: rt.Expr,
		Registerer: a.reg}
	var srcs []*acquire.Source
	if r.Agent.AcquisitionPath != "" || r.Agent.AcquisitionDir != "" {
		paths, err := acquire.Paths(r.Agent.AcquisitionPath, r.Agent.AcquisitionDir)
		if err == nil {
			srcs, err = a.acqReg.LoadFiles(paths, deps)
		}
		if err != nil {
			_ = rt.Close()
			return nil, fmt.Errorf("app: acquisition: %w", err)
		}
	} else {
		ws := Discover(a.opts.discoverRoot, a.opts.lookPath)
		if len(ws) > 0 {
			srcs, err = a.acqReg.LoadBytes("discovered logs", acquisYAML(ws), deps)
			if err != nil {
				_ = rt.Close()
				return nil, fmt.Errorf("app: acquisition: %w", err)
			}
		}
	}
	p := &pipeline{rt: rt, set: acquire.NewSet(srcs, a.acqMetrics, a.log), scenSrc: ccfg.Scenarios, scenHub: ccfg.ScenarioInfo,
		explain: newExplainer(ccfg, a.log), items: ccfg.Items}
	for _, s := range srcs {
		p.watches = append(p.watches, describeSource(s))
	}
	p.runner = detect.New(detect.Config{
		Runtime:       rt,
		ParseWorkers:  r.Agent.ParseWorkers,
		BucketWorkers: max(r.Agent.BucketWorkers, 1),
		Mode:          event.LIVE,
		// A batch closes when the sources have no further line ready: a
		// quiet log's last line is not held back, a busy one is batched.
		CloseIdle: true,
		// Smaller batches than a replay's 512: the events in flight are live
		// heap, and under the daemon's memory limit (memory_limit_mib) every
		// MB of it is taken from the GC's headroom in a burst.
		BatchSize: 128,
		RawLines:  scenario.RawLineLimit{MaxLines: max(r.Agent.RawLines.MaxLines, 0), MaxBytes: r.Agent.RawLines.MaxBytes},
		OnAlert:   a.onAlert,
		OnPoured:  a.latMet.poured,
	})
	return p, nil
}

func describeSource(s *acquire.Source) string {
	what := s.String()
	switch c := s.Config.(type) {
	case *file.Config:
		globs := c.Filenames
		if c.Filename != "" {
			globs = append([]string{c.Filename}, globs...)
		}
		what = "file " + strings.Join(globs, ", ")
	case *journald.Config:
		what = "journald " + strings.Join(c.Filters, " ")
	}
	return fmt.Sprintf("%s (type %s)", what, s.Common.Labels["type"])
}

// run feeds the sources into the runner until srcCtx ends, then lets the
// pipeline drain (every line read is parsed and poured, overflows become
// alerts) and returns.
func (p *pipeline) run(srcCtx context.Context) error {
	st, es, err := p.runner.Run(context.WithoutCancel(srcCtx), func(_ context.Context, emit func(event.Line) error) error {
		err := p.set.Run(srcCtx, emit)
		// With no source left (none configured, or all failed), idle until
		// stopped rather than ending the pipeline.
		<-srcCtx.Done()
		return err
	})
	p.mu.Lock()
	p.stats, p.scStats, p.done = st, es, true
	p.mu.Unlock()
	return err
}

// scenarioStats returns the live bucket counters when the runner can give
// them, else those of the finished run (zero while running).
func (p *pipeline) scenarioStats() (scenario.Stats, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return p.scStats, true
	}
	if l, ok := any(p.runner).(interface{ ScenarioStats() scenario.Stats }); ok {
		return l.ScenarioStats(), false
	}
	return scenario.Stats{}, false
}

// close releases the content (and the explainer's copy of the parsers).
func (p *pipeline) close() error {
	return errors.Join(p.explain.close(), p.rt.Close())
}

// linesRead is how many lines the runner has read.
func (p *pipeline) linesRead() int64 { return p.runner.LinesRead() }

// finished says whether run has returned.
func (p *pipeline) finished() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}
