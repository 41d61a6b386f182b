package bouncer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/usagemetrics"
	"github.com/phalanx-ids/phalanx/internal/yamlerr"
)

// Config is the LAPI side of a bouncer's configuration, with the keys of
// CrowdSec's bouncers so that their YAML files work unchanged. Bouncer
// commands inline it in their own config (`yaml:",inline"`).
type Config struct {
	// APIURL is the LAPI, e.g. http://127.0.0.1:8080/.
	APIURL string `yaml:"api_url"`
	// APIKey is the bouncer key (`phalanx bouncers add NAME`). Empty with
	// CertPath/KeyPath: the client certificate authenticates (mTLS).
	APIKey apiclient.Secret `yaml:"api_key"`
	// Mode is "stream" (default: pull every decision at start, then the
	// changes every UpdateFrequency) or "live" (ask the LAPI per address,
	// answers cached CacheExpiration).
	Mode string `yaml:"mode"`
	// UpdateFrequency is the stream pull interval (default 10s).
	UpdateFrequency time.Duration `yaml:"update_frequency"`
	// CacheExpiration is how long a live answer is reused (default 1s,
	// CrowdSec's `cache_expiration`); CacheSize bounds the cache (default
	// 100,000 addresses).
	CacheExpiration time.Duration `yaml:"cache_expiration"`
	CacheSize       int           `yaml:"cache_size"`
	// Scopes pulled (default Ip and Range; others are ignored anyway).
	Scopes []string `yaml:"scopes"`
	// Origins, when set, keeps only decisions of these origins (crowdsec,
	// cscli, CAPI, lists...).
	Origins []string `yaml:"origins"`
	// ScenariosContaining / ScenariosNotContaining filter by scenario name
	// substrings.
	ScenariosContaining    []string `yaml:"scenarios_containing"`
	ScenariosNotContaining []string `yaml:"scenarios_not_containing"`
	// TLS: the CA of the LAPI's certificate and the client certificate.
	CertPath           string `yaml:"cert_path"`
	KeyPath            string `yaml:"key_path"`
	CACertPath         string `yaml:"ca_cert_path"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
	// Timeout bounds one LAPI request (default 30s; a startup stream of a
	// million decisions takes seconds).
	Timeout time.Duration `yaml:"timeout"`
	// RetryMaxInterval caps the wait between failed pulls (default 1m; the
	// wait starts at 1s, doubles and is jittered).
	RetryMaxInterval time.Duration `yaml:"retry_max_interval"`
	// UserAgent is "name/version" (default set by the bouncer command).
	UserAgent string `yaml:"user_agent"`
	// UsageMetricsInterval: a stream bouncer sends its usage metrics
	// (active decisions, what it dropped, by origin) to the LAPI this
	// often, the first after one interval (default 15m, as CrowdSec's
	// bouncers; < 0: never).
	UsageMetricsInterval time.Duration `yaml:"usage_metrics_interval"`
}

// Modes.
const (
	ModeStream = "stream"
	ModeLive   = "live"
)

const (
	defaultUpdateFrequency = 10 * time.Second
	defaultCacheExpiration = time.Second
	defaultCacheSize       = 100_000
	defaultRetryMax        = time.Minute
	defaultTimeout         = 30 * time.Second
)

// WithDefaults returns c with its defaults filled in.
func (c Config) WithDefaults() Config {
	if c.Mode == "" {
		c.Mode = ModeStream
	}
	if c.UpdateFrequency <= 0 {
		c.UpdateFrequency = defaultUpdateFrequency
	}
	if c.CacheExpiration <= 0 {
		c.CacheExpiration = defaultCacheExpiration
	}
	if c.CacheSize <= 0 {
		c.CacheSize = defaultCacheSize
	}
	if c.RetryMaxInterval <= 0 {
		c.RetryMaxInterval = defaultRetryMax
	}
	if c.Timeout <= 0 {
		c.Timeout = defaultTimeout
	}
	if len(c.Scopes) == 0 {
		c.Scopes = []string{ScopeIP, ScopeRange}
	}
	if c.UserAgent == "" {
		c.UserAgent = "phalanx-bouncer/dev"
	}
	if c.UsageMetricsInterval == 0 {
		c.UsageMetricsInterval = usagemetrics.Bouncer.Interval
	}
	return c
}

// Validate reports the first problem of c (after WithDefaults).
func (c Config) Validate() error {
	if c.APIURL == "" {
		return errors.New("bouncer: config: api_url is required")
	}
	if c.APIKey == "" && c.CertPath == "" {
		return errors.New("bouncer: config: api_key or cert_path/key_path is required")
	}
	if (c.CertPath == "") != (c.KeyPath == "") {
		return errors.New("bouncer: config: cert_path and key_path go together")
	}
	if c.Mode != ModeStream && c.Mode != ModeLive {
		return fmt.Errorf("bouncer: config: mode %q: want stream or live", c.Mode)
	}
	for _, s := range c.Scopes {
		if n := models.NormalizeScope(s); n != ScopeIP && n != ScopeRange {
			return fmt.Errorf("bouncer: config: scope %q: only Ip and Range are enforced", s)
		}
	}
	return nil
}

// ClientConfig is the apiclient configuration for c. Retries inside one
// call are off: the bouncer loop backs off itself.
func (c Config) ClientConfig() apiclient.Config {
	return apiclient.Config{
		URL:       c.APIURL,
		UserAgent: c.UserAgent,
		APIKey:    c.APIKey,
		Timeout:   c.Timeout,
		TLS: apiclient.TLSConfig{
			CAFile:             c.CACertPath,
			CertFile:           c.CertPath,
			KeyFile:            c.KeyPath,
			InsecureSkipVerify: c.InsecureSkipVerify,
		},
		Retry: apiclient.RetryConfig{MaxAttempts: 1},
	}
}

func (c Config) streamFilter(startup bool) apiclient.StreamFilter {
	return apiclient.StreamFilter{
		Startup:                startup,
		Scopes:                 lower(c.Scopes),
		Origins:                c.Origins,
		ScenariosContaining:    c.ScenariosContaining,
		ScenariosNotContaining: c.ScenariosNotContaining,
	}
}

func lower(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToLower(s)
	}
	return out
}

// ParseConfig decodes a bouncer config from YAML, strictly (unknown keys
// are errors), fills defaults and validates it. name is used in errors.
func ParseConfig(name string, data []byte) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, yamlerr.New("bouncer: config", name, err, "bouncer.")
	}
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%w (in %s)", err, name)
	}
	return c, nil
}
