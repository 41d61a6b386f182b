package setup

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/phalanx-ids/phalanx/internal/atomicfile"
	"github.com/phalanx-ids/phalanx/internal/hub/install"
	"github.com/phalanx-ids/phalanx/packaging"
)

// Result is what Apply did.
type Result struct {
	// Done lists what was done, for humans.
	Done []string `yaml:"done" json:"done"`
	// Warnings are what did not work but did not stop the setup (data
	// files that could not be fetched).
	Warnings []string `yaml:"warnings,omitempty" json:"warnings,omitempty"`
}

// Apply carries the plan out, in order: the binary, the files (config,
// acquisition, units), the hub collections, the firewall bouncer's key
// and config, then the units (daemon-reload, enable, start, reload).
// Every file is written atomically; a failure stops there and says what
// was done before it.
func (p *Plan) Apply(ctx context.Context) (*Result, error) {
	res := &Result{}
	m := p.opts.Machine
	done := func(format string, args ...any) { res.Done = append(res.Done, fmt.Sprintf(format, args...)) }
	if p.CopyBinary {
		if err := copyFile(p.opts.Executable, m.Path(p.Binary), 0o755); err != nil {
			return res, fmt.Errorf("setup: install the binary: %w", err)
		}
		done("installed %s", p.Binary)
	}
	unitsChanged := false
	for _, f := range p.Files {
		if err := atomicfile.WriteFile(m.Path(f.Path), f.Content, f.Mode); err != nil {
			return res, fmt.Errorf("setup: %w", err)
		}
		unitsChanged = unitsChanged || strings.HasPrefix(f.Path, packaging.UnitDir+"/")
		done("wrote %s (%s)", f.Path, f.What)
	}
	if !p.Hub.Empty() || len(p.Hub.DataItemsPending()) > 0 {
		if err := p.inst.EnsureIndex(ctx); err != nil {
			return res, fmt.Errorf("setup: hub: %w", err)
		}
		hr, err := p.inst.Apply(ctx, p.Hub)
		if err != nil {
			return res, fmt.Errorf("setup: hub: %w", err)
		}
		n := 0
		for _, a := range hr.Actions {
			if a.Kind == install.Enable {
				n++
			}
		}
		if n > 0 {
			done("installed %d hub items (collections %s)", n, strings.Join(p.Collections, ", "))
		}
		for _, e := range hr.DataErrors {
			res.Warnings = append(res.Warnings, "data file not fetched (detection runs without it; `phalanx hub upgrade` retries): "+e)
		}
	}
	if b := p.Bouncer; b != nil {
		key, err := p.opts.Bouncers(p.db).Add(ctx, b.Name, b.Key)
		if err != nil {
			return res, fmt.Errorf("setup: register the firewall bouncer: %w", err)
		}
		done("registered bouncer %s", b.Name)
		if b.Key == "" {
			if err := atomicfile.WriteFile(m.Path(b.Config), firewallConfig(p.LAPIURL, key), 0o600); err != nil {
				return res, fmt.Errorf("setup: %w", err)
			}
			done("wrote %s (the firewall bouncer's config, with its API key)", b.Config)
		}
	}
	sd := p.systemd
	if unitsChanged && p.liveUnits {
		if err := sd.DaemonReload(ctx); err != nil {
			return res, err
		}
	}
	for _, step := range []struct {
		units []string
		do    func(context.Context, ...string) error
		word  string
	}{{p.Enable, sd.Enable, "enabled"}, {p.Start, sd.Start, "started"}, {p.Reload, sd.Reload, "reloaded"}, {p.Restart, sd.Restart, "restarted"}} {
		if len(step.units) == 0 {
			continue
		}
		if err := step.do(ctx, step.units...); err != nil {
			return res, fmt.Errorf("setup: %w", err)
		}
		done("%s %s", step.word, strings.Join(step.units, ", "))
	}
	return res, nil
}

// copyFile copies src to dst atomically with mode perm.
func copyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return atomicfile.Write(dst, perm, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	}, nil)
}

// Protected describes what the machine is protected for, once set up.
func (p *Plan) Protected() []string {
	var out []string
	for _, s := range p.Detection.Services {
		var what []string
		for _, src := range s.Logs {
			what = append(what, src.Files...)
			for _, j := range src.Journald {
				what = append(what, "journald "+j)
			}
		}
		line := s.Name + ": "
		if len(what) > 0 {
			line += "reads " + strings.Join(what, ", ")
		} else {
			line += "no log to read"
		}
		out = append(out, line+" (collections "+strings.Join(s.Collections, ", ")+")")
	}
	return out
}
