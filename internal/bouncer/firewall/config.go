package firewall

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/bouncer"
	"github.com/phalanx-ids/phalanx/internal/yamlerr"
)

// Config is the firewall bouncer's YAML: the LAPI keys of bouncer.Config
// plus the keys of CrowdSec's firewall bouncer that apply here. `mode`
// names the backend, as in CrowdSec (the bouncer always runs in stream
// mode).
type Config struct {
	bouncer.Config `yaml:",inline"`

	// Backend comes from the `mode` key: nftables, iptables (ipset is an
	// alias), or auto (default: nftables when the kernel answers, else
	// iptables).
	Backend string `yaml:"-"`
	// DenyAction: DROP (default) or REJECT.
	DenyAction string `yaml:"deny_action"`
	// Chains filtered: input (default) and/or forward. iptables_chains
	// (INPUT, FORWARD) is accepted as well.
	Chains         []string `yaml:"chains"`
	IptablesChains []string `yaml:"iptables_chains"`
	// Table is the nftables table (family inet) and the ipset/chain name
	// prefix. Default phalanx.
	Table string `yaml:"table"`
	// Priority of the nftables base chains (default -10).
	Priority    int32 `yaml:"priority"`
	DisableIPv6 bool  `yaml:"disable_ipv6"`
	// SupportedDecisionsTypes are enforced (default [ban]).
	SupportedDecisionsTypes []string `yaml:"supported_decisions_types"`
	// ResyncInterval: how often the kernel's content is read back and
	// drift repaired (default 1m).
	ResyncInterval time.Duration `yaml:"resync_interval"`
	// BatchSize: set operations per transaction (default 200,000).
	BatchSize int `yaml:"batch_size"`
	// FailMode: open (default) starts enforcing nothing until the LAPI
	// answers; closed drops every new inbound connection but loopback's
	// until the first snapshot is applied. Either way, once a snapshot is
	// in, the last good set stays enforced while the LAPI is unreachable.
	FailMode string `yaml:"fail_mode"`
	// KeepOnExit leaves the table and its elements in place on exit
	// (elements still expire with their timeouts).
	KeepOnExit bool `yaml:"keep_on_exit"`
	// NetNS programs the named network namespace (/run/netns/NAME).
	NetNS string `yaml:"netns"`
	// Prometheus serves the metrics (CrowdSec's keys).
	Prometheus PrometheusConfig `yaml:"prometheus"`
	// LogLevel: debug, info (default), warn, error.
	LogLevel string `yaml:"log_level"`

	// Keys of CrowdSec's firewall bouncer accepted and ignored (logging
	// goes to stderr; the set names are fixed).
	LogMode        any `yaml:"log_mode"`
	LogDir         any `yaml:"log_dir"`
	LogMaxSize     any `yaml:"log_max_size"`
	LogMaxAge      any `yaml:"log_max_age"`
	LogMaxBackups  any `yaml:"log_max_backups"`
	CompressLogs   any `yaml:"compress_logs"`
	LogCompress    any `yaml:"log_compression"`
	BlacklistsIPv4 any `yaml:"blacklists_ipv4"`
	BlacklistsIPv6 any `yaml:"blacklists_ipv6"`
	IpsetType      any `yaml:"ipset_type"`
	DenyLog        any `yaml:"deny_log"`
	DenyLogPrefix  any `yaml:"deny_log_prefix"`
	Nftables       any `yaml:"nftables"`
	NftablesHooks  any `yaml:"nftables_hooks"`
	Daemonize      any `yaml:"daemonize"`
}

// PrometheusConfig is CrowdSec's prometheus block.
type PrometheusConfig struct {
	Enabled    bool   `yaml:"enabled"`
	ListenAddr string `yaml:"listen_addr"`
	ListenPort string `yaml:"listen_port"`
}

// Backends.
const (
	BackendAuto     = "auto"
	BackendNftables = "nftables"
	BackendIptables = "iptables"
)

// LoadConfig reads and parses a config file.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("firewall: config: %w", err)
	}
	return ParseConfig(path, b)
}

// ParseConfig decodes YAML strictly (unknown keys are errors), fills in
// defaults and validates.
func ParseConfig(name string, data []byte) (Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Config{}, yamlerr.New("firewall: config", name, err, "firewall.")
	}
	var c Config
	if len(root.Content) == 1 && root.Content[0].Kind == yaml.MappingNode {
		m := root.Content[0]
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == "mode" {
				c.Backend = m.Content[i+1].Value
				m.Content = append(m.Content[:i], m.Content[i+2:]...)
				break
			}
		}
		rest, err := yaml.Marshal(m)
		if err != nil {
			return Config{}, fmt.Errorf("firewall: config %s: %w", name, err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(rest))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			// rest is re-encoded: its lines are not the file's (no yamlerr here).
			return Config{}, fmt.Errorf("firewall: config %s: %w", name, err)
		}
	}
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%w (in %s)", err, name)
	}
	return c, nil
}

// WithDefaults fills in the defaults.
func (c Config) WithDefaults() Config {
	c.Config.Mode = bouncer.ModeStream
	c.Config = c.Config.WithDefaults()
	if c.UserAgent == "phalanx-bouncer/dev" {
		c.UserAgent = "phalanx-firewall-bouncer/dev"
	}
	c.Backend = strings.ToLower(c.Backend)
	switch c.Backend {
	case "":
		c.Backend = BackendAuto
	case "ipset":
		c.Backend = BackendIptables
	}
	c.DenyAction = strings.ToLower(c.DenyAction)
	if c.DenyAction == "" {
		c.DenyAction = ActionDrop
	}
	if len(c.Chains) == 0 {
		for _, ch := range c.IptablesChains {
			c.Chains = append(c.Chains, strings.ToLower(ch))
		}
	}
	if len(c.Chains) == 0 {
		c.Chains = []string{HookInput}
	}
	for i := range c.Chains {
		c.Chains[i] = strings.ToLower(c.Chains[i])
	}
	if c.Table == "" {
		c.Table = "phalanx"
	}
	if len(c.SupportedDecisionsTypes) == 0 {
		c.SupportedDecisionsTypes = []string{"ban"}
	}
	if c.ResyncInterval <= 0 {
		c.ResyncInterval = time.Minute
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 200_000
	}
	if c.FailMode == "" {
		c.FailMode = "open"
	}
	return c
}

// Validate reports the first problem.
func (c Config) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	switch c.Backend {
	case BackendAuto, BackendNftables, BackendIptables:
	default:
		return fmt.Errorf("firewall: config: mode %q: want nftables, iptables or auto", c.Backend)
	}
	if c.FailMode != "open" && c.FailMode != "closed" {
		return fmt.Errorf("firewall: config: fail_mode %q: want open or closed", c.FailMode)
	}
	if err := c.backendConfig().validate(); err != nil {
		return fmt.Errorf("firewall: config: %w", err)
	}
	if strings.ContainsAny(c.Table, " /\t") || len(c.Table) > 20 {
		return fmt.Errorf("firewall: config: table %q: want a short name without spaces", c.Table)
	}
	return nil
}

func (c Config) backendConfig() BackendConfig {
	return BackendConfig{Table: c.Table, Action: c.DenyAction, Hooks: c.Chains, Priority: c.Priority,
		DisableIPv6: c.DisableIPv6, NetNS: c.NetNS}.withDefaults()
}
