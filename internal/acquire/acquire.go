// Package acquire is live log acquisition: the Datasource contract, a
// Registry of datasource modules by their `source` name, and the loader of
// CrowdSec's acquis.yaml (multi-document, one datasource per document).
//
// The modules live in sub-packages (file, journald, syslog, httppush);
// package builtin registers them all. A loaded acquis.yaml is a Set whose
// Run merges every source into one serialized emit callback, applying each
// source's transform and counting lines in Prometheus metrics.
//
// Flow: decode (strict YAML per module) → provision (Module.New compiles,
// opens nothing long-lived) → Run (binds sockets, opens files, spawns
// processes) → return on ctx cancel. A bad acquis.yaml fails at Load, never
// at run time.
package acquire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/exprenv"
)

// Emit hands one line to the consumer. It may block (backpressure). A
// non-nil error means the consumer is gone: the datasource must stop and
// return that error.
type Emit func(event.Line) error

// Datasource is one configured live input.
//
// Concurrency contract:
//   - Run is called at most once per value. It owns every goroutine, file,
//     socket and process it starts, and has released all of them when it
//     returns.
//   - Run calls emit from goroutines it owns but never concurrently: a
//     datasource that reads several inputs at once serializes its calls.
//     The caller owns emit and whatever is behind it; Run never closes it.
//   - Each emitted Line is owned by the consumer from then on, except that
//     Labels may be one map shared by every line of the source: treat it as
//     read-only.
//   - Tail/server modes run until ctx is cancelled, then return nil. Cat
//     mode returns nil once its input is used up. Run returns a non-nil
//     error when it cannot go on (cannot bind, emit failed, ...).
type Datasource interface {
	Run(ctx context.Context, emit Emit) error
}

// Modes of a datasource.
const (
	ModeTail   = "tail"
	ModeCat    = "cat"
	ModeServer = "server" // alias of tail
)

// Config is a module's decoded configuration: a struct embedding
// CommonConfig with `yaml:",inline"` plus the module's own fields.
type Config interface {
	Common() *CommonConfig
}

// CommonConfig holds the fields every datasource accepts.
type CommonConfig struct {
	Source         string            `yaml:"source"`
	Mode           string            `yaml:"mode"`
	Labels         map[string]string `yaml:"labels"`
	LogLevel       string            `yaml:"log_level"`
	Name           string            `yaml:"name"`
	UniqueID       string            `yaml:"unique_id"`
	UseTimeMachine bool              `yaml:"use_time_machine"`
	Transform      string            `yaml:"transform"`
}

// Common returns c (CommonConfig satisfies Config when embedded).
func (c *CommonConfig) Common() *CommonConfig { return c }

// Deps are the shared dependencies handed to every module constructor.
type Deps struct {
	// Logger (nil: discard).
	Logger *slog.Logger
	// StateDir is where datasources keep their positions (file offsets).
	// Empty: no state is kept (tail starts at the end every time).
	StateDir string
	// Expr compiles transforms (nil: a helper environment with no deps).
	Expr *exprenv.Env
	// Registerer receives the metrics of datasources that serve (the
	// netguard metrics of httppush and syslog); nil: not registered.
	Registerer prometheus.Registerer
}

func (d Deps) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}

// Module is one datasource kind.
type Module struct {
	// Name is the `source` value ("file", "journalctl", ...).
	Name string
	// HitsMetric is the name of its lines counter
	// (e.g. "cs_filesource_hits_total").
	HitsMetric string
	// NewConfig returns a fresh config (a pointer) carrying the module's
	// defaults; the loader decodes the document into it, strictly.
	NewConfig func() Config
	// New validates cfg and builds the datasource. It must not start
	// anything: that is Run's job.
	New func(cfg Config, deps Deps) (Datasource, error)
}

// LinesMetric is the name of the module's lines counter (see Metrics):
// HitsMetric, else phalanx_acquire_<name>_hits_total.
func (m Module) LinesMetric() string {
	if m.HitsMetric != "" {
		return m.HitsMetric
	}
	return "phalanx_acquire_" + m.Name + "_hits_total"
}

// Registry maps `source` names to modules.
//
// Concurrency: register every module before the first Load; after that a
// Registry is read-only and safe for concurrent use.
type Registry struct {
	mods map[string]Module
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{mods: map[string]Module{}} }

// Register adds m. A duplicate or incomplete module is an error.
func (r *Registry) Register(m Module) error {
	switch {
	case m.Name == "":
		return errors.New("acquire: register: module without a name")
	case m.NewConfig == nil || m.New == nil:
		return fmt.Errorf("acquire: register %s: NewConfig and New are required", m.Name)
	}
	if _, dup := r.mods[m.Name]; dup {
		return fmt.Errorf("acquire: register %s: already registered", m.Name)
	}
	r.mods[m.Name] = m
	return nil
}

// Module returns the module registered as name.
func (r *Registry) Module(name string) (Module, bool) {
	m, ok := r.mods[name]
	return m, ok
}

// Names returns the registered source names, sorted.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.mods))
	for n := range r.mods {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ValidateCommon checks the fields every module shares and normalises the
// mode (empty → def, "server" → "tail"). Modules call it from New.
func ValidateCommon(c *CommonConfig, def string) error {
	switch c.Mode {
	case "":
		c.Mode = def
	case ModeServer:
		c.Mode = ModeTail
	case ModeTail, ModeCat:
	default:
		return fmt.Errorf("mode %q: want tail or cat", c.Mode)
	}
	if len(c.Labels) == 0 {
		return errors.New("labels: missing (labels.type is mandatory)")
	}
	if strings.TrimSpace(c.Labels["type"]) == "" {
		return errors.New("labels.type: missing")
	}
	return nil
}
