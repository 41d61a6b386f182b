package app

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/capi"
	"github.com/phalanx-ids/phalanx/internal/gcpolicy"
	"github.com/phalanx-ids/phalanx/internal/lapi"
	"github.com/phalanx-ids/phalanx/internal/netguard"
	"github.com/phalanx-ids/phalanx/internal/secfile"
	"github.com/phalanx-ids/phalanx/internal/store/backends"
	"github.com/phalanx-ids/phalanx/internal/yamlerr"
)

// Config is the daemon's configuration file (YAML, decoded strictly: an
// unknown key is an error naming the line and the field). Every field has
// a default; the zero Config is a working single-machine daemon (see
// Defaults and testdata/phalanx.yaml for a commented example).
//
// Config is plain data: App.New compiles it, and Reload compiles a new one
// before touching the running daemon.
type Config struct {
	// DataDir holds the database, the agent's credentials and spool, and
	// the acquisition positions. Default /var/lib/phalanx as root, else
	// $XDG_DATA_HOME/phalanx (~/.local/share/phalanx).
	DataDir string `yaml:"data_dir"`
	// LogLevel: debug, info, warn, error (default info).
	LogLevel string `yaml:"log_level"`
	// MemoryLimitMiB is the daemon process's soft memory limit in MiB
	// (internal/gcpolicy; GOMEMLIMIT wins): default DefaultMemoryLimitMiB,
	// -1 none. Applied by `phalanx run`, not by an App embedded in
	// another program (GCPolicy).
	MemoryLimitMiB int `yaml:"memory_limit_mib"`

	LAPI    LAPIConfig    `yaml:"lapi"`
	Agent   AgentConfig   `yaml:"agent"`
	Metrics MetricsConfig `yaml:"metrics"`
	Hub     HubConfig     `yaml:"hub"`
	// CAPI is community sharing with a central API (CrowdSec's or a
	// Phalanx central): active only when its credentials file exists
	// (`phalanx capi register`).
	CAPI capi.Config `yaml:"capi"`
	UI   UIConfig    `yaml:"ui"`
}

// UIConfig configures the dashboard (internal/ui), served with the LAPI.
type UIConfig struct {
	// Enabled serves the dashboard (default true; needs the LAPI here).
	Enabled *bool `yaml:"enabled"`
	// Listen serves it on an address of its own; empty: at /ui/ of the
	// LAPI's listener when that listener is on loopback (else not served).
	Listen string `yaml:"listen"`
	// AllowRemote accepts a Listen address beyond loopback; without it,
	// such an address is an error (the dashboard would face the network).
	AllowRemote bool `yaml:"allow_remote"`
	// SessionIdle (default 1h) and SessionMax (default 12h) end sessions.
	SessionIdle time.Duration `yaml:"session_idle"`
	SessionMax  time.Duration `yaml:"session_max"`
	// Limits harden the listener of its own (internal/netguard).
	Limits netguard.Config `yaml:"limits"`
}

// HubConfig says where `phalanx hub`, the item commands and `phalanx
// setup` fetch hub content (the daemon itself fetches nothing: it runs
// what is installed under the data dir).
type HubConfig struct {
	// URL is CrowdSec's public hub by default; any other http(s) URL or a
	// directory is a mirror laid out like the hub repository (see
	// internal/hub/source).
	URL string `yaml:"url"`
}

// LAPIConfig configures the Local API server. The server's own settings
// (listen_uri, tls, trusted_ips, jwt_secret, flush, auto_registration...)
// are inlined from lapi.Config.
type LAPIConfig struct {
	// Enabled runs the LAPI in this process (default true; --no-lapi).
	Enabled     *bool `yaml:"enabled"`
	lapi.Config `yaml:",inline"`
	Database    DatabaseConfig `yaml:"database"`
	// ProfilesPath is a CrowdSec profiles.yaml; empty: the built-in
	// profiles (ban 4h for Ip and Range alerts with remediation).
	ProfilesPath string `yaml:"profiles_path"`
	// SimulationPath is a CrowdSec simulation.yaml; empty: <data_dir>/simulation.yaml
	// when it exists (where `phalanx simulation` writes), else no simulation.
	SimulationPath string `yaml:"simulation_path"`
	// NotificationDir holds the notification files (CrowdSec's format, one
	// or more per file: see internal/notify); empty: <data_dir>/notifications
	// when it exists.
	NotificationDir string `yaml:"notification_dir"`
}

// DatabaseConfig selects the store: type (sqlite, the default, or
// postgres), db_path (default <data_dir>/phalanx.db), dsn, max_open_conns,
// busy_timeout. internal/store/backends holds the rules.
type DatabaseConfig = backends.Config

