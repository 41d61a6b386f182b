package cli

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	daemon "github.com/phalanx-ids/phalanx/internal/app"
	"github.com/phalanx-ids/phalanx/internal/content"
	"github.com/phalanx-ids/phalanx/internal/hub/install"
)

// contentFlags select the detection content: a hub tree (all of it, or
// the collections named) with --hub; else the hub items installed in the
// data dir (`phalanx hub`, `phalanx setup`), as the daemon runs them; else,
// or with --embedded, the embedded defaults.
type contentFlags struct {
	hubDir      string
	collections []string
	dataDir     string
	embedded    bool
}

func (f *contentFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.hubDir, "hub", "", "hub directory (parsers/, scenarios/, patterns/, data/); default: the items installed in the data dir, else the embedded content")
	c.Flags().StringArrayVar(&f.collections, "collection", nil, "hub collection to load (repeatable; needs --hub); default: every parser of the hub")
	c.Flags().StringVar(&f.dataDir, "data-dir", "", "data directory: installed hub items, and data files in DATA_DIR/data (GeoLite2-City.mmdb, GeoLite2-ASN.mmdb, lists); default /var/lib/phalanx as root, else $XDG_DATA_HOME/phalanx")
	c.Flags().BoolVar(&f.embedded, "embedded", false, "use the embedded content even when hub items are installed")
}

// config turns the flags into a content.Config; scenarios are loaded only
// when withScenarios is set (explain does not need them).
func (f *contentFlags) config(a *app, withScenarios bool) (content.Config, error) {
	if f.hubDir == "" && len(f.collections) > 0 {
		return content.Config{}, &usageError{fmt.Errorf("--collection needs --hub")}
	}
	if f.hubDir != "" && f.embedded {
		return content.Config{}, &usageError{fmt.Errorf("--hub and --embedded exclude each other")}
	}
	dataDir := pick(f.dataDir, daemon.DefaultDataDir())
	var cfg content.Config
	installed := false
	if f.hubDir == "" && !f.embedded {
		var err error
		if cfg, installed, err = content.SelectInstalled(dataDir, withScenarios); err != nil {
			return cfg, err
		}
	}
	if !installed {
		var err error
		if cfg, err = content.Select(f.hubDir, f.collections, withScenarios); err != nil {
			return cfg, err
		}
	}
	cfg.DataDir = filepath.Join(dataDir, install.DataDir)
	cfg.Logger = a.logger()
	cfg.Logger.Info("content", "hub", f.hubDir, "installed_in", map[bool]string{true: dataDir}[installed])
	return cfg, nil
}
