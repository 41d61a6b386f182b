package profile

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"strings"

	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/yamlerr"
)

// Config is one profile as written in profiles.yaml (one YAML document).
// It is pure config: Load compiles it into the runtime Set.
type Config struct {
	Name          string           `yaml:"name"`
	Debug         bool             `yaml:"debug"`
	Filters       []string         `yaml:"filters"`
	Decisions     []DecisionConfig `yaml:"decisions"`
	DurationExpr  string           `yaml:"duration_expr"`
	Notifications []string         `yaml:"notifications"`
	OnSuccess     string           `yaml:"on_success"`
	OnFailure     string           `yaml:"on_failure"`
	OnError       string           `yaml:"on_error"`

	// File and Line locate the document (set by Parse; not YAML keys).
	File string `yaml:"-"`
	Line int    `yaml:"-"`
}

// DecisionConfig is one entry of a profile's `decisions:`.
type DecisionConfig struct {
	Type     string `yaml:"type"`
	Duration string `yaml:"duration"`
	Scope    string `yaml:"scope"`
	// Origin, when set, makes the decision's origin "crowdsec/<Origin>".
	Origin    string `yaml:"origin"`
	Simulated bool   `yaml:"simulated"`
}

var (
	profileKeys  = keySet(Config{})
	decisionKeys = keySet(DecisionConfig{})
)

// Parse decodes the profiles of one multi-document YAML source, strictly:
// an unknown key, a wrong type or a syntax error is an error naming the
// file, the line and the field. Empty documents are skipped. It does not
// compile anything (see Load).
func Parse(name string, data []byte) ([]Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []Config
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, yamlError("profile", name, err)
		}
		root := &doc
		if root.Kind == yaml.DocumentNode {
			if len(root.Content) == 0 {
				continue
			}
			root = root.Content[0]
		}
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			continue
		}
		if root.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("profile: %s:%d: a profile must be a mapping", name, root.Line)
		}
		if err := checkKeys(name, root, profileKeys, "profile"); err != nil {
			return nil, err
		}
		var cfg Config
		if err := root.Decode(&cfg); err != nil {
			return nil, yamlError("profile", name, err)
		}
		if dn := mapValue(root, "decisions"); dn != nil && dn.Kind == yaml.SequenceNode {
			for _, d := range dn.Content {
				if d.Kind == yaml.MappingNode {
					if err := checkKeys(name, d, decisionKeys, "decision"); err != nil {
						return nil, err
					}
				}
			}
		}
		cfg.File, cfg.Line = name, root.Line
		out = append(out, cfg)
	}
}

// checkKeys refuses keys of m that are not in allowed.
func checkKeys(file string, m *yaml.Node, allowed map[string]bool, what string) error {
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if !allowed[k.Value] {
			return fmt.Errorf("profile: %s:%d: field %s: unknown field in %s (known: %s)",
				file, k.Line, k.Value, what, strings.Join(sortedKeys(allowed), ", "))
		}
	}
	return nil
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// yamlError turns a yaml.v3 error into "component: file:line: msg".
func yamlError(component, file string, err error) error {
	return yamlerr.New(component, file, err, "profile.")
}
