package app

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/phalanx-ids/phalanx/internal/content"
)

// contentConfig selects the detection content: the embedded defaults, or a
// hub tree (every item, or the collections named).
func contentConfig(a AgentConfig, dataDir string, log *slog.Logger) (content.Config, error) {
	cfg, err := content.Select(a.HubDir, a.Collections, true)
	if err != nil {
		return cfg, fmt.Errorf("app: hub: %w", err)
	}
	cfg.DataDir = filepath.Join(dataDir, "data")
	cfg.Logger = log
	cfg.Now = time.Now
	return cfg, nil
}
