package content

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/phalanx-ids/phalanx/internal/alertctx"
	"github.com/phalanx-ids/phalanx/internal/defaults"
	"github.com/phalanx-ids/phalanx/internal/hub"
	"github.com/phalanx-ids/phalanx/internal/hub/install"
	"github.com/phalanx-ids/phalanx/internal/parse"
	"github.com/phalanx-ids/phalanx/internal/scenario"
)

// Select returns the files of the detection content: Phalanx's embedded
// defaults when hubDir is empty, else a hub tree — the collections named
// (resolved recursively) or, with none, every item of the hub. Scenarios,
// postoverflows and alert contexts are included only when withScenarios is
// set (explain needs parsers only). The caller adds DataDir, Logger, Now.
func Select(hubDir string, collections []string, withScenarios bool) (Config, error) {
	var cfg Config
	if hubDir == "" {
		if len(collections) > 0 {
			return cfg, fmt.Errorf("content: collections need a hub directory")
		}
		var err error
		if cfg.Parsers, err = defaults.Parsers(); err != nil {
			return cfg, err
		}
		if withScenarios {
			if cfg.Scenarios, cfg.ScenarioInfo, err = defaults.Scenarios(); err != nil {
				return cfg, err
			}
			for name, info := range cfg.ScenarioInfo {
				cfg.Items = append(cfg.Items, Item{Type: hub.Scenarios, Name: name, Version: info.Version, Status: StatusOfficial})
			}
			sortItems(cfg.Items)
			if cfg.Contexts, err = defaults.Contexts(); err != nil {
				return cfg, err
			}
		}
		return cfg, nil
	}
	idx, err := hub.Open(hubDir)
	if err != nil {
		return cfg, err
	}
	cfg.PatternDirs = []string{filepath.Join(hubDir, "patterns")}
	if st, err := os.Stat(filepath.Join(hubDir, "data")); err == nil && st.IsDir() {
		cfg.DataMirror = filepath.Join(hubDir, "data")
	}
	var parsers, posts, scens, ctxs []*hub.Item
	if len(collections) > 0 {
		set, err := idx.ResolveCollections(collections...)
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
	official := func(typ string, its []*hub.Item) {
		for _, it := range its {
			cfg.Items = append(cfg.Items, Item{Type: typ, Name: it.Name, Version: it.Version, Status: StatusOfficial})
		}
	}
	official(hub.Parsers, parsers)
	if !withScenarios {
		sortItems(cfg.Items)
		return cfg, nil
	}
	official(hub.PostOverflows, posts)
	official(hub.Scenarios, scens)
	official(hub.Contexts, ctxs)
	for _, c := range collections {
		if it, ok := idx.Get(hub.Collections, c); ok {
			official(hub.Collections, []*hub.Item{it})
		}
	}
	sortItems(cfg.Items)
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
	return cfg, nil
}

// itemFiles lists hub items as parser files, sorted by stage then file name.
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
	sortFiles(out)
	return out
}

// sortFiles orders parser files as the engine loads them: by stage, then
// by file name.
func sortFiles(files []parse.File) {
	sort.SliceStable(files, func(i, j int) bool {
		if files[i].Stage != files[j].Stage {
			return files[i].Stage < files[j].Stage
		}
		return filepath.Base(files[i].Path) < filepath.Base(files[j].Path)
	})
}

// SelectInstalled returns the content installed under dataDir by
// `phalanx hub` and `phalanx setup` (see package install): every installed
// parser, postoverflow, scenario and alert context, local items included,
// with the grok patterns of <data_dir>/hub/patterns. ok is false when no
// item is installed: callers then run the embedded defaults. A broken
// link among the installed items is an error. The caller sets DataDir
// (<data_dir>/data), Logger and Now.
func SelectInstalled(dataDir string, withScenarios bool) (cfg Config, ok bool, err error) {
	inst := install.New(dataDir, nil)
	st, err := inst.Scan()
	if err != nil {
		return cfg, false, fmt.Errorf("content: %w", err)
	}
	var parsers, posts []parse.File
	for _, s := range st.Installed("") {
		if s.Broken {
			return cfg, false, fmt.Errorf("content: installed %s %s: %s leads to no file (phalanx %s install --force %s)", s.Type, s.Name, s.Path, s.Type, s.Name)
		}
		if withScenarios || s.Type == hub.Parsers {
			cfg.Items = append(cfg.Items, installedItem(s))
		}
		switch s.Type {
		case hub.Parsers:
			parsers = append(parsers, parse.File{Stage: filepath.Base(filepath.Dir(s.Path)), Path: s.Path})
		case hub.PostOverflows:
			posts = append(posts, parse.File{Stage: filepath.Base(filepath.Dir(s.Path)), Path: s.Path})
		case hub.Scenarios:
			if cfg.ScenarioInfo == nil {
				cfg.ScenarioInfo = map[string]scenario.HubInfo{}
			}
			v := s.LocalVersion
			if s.Tainted {
				v = "?" // as CrowdSec reports an edited scenario
			}
			cfg.Scenarios = append(cfg.Scenarios, scenario.Source{Name: s.Path})
			cfg.ScenarioInfo[s.Name] = scenario.HubInfo{Hash: s.Hash, Version: v}
		case hub.Contexts:
			cfg.Contexts = append(cfg.Contexts, alertctx.Source{Name: s.Path})
		default:
			continue
		}
		ok = true
	}
	if !ok {
		return Config{}, false, nil
	}
	if st, err := os.Stat(inst.PatternsPath()); err == nil && st.IsDir() {
		cfg.PatternDirs = []string{inst.PatternsPath()}
	}
	sortFiles(parsers)
	sortFiles(posts)
	sortItems(cfg.Items)
	cfg.Parsers = parsers
	if !withScenarios {
		cfg.Scenarios, cfg.ScenarioInfo, cfg.Contexts = nil, nil, nil
		return cfg, true, nil
	}
	cfg.PostOverflows = posts
	return cfg, true, nil
}

// installedItem is an installed item as the usage metrics report it.
func installedItem(s *install.ItemState) Item {
	it := Item{Type: s.Type, Name: s.Name, Version: s.LocalVersion, Status: StatusOfficial}
	switch {
	case s.Local:
		it.Status = StatusCustom
	case s.Tainted:
		it.Status = StatusTainted
	}
	return it
}

// sortItems orders items by type, then name.
func sortItems(items []Item) {
	sort.Slice(items, func(i, j int) bool {
		if items[i].Type != items[j].Type {
			return items[i].Type < items[j].Type
		}
		return items[i].Name < items[j].Name
	})
}
