package apiclient

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/phalanx-ids/phalanx/internal/retry"
)

// Client talks CrowdSec's v1 Local API protocol. Build it with New.
//
// Concurrency: a Client is safe for concurrent use by many goroutines. It
// holds one JWT shared by all calls; at most one login or token refresh runs
// at a time and the calls needing the token wait for it (or for their
// context). Every call honours its context; a call that fails with a
// retryable error is retried inside the call as Config.Retry says, so a
// returned error is final for that call. Close releases idle connections.
type Client struct {
	cfg    Config
	base   string // scheme://host[/prefix] without trailing slash
	hc     *http.Client
	log    *slog.Logger
	now    func() time.Time
	jitter func(time.Duration) time.Duration

	// authSem serialises login/refresh and guards the fields below.
	authSem   chan struct{}
	token     string
	expire    time.Time
	scenarios []string
}

// New validates cfg, loads the TLS files it names and returns a Client. It
// does no network I/O: the first machine call logs in.
func New(cfg Config, opts ...Option) (*Client, error) {
	cfg = cfg.withDefaults()
	d := deps{logger: slog.New(slog.DiscardHandler), now: time.Now, jitter: retry.HalfJitter}
	for _, o := range opts {
		o(&d)
	}
	if err := validUserAgent(cfg.UserAgent); err != nil {
		return nil, configError("new", err)
	}
	if cfg.URL == "" {
		return nil, configError("new", errors.New("url is empty"))
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, configError("new", fmt.Errorf("url: %w", err))
	}
	var socket string
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return nil, configError("new", fmt.Errorf("url %q: no host", u.Redacted()))
		}
		if u.User != nil {
			return nil, configError("new", fmt.Errorf("url %q: credentials in url are not supported", u.Redacted()))
		}
	case "unix":
		socket = u.Path
		if socket == "" {
			return nil, configError("new", errors.New("unix url: no socket path"))
		}
		u = &url.URL{Scheme: "http", Host: "localhost"}
	default:
		return nil, configError("new", fmt.Errorf("url %q: scheme must be http, https or unix", u.Redacted()))
	}
	rt := d.transport
	if rt == nil {
		tr, err := buildTransport(cfg.TLS, socket)
		if err != nil {
			return nil, configError("new", err)
		}
		rt = tr
	}
	c := &Client{
		cfg:       cfg,
		base:      strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"),
		hc:        &http.Client{Transport: rt, CheckRedirect: noRedirect},
		log:       d.logger,
		now:       d.now,
		jitter:    d.jitter,
		authSem:   make(chan struct{}, 1),
		scenarios: append([]string(nil), cfg.Scenarios...),
	}
	return c, nil
}

// noRedirect keeps the credentials on the host they were configured for.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func buildTransport(tc TLSConfig, socket string) (*http.Transport, error) {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          16,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	if socket != "" {
		tr.Proxy = nil
		dialer := &net.Dialer{Timeout: 10 * time.Second}
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "unix", socket)
		}
	}
	tlsCfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         tc.ServerName,
		InsecureSkipVerify: tc.InsecureSkipVerify, //nolint:gosec // explicit opt-in
	}
	if tc.CAFile != "" {
		pem, err := os.ReadFile(tc.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls ca %s: no PEM certificate found", tc.CAFile)
		}
		tlsCfg.RootCAs = pool
	}
	if (tc.CertFile == "") != (tc.KeyFile == "") {
		return nil, errors.New("tls: cert_path and key_path go together")
	}
	if tc.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(tc.CertFile, tc.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls client certificate: %w", err)
		}
		tlsCfg.Certificates = []tls.Certificate{cert}
	}
	tr.TLSClientConfig = tlsCfg
	return tr, nil
}

// Close releases idle connections. Calls in flight are not interrupted.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// SetScenarios replaces the scenario list sent at the next login.
func (c *Client) SetScenarios(ctx context.Context, scenarios []string) error {
	if err := c.lock(ctx); err != nil {
		return err
	}
	defer c.unlock()
	c.scenarios = append([]string(nil), scenarios...)
	return nil
}

type authKind int

const (
	authNone   authKind = iota
	authJWT             // machine routes: Authorization: Bearer, login as needed
	authKey             // bouncer routes: X-Api-Key
	authBearer          // an explicit token (refresh)
)

// call describes one API call.
type call struct {
	op     string
	method string
	path   string // below the base URL, e.g. "/v1/alerts"
	query  url.Values
	// emptyQuery sends "?" when query is empty (cscli's DELETE
	// /v1/decisions? for --all).
	emptyQuery bool
	body       any // JSON-encoded when non-nil
	auth       authKind
	bearer     string
	ok         []int // accepted statuses, default {200}
	out        any   // decoded from a JSON answer when non-nil
	// rawBody, when non-nil, is sent as it is (already JSON); body is
	// then nil.
	rawBody []byte
}

const (
	maxErrorBody  = 64 << 10 // bytes read of an error answer
	maxMessageLen = 200      // bytes kept of a non-JSON error body
)

