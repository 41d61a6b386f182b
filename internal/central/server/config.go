package server

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/central/curate"
	"github.com/phalanx-ids/phalanx/internal/netguard"
	"github.com/phalanx-ids/phalanx/internal/yamlerr"
)

// Config is the central's configuration (`phalanx central run -c FILE`;
// flags override it). Plain data.
type Config struct {
	// DataDir holds central.db (SQLite) when DB is empty.
	DataDir string `yaml:"data_dir"`
	// DB is a PostgreSQL DSN; empty: SQLite in DataDir.
	DB string `yaml:"db"`
	// Listen is host:port.
	Listen string `yaml:"listen"`
	// TLSCert and TLSKey serve HTTPS when set.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// TrustedProxies: when the TCP peer is in one of these, the client is
	// the right-most address of X-Forwarded-For that is not.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// HubIndex is the hub index (index.json) whose scenario hashes count.
	HubIndex string `yaml:"hub_index"`
	// PublishAllowlist links the central's allowlist in every stream
	// answer (links.allowlists, CAPI's centralized allowlists): installs
	// apply it as a local allowlist, so the networks the crowd never lists
	// (search engines, CDNs, the operator's own) are not blocked locally
	// either. Off by default.
	PublishAllowlist bool `yaml:"publish_allowlist"`
	// PublicURL is the central's URL as installs reach it (links are
	// built on it: an absolute http(s) URL, without query or fragment).
	// Empty: derived from the listening address when it names one host
	// (127.0.0.1:8090 gives http://127.0.0.1:8090); with publish_allowlist
	// on an unspecified address (0.0.0.0, ::, :8090), it is required.
	// Never the request's Host header: a client controls it, and a link
	// built on it would send other installs' LAPIs to the client's host.
	PublicURL string `yaml:"public_url"`
	// Curation thresholds.
	Curation curate.Config `yaml:"curation"`
	// Limits of the HTTP server (netguard).
	Limits netguard.Config `yaml:"limits"`
	// RegisterOnLogin registers an unknown machine_id at its first login
	// (default true), under the registration rate limit: a stock CrowdSec
	// LAPI, whose credentials were registered at CrowdSec's central,
	// joins by changing only `url` in online_api_credentials.yaml
	// (`cscli capi register` always registers at api.crowdsec.net).
	// Registration is open anyway: this adds no capability.
	RegisterOnLogin *bool `yaml:"register_on_login"`
	// RegistrationRate: registrations per client /24 (IPv6 /48), e.g. "10/h".
	RegistrationRate  netguard.Rate `yaml:"registration_rate"`
	RegistrationBurst int           `yaml:"registration_burst"`
	// SignalRate: signal requests per install ("10/s").
	SignalRate  netguard.Rate `yaml:"signal_rate"`
	SignalBurst int           `yaml:"signal_burst"`
	// PullRate: stream pulls per install ("1/s"; one every 5 s must pass).
	PullRate  netguard.Rate `yaml:"pull_rate"`
	PullBurst int           `yaml:"pull_burst"`
	// PullInterval is what stream answers ask Phalanx installs to pull
	// at (header PullIntervalHeader; default 10s, at least 1s and at least
	// one pull-rate period, so that an install pulling at it is never
	// refused). CrowdSec installs ignore it and keep their 2 h.
	PullInterval time.Duration `yaml:"pull_interval"`
	// MaxSignals per request (default 1000); MaxBody in bytes (default 4 MiB).
	MaxSignals int   `yaml:"max_signals"`
	MaxBody    int64 `yaml:"max_body"`
	// TokenTTL is the JWT lifetime (default 2h).
	TokenTTL time.Duration `yaml:"token_ttl"`
	// Poll is how often the curator and the list follow the database
	// (other replicas, operator commands); default 500ms.
	Poll time.Duration `yaml:"poll"`
	// MaxWait bounds the long-poll wait of a stream pull (?wait=); default 50s.
	MaxWait time.Duration `yaml:"max_wait"`
	// MaxConcurrentHashes bounds bcrypt work (default 4).
	MaxConcurrentHashes int `yaml:"max_concurrent_hashes"`
	// FeedRetention and SignalRetention: how long feed events and raw
	// signals are kept (default 7 days, 14 days).
	FeedRetention   time.Duration `yaml:"feed_retention"`
	SignalRetention time.Duration `yaml:"signal_retention"`
}

// LoadConfig reads a YAML configuration file.
func LoadConfig(path string) (Config, error) {
	var c Config
	raw, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("central: config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return c, yamlerr.New("central: config", path, err, "server.")
	}
	return c, nil
}

