package httpbouncer

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/bouncer"
	"github.com/phalanx-ids/phalanx/internal/netguard"
	"github.com/phalanx-ids/phalanx/internal/yamlerr"
)

// ProxyConfig is the file of `phalanx bouncer http -c FILE`: the CrowdSec
// bouncer keys (api_url, api_key, update_frequency, cert_path, key_path,
// ca_cert_path, scopes, origins...) inlined, plus the proxy's own keys.
// Plain data: NewProxy compiles it.
type ProxyConfig struct {
	bouncer.Config `yaml:",inline"`
	// ListenAddr is where the proxy listens (default 127.0.0.1:8081).
	ListenAddr string `yaml:"listen_addr"`
	// ListenCertPath / ListenKeyPath serve HTTPS (PEM files); empty: HTTP.
	ListenCertPath string `yaml:"listen_cert_path"`
	ListenKeyPath  string `yaml:"listen_key_path"`
	// Upstream is the protected application, e.g. http://127.0.0.1:3000.
	Upstream string `yaml:"upstream"`
	// TrustedProxies (addresses or CIDRs) may set X-Forwarded-For.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// FallbackRemediation for decision types other than ban and captcha:
	// ban (default), captcha or bypass.
	FallbackRemediation string        `yaml:"fallback_remediation"`
	Captcha             CaptchaConfig `yaml:"captcha"`
	// Prometheus serves /metrics (CrowdSec's bouncer keys).
	Prometheus PrometheusConfig `yaml:"prometheus"`
	// Limits harden the proxy's server against hostile clients
	// (internal/netguard); see ProxyLimits for the defaults.
	Limits netguard.Config `yaml:"limits"`
}

// ProxyLimits are the proxy's netguard defaults: larger headers (browser
// cookies), more connections per address (browsers open several, offices
// share an address), no request rate (the application's business). Answers
// may stream for longer than write_timeout as long as the client reads.
func ProxyLimits() netguard.Config {
	return netguard.Config{MaxHeaderBytes: 64 << 10, MaxConnsPerAddress: 256, RequestRate: netguard.Off}
}

// PrometheusConfig is the prometheus block of CrowdSec's bouncers: when
// Enabled, `phalanx bouncer http` serves /metrics on ListenAddr:ListenPort
// (default 127.0.0.1:60602).
type PrometheusConfig struct {
	Enabled    bool   `yaml:"enabled"`
	ListenAddr string `yaml:"listen_addr"`
	ListenPort string `yaml:"listen_port"`
}

// Defaults of PrometheusConfig.
const (
	DefaultMetricsAddr = "127.0.0.1"
	DefaultMetricsPort = "60602"
)

// Listen returns the host:port the metrics are served on.
func (c PrometheusConfig) Listen() string {
	host, port := c.ListenAddr, c.ListenPort
	if host == "" {
		host = DefaultMetricsAddr
	}
	if port == "" {
		port = DefaultMetricsPort
	}
	return net.JoinHostPort(host, port)
}

// CaptchaConfig configures the proof-of-work challenge.
type CaptchaConfig struct {
	// Difficulty in leading zero bits (default 18).
	Difficulty int `yaml:"difficulty"`
	// SecretPath is a file holding the HMAC key (>= 32 bytes; replicas
	// share it). Empty: a random key per start.
	SecretPath string `yaml:"secret_path"`
	// PassDuration is how long a solved challenge is valid (default 1h).
	PassDuration time.Duration `yaml:"pass_duration"`
	// CookieName (default phalanx_pass); Path receives the answers
	// (default /.phalanx/challenge).
	CookieName string `yaml:"cookie_name"`
	Path       string `yaml:"path"`
}

// DefaultProxyListen is the default listen_addr.
const DefaultProxyListen = "127.0.0.1:8081"

// ParseProxyConfig decodes a proxy config strictly (unknown keys are
// errors), fills defaults and validates it. name is used in errors.
func ParseProxyConfig(name string, data []byte) (ProxyConfig, error) {
	var c ProxyConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return ProxyConfig{}, yamlerr.New("httpbouncer: config", name, err, "httpbouncer.")
	}
	c.Config = c.Config.WithDefaults()
	if c.UserAgent == "phalanx-bouncer/dev" {
		c.UserAgent = "phalanx-http-bouncer/dev"
	}
	if c.ListenAddr == "" {
		c.ListenAddr = DefaultProxyListen
	}
	if err := c.validate(); err != nil {
		return ProxyConfig{}, fmt.Errorf("%w (in %s)", err, name)
	}
	return c, nil
}

