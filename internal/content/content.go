// Package content assembles the detection content (grok patterns, data files,
// expression helpers, enrichers, parsers, postoverflows) into a runtime that
// replay, explain, hubtest and the daemon share.
//
// Decode -> provision -> validate happens in Build: every pattern, expression
// and file is compiled before a Runtime is returned, so nothing fails later.
//
// Concurrency: a Runtime is immutable after Build and safe for concurrent
// use (its parsers are; see package parse).
package content

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/phalanx-ids/phalanx/internal/alertctx"
	"github.com/phalanx-ids/phalanx/internal/datafile"
	"github.com/phalanx-ids/phalanx/internal/enrich"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/exprenv"
	"github.com/phalanx-ids/phalanx/internal/grok"
	"github.com/phalanx-ids/phalanx/internal/parse"
	"github.com/phalanx-ids/phalanx/internal/scenario"
)

// Config says what to load.
type Config struct {
	// PatternDirs are grok pattern folders loaded after the embedded base patterns.
	PatternDirs []string
	// Parsers and PostOverflows are the parser files, with their stages.
	Parsers       []parse.File
	PostOverflows []parse.File
	// Scenarios are the scenario files; ScenarioInfo gives the hash and
	// version of each scenario by name (they go into alerts).
	Scenarios    []scenario.Source
	ScenarioInfo map[string]scenario.HubInfo
	// Contexts are alert context files (the hub's contexts/).
	Contexts []alertctx.Source
	// DataDir holds installed data files and GeoIP databases; DataMirror, if
	// set, is a hub data tree where missing files are looked up by source_url.
	DataDir    string
	DataMirror string
	// ReverseDNS enables the reverse_dns enricher.
	ReverseDNS bool
	// Community is the community blocklist (IsInCommunityList, the
	// CommunityList enricher); nil: nothing is listed.
	Community exprenv.CommunityList
	// Items are the hub items selected (Select, SelectInstalled), for
	// the usage metrics' hub_items; loading does not use them.
	Items  []Item
	Now    func() time.Time
	Logger *slog.Logger
}

// Item is a hub item of the content: its type (parsers, scenarios,
// postoverflows, contexts, collections...), name, version and status as
// CrowdSec reports it (official, custom: a local file, tainted: edited).
type Item struct {
	Type, Name, Version, Status string
}

// Hub item statuses.
const (
	StatusOfficial = "official"
	StatusCustom   = "custom"
	StatusTainted  = "tainted"
)

// Runtime is loaded content.
type Runtime struct {
	Parsers       *parse.Pipeline
	PostOverflows *parse.Pipeline // nil when no postoverflow is loaded
	Scenarios     *scenario.Set   // nil when no scenario is loaded
	Context       *alertctx.Set   // nil when no context is loaded
	Expr          *exprenv.Env
	Enrich        *enrich.Set
	Data          *datafile.Store
	Stash         *exprenv.Stash
	Logger        *slog.Logger
}

// Build loads and compiles everything cfg names.
func Build(cfg Config) (*Runtime, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	data := datafile.NewStore(cfg.DataDir)
	if cfg.DataMirror != "" {
		data.SetMirror(cfg.DataMirror)
	}
	en, err := enrich.New(enrich.Config{DataDir: cfg.DataDir, ReverseDNS: cfg.ReverseDNS, Now: cfg.Now, Logger: cfg.Logger,
		Community: cfg.Community})
	if err != nil {
		return nil, fmt.Errorf("content: %w", err)
	}
	stash := exprenv.NewStash()
	env := exprenv.New(exprenv.Deps{Data: data, Stash: stash, GeoIP: en.GeoIP(), Logger: cfg.Logger, Now: cfg.Now,
		Community: cfg.Community})
	rt := &Runtime{Expr: env, Enrich: en, Data: data, Stash: stash, Logger: cfg.Logger}

	newLib := func() (*grok.Library, error) {
		lib := grok.NewLibrary()
		for _, d := range cfg.PatternDirs {
			if err := lib.LoadDir(d); err != nil {
				return nil, err
			}
		}
		return lib, nil
	}
	lib, err := newLib()
	if err != nil {
		return nil, fmt.Errorf("content: %w", err)
	}
	opts := parse.Options{Grok: lib, Expr: env, Enrich: en, Data: data, Stash: stash, Logger: cfg.Logger,
		Schema: event.NewSchema()}
	if rt.Parsers, err = parse.Load(cfg.Parsers, opts); err != nil {
		return nil, fmt.Errorf("content: parsers: %w", err)
	}
	if len(cfg.PostOverflows) > 0 {
		// Postoverflows have a grok library of their own, as upstream.
		if opts.Grok, err = newLib(); err != nil {
			return nil, fmt.Errorf("content: %w", err)
		}
		if rt.PostOverflows, err = parse.Load(cfg.PostOverflows, opts); err != nil {
			return nil, fmt.Errorf("content: postoverflows: %w", err)
		}
	}
	opts.Schema.Freeze() // scenarios look names up while events flow
	if len(cfg.Contexts) > 0 {
		set, warns, err := alertctx.Load(cfg.Contexts, env, 0)
		if err != nil {
			return nil, fmt.Errorf("content: %w", err)
		}
		for _, w := range warns {
			cfg.Logger.Info("content: alert context expression skipped", "error", w)
		}
		rt.Context = set
	}
	if len(cfg.Scenarios) > 0 {
		rt.Scenarios, err = scenario.LoadSources(cfg.Scenarios, scenario.Options{Compiler: env, Data: data, Hub: cfg.ScenarioInfo,
			Schema: opts.Schema})
		if err != nil {
			return nil, fmt.Errorf("content: %w", err)
		}
	}
	return rt, nil
}

// Close releases the enrichers' databases.
func (r *Runtime) Close() error { return r.Enrich.Close() }
