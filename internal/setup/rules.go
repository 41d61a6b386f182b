package setup

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/yamlerr"
)

//go:embed rules.yaml
var defaultRules []byte

// Rules are the detection rules (YAML, rules.yaml's format).
type Rules struct {
	Version  int           `yaml:"version"`
	Services []ServiceRule `yaml:"services"`
}

// ServiceRule recognises one service.
type ServiceRule struct {
	Name        string     `yaml:"name"`
	Description string     `yaml:"description"`
	Always      bool       `yaml:"always"`
	NotWith     []string   `yaml:"not_with"`
	Detect      DetectRule `yaml:"detect"`
	Collections []string   `yaml:"collections"`
	Logs        []LogRule  `yaml:"logs"`
}

// DetectRule lists the signs of a service (any one is enough).
type DetectRule struct {
	Units     []string `yaml:"units"`
	Processes []string `yaml:"processes"`
	Ports     []int    `yaml:"ports"`
	Files     []string `yaml:"files"`
}

// LogRule is where a service logs.
type LogRule struct {
	Type     string   `yaml:"type"`
	Files    []string `yaml:"files"`
	Journald []string `yaml:"journald"`
}

// DefaultRules returns the embedded rules.
func DefaultRules() (*Rules, error) { return ParseRules("rules.yaml (embedded)", defaultRules) }

var (
	serviceNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)
	collectionRe  = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)
	unitRe        = regexp.MustCompile(`^[A-Za-z0-9:_.@\\-]+\.(service|socket)$`)
	typeRe        = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
)

// ParseRules decodes and checks rules (strict: unknown keys are errors).
func ParseRules(name string, b []byte) (*Rules, error) {
	var r Rules
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&r); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("setup: rules %s: empty", name)
		}
		return nil, yamlerr.New("setup: rules", name, err, "setup.")
	}
	if r.Version != 1 {
		return nil, fmt.Errorf("setup: rules %s: version %d: want 1", name, r.Version)
	}
	seen := map[string]bool{}
	for i, s := range r.Services {
		if err := s.check(); err != nil {
			return nil, fmt.Errorf("setup: rules %s: service %d (%q): %w", name, i+1, s.Name, err)
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("setup: rules %s: service %q twice", name, s.Name)
		}
		seen[s.Name] = true
	}
	return &r, nil
}

func (s ServiceRule) check() error {
	if !serviceNameRe.MatchString(s.Name) {
		return errors.New("name: want lowercase letters, digits, '_', '.', '-'")
	}
	d := s.Detect
	if !s.Always && len(d.Units)+len(d.Processes)+len(d.Ports)+len(d.Files) == 0 && len(s.Logs) == 0 {
		return errors.New("nothing to detect it by: give detect conditions, logs, or always: true")
	}
	for _, u := range append(append([]string{}, d.Units...), journaldUnits(s.Logs)...) {
		if !unitRe.MatchString(u) {
			return fmt.Errorf("unit %q: not a unit name (x.service)", u)
		}
	}
	for _, p := range d.Processes {
		if p == "" || strings.Contains(p, "/") {
			return fmt.Errorf("process %q: want a process name", p)
		}
	}
	for _, p := range d.Ports {
		if p < 1 || p > 65535 {
			return fmt.Errorf("port %d: out of range", p)
		}
	}
	for _, f := range d.Files {
		if err := checkGlob(f); err != nil {
			return err
		}
	}
	for _, c := range s.Collections {
		if !collectionRe.MatchString(c) {
			return fmt.Errorf("collection %q: want author/name", c)
		}
	}
	for _, l := range s.Logs {
		if !typeRe.MatchString(l.Type) {
			return fmt.Errorf("log type %q: want letters, digits, '_', '.', '-'", l.Type)
		}
		if len(l.Files)+len(l.Journald) == 0 {
			return fmt.Errorf("log of type %s: no files and no journald units", l.Type)
		}
		for _, f := range l.Files {
			if err := checkGlob(f); err != nil {
				return err
			}
		}
	}
	return nil
}

func journaldUnits(logs []LogRule) []string {
	var out []string
	for _, l := range logs {
		out = append(out, l.Journald...)
	}
	return out
}

// checkGlob accepts absolute, clean glob patterns.
func checkGlob(g string) error {
	if !strings.HasPrefix(g, "/") || path.Clean(g) != g {
		return fmt.Errorf("path %q: want an absolute, clean path", g)
	}
	if _, err := path.Match(g, ""); err != nil {
		return fmt.Errorf("path %q: %w", g, err)
	}
	return nil
}

// LoadRules returns the embedded rules extended by the files named: a
// service of an existing name replaces it, a new one is added.
func LoadRules(files ...string) (*Rules, error) {
	r, err := DefaultRules()
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("setup: rules: %w", err)
		}
		more, err := ParseRules(f, b)
		if err != nil {
			return nil, err
		}
		r.Merge(more)
	}
	return r, nil
}

// Merge adds more's services to r, replacing those of the same name.
func (r *Rules) Merge(more *Rules) {
	for _, s := range more.Services {
		replaced := false
		for i := range r.Services {
			if r.Services[i].Name == s.Name {
				r.Services[i], replaced = s, true
			}
		}
		if !replaced {
			r.Services = append(r.Services, s)
		}
	}
}

// DefaultRulesYAML returns the embedded rules file (comments included).
func DefaultRulesYAML() []byte { return append([]byte(nil), defaultRules...) }
