package lapi

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"time"

	"github.com/phalanx-ids/phalanx/internal/duration"
	"github.com/phalanx-ids/phalanx/internal/netguard"
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
	// DefaultMaxAlertsPerRequest bounds POST /v1/alerts. Phalanx's agent
	// sends batch_size (100) alerts; CrowdSec's sends what accumulated in a
	// second (more after an outage: it re-queues failed batches whole).
	DefaultMaxAlertsPerRequest = 10000
	// DefaultMaxEventsPerAlert bounds an alert's events: a bucket sends its
	// queue (capacity + 1, 1001 for the widest hub scenario).
	DefaultMaxEventsPerAlert = 10000
	// DefaultMaxRawLinesPerAlert and DefaultMaxRawBytesPerAlert bound the
	// raw log lines a Phalanx agent pushes with an alert (beyond: the
	// newest are kept).
	DefaultMaxRawLinesPerAlert = 100
	DefaultMaxRawBytesPerAlert = 65536
	// DefaultMaxAlertsLimit caps GET /v1/alerts ?limit (limit=0, "all",
	// gets this many); without limit the answer holds 100 (CrowdSec).
	DefaultMaxAlertsLimit = 10000
	// DefaultMinPrefixV4 / V6: decisions on wider ranges are refused.
	DefaultMinPrefixV4 = 8
	DefaultMinPrefixV6 = 32
	// DefaultFlushMaxItems / MaxAge: retention (CrowdSec's shipped config).
	DefaultFlushMaxItems = 5000
	DefaultFlushMaxAge   = "7d"
	minSecretLen         = 64
	defaultAgentsOU      = "agent-ou"
	defaultBouncersOU    = "bouncer-ou"
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
	// clients (CrowdSec's disable_remote_lapi_registration). Unset: refused,
	// except with a valid auto-registration token from its allowed ranges;
	// false: remote machines may register (and wait for validation).
	DisableRemoteRegistration *bool            `yaml:"disable_remote_lapi_registration"`
	AutoRegistration          AutoRegistration `yaml:"auto_registration"`
	// Registration bounds what unauthenticated clients can register.
	Registration RegistrationLimits `yaml:"registration"`
	// Login throttles failed logins.
	Login LoginLimits `yaml:"login"`
	// MaxConcurrentHashes bounds the bcrypt work running at once (logins
	// and registrations); a request beyond it gets 429 at once. Default:
	// half the CPUs, at least 1.
	MaxConcurrentHashes int `yaml:"max_concurrent_hashes"`
	// Limits harden the HTTP server (see internal/netguard): header size,
	// deadlines, connection limits, per-address request rate.
	Limits netguard.Config `yaml:"limits"`
	Flush  FlushConfig     `yaml:"flush"`
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
	// MaxAlertsPerRequest bounds the alerts of one POST /v1/alerts, and
	// MaxEventsPerAlert the events of each (beyond: 422 naming the cap).
	// Defaults 10000 and 10000.
	MaxAlertsPerRequest int `yaml:"max_alerts_per_request"`
	MaxEventsPerAlert   int `yaml:"max_events_per_alert"`
	// MaxRawLinesPerAlert and MaxRawBytesPerAlert bound the raw log lines
	// kept with an alert (Phalanx agents send them; beyond, the newest are
	// kept, the rest dropped). Defaults 100 and 65536.
	MaxRawLinesPerAlert int `yaml:"max_raw_lines_per_alert"`
	MaxRawBytesPerAlert int `yaml:"max_raw_bytes_per_alert"`
	// MaxAlertsLimit caps the limit of GET /v1/alerts (limit=0 or larger
	// gets this many). Default 10000.
	MaxAlertsLimit int `yaml:"max_alerts_limit"`
	// MinDecisionPrefix: decisions on ranges wider than these prefix
	// lengths are refused (default /8 for IPv4, /32 for IPv6; 0 accepts
	// every range, 0.0.0.0/0 included).
	MinDecisionPrefix PrefixLengths `yaml:"min_decision_prefix"`
	// DisableNeverBan lets decisions ban the built-in never-ban list
	// (loopback, this host's addresses, the LAPI's listen address). For
	// test labs that play attackers from loopback; never in production.
	DisableNeverBan bool `yaml:"disable_never_ban"`
}

