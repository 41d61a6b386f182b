package app

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/phalanx-ids/phalanx/internal/content"
)

// contentConfig selects the detection content: a hub tree (every item, or
// the collections named) when agent.hub_dir is set, else the items
// installed under the data dir, else the embedded defaults.
func contentConfig(a AgentConfig, dataDir string, log *slog.Logger) (content.Config, error) {
	var cfg content.Config
	var err error
	installed := false
	if a.HubDir == "" {
		if cfg, installed, err = content.SelectInstalled(dataDir, true); err != nil {
			return cfg, fmt.Errorf("app: %w", err)
		}
	}
	if !installed {
		if cfg, err = content.Select(a.HubDir, a.Collections, true); err != nil {
			return cfg, fmt.Errorf("app: hub: %w", err)
		}
	}
	log.Debug("app: content", "hub_dir", a.HubDir, "installed", installed)
	cfg.DataDir = filepath.Join(dataDir, "data")
	cfg.Logger = log
	cfg.Now = time.Now
	return cfg, nil
}