// AgentConfig configures the log processor and its link to a LAPI.
type AgentConfig struct {
	// Enabled runs the agent in this process (default true; --no-agent).
	Enabled *bool `yaml:"enabled"`
	// LAPI is the Local API the agent pushes to, with the machine
	// credentials (keys of CrowdSec's local_api_credentials.yaml: url,
	// login, password). Empty with a local LAPI: the agent registers itself
	// in the local store and keeps its credentials in
	// <data_dir>/local_api_credentials.yaml.
	LAPI apiclient.Config `yaml:"lapi"`
	// CredentialsPath is a local_api_credentials.yaml to read LAPI from
	// instead (fields set in LAPI win).
	CredentialsPath string `yaml:"credentials_path"`
	// AcquisitionPath (a CrowdSec acquis.yaml) and AcquisitionDir (*.yaml
	// inside) name the datasources. Both empty: the log files of the
	// services found on this machine (see Discover).
	AcquisitionPath string `yaml:"acquisition_path"`
	AcquisitionDir  string `yaml:"acquisition_dir"`
	// HubDir is a hub tree (parsers/, scenarios/, patterns/, data/); empty:
	// the items installed under the data dir (`phalanx hub`, `phalanx
	// setup`), or the embedded content when none is. Collections picks hub
	// collections of HubDir (default: every parser, scenario and
	// postoverflow of the hub).
	HubDir      string   `yaml:"hub_dir"`
	Collections []string `yaml:"collections"`
	// ParseWorkers and BucketWorkers: CrowdSec's parser_routines /
	// buckets_routines (0: one parse worker per CPU, one bucket worker).
	// Alerts do not depend on them: a scenario's buckets all live on one
	// bucket worker.
	ParseWorkers  int `yaml:"parse_workers"`
	BucketWorkers int `yaml:"bucket_workers"`
	// SpoolDir keeps alert batches the LAPI has not acknowledged yet;
	// default <data_dir>/spool. SpoolMaxBytes bounds it (default 64 MiB):
	// when full, the oldest batches are dropped (and counted).
	SpoolDir      string `yaml:"spool_dir"`
	SpoolMaxBytes int64  `yaml:"spool_max_bytes"`
	// BatchSize, FlushInterval and PushesInFlight: with fewer than
	// PushesInFlight (default 1) pushes pending an alert is pushed at once;
	// while that many are pending, alerts wait until one is done, until
	// BatchSize (default 100) wait, or FlushInterval (default 1s) at most.
	BatchSize      int           `yaml:"batch_size"`
	FlushInterval  time.Duration `yaml:"flush_interval"`
	PushesInFlight int           `yaml:"pushes_in_flight"`
	// HeartbeatInterval (default 1m).
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// UsageMetricsInterval: the agent sends its usage metrics (datasources,
	// hub items, lines read and parsed) to the LAPI as it starts, then
	// this often (default 30m, as a CrowdSec log processor; < 0: never).
	UsageMetricsInterval time.Duration `yaml:"usage_metrics_interval"`
	// RetryMaxInterval caps the wait between failed pushes while the LAPI
	// is unreachable (default 30s; the wait starts at 1s and doubles).
	RetryMaxInterval time.Duration `yaml:"retry_max_interval"`
	// RawLines bounds the log lines each alert carries to the LAPI, which
	// keeps them with the alert (the dashboard shows them with their parser
	// trace; never shared beyond the LAPI).
	RawLines RawLinesConfig `yaml:"raw_lines"`
}

// RawLinesConfig bounds the raw log lines kept per alert: the newest
// MaxLines (default 20; -1: none) within MaxBytes (default 16384).
type RawLinesConfig struct {
	MaxLines int `yaml:"max_lines"`
	MaxBytes int `yaml:"max_bytes"`
}

// Defaults of RawLinesConfig.
const (
	DefaultRawLines     = 20
	DefaultRawLineBytes = 16384
)

// MetricsConfig configures the Prometheus endpoint.
type MetricsConfig struct {
	// Enabled serves /metrics (default true).
	Enabled *bool `yaml:"enabled"`
	// ListenAddr serves /metrics on an address of its own; empty: on the
	// LAPI listener (or, with no LAPI, not served).
	ListenAddr string `yaml:"listen_addr"`
	// AllowedIPs (addresses or CIDRs) may read /metrics, which names
	// machines and bouncers; others get 403. Default 127.0.0.1, ::1.
	AllowedIPs []string `yaml:"allowed_ips"`
	// Pprof also serves Go's profiles (/debug/pprof/: heap, CPU profile,
	// goroutines...) where /metrics is, to AllowedIPs only (default off).
	Pprof bool `yaml:"pprof"`
	// Limits harden the metrics listener of its own (internal/netguard).
	Limits netguard.Config `yaml:"limits"`
}