// PrefixLengths are prefix lengths per address family (nil: default).
type PrefixLengths struct {
	IPv4 *int `yaml:"ipv4"`
	IPv6 *int `yaml:"ipv6"`
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

// RegistrationLimits bound POST /v1/watchers.
type RegistrationLimits struct {
	// MaxPending is how many machines may wait for validation at once;
	// registrations beyond it are refused (403). Default 100; negative: no
	// cap.
	MaxPending int `yaml:"max_pending"`
	// Rate and Burst: registrations per client address (429 beyond).
	// Default 5/m, burst 5.
	Rate  netguard.Rate `yaml:"rate"`
	Burst int           `yaml:"burst"`
}

// LoginLimits throttle failed logins, per client address and per machine
// id: after FreeFailures failures the next try must wait 1s, then twice
// as long after each further failure, up to MaxBackoff (429 with
// Retry-After meanwhile). A success resets the count. The per-id throttle
// does not apply to the address the machine last logged in from.
type LoginLimits struct {
	FreeFailures int           `yaml:"free_failures"` // default 5
	MaxBackoff   time.Duration `yaml:"max_backoff"`   // default 5m
}

// Defaults of the abuse limits.
const (
	DefaultMaxPending        = 100
	DefaultRegistrationRate  = netguard.Rate(5.0 / 60)
	DefaultRegistrationBurst = 5
	DefaultLoginFreeFailures = 5
	DefaultLoginMaxBackoff   = 5 * time.Minute
	// MaxMachineIDLen bounds a machine id chosen at registration.
	MaxMachineIDLen = 128
)

// serverLimits are the LAPI's defaults for netguard: small headers (its
// clients send a JWT or an API key, nothing more) and a request rate per
// address that no legitimate agent or bouncer comes near.
func serverLimits() netguard.Config {
	return netguard.Config{MaxHeaderBytes: 16 << 10, RequestRate: 50, RequestBurst: 200}
}

// FlushConfig is the retention policy applied every Interval
// (CrowdSec's db_config.flush).
type FlushConfig struct {
	// Interval between flushes; default 1m. Negative disables flushing.
	Interval time.Duration `yaml:"interval"`
	// MaxItems keeps at most this many alerts; 0: default 5000; negative:
	// no limit.
	MaxItems int `yaml:"max_items"`
	// MaxAge removes alerts older than this ("7d" accepted); empty:
	// default 7d; "0": no limit.
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
	remoteReg   remoteRegistration
	minV4       int // MinDecisionPrefix resolved
	minV6       int
}

// remoteRegistration is what POST /v1/watchers accepts from non-loopback
// clients.
type remoteRegistration int

const (
	remoteRegToken   remoteRegistration = iota // default: with a valid auto-registration token only
	remoteRegAllowed                           // disable_remote_lapi_registration: false
	remoteRegOff                               // disable_remote_lapi_registration: true
)

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
	switch d := c.DisableRemoteRegistration; {
	case d == nil:
		s.remoteReg = remoteRegToken
	case *d:
		s.remoteReg = remoteRegOff
	default:
		s.remoteReg = remoteRegAllowed
	}
	r := &s.Registration
	if r.MaxPending == 0 {
		r.MaxPending = DefaultMaxPending
	}
	if r.Rate == 0 {
		r.Rate = DefaultRegistrationRate
	}
	if r.Burst <= 0 {
		r.Burst = DefaultRegistrationBurst
	}
	l := &s.Login
	if l.FreeFailures == 0 {
		l.FreeFailures = DefaultLoginFreeFailures
	}
	if l.FreeFailures < 0 {
		return nil, fmt.Errorf("lapi: config: login.free_failures: %d is negative", l.FreeFailures)
	}
	if l.MaxBackoff == 0 {
		l.MaxBackoff = DefaultLoginMaxBackoff
	}
	if l.MaxBackoff < time.Second {
		return nil, fmt.Errorf("lapi: config: login.max_backoff: %s: want at least 1s", l.MaxBackoff)
	}
	if s.MaxConcurrentHashes <= 0 {
		s.MaxConcurrentHashes = max(1, runtime.GOMAXPROCS(0)/2)
	}
	s.Limits = s.Limits.Or(serverLimits())
	if s.MaxAlertsPerRequest <= 0 {
		s.MaxAlertsPerRequest = DefaultMaxAlertsPerRequest
	}
	if s.MaxEventsPerAlert <= 0 {
		s.MaxEventsPerAlert = DefaultMaxEventsPerAlert
	}
	if s.MaxAlertsLimit <= 0 {
		s.MaxAlertsLimit = DefaultMaxAlertsLimit
	}
	if s.MaxRawLinesPerAlert <= 0 {
		s.MaxRawLinesPerAlert = DefaultMaxRawLinesPerAlert
	}
	if s.MaxRawBytesPerAlert <= 0 {
		s.MaxRawBytesPerAlert = DefaultMaxRawBytesPerAlert
	}
	var err error
	if s.minV4, err = c.MinDecisionPrefix.IPv4OrDefault(); err != nil {
		return nil, err
	}
	if s.minV6, err = c.MinDecisionPrefix.IPv6OrDefault(); err != nil {
		return nil, err
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
	if s.trusted, err = netguard.ParsePrefixes(trusted); err != nil {
		return nil, fmt.Errorf("lapi: config: trusted_ips: %w", err)
	}
	if s.autoRanges, err = netguard.ParsePrefixes(c.AutoRegistration.AllowedRanges); err != nil {
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
	switch {
	case f.MaxItems == 0:
		p.AlertsMaxItems = DefaultFlushMaxItems
	case f.MaxItems < 0:
		p.AlertsMaxItems = 0
	}
	age := f.MaxAge
	if age == "" {
		age = DefaultFlushMaxAge
	}
	if d, err := duration.Parse(age); err != nil || d != 0 {
		if err == nil {
			err = duration.Check(d, age)
		}
		if err != nil {
			return p, fmt.Errorf("lapi: config: flush.max_age: %w", err)
		}
		p.AlertsMaxAge = d
	}
	if f.DecisionsExpiredFor != "" {
		d, err := duration.Positive(f.DecisionsExpiredFor)
		if err != nil {
			return p, fmt.Errorf("lapi: config: flush.decisions_expired_for: %w", err)
		}
		p.DecisionsExpiredFor = d
	}
	return p, nil
}

// IPv4OrDefault returns the IPv4 prefix length (default 8), checked.
func (p PrefixLengths) IPv4OrDefault() (int, error) {
	return prefixLen(p.IPv4, DefaultMinPrefixV4, 32, "ipv4")
}

// IPv6OrDefault returns the IPv6 prefix length (default 32), checked.
func (p PrefixLengths) IPv6OrDefault() (int, error) {
	return prefixLen(p.IPv6, DefaultMinPrefixV6, 128, "ipv6")
}

func prefixLen(v *int, def, bits int, name string) (int, error) {
	if v == nil {
		return def, nil
	}
	if *v < 0 || *v > bits {
		return 0, fmt.Errorf("lapi: config: min_decision_prefix.%s: %d is not a prefix length (0 to %d)", name, *v, bits)
	}
	return *v, nil
}

// inPrefixes reports whether a is in one of ps.
func inPrefixes(ps []netip.Prefix, a netip.Addr) bool { return netguard.Contains(ps, a) }
