package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/datafile"
	"github.com/phalanx-ids/phalanx/internal/yamlerr"
)

// Bucket types (the `type:` field).
const (
	TypeLeaky       = "leaky"
	TypeTrigger     = "trigger"
	TypeCounter     = "counter"
	TypeConditional = "conditional"
	TypeBayesian    = "bayesian"
)

// Kind is a bucket type: Spec.Type, parsed (ParseKind).
type Kind uint8

// The bucket kinds.
const (
	KindLeaky Kind = iota + 1
	KindTrigger
	KindCounter
	KindConditional
	KindBayesian
)

var kindNames = map[string]Kind{
	TypeLeaky: KindLeaky, TypeTrigger: KindTrigger, TypeCounter: KindCounter,
	TypeConditional: KindConditional, TypeBayesian: KindBayesian,
}

// ParseKind returns the kind a `type:` value names.
func ParseKind(s string) (Kind, error) {
	if s == "" {
		return 0, errors.New("type: missing")
	}
	k, ok := kindNames[s]
	if !ok {
		return 0, fmt.Errorf("type: unknown bucket type %q", s)
	}
	return k, nil
}

// String returns the kind's `type:` value.
func (k Kind) String() string {
	for n, v := range kindNames {
		if v == k {
			return n
		}
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Scope types with built-in source extraction.
const (
	ScopeIP    = "Ip"
	ScopeRange = "Range"
)

// maxFormat is the newest scenario `format:` accepted; newer documents are
// skipped (CrowdSec logs and skips them too).
const maxFormat = 3.0

// Spec is one scenario document as written in YAML (CrowdSec's BucketSpec).
// It is a config type: Load compiles it into a runtime scenario.
type Spec struct {
	FormatVersion      string              `yaml:"format"`
	Author             string              `yaml:"author"`
	Description        string              `yaml:"description"`
	References         []string            `yaml:"references"`
	Type               string              `yaml:"type"`
	Name               string              `yaml:"name"`
	Capacity           int                 `yaml:"capacity"`
	LeakSpeed          string              `yaml:"leakspeed"`
	Duration           string              `yaml:"duration"`
	Filter             string              `yaml:"filter"`
	GroupBy            string              `yaml:"groupby"`
	Distinct           string              `yaml:"distinct"`
	Debug              bool                `yaml:"debug"`
	Labels             map[string]any      `yaml:"labels"`
	Blackhole          string              `yaml:"blackhole"`
	Reprocess          bool                `yaml:"reprocess"`
	CacheSize          int                 `yaml:"cache_size"`
	Profiling          bool                `yaml:"profiling"`
	OverflowFilter     string              `yaml:"overflow_filter"`
	Condition          string              `yaml:"condition"`
	BayesianPrior      float32             `yaml:"bayesian_prior"`
	BayesianThreshold  float32             `yaml:"bayesian_threshold"`
	BayesianConditions []BayesianCondition `yaml:"bayesian_conditions"`
	Scope              ScopeSpec           `yaml:"scope"`
	Data               []datafile.Spec     `yaml:"data"`
	CancelOn           string              `yaml:"cancel_on"`
	Version            string              `yaml:"version"`
	Simulated          bool                `yaml:"simulated"`
}

// ScopeSpec is the `scope:` section: the kind of source an alert is about
// and, for anything but Ip, an expression on evt giving its value.
type ScopeSpec struct {
	Type       string `yaml:"type"`
	Expression string `yaml:"expression"`
}

// BayesianCondition is one `bayesian_conditions:` entry.
type BayesianCondition struct {
	Condition       string  `yaml:"condition"`
	ProbGivenEvil   float32 `yaml:"prob_given_evil"`
	ProbGivenBenign float32 `yaml:"prob_given_benign"`
	Guillotine      bool    `yaml:"guillotine"`
}

// ParseSpecs decodes every document of a multi-document scenario file with
// strict field checking. Empty documents are skipped. name is used in errors.
func ParseSpecs(name string, data []byte) ([]Spec, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var out []Spec
	for doc := 1; ; doc++ {
		var s Spec
		err := dec.Decode(&s)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w (document %d)", yamlerr.New("scenario", name, err, "scenario."), doc)
		}
		if reflect.ValueOf(s).IsZero() {
			continue
		}
		out = append(out, s)
	}
}

// durations holds the parsed kind and duration fields of a Spec.
type durations struct {
	kind                           Kind
	leakspeed, duration, blackhole time.Duration
}

// validate checks a spec the way CrowdSec does at load time and parses its
// durations. Errors name the offending field.
func (s *Spec) validate() (durations, error) {
	var d durations
	var err error
	if s.Name == "" {
		return d, errors.New("name: missing")
	}
	if s.Description == "" {
		return d, errors.New("description: missing")
	}
	if strings.TrimSpace(s.Filter) == "" {
		return d, errors.New("filter: missing")
	}
	if s.LeakSpeed != "" {
		if d.leakspeed, err = time.ParseDuration(s.LeakSpeed); err != nil {
			return d, fmt.Errorf("leakspeed: %w", err)
		}
		if d.leakspeed < 0 {
			return d, fmt.Errorf("leakspeed: negative %q", s.LeakSpeed)
		}
	}
	if s.Duration != "" {
		if d.duration, err = time.ParseDuration(s.Duration); err != nil {
			return d, fmt.Errorf("duration: %w", err)
		}
	}
	if s.Blackhole != "" {
		if d.blackhole, err = time.ParseDuration(s.Blackhole); err != nil {
			return d, fmt.Errorf("blackhole: %w", err)
		}
	}
	if s.CacheSize < 0 {
		return d, fmt.Errorf("cache_size: negative %d", s.CacheSize)
	}
	if d.kind, err = ParseKind(s.Type); err != nil {
		return d, err
	}
	switch d.kind {
	case KindLeaky:
		if s.Capacity <= 0 {
			return d, fmt.Errorf("capacity: leaky needs a positive capacity, got %d", s.Capacity)
		}
		if d.leakspeed <= 0 {
			return d, errors.New("leakspeed: leaky needs a positive leakspeed")
		}
	case KindCounter:
		if d.duration <= 0 {
			return d, errors.New("duration: counter needs a positive duration")
		}
		if s.Capacity != -1 {
			return d, fmt.Errorf("capacity: counter must have capacity -1, got %d", s.Capacity)
		}
	case KindTrigger:
		if s.Capacity != 0 {
			return d, fmt.Errorf("capacity: trigger must have capacity 0, got %d", s.Capacity)
		}
	case KindConditional:
		if strings.TrimSpace(s.Condition) == "" {
			return d, errors.New("condition: conditional needs a condition")
		}
		if d.leakspeed <= 0 {
			return d, errors.New("leakspeed: conditional needs a positive leakspeed")
		}
		if s.Capacity == 0 || s.Capacity < -1 {
			return d, fmt.Errorf("capacity: conditional needs -1 (or a positive capacity), got %d", s.Capacity)
		}
	case KindBayesian:
		if len(s.BayesianConditions) == 0 {
			return d, errors.New("bayesian_conditions: missing")
		}
		if s.BayesianPrior <= 0 || s.BayesianPrior > 1 {
			return d, fmt.Errorf("bayesian_prior: must be in (0,1], got %v", s.BayesianPrior)
		}
		if s.BayesianThreshold <= 0 || s.BayesianThreshold > 1 {
			return d, fmt.Errorf("bayesian_threshold: must be in (0,1], got %v", s.BayesianThreshold)
		}
		if s.Capacity != -1 {
			return d, fmt.Errorf("capacity: bayesian must have capacity -1, got %d", s.Capacity)
		}
		if d.leakspeed <= 0 {
			return d, errors.New("leakspeed: bayesian needs a positive leakspeed")
		}
	}
	switch s.Scope.Type {
	case "", ScopeIP, ScopeRange:
	default:
		if strings.TrimSpace(s.Scope.Expression) == "" {
			return d, fmt.Errorf("scope.expression: scope %q needs an expression", s.Scope.Type)
		}
	}
	return d, nil
}

// formatSupported reports whether the `format:` version is one we load.
func formatSupported(v string) (bool, error) {
	if v == "" {
		return true, nil
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return false, fmt.Errorf("format: %w", err)
	}
	return f <= maxFormat, nil
}