// Overrides are the command line settings that win over the file.
type Overrides struct {
	DataDir string
	Listen  string
	NoAgent bool
	NoLAPI  bool
}

// Apply sets the overrides on c.
func (o Overrides) Apply(c *Config) {
	f := false
	if o.DataDir != "" {
		c.DataDir = o.DataDir
	}
	if o.Listen != "" {
		c.LAPI.ListenURI = o.Listen
	}
	if o.NoAgent {
		c.Agent.Enabled = &f
	}
	if o.NoLAPI {
		c.LAPI.Enabled = &f
	}
}

// FilePolicy says how to treat the files Phalanx reads secrets and
// settings from (the config file, credentials files) when any local user
// can change them: world-writable, or in a world-writable folder without
// the sticky bit. The zero value refuses them, with an error naming the
// file: a daemon whose config anyone can change runs anyone's settings
// (another LAPI URL, other logs, a login that becomes a validated
// machine). AllowWorldWritable (the --allow-world-writable flag) reads
// them anyway.
type FilePolicy struct {
	AllowWorldWritable bool
}

// check returns an error when path is world-writable and the policy
// refuses it; other problems (a missing file) are left to the reader.
func (p FilePolicy) check(path string) error {
	if p.AllowWorldWritable {
		return nil
	}
	if err := secfile.CheckNotWorldWritable(path); errors.Is(err, secfile.ErrWorldWritable) {
		return fmt.Errorf("%w; refusing to read it (chmod o-w, or run with --allow-world-writable)", err)
	}
	return nil
}

// policyOf is the policy of an optional argument (default: refuse).
func policyOf(p []FilePolicy) FilePolicy {
	if len(p) > 0 {
		return p[0]
	}
	return FilePolicy{}
}

// LoadConfig reads and strictly decodes a config file. ${VAR} references
// are expanded from the environment first. A file any local user can
// change is refused unless the policy allows it.
func LoadConfig(path string, policy ...FilePolicy) (Config, error) {
	if err := policyOf(policy).check(path); err != nil {
		return Config{}, fmt.Errorf("app: config: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("app: config: %w", err)
	}
	return ParseConfig(path, b)
}

// ParseConfig strictly decodes a config file's bytes (named path in errors).
func ParseConfig(path string, data []byte) (Config, error) {
	var c Config
	data = []byte(os.Expand(string(data), func(k string) string { return os.Getenv(k) }))
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return c, nil // empty file: defaults
		}
		return c, yamlerr.New("app: config", path, err, "app.")
	}
	return c, nil
}

// DefaultDataDir is /var/lib/phalanx for root, else
// $XDG_DATA_HOME/phalanx (default ~/.local/share/phalanx).
func DefaultDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/phalanx"
	}
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "phalanx")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return filepath.Join(os.TempDir(), "phalanx-"+fmt.Sprint(os.Getuid()))
	}
	return filepath.Join(home, ".local", "share", "phalanx")
}

// resolved is a Config with defaults applied and checked.
type resolved struct {
	Config
	lapiOn, agentOn, metricsOn bool
	metricsAllowed             []netip.Prefix
	capi                       capi.Resolved
	// uiOn: the dashboard is served; uiOnLAPI: at /ui/ of the LAPI listener.
	uiOn, uiOnLAPI bool
}

// loopbackHost says whether host:port (or a host) names only loopback:
// a loopback IP or "localhost". An empty host (every interface) is not.
func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && a.Unmap().IsLoopback()
}

func on(b *bool) bool { return b == nil || *b }

// DefaultMemoryLimitMiB is the default soft memory limit of the daemon. A
// burst's peak RSS is this limit (the Go runtime's memory, which the heap
// reaches as a burst's buckets pile up) plus the ~27 MB of program text
// mapped. It must also leave the GC headroom after a burst: the burst's
// buckets stay alive on the wall clock for minutes, and with 112 MiB the
// runtime's memory (live heap plus the spans the burst left partly used)
// sat at the limit while bench/live's paced phase ran, so the collector
// marked 63 % of the time, a cycle every ~4 MB allocated, and its assists
// stalled the parse and scenario goroutines (backlogs of 1-3k lines, p99
// line -> alert 0.5-0.9 s on a loaded machine; README, bench/live).
const DefaultMemoryLimitMiB = 128

// GCPolicy is the garbage collector's policy for a process that runs the
// daemon of c: GOGC as is, and c's soft memory limit.
func (c Config) GCPolicy() gcpolicy.Policy {
	switch {
	case c.MemoryLimitMiB == 0:
		return gcpolicy.Policy{Limit: DefaultMemoryLimitMiB << 20}
	case c.MemoryLimitMiB > 0:
		return gcpolicy.Policy{Limit: int64(c.MemoryLimitMiB) << 20}
	}
	return gcpolicy.Policy{}
}

