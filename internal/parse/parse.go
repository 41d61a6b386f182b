// Package parse loads CrowdSec-format parser YAML (nodes in stages) and runs
// events through it: filter, grok, statics, children, whitelists, stash,
// data, onsuccess, with the hub's semantics (inventory section 3).
// Postoverflows use the same code with their own stages (s00-enrich,
// s01-whitelist) on overflow events.
//
// Concurrency: Load builds an immutable Pipeline; Parse is safe for
// concurrent use on distinct events (stash and counters are synchronised).
// Load mutates Options.Grok (pattern_syntax) and must not run concurrently
// with other users of that library.
package parse

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phalanx-ids/phalanx/internal/datafile"
	"github.com/phalanx-ids/phalanx/internal/enrich"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/exprenv"
	"github.com/phalanx-ids/phalanx/internal/grok"
)

// File is one parser file and the stage it belongs to (its folder name,
// e.g. "s01-parse").
type File struct {
	Stage string
	Path  string
	// Content, when not nil, is the file's text (embedded content); Path
	// then only names it in errors and traces.
	Content []byte
}

// Options are the shared services a pipeline is built with.
type Options struct {
	Grok   *grok.Library   // pattern library; per-node pattern_syntax is added to it
	Expr   *exprenv.Env    // expression environment with the helpers
	Enrich *enrich.Set     // enrichment methods (statics `method:`)
	Data   *datafile.Store // data files (`data:` sections)
	Stash  *exprenv.Stash  // stash caches (`stash:` sections)
	Logger *slog.Logger
	// Schema numbers the evt.Parsed, Meta and Enriched fields the pipeline writes and reads
	// (grok captures, statics, natively compiled reads): nil, Load makes
	// one. Share one between the pipelines of one content (parsers,
	// postoverflows) and create events with it (Pipeline.Schema().New).
	Schema *event.Schema
	// Now is the clock giving Time to events that have none (nil: time.Now).
	// A Session reads it once, for the first such event it parses: the
	// events of a batch get the time its parsing began.
	Now func() time.Time
}

// Tracer observes a pipeline run (hubtest dumps, explain). NodeDone is called
// after each top-level node of a stage ran on evt, success or not; evt must
// not be kept (Clone it). A Tracer may also implement DetailTracer.
type Tracer interface {
	NodeDone(stage, node string, success bool, evt *event.Event)
}

// Pipeline is a compiled, ordered list of stages.
type Pipeline struct {
	stages []string
	nodes  [][]*node // per stage, in file then document order
	all    []*node   // every node, children included, by node.id
	logger *slog.Logger
	stash  *exprenv.Stash
	now    func() time.Time
	pool   sync.Pool // *runState
	schema *event.Schema

	parsed, unparsed atomic.Uint64
}

// Load compiles files (sorted by stage, then file base name, then document
// order). Errors name the file, the line and the field. Documents whose
// format is outside [1.0, 3.0] are skipped with an error log, as CrowdSec
// does; files not ending in .yaml/.yml are skipped.
func Load(files []File, opts Options) (*Pipeline, error) {
	if opts.Expr == nil {
		return nil, errors.New("parse: options: Expr is nil")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	sorted := append([]File(nil), files...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if a.Stage != b.Stage {
			return a.Stage < b.Stage
		}
		if ba, bb := filepath.Base(a.Path), filepath.Base(b.Path); ba != bb {
			return ba < bb
		}
		return a.Path < b.Path
	})
	if opts.Schema == nil {
		opts.Schema = event.NewSchema()
	}
	p := &Pipeline{logger: logger, stash: opts.Stash, now: opts.Now, schema: opts.Schema}
	if p.now == nil {
		p.now = time.Now
	}
	byStage := map[string][]*node{}
	for _, f := range sorted {
		if !strings.HasSuffix(f.Path, ".yaml") && !strings.HasSuffix(f.Path, ".yml") {
			logger.Warn("parse: skipping non-yaml file", "file", f.Path)
			continue
		}
		if f.Stage == "" {
			return nil, fmt.Errorf("parse: %s: no stage", f.Path)
		}
		data := f.Content
		if data == nil {
			var err error
			if data, err = os.ReadFile(f.Path); err != nil {
				return nil, fmt.Errorf("parse: %w", err)
			}
		}
		cfgs, err := DecodeFile(f.Path, data)
		if err != nil {
			return nil, err
		}
		c := &compiler{opts: opts, logger: logger, file: f.Path}
		for i := range cfgs {
			cfg := &cfgs[i]
			ok, err := checkFormat(cfg.Format)
			if err != nil {
				return nil, c.errf(cfg.pos.at("format"), cfg.Name, "format", "%v", err)
			}
			if !ok {
				logger.Error("parse: node format not supported, skipping", "file", f.Path, "node", cfg.Name, "format", cfg.Format)
				continue
			}
			n, err := c.node(cfg, f.Stage, "")
			if err != nil {
				return nil, err
			}
			byStage[f.Stage] = append(byStage[f.Stage], n)
		}
	}
	for s := range byStage {
		p.stages = append(p.stages, s)
	}
	sort.Strings(p.stages)
	for _, s := range p.stages {
		p.nodes = append(p.nodes, byStage[s])
	}
	for _, stage := range p.nodes {
		for _, top := range stage {
			top.walk(func(n *node) {
				n.id = len(p.all)
				p.all = append(p.all, n)
			})
		}
	}
	p.pool.New = func() any { return &runState{p: p, counts: make([]nodeCount, len(p.all))} }
	return p, nil
}

