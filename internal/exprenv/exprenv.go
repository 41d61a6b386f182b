// Package exprenv is the expr-lang/expr environment of Phalanx: every helper
// function that hub parsers, scenarios, profiles and hubtest assertions call,
// grouped by theme in files (strings.go, json.go, data.go, net.go, ...).
//
// Helpers that need state (data files, stash caches, GeoIP, decision counts,
// clock) get it from Deps: nothing lives in package globals.
//
// Concurrency: an Env and the programs compiled with it are safe for
// concurrent use once built; the helpers are, as long as the injected
// dependencies are.
package exprenv

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/phalanx-ids/phalanx/internal/datafile"
)

// GeoIP looks addresses up in MaxMind-format databases. Implementations
// return nil records (not errors) when no database is loaded.
type GeoIP interface {
	City(ip netip.Addr) (map[string]any, error)
	ASN(ip netip.Addr) (map[string]any, error)
	Range(ip netip.Addr) (netip.Prefix, bool)
}

// Decisions answers the DB-backed helpers (LAPI profiles). May be nil.
type Decisions interface {
	CountDecisions(value string) (int, error)
	CountDecisionsSince(value string, since time.Time) (int, error)
	ActiveDecisionsCount(value string) (int, error)
	ActiveDecisionsTimeLeft(value string) (time.Duration, error)
}

// Deps is what the helpers may use. Every field may be zero.
type Deps struct {
	Data      *datafile.Store
	Stash     *Stash
	GeoIP     GeoIP
	Decisions Decisions
	Logger    *slog.Logger
	Now       func() time.Time
}

// Env compiles expressions with the helper functions.
type Env struct{}

// New builds an environment over deps.
func New(d Deps) *Env { panic("TODO") }

// Options returns the expr options registering every helper.
func (e *Env) Options() []expr.Option { panic("TODO") }

// Compile compiles src against env (a value of the environment's type, e.g.
// a struct with an `expr:"evt"` field or a map) with every helper.
func (e *Env) Compile(src string, env any, extra ...expr.Option) (*vm.Program, error) {
	panic("TODO")
}

// Stash is a set of named TTL caches (parser `stash:` sections,
// GetFromStash/SetInStash). Safe for concurrent use.
type Stash struct{}

// NewStash returns an empty stash.
func NewStash() *Stash { panic("TODO") }

// Configure creates (or keeps, if it exists) the named cache.
// strategy is "LRU" (default), "LFU" or "ARC".
func (s *Stash) Configure(name string, size int, ttl time.Duration, strategy string) error {
	panic("TODO")
}

// Set stores key=value in the named cache (error if the cache is unknown).
func (s *Stash) Set(name, key, value string) error { panic("TODO") }

// Get returns the value for key in the named cache.
func (s *Stash) Get(name, key string) (string, bool) { panic("TODO") }
