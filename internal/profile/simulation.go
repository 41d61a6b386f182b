package profile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	"gopkg.in/yaml.v3"
)

// Simulation is CrowdSec's simulation.yaml: `simulation` is the global mode
// and `exclusions` lists scenarios that take the opposite mode (with
// simulation off, the listed scenarios are simulated; with it on, they are
// not). Decisions of a simulated scenario are stored but hidden from
// bouncers. A plain value: copy it freely; not safe for concurrent mutation.
type Simulation struct {
	Enabled    bool     `yaml:"simulation"`
	Exclusions []string `yaml:"exclusions,omitempty"`
}

// IsSimulated reports whether scenario runs in simulation mode.
func (s Simulation) IsSimulated(scenario string) bool {
	return s.Enabled != slices.Contains(s.Exclusions, scenario)
}

// ParseSimulation decodes simulation.yaml strictly (unknown keys are
// errors). YAML 1.1 booleans (`on`, `off`, `yes`, `no`) are accepted as
// CrowdSec's shipped file uses `simulation: off`. Empty input is the zero
// value (simulation off, no exclusions).
func ParseSimulation(name string, data []byte) (Simulation, error) {
	var s Simulation
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil && !errors.Is(err, io.EOF) {
		return Simulation{}, yamlError("simulation", name, err)
	}
	return s, nil
}

// Marshal renders s as simulation.yaml.
func (s Simulation) Marshal() []byte {
	out, err := yaml.Marshal(s)
	if err != nil { // a struct of a bool and strings always marshals
		panic(fmt.Sprintf("simulation: marshal: %v", err))
	}
	return out
}