func (c Config) withDefaults() Config {
	if c.RegistrationRate == 0 {
		c.RegistrationRate = 10.0 / 3600
	}
	if c.RegistrationBurst == 0 {
		c.RegistrationBurst = 20
	}
	if c.SignalRate == 0 {
		c.SignalRate = 10
	}
	if c.SignalBurst == 0 {
		c.SignalBurst = 50
	}
	if c.PullRate == 0 {
		c.PullRate = 1
	}
	if c.PullBurst == 0 {
		c.PullBurst = 5
	}
	if c.PullInterval == 0 {
		c.PullInterval = DefaultPullInterval
	}
	if c.MaxSignals == 0 {
		c.MaxSignals = 1000
	}
	if c.MaxBody == 0 {
		c.MaxBody = 4 << 20
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = 2 * time.Hour
	}
	if c.Poll == 0 {
		c.Poll = 500 * time.Millisecond
	}
	if c.MaxWait == 0 {
		c.MaxWait = 50 * time.Second
	}
	if c.MaxConcurrentHashes == 0 {
		c.MaxConcurrentHashes = 4
	}
	if c.FeedRetention == 0 {
		c.FeedRetention = 7 * 24 * time.Hour
	}
	if c.SignalRetention == 0 {
		c.SignalRetention = 14 * 24 * time.Hour
	}
	c.Curation = c.Curation.Or(curate.Defaults())
	return c
}

// DefaultPullInterval is the pull interval the central asks for.
const DefaultPullInterval = 10 * time.Second

// PullIntervalHeader is the stream answer header carrying the pull
// interval; it must equal capi.PullIntervalHeader (the install side reads
// it; a test checks the two agree, without the central importing the
// install side).
const PullIntervalHeader = "X-Phalanx-Pull-Interval"

// validate checks what defaults cannot fix.
func (c Config) validate() error {
	if c.PullInterval < time.Second {
		return fmt.Errorf("central: config: pull_interval %s: at least 1s", c.PullInterval)
	}
	if c.PullRate < 0 || c.PullBurst < 0 {
		return errors.New("central: config: pull_rate and pull_burst must be positive")
	}
	if period := time.Duration(float64(time.Second) / float64(c.PullRate)); c.PullInterval < period {
		return fmt.Errorf("central: config: pull_interval %s is shorter than the pull rate allows (one pull every %s)", c.PullInterval, period.Round(time.Millisecond))
	}
	if c.PublicURL != "" {
		if _, err := parsePublicURL(c.PublicURL); err != nil {
			return fmt.Errorf("central: config: public_url: %w", err)
		}
	}
	if c.PublishAllowlist && publicBase(c, nil) == "" {
		return fmt.Errorf("central: config: publish_allowlist needs public_url when listening on every address (%q): links are never built on a request's Host header", c.Listen)
	}
	return nil
}

// parsePublicURL checks a configured public URL and returns it without a
// trailing slash.
func parsePublicURL(v string) (string, error) {
	u, err := url.Parse(v)
	if err != nil {
		return "", errors.New("not a URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("%q: want an http:// or https:// URL", v)
	case u.Host == "" || u.Hostname() == "":
		return "", fmt.Errorf("%q: no host", v)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return "", fmt.Errorf("%q: want scheme, host, port and path only", v)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// publicBase is the base of the links the central serves: the configured
// public URL, or one derived from the bound listener addr when it names
// one host. "" when neither is possible (an unspecified address): links
// are then not served, and New refuses publish_allowlist.
func publicBase(cfg Config, addr net.Addr) string {
	if cfg.PublicURL != "" {
		base, _ := parsePublicURL(cfg.PublicURL) // checked by validate
		return base
	}
	host, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil || host == "" {
		return ""
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsUnspecified() {
		return ""
	}
	if tcp, ok := addr.(*net.TCPAddr); ok && (port == "" || port == "0") {
		port = strconv.Itoa(tcp.Port)
	}
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// clientAddr resolves the client of r: the TCP peer, or, when the peer
// is a trusted proxy, the right-most address of X-Forwarded-For that is
// not a trusted proxy (every address right of it was added by a proxy we
// trust; anything left of it the client may have forged). A malformed
// entry stops the walk: the last trusted hop's view (the proxy) is used.
func clientAddr(trusted []netip.Prefix, r *http.Request) netip.Addr {
	peer := netguard.PeerAddr(r)
	if len(trusted) == 0 || !netguard.Contains(trusted, peer) {
		return peer
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(h, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return client
		}
		client = a.Unmap().WithZone("")
		if !netguard.Contains(trusted, client) {
			return client
		}
	}
	return client
}
