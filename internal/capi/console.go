package capi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/secfile"
	"github.com/phalanx-ids/phalanx/internal/yamlerr"
)

// ConsoleFile is the name, in the data dir, of the consent flags (CrowdSec's
// console.yaml).
const ConsoleFile = "console.yaml"

// ConsoleConfig is console.yaml: what the install agrees to share. Names
// and defaults are CrowdSec's.
type ConsoleConfig struct {
	// ShareManualDecisions pushes alerts of manual decisions
	// (`decisions add`) as signals of trust "manual". Default false.
	ShareManualDecisions *bool `yaml:"share_manual_decisions,omitempty"`
	// ShareCustom pushes alerts of scenarios without a hub hash. Default true.
	ShareCustom *bool `yaml:"share_custom,omitempty"`
	// ShareTainted pushes alerts of locally modified hub scenarios. Default true.
	ShareTainted *bool `yaml:"share_tainted,omitempty"`
	// ShareContext attaches the alert context (meta) to signals. Default false.
	ShareContext *bool `yaml:"share_context,omitempty"`
	// ConsoleManagement is accepted for compatibility; Phalanx has no
	// console push channel. Default false.
	ConsoleManagement *bool `yaml:"console_management,omitempty"`
}

// Consent is the resolved consent flags.
type Consent struct {
	ShareManualDecisions, ShareCustom, ShareTainted, ShareContext bool
}

// DefaultConsent is CrowdSec's defaults.
func DefaultConsent() Consent { return Consent{ShareCustom: true, ShareTainted: true} }

// Resolve applies the defaults.
func (c ConsoleConfig) Resolve() Consent {
	r := DefaultConsent()
	set := func(dst *bool, v *bool) {
		if v != nil {
			*dst = *v
		}
	}
	set(&r.ShareManualDecisions, c.ShareManualDecisions)
	set(&r.ShareCustom, c.ShareCustom)
	set(&r.ShareTainted, c.ShareTainted)
	set(&r.ShareContext, c.ShareContext)
	return r
}

// ReadConsole reads console.yaml; a missing file gives the defaults. An
// unknown key is an error.
func ReadConsole(path string) (Consent, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return DefaultConsent(), nil
	}
	if err != nil {
		return Consent{}, fmt.Errorf("capi: console: %w", err)
	}
	var c ConsoleConfig
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Consent{}, yamlerr.New("capi: console", path, err, "capi.")
	}
	return c.Resolve(), nil
}

// WriteConsole writes console.yaml (0600) with every flag spelled out.
func WriteConsole(path string, c Consent) error {
	f := func(b bool) *bool { return &b }
	b, err := yaml.Marshal(ConsoleConfig{ShareManualDecisions: f(c.ShareManualDecisions), ShareCustom: f(c.ShareCustom),
		ShareTainted: f(c.ShareTainted), ShareContext: f(c.ShareContext), ConsoleManagement: f(false)})
	if err != nil {
		return fmt.Errorf("capi: console: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("capi: console: %w", err)
	}
	return secfile.WriteFile(path, b, 0o600)
}
