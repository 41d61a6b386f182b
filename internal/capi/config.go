package capi

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/phalanx-ids/phalanx/internal/duration"
)

// Config is the `capi:` section of the daemon's config file (plain data;
// Resolve compiles it).
type Config struct {
	// CredentialsPath is online_api_credentials.yaml (default
	// <data_dir>/online_api_credentials.yaml). The daemon shares and pulls
	// only when this file exists (`phalanx capi register` writes it).
	CredentialsPath string `yaml:"credentials_path"`
	// ConsolePath is console.yaml, the consent flags (default
	// <data_dir>/console.yaml; missing: CrowdSec's defaults).
	ConsolePath string `yaml:"console_path"`
	// Sharing pushes signals (default true; CrowdSec's online_client.sharing).
	Sharing *bool `yaml:"sharing"`
	// Pull: the community list and the linked blocklists (default true each).
	Pull struct {
		Community  *bool `yaml:"community"`
		Blocklists *bool `yaml:"blocklists"`
	} `yaml:"pull"`
	// PullInterval fixes the pull interval (e.g. 10s). Empty: what the
	// central asks for (header X-Phalanx-Pull-Interval, a Phalanx central
	// sends it), else 2h (CrowdSec's central).
	PullInterval string `yaml:"pull_interval"`
	// Metrics sends the LAPI's inventory of machines and bouncers (names,
	// versions, last pull/push; POST /v3/metrics/) every 30 min, as
	// CrowdSec does (default true).
	Metrics *bool `yaml:"metrics"`
	// UsageMetrics forwards the usage metrics of the LAPI's agents and
	// bouncers, with the LAPI's own (version, OS, enabled console
	// options), every 30 min (POST /v3/usage-metrics), as CrowdSec does
	// unless disable_usage_metrics_export (default true).
	UsageMetrics *bool `yaml:"usage_metrics"`
}

// DefaultPullInterval is CrowdSec's.
const DefaultPullInterval = 2 * time.Hour

// Resolved is a Config with its defaults applied.
type Resolved struct {
	CredentialsPath, ConsolePath  string
	Sharing, PullCommunity        bool
	PullBlocklists                bool
	SendMetrics, SendUsageMetrics bool
	// PullInterval is fixed when non-zero.
	PullInterval time.Duration
}

// Resolve applies the defaults under dataDir and checks the values.
func (c Config) Resolve(dataDir string) (Resolved, error) {
	on := func(b *bool) bool { return b == nil || *b }
	r := Resolved{CredentialsPath: c.CredentialsPath, ConsolePath: c.ConsolePath, Sharing: on(c.Sharing),
		PullCommunity: on(c.Pull.Community), PullBlocklists: on(c.Pull.Blocklists),
		SendMetrics: on(c.Metrics), SendUsageMetrics: on(c.UsageMetrics)}
	if r.CredentialsPath == "" {
		r.CredentialsPath = filepath.Join(dataDir, CredentialsFile)
	}
	if r.ConsolePath == "" {
		r.ConsolePath = filepath.Join(dataDir, ConsoleFile)
	}
	if c.PullInterval != "" {
		d, err := duration.Positive(c.PullInterval)
		if err != nil {
			return r, fmt.Errorf("capi: config: pull_interval: %w", err)
		}
		if d < time.Second {
			return r, fmt.Errorf("capi: config: pull_interval %s: at least 1s", c.PullInterval)
		}
		r.PullInterval = d
	}
	return r, nil
}