// LoadProxyConfig reads and parses a proxy config file.
func LoadProxyConfig(path string) (ProxyConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return ProxyConfig{}, fmt.Errorf("httpbouncer: config: %w", err)
	}
	return ParseProxyConfig(path, b)
}

func (c ProxyConfig) validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if c.Mode != bouncer.ModeStream {
		return fmt.Errorf("httpbouncer: config: mode %q: the HTTP bouncer runs in stream mode only", c.Mode)
	}
	u, err := url.Parse(c.Upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("httpbouncer: config: upstream %q: want http(s)://host[:port][/path]", c.Upstream)
	}
	if (c.ListenCertPath == "") != (c.ListenKeyPath == "") {
		return errors.New("httpbouncer: config: listen_cert_path and listen_key_path go together")
	}
	return nil
}

// ProxyOption injects a runtime dependency into NewProxy.
type ProxyOption func(*proxyDeps)

type proxyDeps struct {
	logger *slog.Logger
	reg    prometheus.Registerer
	stream []bouncer.Option
}

// WithProxyRegisterer registers the proxy's metrics on r: the middleware's
// (requests by outcome, active decisions) and the decision stream's pulls.
func WithProxyRegisterer(r prometheus.Registerer) ProxyOption {
	return func(d *proxyDeps) { d.reg = r }
}

// WithProxyLogger sets the logger (default: discard).
func WithProxyLogger(l *slog.Logger) ProxyOption { return func(d *proxyDeps) { d.logger = l } }

// WithStreamOptions passes options to the decision stream.
func WithStreamOptions(o ...bouncer.Option) ProxyOption {
	return func(d *proxyDeps) { d.stream = append(d.stream, o...) }
}

// Proxy is the reverse proxy of `phalanx bouncer http`: a decision stream
// from the LAPI feeding the middleware in front of the upstream.
//
// Until the first snapshot arrives the set is empty and every request
// passes (fail open); afterwards a failed pull keeps the last good set
// (bouncer.Stream's contract).
//
// Concurrency: Run is called once; Handler, Ready, Bouncer and Stream are
// safe at any time.
type Proxy struct {
	cfg     ProxyConfig
	log     *slog.Logger
	stream  *bouncer.Stream
	bouncer *Bouncer
	handler http.Handler
	tls     *tls.Config
	guard   *netguard.Guard
}

// NewProxy compiles cfg: the stream, the middleware, the upstream and the
// listener's TLS material. It does no network I/O.
func NewProxy(cfg ProxyConfig, opts ...ProxyOption) (*Proxy, error) {
	d := proxyDeps{logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&d)
	}
	cfg.Config = cfg.Config.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	p := &Proxy{cfg: cfg, log: d.logger}
	var err error
	// The middleware's counters, for the stream's usage reports (read
	// after NewProxy).
	usage := bouncer.WithUsage(func() []bouncer.UsageCounter { return p.bouncer.UsageCounters() })
	if p.stream, err = bouncer.NewStream(cfg.Config, append([]bouncer.Option{bouncer.WithLogger(d.logger), usage}, d.stream...)...); err != nil {
		return nil, fmt.Errorf("httpbouncer: %w", err)
	}
	var secret []byte
	if cfg.Captcha.SecretPath != "" {
		if secret, err = os.ReadFile(cfg.Captcha.SecretPath); err != nil {
			return nil, fmt.Errorf("httpbouncer: captcha secret: %w", err)
		}
		secret = bytes.TrimSpace(secret)
	}
	p.bouncer, err = New(Options{Source: SetSource(p.stream.Set()), TrustedProxies: cfg.TrustedProxies,
		FallbackRemediation: cfg.FallbackRemediation, Logger: d.logger, Registerer: d.reg,
		Challenge: ChallengeOptions{Secret: secret, Difficulty: cfg.Captcha.Difficulty, PassTTL: cfg.Captcha.PassDuration,
			CookieName: cfg.Captcha.CookieName, Path: cfg.Captcha.Path}})
	if err != nil {
		return nil, err
	}
	if d.reg != nil {
		if err := d.reg.Register(newStreamMetrics(p.stream)); err != nil {
			return nil, fmt.Errorf("httpbouncer: metrics: %w", err)
		}
	}
	up, _ := url.Parse(cfg.Upstream) // validated
	cookie, ips := p.bouncer.cookie, p.bouncer.ips
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(up)
			setForwarded(ips, pr.In, pr.Out.Header)
			pr.Out.Host = pr.In.Host
			stripCookie(pr.Out.Header, cookie)
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			p.log.Warn("httpbouncer: upstream", "err", err, "uri", r.URL.RequestURI())
			http.Error(w, "bad gateway", http.StatusBadGateway)
		},
	}
	p.handler = p.bouncer.Wrap(rp)
	if cfg.ListenCertPath != "" {
		cert, err := tls.LoadX509KeyPair(cfg.ListenCertPath, cfg.ListenKeyPath)
		if err != nil {
			return nil, fmt.Errorf("httpbouncer: listen certificate: %w", err)
		}
		p.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if p.guard, err = netguard.New(cfg.Limits.Or(ProxyLimits()), netguard.Deps{Name: "httpbouncer", Logger: d.logger,
		Registerer: d.reg, Render: netguard.RenderText}); err != nil {
		return nil, fmt.Errorf("httpbouncer: %w", err)
	}
	return p, nil
}

