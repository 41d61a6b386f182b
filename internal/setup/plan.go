package setup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"gopkg.in/yaml.v3"

	daemon "github.com/phalanx-ids/phalanx/internal/app"
	"github.com/phalanx-ids/phalanx/internal/hub"
	"github.com/phalanx-ids/phalanx/internal/hub/install"
	"github.com/phalanx-ids/phalanx/internal/hub/source"
	"github.com/phalanx-ids/phalanx/internal/lapi"
	"github.com/phalanx-ids/phalanx/internal/store/backends"
	"github.com/phalanx-ids/phalanx/packaging"
)

// FirewallBouncerName is the name the firewall bouncer is registered under.
const FirewallBouncerName = "phalanx-firewall"

// Options configure a setup run.
type Options struct {
	Machine *Machine
	Rules   *Rules
	// HubURL overrides the config's hub.url (default: CrowdSec's public hub).
	HubURL string
	// Firewall sets up the firewall bouncer (its key, config and unit).
	Firewall bool
	// Force replaces files that differ from what setup would write.
	Force bool
	// Executable is this binary, copied to /usr/local/bin/phalanx when the
	// machine has no phalanx in /usr/bin or /usr/local/bin.
	Executable string
	// Bouncers opens the LAPI's bouncer registry (the database of db).
	Bouncers func(db DB) Registrar
	// Systemd manages units; nil: the machine's (systemctl on a live root
	// where systemd runs, else unit files and wants/ links written under
	// the root).
	Systemd Systemd
	// UserAgent of hub downloads.
	UserAgent string
}

// DB is where the LAPI keeps bouncers: the config's lapi.database, its
// SQLite file as a path on this host (internal/store/backends picks the
// backend).
type DB = backends.Config

// Registrar registers bouncers in the LAPI's database, as `phalanx
// bouncers add` does. Has must not create the database.
type Registrar interface {
	// Has reports whether a bouncer called name exists.
	Has(ctx context.Context, name string) (bool, error)
	// Add registers name (replacing one of that name) with key, or a new
	// key when key is empty, and returns the key.
	Add(ctx context.Context, name, key string) (string, error)
}

// FileStep is a file to write (Path inside the machine).
type FileStep struct {
	Path    string      `yaml:"path" json:"path"`
	What    string      `yaml:"what" json:"what"`
	Replace bool        `yaml:"replace,omitempty" json:"replace,omitempty"`
	Mode    fs.FileMode `yaml:"-" json:"-"`
	Content []byte      `yaml:"-" json:"-"`
}

// BouncerStep registers the firewall bouncer and writes its config.
type BouncerStep struct {
	Name   string `yaml:"name" json:"name"`
	Config string `yaml:"config" json:"config"` // path inside the machine
	// Key is the key of an existing config file to register again; empty:
	// a new key, written into a new config.
	Key string `yaml:"-" json:"-"`
}

// Plan is what setup will do. Nothing is touched until Apply.
type Plan struct {
	Detection   *Detection    `yaml:"detection" json:"detection"`
	Binary      string        `yaml:"binary" json:"binary"` // phalanx inside the machine
	CopyBinary  bool          `yaml:"copy_binary,omitempty" json:"copy_binary,omitempty"`
	Collections []string      `yaml:"collections" json:"collections"`
	Hub         *install.Plan `yaml:"-" json:"hub"`
	Files       []FileStep    `yaml:"files,omitempty" json:"files,omitempty"`
	Bouncer     *BouncerStep  `yaml:"bouncer,omitempty" json:"bouncer,omitempty"`
	Enable      []string      `yaml:"enable,omitempty" json:"enable,omitempty"`
	Start       []string      `yaml:"start,omitempty" json:"start,omitempty"`
	Reload      []string      `yaml:"reload,omitempty" json:"reload,omitempty"`
	Restart     []string      `yaml:"restart,omitempty" json:"restart,omitempty"`
	Notes       []string      `yaml:"notes,omitempty" json:"notes,omitempty"`

	// What Apply needs.
	DataDir   string `yaml:"data_dir" json:"data_dir"` // inside the machine
	LAPIURL   string `yaml:"lapi_url" json:"lapi_url"`
	opts      Options
	inst      *install.Install
	systemd   Systemd
	db        DB
	liveUnits bool
}

