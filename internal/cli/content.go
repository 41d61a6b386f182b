package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/phalanx-ids/phalanx/internal/content"
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
	if f.hubDir == "" && len(f.collections) > 0 {
		return content.Config{}, &usageError{fmt.Errorf("--collection needs --hub")}
	}
	cfg, err := content.Select(f.hubDir, f.collections, withScenarios)
	if err != nil {
		return cfg, err
	}
	cfg.DataDir = f.dataDir
	cfg.Logger = a.logger()
	return cfg, nil
}
