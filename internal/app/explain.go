package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/phalanx-ids/phalanx/internal/content"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/explain"
	"github.com/phalanx-ids/phalanx/internal/models"
)

// explainIdle is how long the explainer keeps its parsers after its last
// use (the dashboard's alert pages).
const explainIdle = 5 * time.Minute

// explainer traces raw log lines through the parsers of one pipeline
// generation, for the dashboard's alert page. It compiles its own copy of
// the parsers on first use (so tracing never touches the live pipeline's
// counters or stash caches) and releases it after explainIdle unused.
//
// Concurrency: lines may be called from any number of goroutines (one at a
// time runs); close may be called at any time, once.
type explainer struct {
	cfg  content.Config
	log  *slog.Logger
	idle time.Duration // explainIdle

	mu     sync.Mutex
	rt     *content.Runtime
	risks  map[string]int
	last   time.Time
	timer  *time.Timer
	closed bool
}

func newExplainer(cfg content.Config, log *slog.Logger) *explainer {
	cfg.Scenarios = nil // parsers only
	return &explainer{cfg: cfg, log: log, idle: explainIdle}
}

var errExplainClosed = errors.New("app: explain: content replaced")

// lines traces each line through the parsers.
func (x *explainer) lines(ctx context.Context, ls []*models.RawLine) ([]explain.Result, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return nil, errExplainClosed
	}
	if x.rt == nil {
		rt, err := content.Build(x.cfg)
		if err != nil {
			return nil, fmt.Errorf("app: explain: %w", err)
		}
		risks, err := explain.InjectionRisks(x.cfg)
		if err != nil {
			x.log.Warn("app: explain: injection lint", "err", err)
		}
		x.rt, x.risks = rt, risks
		if x.timer == nil {
			x.timer = time.AfterFunc(x.idle, x.expire)
		} else {
			x.timer.Reset(x.idle)
		}
	}
	x.last = time.Now()
	out := make([]explain.Result, 0, len(ls))
	for _, l := range ls {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t, _ := time.Parse(time.RFC3339Nano, l.Time)
		labels := make(map[string]string, len(l.Labels))
		for k, v := range l.Labels {
			labels[k] = v
		}
		module := l.Module
		if module == "" {
			module = "file"
		}
		out = append(out, explain.Line(x.rt.Parsers, event.Line{Raw: l.Raw, Src: l.Source, Module: module, Labels: labels,
			Time: t, Process: true}, x.risks))
	}
	return out, nil
}

// expire releases the parsers when unused for x.idle.
func (x *explainer) expire() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.rt == nil {
		return
	}
	if left := x.idle - time.Since(x.last); left > 0 {
		x.timer.Reset(left)
		return
	}
	if err := x.rt.Close(); err != nil {
		x.log.Warn("app: explain: release", "err", err)
	}
	x.rt, x.risks = nil, nil
}

// close releases the parsers for good.
func (x *explainer) close() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.closed = true
	if x.timer != nil {
		x.timer.Stop()
	}
	if x.rt == nil {
		return nil
	}
	err := x.rt.Close()
	x.rt = nil
	return err
}

// explainLines traces raw lines with the running content (the dashboard's
// Explain); an error when no agent runs here.
func (a *App) explainLines(ctx context.Context, ls []*models.RawLine) ([]explain.Result, error) {
	a.mu.Lock()
	p := a.pipe
	if a.pending != nil {
		p = a.pending
	}
	a.mu.Unlock()
	if p == nil {
		return nil, errors.New("no agent runs in this process: no parsers to explain with")
	}
	return p.explain.lines(ctx, ls)
}