// Empty reports a machine already set up: nothing to do.
func (p *Plan) Empty() bool {
	return !p.CopyBinary && p.Hub.Empty() && len(p.Files) == 0 && p.Bouncer == nil &&
		len(p.Enable)+len(p.Start)+len(p.Reload)+len(p.Restart) == 0
}

func (p *Plan) note(format string, args ...any) {
	p.Notes = append(p.Notes, fmt.Sprintf(format, args...))
}

// addFile plans writing content at p (inside the machine) unless it is
// already there; a file that differs is replaced only with force.
func (p *Plan) addFile(m *Machine, at, what string, content []byte, mode fs.FileMode, force bool) (changed bool) {
	cur, err := os.ReadFile(m.Path(at))
	switch {
	case err == nil && bytes.Equal(cur, content):
		return false
	case err == nil && !force:
		p.note("%s differs from what setup writes: left as it is (--force to replace it)", at)
		return false
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		p.note("%s: %v: left as it is", at, err)
		return false
	}
	p.Files = append(p.Files, FileStep{Path: at, What: what, Replace: err == nil, Mode: mode, Content: content})
	return true
}

// NewPlan detects the services of the machine and plans its setup.
// Nothing is written (the hub index is fetched in memory when none is
// cached).
func NewPlan(ctx context.Context, o Options) (*Plan, error) {
	m := o.Machine
	p := &Plan{Detection: Detect(m, o.Rules), opts: o}

	// The daemon's config: kept when there, else the package's default.
	cfg, err := p.config(m, o)
	if err != nil {
		return nil, err
	}
	p.DataDir = cfg.DataDir
	if p.DataDir == "" {
		p.DataDir = packaging.DataDir
	}
	listen := cfg.LAPI.ListenURI
	if listen == "" {
		listen = lapi.DefaultListen
	}
	p.LAPIURL = "http://" + strings.Replace(listen, "0.0.0.0:", "127.0.0.1:", 1) + "/"
	p.db = cfg.LAPI.Database
	if k, _ := p.db.Kind(); k == backends.SQLite {
		p.db.DBPath = m.Path(pathOr(p.db.DBPath, path.Join(p.DataDir, "phalanx.db")))
	}

	// The binary the units run.
	switch {
	case isFile(m.Path(packaging.BinaryPath)):
		p.Binary = packaging.BinaryPath
	case isFile(m.Path("/usr/local/bin/phalanx")):
		p.Binary = "/usr/local/bin/phalanx"
	default:
		p.Binary, p.CopyBinary = "/usr/local/bin/phalanx", true
		if o.Executable == "" {
			return nil, errors.New("setup: no phalanx in /usr/bin or /usr/local/bin and no binary to copy there")
		}
	}

	// Hub collections.
	hubURL := pathOr(o.HubURL, pathOr(cfg.Hub.URL, source.DefaultURL))
	src, err := source.New(hubURL, source.WithUserAgent(pathOr(o.UserAgent, "phalanx")))
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	p.inst = install.New(m.Path(p.DataDir), src)
	st, err := p.inst.PlanningState(ctx, true)
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	var refs []hub.Ref
	for _, s := range p.Detection.Services {
		for _, c := range s.Collections {
			r := hub.Ref{Type: hub.Collections, Name: c}
			if !containsRef(refs, r) {
				refs = append(refs, r)
				p.Collections = append(p.Collections, c)
			}
		}
	}
	if p.Hub, err = p.inst.PlanInstall(st, refs, false); err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}

	// Acquisition, one file per service with logs.
	acqDir := cfg.Agent.AcquisitionDir
	if acqDir == "" {
		acqDir = packaging.AcquisDir
		p.note("the config does not set agent.acquisition_dir: add `acquisition_dir: %s` under agent: for the daemon to read the files setup writes there", acqDir)
	}
	others := otherSources(m, cfg, acqDir, p.Detection)
	acqChanged := false
	for i := range p.Detection.Services {
		s := &p.Detection.Services[i]
		var srcs []Source
		for _, src := range s.Logs {
			src = others.drop(src, s)
			if len(src.Files)+len(src.Journald) > 0 {
				srcs = append(srcs, src)
			}
		}
		s.Logs = srcs
		if len(srcs) == 0 {
			continue
		}
		at := path.Join(acqDir, s.Name+".yaml")
		if p.addFile(m, at, "acquisition of "+s.Name, acquisYAML(s), 0o644, o.Force) {
			acqChanged = true
		}
	}

	// Units.
	p.systemd = o.Systemd
	if p.systemd == nil {
		if m.Live() && isDir("/run/systemd/system") {
			p.systemd, p.liveUnits = Systemctl{}, true
		} else {
			p.systemd = &OfflineSystemd{Machine: m}
			if m.Live() {
				p.note("systemd is not running here: the units are written and enabled, start the daemon yourself (phalanx run -c %s)", packaging.ConfigPath)
			}
		}
	} else {
		p.liveUnits = m.Live()
	}
	units := packaging.Units()
	if !o.Firewall {
		units = units[:1]
	}
	unitChanged := map[string]bool{}
	for _, u := range units {
		if isFile(m.Path("/lib/systemd/system/"+u)) || isFile(m.Path("/usr/lib/systemd/system/"+u)) {
			continue // installed by the package
		}
		b, err := packaging.Unit(u)
		if err != nil {
			return nil, err
		}
		b = bytes.ReplaceAll(b, []byte(packaging.BinaryPath+" "), []byte(p.Binary+" "))
		if p.DataDir != packaging.DataDir {
			// The sandbox lets the daemon write its data dir only.
			b = bytes.ReplaceAll(b, []byte("ReadWritePaths="+packaging.DataDir+"\n"), []byte("ReadWritePaths="+p.DataDir+"\n"))
		}
		unitChanged[u] = p.addFile(m, path.Join(packaging.UnitDir, u), "unit "+u, b, 0o644, o.Force)
	}

	// The firewall bouncer's key and config.
	bouncerChanged := false
	if o.Firewall {
		if bouncerChanged, err = p.planBouncer(ctx, m, o); err != nil {
			return nil, err
		}
	}

	// Services.
	for _, u := range units {
		on, err := p.systemd.IsEnabled(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("setup: %w", err)
		}
		if !on {
			p.Enable = append(p.Enable, u)
		}
		if !p.liveUnits {
			continue
		}
		active, err := p.systemd.IsActive(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("setup: %w", err)
		}
		switch {
		case !active:
			p.Start = append(p.Start, u)
		case unitChanged[u] || (u == units[0] && (acqChanged || !p.Hub.Empty())):
			if unitChanged[u] {
				p.Restart = append(p.Restart, u)
			} else {
				p.Reload = append(p.Reload, u)
			}
		case u != units[0] && bouncerChanged:
			p.Restart = append(p.Restart, u)
		}
	}
	return p, nil
}

