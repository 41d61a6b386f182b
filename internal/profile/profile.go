// Package profile turns alerts into decisions as CrowdSec's LAPI does with
// profiles.yaml (see README.md): an ordered list of profiles, each with
// OR-ed expr filters on {Alert}, a list of decisions to make, an optional
// duration_expr, notifications, and on_success / on_failure / on_error
// policies. It also reads simulation.yaml (Simulation), which decides which
// scenarios' decisions are simulated.
//
// The package is pure: it evaluates and builds decisions; storing them,
// sending notifications and checking allowlists belong to the caller (the
// LAPI checks internal/allowlist before it calls Decide).
package profile

import (
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/phalanx-ids/phalanx/internal/duration"
	"github.com/phalanx-ids/phalanx/internal/exprenv"
	"github.com/phalanx-ids/phalanx/internal/models"
)

// DefaultDuration is the duration of a decision whose profile gives none.
const DefaultDuration = "4h"

// Origin is the origin of profile decisions; a decision with `origin: X`
// in its profile gets "crowdsec/X".
const Origin = "crowdsec"

//go:embed default_profiles.yaml
var defaultProfiles []byte

// DefaultYAML returns CrowdSec's default profiles (ban Ip and Range alerts
// for 4h), the profiles used when no profiles.yaml is configured.
func DefaultYAML() []byte { return append([]byte(nil), defaultProfiles...) }

// Source is one profiles.yaml content and the name errors give for it.
type Source struct {
	Name string
	Data []byte
}

// Options are what a Set is built with. Every field may be zero.
type Options struct {
	// Env compiles and runs filters and duration_expr. Its
	// Deps.Decisions serves GetDecisionsCount(Alert.GetValue()) and the
	// other decision helpers (the LAPI implements it over the store).
	// nil: exprenv.New(exprenv.Deps{}) (decision helpers answer 0).
	Env *exprenv.Env
	// Simulation says which scenarios are simulated (zero: none).
	Simulation Simulation
	// Logger receives warnings (duration_expr failures, errors handled by
	// on_error) and, for `debug: true` profiles, each evaluation at Info.
	// nil: discarded.
	Logger *slog.Logger
}

// Set is a compiled, ordered list of profiles.
//
// Concurrency: a Set is immutable once built; Decide and Evaluate are safe
// for concurrent use as long as Options.Env's dependencies are. To reload,
// build a new Set and swap it in (a bad profiles.yaml fails Load and the
// old Set keeps running).
type Set struct {
	profiles []*compiled
	sim      Simulation
	log      *slog.Logger
}

type compiled struct {
	cfg       Config
	filters   []*vm.Program
	duration  *vm.Program
	decisions []DecisionConfig // durations defaulted and normalised
}

// exprEnv is what profile expressions see: {Alert}.
type exprEnv struct {
	Alert *models.Alert `expr:"Alert"`
}

// Load parses and compiles the sources in order (all profiles of the first
// source, then the second...). At least one profile is required.
func Load(srcs []Source, opts Options) (*Set, error) {
	var cfgs []Config
	for _, src := range srcs {
		c, err := Parse(src.Name, src.Data)
		if err != nil {
			return nil, err
		}
		cfgs = append(cfgs, c...)
	}
	return Compile(cfgs, opts)
}

// LoadFile loads path, with CrowdSec's `.local` overlay: when path+".local"
// exists, its profiles come first, then those of path.
func LoadFile(path string, opts Options) (*Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	srcs := []Source{{Name: path, Data: data}}
	local, err := os.ReadFile(path + ".local")
	switch {
	case err == nil:
		srcs = append([]Source{{Name: path + ".local", Data: local}}, srcs...)
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("profile: %w", err)
	}
	return Load(srcs, opts)
}

// Default returns the Set of the embedded default profiles.
func Default(opts Options) (*Set, error) {
	return Load([]Source{{Name: "default profiles.yaml", Data: defaultProfiles}}, opts)
}

