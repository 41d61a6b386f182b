package apiclient

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Secret is a credential (password, API key). It prints as "<redacted>" with
// every fmt verb, so a Config can be logged or put in an error safely; the
// raw value is reached only by an explicit string(s) conversion.
type Secret string

// String implements fmt.Stringer.
func (Secret) String() string { return "<redacted>" }

// GoString implements fmt.GoStringer.
func (Secret) GoString() string { return `"<redacted>"` }

// Config is what a Client needs: plain data, decoded from YAML or built by
// the caller (the keys url, login, password match CrowdSec's
// local_api_credentials.yaml). Only URL is required; a client used as a
// machine sets MachineID/Password, one used as a bouncer sets APIKey, and one
// may set both. With a TLS client certificate and no password or key, the
// certificate authenticates (the LAPI's mTLS mode).
type Config struct {
	// URL of the LAPI, e.g. "http://127.0.0.1:8080/" or "https://lapi:8080".
	// "unix:///run/phalanx/lapi.sock" talks HTTP over a unix socket.
	URL string `yaml:"url"`
	// UserAgent must be "name/version" (the LAPI refuses a login without
	// one). Default "phalanx/dev".
	UserAgent string `yaml:"user_agent"`

	// Machine credentials (routes under JWT).
	MachineID string   `yaml:"login"`
	Password  Secret   `yaml:"password"`
	Scenarios []string `yaml:"scenarios"`
	// RegistrationToken is sent by Register when set (auto-registration).
	RegistrationToken Secret `yaml:"registration_token"`

	// APIKey is the bouncer key (routes under X-Api-Key).
	APIKey Secret `yaml:"api_key"`

	TLS TLSConfig `yaml:"tls"`

	// Timeout bounds one attempt, reading the whole answer included.
	// Default 30s.
	Timeout time.Duration `yaml:"timeout"`
	// GzipRequests compresses request bodies (Content-Encoding: gzip).
	GzipRequests bool `yaml:"gzip_requests"`
	// RefreshBefore is how long before its expiry the JWT is refreshed.
	// Default 1m.
	RefreshBefore time.Duration `yaml:"refresh_before"`

	Retry RetryConfig `yaml:"retry"`
}

// TLSConfig configures HTTPS: the CA that signs the LAPI's certificate and,
// for mTLS, the client certificate and key (PEM files).
type TLSConfig struct {
	CAFile             string `yaml:"ca_cert_path"`
	CertFile           string `yaml:"cert_path"`
	KeyFile            string `yaml:"key_path"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// RetryConfig is the retry policy of every call: a call failing with a
// retryable error (see IsRetryable) is tried again up to MaxAttempts times in
// all, waiting BaseDelay·2^n (capped at MaxDelay, or the server's Retry-After
// when larger and still under MaxDelay) with jitter in [d/2, d].
type RetryConfig struct {
	// MaxAttempts counts the first try. Default 4; 1 disables retries.
	MaxAttempts int           `yaml:"max_attempts"`
	BaseDelay   time.Duration `yaml:"base_delay"` // default 500ms
	MaxDelay    time.Duration `yaml:"max_delay"`  // default 30s
}

const (
	defaultUserAgent     = "phalanx/dev"
	defaultTimeout       = 30 * time.Second
	defaultRefreshBefore = time.Minute
	defaultMaxAttempts   = 4
	defaultBaseDelay     = 500 * time.Millisecond
	defaultMaxDelay      = 30 * time.Second
)

func (c Config) withDefaults() Config {
	if c.UserAgent == "" {
		c.UserAgent = defaultUserAgent
	}
	if c.Timeout <= 0 {
		c.Timeout = defaultTimeout
	}
	if c.RefreshBefore <= 0 {
		c.RefreshBefore = defaultRefreshBefore
	}
	if c.Retry.MaxAttempts <= 0 {
		c.Retry.MaxAttempts = defaultMaxAttempts
	}
	if c.Retry.BaseDelay <= 0 {
		c.Retry.BaseDelay = defaultBaseDelay
	}
	if c.Retry.MaxDelay <= 0 {
		c.Retry.MaxDelay = defaultMaxDelay
	}
	if c.Retry.MaxDelay < c.Retry.BaseDelay {
		c.Retry.MaxDelay = c.Retry.BaseDelay
	}
	return c
}

func validUserAgent(ua string) error {
	name, version, ok := strings.Cut(ua, "/")
	if !ok || name == "" || version == "" {
		return fmt.Errorf("user agent %q: want name/version", ua)
	}
	for _, r := range ua {
		if r <= ' ' || r == 0x7f {
			return fmt.Errorf("user agent %q: contains space or control character", ua)
		}
	}
	return nil
}

// Option injects a runtime dependency into New.
type Option func(*deps)

type deps struct {
	logger    *slog.Logger
	now       func() time.Time
	transport http.RoundTripper
	jitter    func(time.Duration) time.Duration
}

// WithLogger sets the logger (default: discard). Secrets are never logged.
func WithLogger(l *slog.Logger) Option { return func(d *deps) { d.logger = l } }

// WithClock sets the clock used for token expiry (default time.Now).
func WithClock(now func() time.Time) Option { return func(d *deps) { d.now = now } }

// WithTransport replaces the HTTP transport built from Config (TLS and unix
// socket settings are then the caller's business). For tests and for
// in-process wiring.
func WithTransport(rt http.RoundTripper) Option { return func(d *deps) { d.transport = rt } }

// withJitter replaces the backoff jitter (tests).
func withJitter(j func(time.Duration) time.Duration) Option { return func(d *deps) { d.jitter = j } }