func pathOr(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

func containsRef(rs []hub.Ref, r hub.Ref) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// config reads the machine's daemon config, or plans the default one.
func (p *Plan) config(m *Machine, o Options) (daemon.Config, error) {
	at := packaging.ConfigPath
	if b, err := os.ReadFile(m.Path(at)); err == nil {
		cfg, err := daemon.ParseConfig(at, b)
		if err != nil {
			return cfg, fmt.Errorf("setup: %w", err)
		}
		if o.HubURL != "" && cfg.Hub.URL != o.HubURL {
			p.note("%s sets hub.url %q: the hub commands keep using it (--hub-url applies to this run)", at, cfg.Hub.URL)
		}
		return cfg, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return daemon.Config{}, fmt.Errorf("setup: %w", err)
	}
	b := packaging.Config()
	if o.HubURL != "" && o.HubURL != source.DefaultURL {
		b = append(b, fmt.Sprintf("\n# Where `phalanx hub` and `phalanx setup` fetch hub content.\nhub:\n  url: %q\n", o.HubURL)...)
	}
	p.Files = append(p.Files, FileStep{Path: at, What: "the daemon's config", Mode: 0o644, Content: b})
	return daemon.ParseConfig(at, b)
}

// firewallConfig is the firewall bouncer's config file (bouncer firewall -c).
func firewallConfig(lapiURL, key string) []byte {
	return fmt.Appendf(nil, `# The firewall bouncer's config (phalanx bouncer firewall -c %s),
# written by phalanx setup. Keys: CrowdSec's crowdsec-firewall-bouncer.yaml.
mode: auto            # nftables, else iptables+ipset
api_url: %s
api_key: %s
update_frequency: 10s
deny_action: DROP
`, packaging.FirewallConfig, lapiURL, key)
}

// planBouncer plans the firewall bouncer's registration and config: a key
// in an existing config is registered again if the database lost it; no
// config means a new key (replacing a registration whose key is lost).
func (p *Plan) planBouncer(ctx context.Context, m *Machine, o Options) (bool, error) {
	if o.Bouncers == nil {
		p.note("the firewall bouncer is not registered (no LAPI database to register it in)")
		return false, nil
	}
	reg := o.Bouncers(p.db)
	has, err := reg.Has(ctx, FirewallBouncerName)
	if err != nil {
		return false, fmt.Errorf("setup: bouncers: %w", err)
	}
	at := packaging.FirewallConfig
	var key string
	if b, err := os.ReadFile(m.Path(at)); err == nil {
		var doc struct {
			APIKey string `yaml:"api_key"`
		}
		if yaml.Unmarshal(b, &doc) == nil {
			key = doc.APIKey
		}
		if key == "" {
			p.note("%s has no api_key: left as it is; delete it for setup to write a new one", at)
			return false, nil
		}
		if has {
			return false, nil
		}
		p.Bouncer = &BouncerStep{Name: FirewallBouncerName, Config: at, Key: key}
		return true, nil
	}
	p.Bouncer = &BouncerStep{Name: FirewallBouncerName, Config: at}
	if has {
		p.note("bouncer %s is registered but %s is gone: it gets a new key", FirewallBouncerName, at)
	}
	return true, nil
}

// acquisYAML renders a service's sources as a CrowdSec acquis.yaml.
func acquisYAML(s *Service) []byte {
	type doc struct {
		Source    string            `yaml:"source"`
		Filenames []string          `yaml:"filenames,omitempty"`
		Filters   []string          `yaml:"journalctl_filter,omitempty"`
		Labels    map[string]string `yaml:"labels"`
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Logs of %s, found by phalanx setup (edit freely: setup leaves a changed file alone).\n", s.Name)
	for i, src := range s.Logs {
		if i > 0 {
			b.WriteString("---\n")
		}
		d := doc{Source: "file", Filenames: src.Files, Labels: map[string]string{"type": src.Type}}
		if len(src.Journald) > 0 {
			d = doc{Source: "journalctl", Filters: src.Journald, Labels: map[string]string{"type": src.Type}}
		}
		b.Write(marshalYAML(d))
	}
	return b.Bytes()
}

// sourcesIndex is what acquisition files other than setup's read.
type sourcesIndex map[string]string // file glob or journald filter -> file

// otherSources reads the acquisition files setup did not write (the
// config's acquisition_path, and files of acquisDir not named after a
// detected service).
func otherSources(m *Machine, cfg daemon.Config, acqDir string, d *Detection) sourcesIndex {
	idx := sourcesIndex{}
	own := map[string]bool{}
	for _, s := range d.Services {
		own[path.Join(acqDir, s.Name+".yaml")] = true
	}
	var files []string
	if cfg.Agent.AcquisitionPath != "" {
		files = append(files, cfg.Agent.AcquisitionPath)
	}
	for _, g := range []string{"*.yaml", "*.yml"} {
		files = append(files, m.glob(path.Join(acqDir, g), true)...)
	}
	for _, f := range files {
		if own[f] {
			continue
		}
		b, err := os.ReadFile(m.Path(f))
		if err != nil {
			continue
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var doc struct {
				Filename  string   `yaml:"filename"`
				Filenames []string `yaml:"filenames"`
				Filters   []string `yaml:"journalctl_filter"`
			}
			if dec.Decode(&doc) != nil {
				break
			}
			for _, g := range append(append(doc.Filenames, doc.Filename), doc.Filters...) {
				if g != "" {
					idx[g] = f
				}
			}
		}
	}
	return idx
}

// drop removes from src what another acquisition file already reads.
func (idx sourcesIndex) drop(src Source, s *Service) Source {
	out := Source{Type: src.Type}
	for _, g := range src.Files {
		if f, ok := idx[g]; ok {
			s.Warnings = append(s.Warnings, fmt.Sprintf("%s is already read by %s", g, f))
			continue
		}
		out.Files = append(out.Files, g)
	}
	for _, j := range src.Journald {
		if f, ok := idx[j]; ok {
			s.Warnings = append(s.Warnings, fmt.Sprintf("journald %s is already read by %s", j, f))
			continue
		}
		out.Journald = append(out.Journald, j)
	}
	return out
}

// marshalYAML renders v with two-space indents. v is plain data: it
// cannot fail.
func marshalYAML(v any) []byte {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	_ = enc.Encode(v)
	_ = enc.Close()
	return b.Bytes()
}

// YAML renders the detection as YAML (setup -o yaml).
func (d *Detection) YAML() []byte { return marshalYAML(d) }