// stripCookie removes the cookie named name from h's Cookie headers,
// leaving the other cookies byte for byte: the pass is the bouncer's
// business, not the upstream's.
func stripCookie(h http.Header, name string) {
	lines := h.Values("Cookie")
	if len(lines) == 0 {
		return
	}
	var kept []string
	changed := false
	for _, line := range lines {
		var parts []string
		for part := range strings.SplitSeq(line, ";") {
			p := strings.TrimSpace(part)
			if p == "" {
				continue
			}
			if n, _, _ := strings.Cut(p, "="); strings.TrimSpace(n) == name {
				changed = true
				continue
			}
			parts = append(parts, p)
		}
		if len(parts) > 0 {
			kept = append(kept, strings.Join(parts, "; "))
		}
	}
	if !changed {
		return
	}
	h.Del("Cookie")
	for _, k := range kept {
		h.Add("Cookie", k)
	}
}

// Handler is the protected upstream (the middleware in front of the
// reverse proxy).
func (p *Proxy) Handler() http.Handler { return p.handler }

// Bouncer is the middleware (for its Stats).
func (p *Proxy) Bouncer() *Bouncer { return p.bouncer }

// Stream is the decision stream (for its Stats and Set).
func (p *Proxy) Stream() *bouncer.Stream { return p.stream }

// Ready is closed once the first decision snapshot is applied.
func (p *Proxy) Ready() <-chan struct{} { return p.stream.Ready() }

// Config returns the compiled configuration.
func (p *Proxy) Config() ProxyConfig { return p.cfg }

// Run serves on ln and pulls decisions until ctx ends, then shuts the
// server down (waiting up to 10s for requests in flight). It returns an
// error when the server fails or the LAPI refuses the credentials at the
// first pull; an unreachable LAPI is retried forever.
func (p *Proxy) Run(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Proxied answers stream: the write deadline moves with each write.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.handler.ServeHTTP(netguard.ExtendWrites(w, p.guard.WriteTimeout()), r)
	})
	errc := make(chan error, 2)
	go func() {
		err := p.stream.Run(ctx, nil)
		if err != nil {
			err = fmt.Errorf("httpbouncer: %w", err)
		}
		errc <- err
	}()
	go func() {
		err := p.guard.Serve(ctx, ln, h, netguard.ServeOptions{TLS: p.tls, Grace: 10 * time.Second})
		if err != nil {
			err = fmt.Errorf("httpbouncer: %w", err)
		}
		errc <- err
		cancel() // the server stopped: stop the stream too
	}()
	var first error
	pending := 2
	select {
	case <-ctx.Done():
	case first = <-errc:
		pending--
	}
	cancel() // the server shuts down gracefully (requests in flight get 10s)
	for ; pending > 0; pending-- {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}