// Compile validates and compiles parsed profiles: on_success must be
// continue|break, on_failure continue|break|apply, on_error
// apply|continue|break|ignore (or empty, which makes a filter error fail
// the request, as CrowdSec answers HTTP 500); filters must compile and
// return a bool; decisions need a type and a valid duration ("4h", "1d12h";
// default 4h, must be positive); duration_expr must compile.
func Compile(cfgs []Config, opts Options) (*Set, error) {
	if len(cfgs) == 0 {
		return nil, errors.New("profile: no profiles loaded")
	}
	env := opts.Env
	if env == nil {
		env = exprenv.New(exprenv.Deps{})
	}
	s := &Set{sim: opts.Simulation, log: opts.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for i, cfg := range cfgs {
		c, err := compile(cfg, env)
		if err != nil {
			return nil, fmt.Errorf("profile: %s: %w", where(cfg, i), err)
		}
		s.profiles = append(s.profiles, c)
	}
	return s, nil
}

func where(cfg Config, i int) string {
	loc := cfg.File
	if cfg.Line > 0 {
		loc = fmt.Sprintf("%s:%d", cfg.File, cfg.Line)
	}
	name := cfg.Name
	if name == "" {
		name = fmt.Sprintf("#%d", i+1)
	}
	if loc == "" {
		return fmt.Sprintf("profile %q", name)
	}
	return fmt.Sprintf("%s: profile %q", loc, name)
}

func compile(cfg Config, env *exprenv.Env) (*compiled, error) {
	if !oneOf(cfg.OnSuccess, "", "continue", "break") {
		return nil, fmt.Errorf("on_success: %q is not continue or break", cfg.OnSuccess)
	}
	if !oneOf(cfg.OnFailure, "", "continue", "break", "apply") {
		return nil, fmt.Errorf("on_failure: %q is not continue, break or apply", cfg.OnFailure)
	}
	if !oneOf(cfg.OnError, "", "apply", "continue", "break", "ignore") {
		return nil, fmt.Errorf("on_error: %q is not apply, continue, break or ignore", cfg.OnError)
	}
	c := &compiled{cfg: cfg}
	for i, f := range cfg.Filters {
		p, err := env.Compile(f, exprEnv{}, expr.AsBool())
		if err != nil {
			return nil, fmt.Errorf("filter %d: %w", i+1, err)
		}
		c.filters = append(c.filters, p)
	}
	if strings.TrimSpace(cfg.DurationExpr) != "" {
		p, err := env.Compile(cfg.DurationExpr, exprEnv{})
		if err != nil {
			return nil, fmt.Errorf("duration_expr: %w", err)
		}
		c.duration = p
	}
	for i, d := range cfg.Decisions {
		if d.Type == "" {
			return nil, fmt.Errorf("decision %d: type is required", i+1)
		}
		if d.Duration == "" {
			d.Duration = DefaultDuration
		}
		norm, err := normDuration(d.Duration)
		if err != nil {
			return nil, fmt.Errorf("decision %d: %w", i+1, err)
		}
		d.Duration = norm
		c.decisions = append(c.decisions, d)
	}
	return c, nil
}

// normDuration checks a duration (days allowed) and returns it as a Go
// duration string when it uses days ("1d" -> "24h0m0s"), unchanged
// otherwise, so that every decision duration parses with time.ParseDuration.
func normDuration(s string) (string, error) {
	d, err := duration.Positive(s)
	if err != nil {
		return "", err
	}
	if strings.Contains(s, "d") {
		return d.String(), nil
	}
	return s, nil
}

func oneOf(s string, vals ...string) bool {
	for _, v := range vals {
		if s == v {
			return true
		}
	}
	return false
}

// Configs returns the profiles as configured, in evaluation order.
func (s *Set) Configs() []Config {
	out := make([]Config, len(s.profiles))
	for i, p := range s.profiles {
		c := p.cfg
		c.Filters = slices.Clone(c.Filters)
		c.Decisions = slices.Clone(c.Decisions)
		c.Notifications = slices.Clone(c.Notifications)
		out[i] = c
	}
	return out
}

// Simulation returns the simulation settings the Set applies.
func (s *Set) Simulation() Simulation { return s.sim }
