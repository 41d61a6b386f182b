package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/spf13/cobra"

	"github.com/phalanx-ids/phalanx/internal/alertctx"
	"github.com/phalanx-ids/phalanx/internal/content"
	"github.com/phalanx-ids/phalanx/internal/defaults"
	"github.com/phalanx-ids/phalanx/internal/hub"
	"github.com/phalanx-ids/phalanx/internal/parse"
	"github.com/phalanx-ids/phalanx/internal/scenario"
)

// contentFlags select the detection content: the embedded defaults, or a
// hub tree (all of it, or the collections named).
type contentFlags struct {
	hubDir      string
	collections []string
	dataDir     string
}

func (f *contentFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.hubDir, "hub", "", "hub directory (parsers/, scenarios/, patterns/, data/); default: the embedded content")
	c.Flags().StringArrayVar(&f.collections, "collection", nil, "hub collection to load (repeatable; needs --hub); default: every parser of the hub")
	c.Flags().StringVar(&f.dataDir, "data-dir", "", "data directory (data files, GeoLite2-City.mmdb, GeoLite2-ASN.mmdb)")
}

// config turns the flags into a content.Config; scenarios are loaded only
// when withScenarios is set (explain does not need them).
func (f *contentFlags) config(a *app, withScenarios bool) (content.Config, error) {
	cfg := content.Config{DataDir: f.dataDir, Logger: a.logger()}
	if f.hubDir == "" {
		if len(f.collections) > 0 {
			return cfg, &usageError{fmt.Errorf("--collection needs --hub")}
		}
		files, err := defaults.Parsers()
		if err != nil {
			return cfg, err
		}
		cfg.Parsers = files
		if withScenarios {
			if cfg.Scenarios, cfg.ScenarioInfo, err = defaults.Scenarios(); err != nil {
				return cfg, err
			}
			if cfg.Contexts, err = defaults.Contexts(); err != nil {
				return cfg, err
			}
		}
		return cfg, nil
	}
	idx, err := hub.Open(f.hubDir)
	if err != nil {
		return cfg, err
	}
	cfg.PatternDirs = []string{filepath.Join(f.hubDir, "patterns")}
	if st, err := os.Stat(filepath.Join(f.hubDir, "data")); err == nil && st.IsDir() {
		cfg.DataMirror = filepath.Join(f.hubDir, "data")
	}
	var parsers, posts, scens, ctxs []*hub.Item
	if len(f.collections) > 0 {
		set, err := idx.ResolveCollections(f.collections...)
		if err != nil {
			return cfg, err
		}
		parsers, posts, scens, ctxs = set.Parsers, set.PostOverflows, set.Scenarios, set.Contexts
	} else {
		all := func(typ string) []*hub.Item {
			var out []*hub.Item
			for _, n := range idx.Names(typ) {
				it, _ := idx.Get(typ, n)
				out = append(out, it)
			}
			return out
		}
		parsers, posts, scens, ctxs = all(hub.Parsers), all(hub.PostOverflows), all(hub.Scenarios), all(hub.Contexts)
	}
	cfg.Parsers = itemFiles(idx, parsers)
	if withScenarios {
		cfg.PostOverflows = itemFiles(idx, posts)
		for _, it := range ctxs {
			cfg.Contexts = append(cfg.Contexts, alertctx.Source{Name: idx.FilePath(it)})
		}
		cfg.ScenarioInfo = map[string]scenario.HubInfo{}
		for _, it := range scens {
			p := idx.FilePath(it)
			h, err := hub.Hash(p)
			if err != nil {
				return cfg, err
			}
			cfg.Scenarios = append(cfg.Scenarios, scenario.Source{Name: p})
			cfg.ScenarioInfo[it.Name] = scenario.HubInfo{Hash: h, Version: it.Version}
		}
	}
	return cfg, nil
}

func itemFiles(idx *hub.Index, items []*hub.Item) []parse.File {
	out := make([]parse.File, 0, len(items))
	for _, it := range items {
		p := idx.FilePath(it)
		st := it.Stage
		if st == "" {
			st = hub.StageOf(p)
		}
		out = append(out, parse.File{Stage: st, Path: p})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Stage != out[j].Stage {
			return out[i].Stage < out[j].Stage
		}
		return filepath.Base(out[i].Path) < filepath.Base(out[j].Path)
	})
	return out
}