// FilesFromDir lists the parser files under root/<stage>/...(*.yaml|*.yml).
func FilesFromDir(root string) ([]File, error) {
	var out []File
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if len(parts) < 2 {
			return nil // a file directly under root has no stage
		}
		out = append(out, File{Stage: parts[0], Path: path})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("parse: list %s: %w", root, err)
	}
	return out, nil
}

// Stages returns the stage names, sorted.
func (p *Pipeline) Schema() *event.Schema { return p.schema }

// Stages returns the stage names in order.
func (p *Pipeline) Stages() []string { return append([]string(nil), p.stages...) }

// Parse runs evt through the stages; it returns true when the event went
// through every stage (evt.Process is then true). tr may be nil.
func (p *Pipeline) Parse(evt *event.Event, tr Tracer) bool {
	rs := p.pool.Get().(*runState)
	rs.clock = time.Time{}
	ok := rs.parseOne(evt, tr)
	rs.flush()
	p.pool.Put(rs)
	return ok
}

// Session is a pipeline's scratch held by one goroutine for a run of
// events (a batch): Parse without taking it from and giving it back to
// the pipeline's pool for every event. Not safe for concurrent use; Close
// gives it back, after which it must not be used. The session's counts
// (Stats) are added to the pipeline's at Close.
type Session struct{ rs *runState }

// Session returns a session of p.
func (p *Pipeline) Session() Session {
	rs := p.pool.Get().(*runState)
	rs.clock = time.Time{}
	return Session{rs: rs}
}

// Parse is Pipeline.Parse.
func (s Session) Parse(evt *event.Event, tr Tracer) bool { return s.rs.parseOne(evt, tr) }

// Close adds the session's counts to the pipeline's and gives its scratch
// back.
func (s Session) Close() {
	s.rs.flush()
	s.rs.p.pool.Put(s.rs)
}

func (rs *runState) parseOne(evt *event.Event, tr Tracer) bool {
	p := rs.p
	if tr != nil {
		rs.dt, _ = tr.(DetailTracer)
	}
	ok := p.parse(rs, evt, tr)
	if tr != nil {
		rs.dt, rs.path = nil, rs.path[:0]
	}
	if ok {
		rs.parsed++
	} else {
		rs.unparsed++
	}
	return ok
}

func (p *Pipeline) stageIndex(s string) int {
	for i, x := range p.stages {
		if x == s {
			return i
		}
	}
	return -1
}

func (p *Pipeline) parse(rs *runState, evt *event.Event, tr Tracer) bool {
	if evt.Stage == "" && len(p.stages) > 0 {
		evt.Stage = p.stages[0]
	}
	evt.Process = false
	if evt.Time.IsZero() {
		if rs.clock.IsZero() {
			rs.clock = p.now().UTC()
		}
		evt.Time = rs.clock
	}
	evt.Init()
	rs.forget()
	for i, stage := range p.stages {
		if evt.Stage != stage { // (stage names are unique: equal, its index is i)
			if p.stageIndex(evt.Stage) > i {
				continue // injected past this stage
			}
			return false // the previous stage did not reach next_stage
		}
		rs.stage = stage
		stageOK := false
		for _, n := range p.nodes[i] {
			ret, err := n.process(rs, evt)
			if err != nil {
				p.logger.Error("parse: node failed, event dropped", "stage", stage, "node", n.name, "error", err)
				evt.Process = false
				return false
			}
			if tr != nil {
				tr.NodeDone(stage, n.name, ret, evt)
				rs.forget()
			}
			if ret {
				stageOK = true
				if n.nextStage {
					break
				}
			}
			if evt.Stage != stage {
				break
			}
		}
		if !stageOK {
			return false
		}
	}
	evt.Process = true
	return true
}

// NodeStats are the counters of the named nodes called Name in Stage
// (children included; unnamed children are "child-<parent>").
type NodeStats struct {
	Stage, Name  string
	Hits, OK, KO uint64
}

// Stats are a pipeline's counters (cs_parser_hits_ok/ko_total and
// cs_node_hits*_total in CrowdSec).
type Stats struct {
	Parsed, Unparsed uint64
	Nodes            []NodeStats // stage order, then first appearance
}

// Stats returns a snapshot of the counters; safe to call while parsing.
// The events of a Session still open are not counted yet (Session.Close).
func (p *Pipeline) Stats() Stats {
	st := Stats{Parsed: p.parsed.Load(), Unparsed: p.unparsed.Load()}
	idx := map[[2]string]int{}
	for i, stage := range p.stages {
		for _, top := range p.nodes[i] {
			top.walk(func(n *node) {
				if n.name == "" {
					return
				}
				k := [2]string{stage, n.name}
				j, ok := idx[k]
				if !ok {
					j = len(st.Nodes)
					idx[k] = j
					st.Nodes = append(st.Nodes, NodeStats{Stage: stage, Name: n.name})
				}
				st.Nodes[j].Hits += n.hits.Load()
				st.Nodes[j].OK += n.ok.Load()
				st.Nodes[j].KO += n.ko.Load()
			})
		}
	}
	return st
}

// NodeInfo describes a top-level node (for explain and listings).
type NodeInfo struct {
	Stage, Name, File string
	Line              int
}

// Nodes lists the top-level nodes in run order.
func (p *Pipeline) Nodes() []NodeInfo {
	var out []NodeInfo
	for i, stage := range p.stages {
		for _, n := range p.nodes[i] {
			out = append(out, NodeInfo{Stage: stage, Name: n.name, File: n.file, Line: n.line})
		}
	}
	return out
}
