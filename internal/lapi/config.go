package lapi

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
)

// SecretEnv is the environment variable that holds the JWT signing secret
// when Config.JWTSecret is empty (CrowdSec's CS_LAPI_SECRET).
const SecretEnv = "PHALANX_LAPI_SECRET"

// Defaults of Config.
const (
	DefaultListen          = "127.0.0.1:8080"
	DefaultJWTValidity     = time.Hour
	DefaultMaxBodyUnauth   = 2 << 20  // 2 MiB
	DefaultMaxBodyAuth     = 50 << 20 // 50 MiB
	DefaultPullFlush       = 10 * time.Second
	DefaultFollowInterval  = time.Second
	DefaultAuthCacheTTL    = 5 * time.Second
	DefaultDeletedWindow   = 24 * time.Hour
	DefaultFlushInterval   = time.Minute
	DefaultAllowlistReload = 10 * time.Second
	DefaultShutdownTimeout = 10 * time.Second
	minSecretLen           = 64
	defaultAgentsOU        = "agent-ou"
	defaultBouncersOU      = "bouncer-ou"
)

// Config is the LAPI's configuration: plain data (YAML keys follow
// CrowdSec's api.server section where one exists). The zero value plus
// defaults is a working localhost server with a random JWT secret.
type Config struct {
	// ListenURI is the address Run's caller should listen on (informative
	// here: Run takes a listener). Default 127.0.0.1:8080.
	ListenURI string    `yaml:"listen_uri"`
	TLS       TLSConfig `yaml:"tls"`
	// TrustedIPs (IPs or CIDRs) may delete alerts. Default 127.0.0.1, ::1.
	TrustedIPs []string `yaml:"trusted_ips"`
	// JWTSecret signs machine tokens (HS256). Empty: the PHALANX_LAPI_SECRET
	// environment variable, else a random secret per start (tokens do not
	// survive a restart; agents log in again). Must be >= 64 bytes.
	JWTSecret string `yaml:"jwt_secret"`
	// JWTValidity is how long a token is valid, and how long after its
	// issue it may be refreshed. Default 1h.
	JWTValidity time.Duration `yaml:"jwt_validity"`
	// MaxBodyUnauth / MaxBodyAuth bound request bodies (after gzip
	// decompression) of unauthenticated and authenticated routes.
	MaxBodyUnauth int64 `yaml:"max_body_unauth"`
	MaxBodyAuth   int64 `yaml:"max_body_auth"`
	// DisableRemoteRegistration refuses POST /v1/watchers from non-loopback
	// clients (CrowdSec's disable_remote_lapi_registration).
	DisableRemoteRegistration bool             `yaml:"disable_remote_lapi_registration"`
	AutoRegistration          AutoRegistration `yaml:"auto_registration"`
	Flush                     FlushConfig      `yaml:"flush"`
	// PullFlushInterval is how often bouncer last-pull times and machine
	// heartbeats kept in memory are written to the store. Default 10s.
	PullFlushInterval time.Duration `yaml:"pull_flush_interval"`
	// FollowInterval is how often the decision index reads the store's
	// change sequence (changes made by other replicas). Default 1s.
	FollowInterval time.Duration `yaml:"follow_interval"`
	// AuthCacheTTL is how long a bouncer key or machine lookup is trusted
	// before the store is read again (revocation delay). Default 5s.
	AuthCacheTTL time.Duration `yaml:"auth_cache_ttl"`
	// DeletedWindow is how long expired decisions are remembered for the
	// `deleted` list of startup streams. Default 24h.
	DeletedWindow time.Duration `yaml:"deleted_window"`
	// AllowlistReload is how often the allowlists are re-read from the
	// store when the server owns its allowlist set (Deps.Allowlists nil).
	// Default 10s.
	AllowlistReload time.Duration `yaml:"allowlist_reload"`
	// ShutdownTimeout bounds the graceful shutdown of Run. Default 10s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// TLSConfig enables HTTPS and mTLS (CrowdSec's api.server.tls).
type TLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile (PEM) verifies client certificates.
	ClientCAFile string `yaml:"ca_cert_path"`
	// ClientVerification: NoClientCert, RequestClientCert,
	// RequireAnyClientCert, VerifyClientCertIfGiven (default with a CA),
	// RequireAndVerifyClientCert.
	ClientVerification string `yaml:"client_verification"`
	// AgentsAllowedOU / BouncersAllowedOU: a verified client certificate
	// with one of these OUs authenticates as an agent / a bouncer.
	// Defaults agent-ou / bouncer-ou.
	AgentsAllowedOU   []string `yaml:"agents_allowed_ou"`
	BouncersAllowedOU []string `yaml:"bouncers_allowed_ou"`
}

// Enabled says whether the server speaks HTTPS.
func (t TLSConfig) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// AutoRegistration lets machines register already validated (HTTP 202)
// when they present Token from an address in AllowedRanges.
type AutoRegistration struct {
	Enabled       bool     `yaml:"enabled"`
	Token         string   `yaml:"token"`
	AllowedRanges []string `yaml:"allowed_ranges"`
}

