// Package exprenv is the expr-lang/expr environment of Phalanx: every helper
// function that hub parsers, scenarios, profiles and hubtest assertions call,
// grouped by theme in files (strings.go, json.go, data.go, net.go, ...).
// Names, argument order and results are CrowdSec's (pkg/exprhelpers).
//
// Helpers that need state (data files, stash caches, GeoIP, decision counts,
// DNS, HTTP, clock) get it from Deps: nothing lives in package globals.
// Helpers degrade quietly as upstream's do: bad input or a missing
// dependency gives a zero answer ("" / false / 0 / empty list), not an
// error, except where upstream returns an error (noted on the helper).
//
// Concurrency: an Env and the programs compiled with it are safe for
// concurrent use once built; the helpers are, as long as the injected
// dependencies are. Helpers that write into a map argument (UnmarshalJSON,
// ParseKV, ParseKVLax) write into the caller's event, which one goroutine
// owns at a time.
package exprenv

import (
	"context"
	"hash/maphash"
	"log/slog"
	"net/http"
	"net/netip"
	"reflect"
	"sync"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/phalanx-ids/phalanx/internal/datafile"
	"github.com/phalanx-ids/phalanx/internal/natexpr"
)

// GeoIP looks addresses up in MaxMind-format databases. Implementations
// return nil records (not errors) when no database is loaded.
//
// City records are expected in MaxMind's shape: IPToCountry reads
// record["country"]["iso_code"] (then registered_country, then
// represented_country), as map[string]any or map[string]string.
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

// Resolver is the DNS used by LookupHost and MatchKnownBot (FCrDNS).
// *net.Resolver implements it.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// Deps is what the helpers may use. Every field may be zero.
type Deps struct {
	Data      *datafile.Store
	Stash     *Stash
	GeoIP     GeoIP
	Decisions Decisions
	// Community serves IsInCommunityList; nil: it answers false.
	Community CommunityList
	Logger    *slog.Logger
	Now       func() time.Time
	// Resolver serves LookupHost and MatchKnownBot's reverse DNS checks.
	// nil: those helpers answer empty / no match (no DNS traffic).
	Resolver Resolver
	// DNSTimeout bounds one helper's DNS work (0: 2s).
	DNSTimeout time.Duration
	// HTTP serves HTTPGet/HTTPHead/HTTPPost/HTTPRequest. nil: those helpers
	// return an error (outbound HTTP from expressions is off by default).
	HTTP *http.Client
	// Hostname overrides os.Hostname for the Hostname helper (tests).
	Hostname func() (string, error)
	// PlainFilters turns off the fast data-file filters (the AST patch of
	// natexpr.FilePatch and the RegexpInFile literal prefilter): every entry
	// is then tried in turn. Results are the same either way; tests use it
	// as the reference.
	PlainFilters bool
}

// Env compiles expressions with the helper functions.
type Env struct {
	d    Deps
	log  *slog.Logger
	now  func() time.Time
	opts []expr.Option
	seed maphash.Seed

	jsonPaths sync.Map // string -> []string (split JsonExtract paths)
	xpaths    sync.Map // string -> *xpath.Expr (or error)
	xmlDocs   *docCache
	reCaches  sync.Map // data file name -> *resultCache (RegexpInFile)

	helperOpts []expr.Option      // the helpers alone (no patch)
	helperPtrs map[string]uintptr // helper name -> code pointer of its func
	indexes    sync.Map           // indexKey -> *indexSlot (fileindex.go)
}

// New builds an environment over deps. When deps has both a Stash and a
// clock, the stash takes that clock for its TTLs.
func New(d Deps) *Env {
	e := &Env{d: d, log: d.Logger, now: d.Now, seed: maphash.MakeSeed(), xmlDocs: newDocCache(16)}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.now == nil {
		e.now = time.Now
	}
	if d.Stash != nil && d.Now != nil {
		d.Stash.SetClock(d.Now)
	}
	if e.d.DNSTimeout <= 0 {
		e.d.DNSTimeout = 2 * time.Second
	}
	e.helperPtrs = make(map[string]uintptr)
	for _, f := range e.helpers() {
		e.helperOpts = append(e.helperOpts, expr.Function(f.name, f.fn, f.types...))
		e.helperPtrs[f.name] = reflect.ValueOf(f.fn).Pointer()
	}
	e.opts = append(e.opts, e.helperOpts...)
	if !d.PlainFilters {
		e.opts = append(e.opts, natexpr.FilePatch(e))
	}
	return e
}

// helper is one registered function.
type helper struct {
	name  string
	fn    func(params ...any) (any, error)
	types []any
}

// helpers lists every helper, by theme.
func (e *Env) helpers() []helper {
	var hs []helper
	hs = append(hs, e.stringHelpers()...)
	hs = append(hs, e.jsonHelpers()...)
	hs = append(hs, e.dataHelpers()...)
	hs = append(hs, e.netHelpers()...)
	hs = append(hs, e.urlHelpers()...)
	hs = append(hs, e.timeHelpers()...)
	hs = append(hs, e.stateHelpers()...)
	hs = append(hs, e.collectionHelpers()...)
	hs = append(hs, e.miscHelpers()...)
	hs = append(hs, e.httpHelpers()...)
	hs = append(hs, e.wafHelpers()...)
	hs = append(hs, e.communityHelpers()...)
	return hs
}

// Names returns the names of the registered helpers.
func (e *Env) Names() []string {
	hs := e.helpers()
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.name
	}
	return out
}

// Options returns the expr options registering every helper.
func (e *Env) Options() []expr.Option {
	out := make([]expr.Option, len(e.opts))
	copy(out, e.opts)
	return out
}

// AssertOptions returns the options of hubtest assertions: every helper
// plus basename(path) string (the last element of a path).
func (e *Env) AssertOptions() []expr.Option {
	return append(e.Options(), expr.Function("basename", basename, new(func(string) string)))
}

// Compile compiles src against env (see natexpr.FilePatch for the data-file
// filter rewrite it applies unless Deps.PlainFilters) (a value of the environment's type, e.g.
// a struct with an `expr:"evt"` field or a map) with every helper.
func (e *Env) Compile(src string, env any, extra ...expr.Option) (*vm.Program, error) {
	opts := make([]expr.Option, 0, len(e.opts)+1+len(extra))
	opts = append(opts, expr.Env(env))
	opts = append(opts, e.opts...)
	opts = append(opts, extra...)
	return expr.Compile(src, opts...)
}
