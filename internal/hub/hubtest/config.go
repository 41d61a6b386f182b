// Package hubtest runs CrowdSec hubtest cases (a folder per case: config.yaml,
// a log file, parser.assert, scenario.assert) against Phalanx's pipeline and
// checks the assertion files unchanged (see shared/hub/HUBTEST-FORMAT.md).
package hubtest

import (
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/yamlerr"
)

// CaseConfig is a case's config.yaml, decoded loosely (unknown keys ignored).
type CaseConfig struct {
	Parsers         []string          `yaml:"parsers"`
	Scenarios       []string          `yaml:"scenarios"`
	PostOverflows   []string          `yaml:"postoverflows"`
	LogFile         string            `yaml:"log_file"`
	LogType         string            `yaml:"log_type"`
	Labels          map[string]string `yaml:"labels"`
	IgnoreParsers   bool              `yaml:"ignore_parsers"`
	OverrideStatics []yaml.Node       `yaml:"override_statics"`
	OwnDataDir      bool              `yaml:"own_data_dir"`
}

func readCaseConfig(dir string) (*CaseConfig, error) {
	b, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if err != nil {
		return nil, fmt.Errorf("hubtest: %w", err)
	}
	var c CaseConfig
	if err := yaml.Unmarshal(b, &c); err != nil {
		return nil, yamlerr.New("hubtest", filepath.Join(dir, "config.yaml"), err, "hubtest.")
	}
	return &c, nil
}

func nonEmpty(in []string) []string {
	var out []string
	for _, s := range in {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