// resolve applies defaults and checks the combination of settings.
func (c Config) resolve() (*resolved, error) {
	r := &resolved{Config: c}
	if r.DataDir == "" {
		r.DataDir = DefaultDataDir()
	}
	if abs, err := filepath.Abs(r.DataDir); err == nil {
		r.DataDir = abs
	}
	switch r.LogLevel {
	case "":
		r.LogLevel = "info"
	case "debug", "info", "warn", "error":
	default:
		return nil, fmt.Errorf("app: config: log_level %q: want debug, info, warn or error", r.LogLevel)
	}
	if r.MemoryLimitMiB < -1 {
		return nil, fmt.Errorf("app: config: memory_limit_mib %d: want -1 (none), 0 (default) or more", r.MemoryLimitMiB)
	}
	r.lapiOn, r.agentOn, r.metricsOn = on(c.LAPI.Enabled), on(c.Agent.Enabled), on(c.Metrics.Enabled)
	if !r.lapiOn && !r.agentOn {
		return nil, errors.New("app: config: both the agent and the LAPI are disabled: nothing to run")
	}
	if r.LAPI.ListenURI == "" {
		r.LAPI.ListenURI = lapi.DefaultListen
	}
	allowed := c.Metrics.AllowedIPs
	if allowed == nil {
		allowed = []string{"127.0.0.1", "::1"}
	}
	var err error
	if r.metricsAllowed, err = netguard.ParsePrefixes(allowed); err != nil {
		return nil, fmt.Errorf("app: config: metrics.allowed_ips: %w", err)
	}
	r.Metrics.Limits = r.Metrics.Limits.Or(netguard.MetricsDefaults())
	db := &r.LAPI.Database
	if *db, err = db.Normalize(); err != nil {
		return nil, fmt.Errorf("app: config: lapi.database.type: %w", err)
	}
	switch backends.Kind(db.Type) {
	case backends.SQLite:
		if db.DBPath == "" {
			db.DBPath = filepath.Join(r.DataDir, "phalanx.db")
		}
	case backends.Postgres:
		if db.DSN == "" && r.lapiOn {
			return nil, errors.New("app: config: lapi.database.dsn: required for postgres")
		}
	}
	var err2 error
	if r.capi, err2 = c.CAPI.Resolve(r.DataDir); err2 != nil {
		return nil, fmt.Errorf("app: config: %w", err2)
	}
	r.uiOn = on(c.UI.Enabled) && r.lapiOn
	if r.uiOn {
		switch {
		case c.UI.Listen != "" && !loopbackHost(c.UI.Listen) && !c.UI.AllowRemote:
			return nil, fmt.Errorf("app: config: ui.listen %q is not a loopback address: the dashboard would face the network; "+
				"set ui.allow_remote: true to accept that (put TLS in front), or listen on 127.0.0.1", c.UI.Listen)
		case c.UI.Listen == "":
			r.uiOnLAPI = loopbackHost(r.LAPI.ListenURI)
		}
	}
	if c.UI.SessionIdle < 0 || c.UI.SessionMax < 0 {
		return nil, errors.New("app: config: ui.session_idle and ui.session_max must not be negative")
	}
	r.UI.Limits = r.UI.Limits.Or(netguard.Defaults())
	a := &r.Agent
	if a.SpoolDir == "" {
		a.SpoolDir = filepath.Join(r.DataDir, "spool")
	}
	if a.ParseWorkers < 0 || a.BucketWorkers < 0 {
		return nil, errors.New("app: config: agent.parse_workers and agent.bucket_workers must not be negative")
	}
	switch {
	case a.RawLines.MaxLines < -1 || a.RawLines.MaxBytes < 0:
		return nil, errors.New("app: config: agent.raw_lines: max_lines must be -1 (none) or more, max_bytes 0 (default) or more")
	case a.RawLines.MaxLines == 0:
		a.RawLines.MaxLines = DefaultRawLines
	}
	if a.RawLines.MaxBytes == 0 {
		a.RawLines.MaxBytes = DefaultRawLineBytes
	}
	if len(a.Collections) > 0 && a.HubDir == "" {
		return nil, errors.New("app: config: agent.collections needs agent.hub_dir")
	}
	if r.agentOn && !r.lapiOn && a.LAPI.URL == "" && a.CredentialsPath == "" {
		return nil, errors.New("app: config: agent without a local LAPI: set agent.lapi.url (and login, password) or agent.credentials_path")
	}
	return r, nil
}
