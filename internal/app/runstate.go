package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/secfile"
)

// RunStateFile is the name, in the data dir, of the file where a running
// daemon records where it serves, so that the CLI pointed at the data dir
// (--data-dir, or the default) reaches it wherever it listens (phalanx run
// --listen 127.0.0.1:18080). The daemon writes it once its listeners are
// bound and removes it when it closes.
const RunStateFile = "phalanx.run.yaml"

// RunState is the content of RunStateFile.
type RunState struct {
	PID        int    `yaml:"pid"`
	LAPIURL    string `yaml:"lapi_url,omitempty"`    // "" without LAPI
	MetricsURL string `yaml:"metrics_url,omitempty"` // "" when /metrics is not served
}

// ReadRunState returns the run state of the daemon of dataDir; ok is false
// when there is none: no file, an unreadable one, or one left by a process
// that is gone (a daemon killed with -9).
func ReadRunState(dataDir string) (RunState, bool) {
	var s RunState
	b, err := os.ReadFile(filepath.Join(dataDir, RunStateFile))
	if err != nil || yaml.Unmarshal(b, &s) != nil || s.PID <= 0 {
		return RunState{}, false
	}
	if err := syscall.Kill(s.PID, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return RunState{}, false // no such process
	}
	return s, true
}

// writeRunState records where this daemon serves.
func (a *App) writeRunState() error {
	s := RunState{PID: os.Getpid(), LAPIURL: a.lapiURL, MetricsURL: a.MetricsURL()}
	b, err := yaml.Marshal(s)
	if err != nil {
		return fmt.Errorf("app: run state: %w", err)
	}
	b = append([]byte("# Written by phalanx run at start, removed at stop: where the daemon of this data dir serves.\n"), b...)
	if err := secfile.WriteFile(filepath.Join(a.cfg.DataDir, RunStateFile), b, 0o600); err != nil {
		return fmt.Errorf("app: run state: %w", err)
	}
	a.wroteRunState = true
	return nil
}

// removeRunState removes the run state file if it is still this daemon's.
func (a *App) removeRunState() {
	if !a.wroteRunState {
		return
	}
	a.wroteRunState = false
	s, ok := ReadRunState(a.cfg.DataDir)
	if ok && s.PID == os.Getpid() && s.LAPIURL == a.lapiURL {
		_ = os.Remove(filepath.Join(a.cfg.DataDir, RunStateFile))
	}
}
