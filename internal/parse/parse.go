// Package parse loads CrowdSec-format parser YAML (nodes in stages) and runs
// events through it: filter, grok, statics, children, whitelists, stash,
// data, onsuccess, with the hub's semantics (inventory section 3).
//
// Concurrency: Load builds an immutable Pipeline; Parse is safe for
// concurrent use on distinct events (stash and counters are synchronised).
package parse

import (
	"log/slog"

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
}

// Options are the shared services a pipeline is built with.
type Options struct {
	Grok   *grok.Library   // pattern library; per-node pattern_syntax is added to it
	Expr   *exprenv.Env    // expression environment with the helpers
	Enrich *enrich.Set     // enrichment methods (statics `method:`)
	Data   *datafile.Store // data files (`data:` sections)
	Stash  *exprenv.Stash  // stash caches (`stash:` sections)
	Logger *slog.Logger
}

// Tracer observes a pipeline run (hubtest dumps, explain). NodeDone is called
// after each top-level node of a stage ran on evt, success or not; evt must
// not be kept (Clone it).
type Tracer interface {
	NodeDone(stage, node string, success bool, evt *event.Event)
}

// Pipeline is a compiled, ordered list of stages.
type Pipeline struct{}

// Load compiles files (sorted by stage, then file base name, then document
// order). Errors name the file, the line and the field.
func Load(files []File, opts Options) (*Pipeline, error) { panic("TODO") }

// FilesFromDir lists the parser files under root/<stage>/...(*.yaml|*.yml).
func FilesFromDir(root string) ([]File, error) { panic("TODO") }

// Stages returns the stage names, sorted.
func (p *Pipeline) Stages() []string { panic("TODO") }

// Parse runs evt through the stages; it returns true when the event went
// through every stage (evt.Process is then true). tr may be nil.
func (p *Pipeline) Parse(evt *event.Event, tr Tracer) bool { panic("TODO") }
