// Package httppush is the `http` datasource: an HTTP endpoint that log
// shippers POST to. The body is a stream of JSON values (each becomes one
// line, compacted) or, when it does not start as JSON, newline-separated
// lines. `Content-Encoding: gzip` bodies are accepted. Line.Src is the
// client's address (without port).
//
// Authentication (auth_type): basic_auth (username/password), headers
// (every configured header must be present with its value) or mtls (client
// certificates signed by tls.ca_cert). Answers: custom_status_code (200 by
// default) with custom_headers on success, 401 bad credentials, 405 not a
// POST, 413 body over max_body_size, 400 unreadable body, 503 shutting down.
//
// The server is hardened by internal/netguard (`limits`): `timeout` is its
// read timeout (the whole request) and write timeout unless `limits` sets
// them; connections are limited in total and per client address.
package httppush

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/phalanx-ids/phalanx/internal/acquire"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/netguard"
)

// Name is the `source` value of this module.
const Name = "http"

// Defaults.
const (
	DefaultMaxBodySize = 10 << 20
	DefaultTimeout     = 30 * time.Second
)

// Auth types.
const (
	AuthBasic   = "basic_auth"
	AuthHeaders = "headers"
	AuthMTLS    = "mtls"
)

// Config is the YAML configuration of an http datasource.
type Config struct {
	acquire.CommonConfig `yaml:",inline"`
	ListenAddr           string            `yaml:"listen_addr"`
	ListenSocket         string            `yaml:"listen_socket"`
	Path                 string            `yaml:"path"`
	AuthType             string            `yaml:"auth_type"`
	BasicAuth            *BasicAuth        `yaml:"basic_auth"`
	Headers              map[string]string `yaml:"headers"`
	TLS                  *TLSConfig        `yaml:"tls"`
	CustomStatusCode     int               `yaml:"custom_status_code"`
	CustomHeaders        map[string]string `yaml:"custom_headers"`
	MaxBodySize          int64             `yaml:"max_body_size"`
	Timeout              time.Duration     `yaml:"timeout"`
	// Limits harden the server (internal/netguard); zero fields take the
	// datasource's defaults (read and write timeouts from Timeout).
	Limits netguard.Config `yaml:"limits"`
}

