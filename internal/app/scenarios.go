package app

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/hub/install"
	"github.com/phalanx-ids/phalanx/internal/scenario"
	"github.com/phalanx-ids/phalanx/internal/ui"
)

// scenarioDefs describes the loaded scenarios for the dashboard's alert
// page: their YAML decoded for display (the engine compiled them already),
// with their hub version; a version "?" means the file was edited locally
// (tainted).
func scenarioDefs(srcs []scenario.Source, hub map[string]scenario.HubInfo) map[string]ui.ScenarioInfo {
	out := map[string]ui.ScenarioInfo{}
	for _, src := range srcs {
		data := src.Data
		if data == nil {
			b, err := os.ReadFile(src.Name)
			if err != nil {
				continue
			}
			data = b
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var sp scenario.Spec
			err := dec.Decode(&sp)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				break
			}
			if sp.Name == "" {
				continue
			}
			h := hub[sp.Name]
			out[sp.Name] = ui.ScenarioInfo{Name: sp.Name, File: src.Name, Description: sp.Description, Type: sp.Type,
				Filter: sp.Filter, GroupBy: sp.GroupBy, Capacity: sp.Capacity, LeakSpeed: sp.LeakSpeed, Duration: sp.Duration,
				Blackhole: sp.Blackhole, Version: h.Version, Hash: h.Hash, Tainted: h.Version == "?"}
		}
	}
	return out
}

// scenarioInfo describes a scenario of the running content (false when
// no agent runs here or the scenario is not loaded).
func (a *App) scenarioInfo(name string) (ui.ScenarioInfo, bool) {
	a.mu.Lock()
	p := a.pipe
	if a.pending != nil {
		p = a.pending
	}
	a.mu.Unlock()
	if p == nil {
		return ui.ScenarioInfo{}, false
	}
	p.defsOnce.Do(func() { p.defs = scenarioDefs(p.scenSrc, p.scenHub) })
	si, ok := p.defs[name]
	return si, ok
}

// hubStatus describes the detection content for the dashboard's status
// page: the hub items installed under the data dir (their states as
// `phalanx hub list` gives them), or what runs instead.
func (a *App) hubStatus(_ context.Context) (ui.HubStatus, error) {
	a.mu.Lock()
	r := a.cfg
	a.mu.Unlock()
	if !r.agentOn {
		return ui.HubStatus{Content: "none: no agent runs in this process"}, nil
	}
	if r.Agent.HubDir != "" {
		return ui.HubStatus{Content: "the hub tree " + r.Agent.HubDir + " (agent.hub_dir)"}, nil
	}
	st, err := install.New(r.DataDir, nil).Scan()
	if err != nil {
		return ui.HubStatus{}, err
	}
	hs := ui.HubStatus{Content: "the hub items installed in " + r.DataDir, Indexed: st.Index != nil}
	for _, s := range st.Installed("") {
		it := ui.HubItem{Type: s.Type, Name: s.Name, Status: s.Status(), Version: s.LocalVersion}
		if s.Item != nil {
			it.Latest = s.Item.Version
		}
		hs.Items = append(hs.Items, it)
	}
	if len(hs.Items) == 0 {
		hs.Content = "the embedded defaults (nothing installed with phalanx hub)"
	}
	return hs, nil
}