// do runs c with retries and returns the accepted status.
func (c *Client) do(ctx context.Context, cl call) (int, error) {
	body := cl.rawBody
	if cl.body != nil {
		b, err := json.Marshal(cl.body)
		if err != nil {
			return 0, &Error{Op: cl.op, Method: cl.method, Path: cl.path, Err: fmt.Errorf("encode request: %w", err)}
		}
		body = b
	}
	if body != nil && c.cfg.GzipRequests {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(body)
		_ = zw.Close()
		body = buf.Bytes()
	}
	if len(cl.ok) == 0 {
		cl.ok = []int{http.StatusOK}
	}
	relogged := false
	for attempt := 1; ; attempt++ {
		var token string
		switch cl.auth {
		case authJWT:
			t, err := c.jwt(ctx)
			if err != nil {
				return 0, err
			}
			token = t
		case authBearer:
			token = cl.bearer
		case authKey:
			if c.cfg.APIKey == "" && c.cfg.TLS.CertFile == "" {
				return 0, &Error{Op: cl.op, Method: cl.method, Path: cl.path, Err: errors.New("no api key configured")}
			}
		}
		start := c.now()
		status, err := c.attempt(ctx, cl, body, token)
		c.log.Debug("lapi request", "op", cl.op, "method", cl.method, "path", cl.path,
			"status", status, "attempt", attempt, "elapsed", c.now().Sub(start), "err", errString(err))
		if err == nil {
			return status, nil
		}
		var e *Error
		if !errors.As(err, &e) {
			return status, err
		}
		e.Attempts = attempt
		if status == http.StatusUnauthorized && cl.auth == authJWT && !relogged {
			// The LAPI restarted with a new secret or revoked the token:
			// log in again once, outside the retry budget.
			relogged = true
			c.dropToken(ctx, token)
			attempt--
			continue
		}
		if !e.retryable || attempt >= c.maxAttempts(ctx) {
			return status, e
		}
		wait := c.policy().Delay(attempt, e.retryAfter)
		c.log.Warn("lapi request failed, retrying", "op", cl.op, "path", cl.path,
			"attempt", attempt, "wait", wait, "err", e.Error())
		if err := retry.Sleep(ctx, wait); err != nil {
			e.retryable = false
			e.Err = errors.Join(e.Err, err)
			return status, e
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// attempt sends the request once and reads the whole answer.
func (c *Client) attempt(ctx context.Context, cl call, body []byte, token string) (int, error) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	u := c.base + cl.path
	if len(cl.query) > 0 {
		u += "?" + cl.query.Encode()
	} else if cl.emptyQuery {
		u += "?"
	}
	fail := func(status int, err error) *Error {
		return &Error{Op: cl.op, Method: cl.method, Path: cl.path, Status: status, Err: err}
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(actx, cl.method, u, rd)
	if err != nil {
		return 0, fail(0, fmt.Errorf("build request: %w", err))
	}
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		if c.cfg.GzipRequests {
			req.Header.Set("Content-Encoding", "gzip")
		}
	}
	switch cl.auth {
	case authJWT, authBearer:
		req.Header.Set("Authorization", "Bearer "+token)
	case authKey:
		if c.cfg.APIKey != "" { // else the TLS client certificate authenticates
			req.Header.Set("X-Api-Key", string(c.cfg.APIKey))
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		e := fail(0, stripURL(err))
		e.retryable = retryableTransport(err, ctx.Err())
		return 0, e
	}
	defer resp.Body.Close()
	for _, s := range cl.ok {
		if resp.StatusCode != s {
			continue
		}
		if cl.out == nil || cl.method == http.MethodHead || resp.StatusCode == http.StatusNoContent {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
			return resp.StatusCode, nil
		}
		if err := json.NewDecoder(resp.Body).Decode(cl.out); err != nil {
			e := fail(resp.StatusCode, fmt.Errorf("decode answer: %w", err))
			e.retryable = retryableTransport(err, ctx.Err())
			return resp.StatusCode, e
		}
		return resp.StatusCode, nil
	}
	e := fail(resp.StatusCode, nil)
	e.Message = errorMessage(resp.Body)
	e.retryable = retryableStatus(resp.StatusCode)
	e.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	return resp.StatusCode, e
}

// stripURL drops the *url.Error wrapper, whose text repeats the URL (and
// with it any query) in every message; the Error already names the path.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// errorMessage extracts ErrorResponse.message (plus errors) from an error
// answer, or a short printable prefix of a non-JSON body.
func errorMessage(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, maxErrorBody))
	var er struct {
		Message string `json:"message"`
		Errors  string `json:"errors"`
	}
	if json.Unmarshal(b, &er) == nil && er.Message != "" {
		if er.Errors != "" {
			return er.Message + ": " + er.Errors
		}
		return er.Message
	}
	s := strings.TrimSpace(string(b))
	if !utf8.ValidString(s) {
		return ""
	}
	if len(s) > maxMessageLen {
		s = s[:maxMessageLen]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "..."
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' {
			return ' '
		}
		return r
	}, s)
}

// jwtExpiry reads the exp claim of a JWT without verifying it, zero if none.
func jwtExpiry(token string) time.Time {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(raw, &claims) != nil {
		return time.Time{}
	}
	f, err := claims.Exp.Float64()
	if err != nil || f <= 0 || f > 1e11 {
		return time.Time{}
	}
	return time.Unix(int64(f), 0)
}
