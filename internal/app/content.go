package app

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/phalanx-ids/phalanx/internal/alertctx"
	"github.com/phalanx-ids/phalanx/internal/content"
	"github.com/phalanx-ids/phalanx/internal/defaults"
	"github.com/phalanx-ids/phalanx/internal/hub"
	"github.com/phalanx-ids/phalanx/internal/parse"
	"github.com/phalanx-ids/phalanx/internal/scenario"
)

// contentConfig selects the detection content: the embedded defaults, or a
// hub tree (every item, or the collections named).
func contentConfig(a AgentConfig, dataDir string, log *slog.Logger) (content.Config, error) {
	cfg := content.Config{DataDir: filepath.Join(dataDir, "data"), Logger: log, Now: time.Now}
	if a.HubDir == "" {
		var err error
		if cfg.Parsers, err = defaults.Parsers(); err != nil {
			return cfg, err
		}
		if cfg.Scenarios, cfg.ScenarioInfo, err = defaults.Scenarios(); err != nil {
			return cfg, err
		}
		if cfg.Contexts, err = defaults.Contexts(); err != nil {
			return cfg, err
		}
		return cfg, nil
	}
	idx, err := hub.Open(a.HubDir)
	if err != nil {
		return cfg, fmt.Errorf("app: hub: %w", err)
	}
	cfg.PatternDirs = []string{filepath.Join(a.HubDir, "patterns")}
	if st, err := os.Stat(filepath.Join(a.HubDir, "data")); err == nil && st.IsDir() {
		cfg.DataMirror = filepath.Join(a.HubDir, "data")
	}
	var parsers, posts, scens, ctxs []*hub.Item
	if len(a.Collections) > 0 {
		set, err := idx.ResolveCollections(a.Collections...)
		if err != nil {
			return cfg, fmt.Errorf("app: hub: %w", err)
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
	cfg.PostOverflows = itemFiles(idx, posts)
	for _, it := range ctxs {
		cfg.Contexts = append(cfg.Contexts, alertctx.Source{Name: idx.FilePath(it)})
	}
	cfg.ScenarioInfo = map[string]scenario.HubInfo{}
	for _, it := range scens {
		p := idx.FilePath(it)
		h, err := hub.Hash(p)
		if err != nil {
			return cfg, fmt.Errorf("app: hub: %w", err)
		}
		cfg.Scenarios = append(cfg.Scenarios, scenario.Source{Name: p})
		cfg.ScenarioInfo[it.Name] = scenario.HubInfo{Hash: h, Version: it.Version}
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