// FlushConfig is the retention policy applied every Interval
// (CrowdSec's db_config.flush).
type FlushConfig struct {
	// Interval between flushes; default 1m. Negative disables flushing.
	Interval time.Duration `yaml:"interval"`
	// MaxItems keeps at most this many alerts; 0: no limit.
	MaxItems int `yaml:"max_items"`
	// MaxAge removes alerts older than this ("7d" accepted); empty: no limit.
	MaxAge string `yaml:"max_age"`
	// DecisionsExpiredFor removes decisions expired for longer than this;
	// empty: DeletedWindow.
	DecisionsExpiredFor string `yaml:"decisions_expired_for"`
}

// settings is Config validated and with defaults applied.
type settings struct {
	Config
	secret      []byte
	trusted     []netip.Prefix
	autoRanges  []netip.Prefix
	flushPolicy store.FlushPolicy
}

func (c Config) compile(getenv func(string) string) (*settings, error) {
	s := &settings{Config: c}
	if s.ListenURI == "" {
		s.ListenURI = DefaultListen
	}
	if s.JWTValidity <= 0 {
		s.JWTValidity = DefaultJWTValidity
	}
	if s.MaxBodyUnauth <= 0 {
		s.MaxBodyUnauth = DefaultMaxBodyUnauth
	}
	if s.MaxBodyAuth <= 0 {
		s.MaxBodyAuth = DefaultMaxBodyAuth
	}
	if s.PullFlushInterval <= 0 {
		s.PullFlushInterval = DefaultPullFlush
	}
	if s.FollowInterval <= 0 {
		s.FollowInterval = DefaultFollowInterval
	}
	if s.AuthCacheTTL == 0 {
		s.AuthCacheTTL = DefaultAuthCacheTTL
	}
	if s.DeletedWindow <= 0 {
		s.DeletedWindow = DefaultDeletedWindow
	}
	if s.AllowlistReload <= 0 {
		s.AllowlistReload = DefaultAllowlistReload
	}
	if s.ShutdownTimeout <= 0 {
		s.ShutdownTimeout = DefaultShutdownTimeout
	}
	if s.Flush.Interval == 0 {
		s.Flush.Interval = DefaultFlushInterval
	}
	if len(s.TLS.AgentsAllowedOU) == 0 {
		s.TLS.AgentsAllowedOU = []string{defaultAgentsOU}
	}
	if len(s.TLS.BouncersAllowedOU) == 0 {
		s.TLS.BouncersAllowedOU = []string{defaultBouncersOU}
	}

	secret := c.JWTSecret
	if secret == "" && getenv != nil {
		secret = getenv(SecretEnv)
	}
	switch {
	case secret == "":
		s.secret = make([]byte, minSecretLen)
		_, _ = rand.Read(s.secret)
	case len(secret) < minSecretLen:
		return nil, fmt.Errorf("lapi: config: jwt secret: %d bytes, want at least %d", len(secret), minSecretLen)
	default:
		s.secret = []byte(secret)
	}

	trusted := c.TrustedIPs
	if trusted == nil {
		trusted = []string{"127.0.0.1", "::1"}
	}
	var err error
	if s.trusted, err = parsePrefixes(trusted); err != nil {
		return nil, fmt.Errorf("lapi: config: trusted_ips: %w", err)
	}
	if s.autoRanges, err = parsePrefixes(c.AutoRegistration.AllowedRanges); err != nil {
		return nil, fmt.Errorf("lapi: config: auto_registration.allowed_ranges: %w", err)
	}
	if c.AutoRegistration.Enabled {
		if n := len(c.AutoRegistration.Token); n < 32 || n > 255 {
			return nil, fmt.Errorf("lapi: config: auto_registration.token: %d characters, want 32 to 255", n)
		}
		if len(s.autoRanges) == 0 {
			return nil, errors.New("lapi: config: auto_registration.allowed_ranges: required when auto_registration is enabled")
		}
	}
	if c.TLS.Enabled() && (c.TLS.CertFile == "" || c.TLS.KeyFile == "") {
		return nil, errors.New("lapi: config: tls: cert_file and key_file go together")
	}
	if _, err := clientAuth(c.TLS); err != nil {
		return nil, err
	}
	if s.flushPolicy, err = c.Flush.policy(s.DeletedWindow); err != nil {
		return nil, err
	}
	return s, nil
}

func (f FlushConfig) policy(deletedWindow time.Duration) (store.FlushPolicy, error) {
	p := store.FlushPolicy{AlertsMaxItems: f.MaxItems, DecisionsExpiredFor: deletedWindow}
	if f.MaxItems < 0 {
		return p, fmt.Errorf("lapi: config: flush.max_items: %d is negative", f.MaxItems)
	}
	if f.MaxAge != "" {
		d, err := store.ParseDuration(f.MaxAge)
		if err != nil || d <= 0 {
			return p, fmt.Errorf("lapi: config: flush.max_age: %q is not a positive duration", f.MaxAge)
		}
		p.AlertsMaxAge = d
	}
	if f.DecisionsExpiredFor != "" {
		d, err := store.ParseDuration(f.DecisionsExpiredFor)
		if err != nil || d <= 0 {
			return p, fmt.Errorf("lapi: config: flush.decisions_expired_for: %q is not a positive duration", f.DecisionsExpiredFor)
		}
		p.DecisionsExpiredFor = d
	}
	return p, nil
}

// parsePrefixes parses IPs and CIDRs (models.ParseIPOrRange).
func parsePrefixes(in []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(in))
	for _, v := range in {
		p, err := models.ParseIPOrRange(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP or CIDR", strings.TrimSpace(v))
		}
		out = append(out, p)
	}
	return out, nil
}

func inPrefixes(ps []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