// BasicAuth credentials.
type BasicAuth struct {
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// TLSConfig of the server.
type TLSConfig struct {
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
	ServerCert         string `yaml:"server_cert"`
	ServerKey          string `yaml:"server_key"`
	CACert             string `yaml:"ca_cert"`
}

// Module returns the registry entry of the http datasource.
func Module() acquire.Module {
	return acquire.Module{
		Name:       Name,
		HitsMetric: "cs_httpsource_hits_total",
		NewConfig:  func() acquire.Config { return &Config{} },
		New: func(c acquire.Config, d acquire.Deps) (acquire.Datasource, error) {
			return New(c.(*Config), d)
		},
	}
}

// Source is a provisioned HTTP push endpoint.
//
// Concurrency: see acquire.Datasource; requests are served concurrently,
// their lines serialized before emit (one request's lines stay together,
// in body order). Addr may be called from any goroutine.
type Source struct {
	cfg     Config
	tls     *tls.Config
	status  int
	maxBody int64
	timeout time.Duration
	guard   *netguard.Guard
	log     *slog.Logger
	now     func() time.Time

	listening *acquire.Listening
	mu        sync.Mutex
	addr      net.Addr
}

// New validates cfg and loads the TLS material.
func New(cfg *Config, d acquire.Deps) (*Source, error) {
	s := &Source{cfg: *cfg, log: d.Logger, now: time.Now, listening: acquire.NewListening()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Mode == acquire.ModeCat {
		return nil, errors.New("http: cat mode is not supported")
	}
	if (cfg.ListenAddr == "") == (cfg.ListenSocket == "") {
		return nil, errors.New("http: exactly one of listen_addr and listen_socket is required")
	}
	if s.cfg.Path == "" {
		s.cfg.Path = "/"
	}
	if !strings.HasPrefix(s.cfg.Path, "/") {
		return nil, fmt.Errorf("http: path %q: must start with /", cfg.Path)
	}
	switch cfg.AuthType {
	case AuthBasic:
		if cfg.BasicAuth == nil || cfg.BasicAuth.Username == "" || cfg.BasicAuth.Password == "" {
			return nil, errors.New("http: auth_type basic_auth: basic_auth.username and basic_auth.password are required")
		}
	case AuthHeaders:
		if len(cfg.Headers) == 0 {
			return nil, errors.New("http: auth_type headers: headers are required")
		}
	case AuthMTLS:
		if cfg.TLS == nil || cfg.TLS.CACert == "" {
			return nil, errors.New("http: auth_type mtls: tls.ca_cert is required")
		}
	case "":
		return nil, errors.New("http: auth_type is required (basic_auth, headers or mtls)")
	default:
		return nil, fmt.Errorf("http: auth_type %q: want basic_auth, headers or mtls", cfg.AuthType)
	}
	if cfg.TLS != nil {
		tc, err := serverTLS(cfg.TLS, cfg.AuthType == AuthMTLS)
		if err != nil {
			return nil, err
		}
		s.tls = tc
	}
	s.status = cfg.CustomStatusCode
	if s.status == 0 {
		s.status = http.StatusOK
	}
	if s.status < 100 || s.status > 599 {
		return nil, fmt.Errorf("http: custom_status_code %d: not an HTTP status", s.status)
	}
	s.maxBody = cfg.MaxBodySize
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodySize
	}
	s.timeout = cfg.Timeout
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	limits := cfg.Limits.Or(netguard.Config{ReadHeaderTimeout: min(10*time.Second, s.timeout),
		ReadTimeout: s.timeout, WriteTimeout: s.timeout})
	var err error
	if s.guard, err = netguard.New(limits, netguard.Deps{Name: "httppush", Logger: s.log, Registerer: d.Registerer, Render: netguard.RenderText}); err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	return s, nil
}

func serverTLS(c *TLSConfig, mtls bool) (*tls.Config, error) {
	if c.ServerCert == "" || c.ServerKey == "" {
		return nil, errors.New("http: tls: server_cert and server_key are required")
	}
	cert, err := tls.LoadX509KeyPair(c.ServerCert, c.ServerKey)
	if err != nil {
		return nil, fmt.Errorf("http: tls: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.CACert != "" {
		pem, err := os.ReadFile(c.CACert)
		if err != nil {
			return nil, fmt.Errorf("http: tls: ca_cert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("http: tls: ca_cert %s: no certificate found", c.CACert)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.VerifyClientCertIfGiven
		if mtls {
			tc.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return tc, nil
}

// Addr waits until Run listens and returns its address; it returns Run's
// error if Run ended before listening, ctx's if ctx ends first.
func (s *Source) Addr(ctx context.Context) (net.Addr, error) {
	if err := s.listening.Wait(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr, nil
}

// Run serves until ctx is cancelled, then shuts the server down (requests
// in flight get up to 5 s to finish).
func (s *Source) Run(ctx context.Context, emit acquire.Emit) (err error) {
	defer func() { s.listening.Ended(err) }()
	var ln net.Listener
	if s.cfg.ListenSocket != "" {
		_ = os.Remove(s.cfg.ListenSocket)
		ln, err = netguard.Listen(ctx, "unix", s.cfg.ListenSocket)
	} else {
		ln, err = netguard.Listen(ctx, "tcp", s.cfg.ListenAddr)
	}
	if err != nil {
		return fmt.Errorf("http: listen: %w", err)
	}
	s.mu.Lock()
	s.addr = ln.Addr()
	s.mu.Unlock()
	s.listening.Bound()
	s.log.Info("http: listening", "addr", s.addr, "path", s.cfg.Path)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	h := &handler{s: s, emit: emit, ctx: ctx, cancel: cancel}
	mux := http.NewServeMux()
	mux.Handle(s.cfg.Path, h)
	if err := s.guard.Serve(ctx, ln, mux, netguard.ServeOptions{TLS: s.tls, Grace: 5 * time.Second}); err != nil {
		return fmt.Errorf("http: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

type handler struct {
	s      *Source
	emit   acquire.Emit
	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex // serializes emit
	err    error
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := h.s
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !h.authorized(r) {
		if s.cfg.AuthType == AuthBasic {
			w.Header().Set("WWW-Authenticate", `Basic realm="phalanx"`)
		}
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	body, status, err := s.readBody(w, r)
	if err != nil {
		s.log.Debug("http: bad request", "from", r.RemoteAddr, "err", err)
		http.Error(w, err.Error(), status)
		return
	}
	raws, err := Split(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	from := s.cfg.ListenSocket
	if a, ok := models.ParseHostAddr(r.RemoteAddr); ok {
		from = a.String()
	}
	now := s.now()
	h.mu.Lock()
	for _, raw := range raws {
		if h.err != nil || h.ctx.Err() != nil {
			break
		}
		if err := h.emit(event.Line{Raw: raw, Src: from, Time: now, Labels: s.cfg.Labels, Module: Name, Process: true}); err != nil {
			h.err = err
			h.cancel()
		}
	}
	failed := h.err != nil || h.ctx.Err() != nil
	h.mu.Unlock()
	if failed {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	for k, v := range s.cfg.CustomHeaders {
		w.Header().Set(k, v)
	}
	w.WriteHeader(s.status)
}

func (h *handler) authorized(r *http.Request) bool {
	c := h.s.cfg
	switch c.AuthType {
	case AuthBasic:
		u, p, ok := r.BasicAuth()
		return ok && eq(u, c.BasicAuth.Username) && eq(p, c.BasicAuth.Password)
	case AuthHeaders:
		for k, v := range c.Headers {
			if !eq(r.Header.Get(k), v) {
				return false
			}
		}
		return true
	case AuthMTLS:
		return r.TLS != nil && len(r.TLS.VerifiedChains) > 0
	}
	return false
}

func eq(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// readBody reads the (possibly gzipped) body, at most maxBody bytes before
// and after decompression.
func (s *Source) readBody(w http.ResponseWriter, r *http.Request) ([]byte, int, error) {
	var in io.Reader = http.MaxBytesReader(w, r.Body, s.maxBody)
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		gz, err := gzip.NewReader(in)
		if err != nil {
			return nil, statusOf(err), fmt.Errorf("gzip body: %w", err)
		}
		defer gz.Close()
		in = gz
	}
	body, err := io.ReadAll(io.LimitReader(in, s.maxBody+1))
	if err != nil {
		return nil, statusOf(err), fmt.Errorf("body: %w", err)
	}
	if int64(len(body)) > s.maxBody {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("body: over %d bytes", s.maxBody)
	}
	return body, 0, nil
}

func statusOf(err error) int {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

// Split cuts a body into lines: each JSON value of a JSON stream
// (compacted), or, when the body does not start with a JSON value, each
// non-empty line. A stream that turns invalid after its first value is an
// error.
func Split(body []byte) ([]string, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	var out []string
	var buf bytes.Buffer
	for i := 0; ; i++ {
		var v json.RawMessage
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			if i == 0 {
				return splitLines(trimmed), nil
			}
			return nil, fmt.Errorf("json value %d: %w", i+1, err)
		}
		if i == 0 && !(v[0] == '{' || v[0] == '[') {
			// a bare scalar first: this is text, not a JSON stream
			return splitLines(trimmed), nil
		}
		buf.Reset()
		if err := json.Compact(&buf, v); err != nil {
			return nil, fmt.Errorf("json value %d: %w", i+1, err)
		}
		out = append(out, buf.String())
	}
}

func splitLines(b []byte) []string {
	var out []string
	for line := range bytes.SplitSeq(b, []byte{'\n'}) {
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) > 0 {
			out = append(out, string(line))
		}
	}
	return out
}
