package capi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/phalanx-ids/phalanx/internal/capi/wire"
	"github.com/phalanx-ids/phalanx/internal/duration"
)

// PullIntervalHeader is the answer header by which a central asks for a
// pull interval (a duration: "10s"). CrowdSec's central does not send it
// (its clients pull every 2 h); a Phalanx central does.
const PullIntervalHeader = "X-Phalanx-Pull-Interval"

// maxBody bounds what the client reads of an answer (a 15,000-entry stream
// is about 1 MB).
const maxBody = 64 << 20

// Error is a failed call to the central.
type Error struct {
	Op     string // "login", "push signals"...
	Status int    // HTTP status; 0 for a transport failure
	Msg    string // the central's message, or the transport error
	// Retryable: a later try may succeed (transport failure, 408, 429, 5xx).
	Retryable  bool
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("capi: %s: %s", e.Op, e.Msg)
	}
	return fmt.Sprintf("capi: %s: %d %s", e.Op, e.Status, e.Msg)
}

// Retryable says whether err is a failure a later try may overcome.
func Retryable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Retryable
	}
	return false
}

// RetryAfter returns the wait the central asked for (0 if none).
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// ClientOptions are the client's optional settings.
type ClientOptions struct {
	// HTTP is the client (nil: a client with a 30 s timeout).
	HTTP *http.Client
	// UserAgent (default "phalanx/dev").
	UserAgent string
	// Scenarios returns the scenarios sent at login (nil: none).
	Scenarios func() []string
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// LoginInfo is what a login says about the install.
type LoginInfo struct {
	Expire time.Time
	// Enrolled: the token carries an organization_id claim (CrowdSec's
	// client reads it the same way).
	Enrolled     bool
	Organization string
	Subscription string
}

// Client calls a central API.
//
// Concurrency: safe for concurrent use. The JWT is shared: obtained at the
// first authenticated call, renewed a minute before it expires, and
// renewed once more when the central answers 401 or 403.
type Client struct {
	base  *url.URL
	creds Credentials
	hc    *http.Client
	ua    string
	scen  func() []string
	now   func() time.Time

	mu    sync.Mutex
	token string
	info  LoginInfo
}

// NewClient returns a client for creds (only URL is needed to Register).
func NewClient(creds Credentials, o ClientOptions) (*Client, error) {
	u, err := url.Parse(creds.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("capi: url %q: not an http(s) URL", creds.URL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	c := &Client{base: u, creds: creds, hc: o.HTTP, ua: o.UserAgent, scen: o.Scenarios, now: o.Now}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: 30 * time.Second}
	}
	if c.ua == "" {
		c.ua = "phalanx/dev"
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// URL returns the central's base URL.
func (c *Client) URL() string { return c.base.String() }

func (c *Client) endpoint(path string) string {
	return c.base.ResolveReference(&url.URL{Path: strings.TrimPrefix(path, "/")}).String()
}

// do sends one request to path of the central's base URL and decodes a
// 2xx JSON answer into out (nil: discard).
func (c *Client) do(ctx context.Context, op, method, path string, body any, token string, out any) (http.Header, error) {
	return c.send(ctx, op, method, c.endpoint(path), body, token, out)
}

// send is do for a whole URL u.
func (c *Client) send(ctx context.Context, op, method, u string, body any, token string, out any) (http.Header, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, &Error{Op: op, Msg: err.Error()}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, &Error{Op: op, Msg: err.Error()}
	}
	req.Header.Set("User-Agent", c.ua)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, &Error{Op: op, Msg: redact(err.Error()), Retryable: ctx.Err() == nil}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, &Error{Op: op, Status: resp.StatusCode, Msg: "read answer: " + err.Error(), Retryable: true}
	}
	if len(data) > maxBody {
		return nil, &Error{Op: op, Status: resp.StatusCode, Msg: "answer too large"}
	}
	if resp.StatusCode/100 != 2 {
		return resp.Header, statusError(op, resp, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return nil, &Error{Op: op, Status: resp.StatusCode, Msg: "bad answer: " + err.Error()}
		}
	}
	return resp.Header, nil
}

func statusError(op string, resp *http.Response, data []byte) *Error {
	var m wire.Message
	msg := http.StatusText(resp.StatusCode)
	if json.Unmarshal(data, &m) == nil && m.Message != "" {
		msg = m.Message
	}
	if len(msg) > 200 {
		msg = msg[:200]
	}
	e := &Error{Op: op, Status: resp.StatusCode, Msg: strconv.QuoteToASCII(msg)}
	switch s := resp.StatusCode; {
	case s == http.StatusRequestTimeout, s == http.StatusTooManyRequests, s >= 500:
		e.Retryable = true
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if n, err := strconv.Atoi(ra); err == nil && n > 0 {
			e.RetryAfter = time.Duration(n) * time.Second
		}
	}
	return e
}

// redact drops anything that looks like a URL's userinfo from transport errors.
func redact(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		if j := strings.Index(s[i+3:], "@"); j >= 0 && !strings.ContainsAny(s[i+3:i+3+j], "/ ") {
			return s[:i+3] + "REDACTED@" + s[i+3+j+1:]
		}
	}
	return s
}

// Register creates the install's identity at the central (POST /v3/watchers).
func (c *Client) Register(ctx context.Context) error {
	_, err := c.do(ctx, "register", http.MethodPost, "v3/watchers",
		wire.RegisterRequest{MachineID: c.creds.Login, Password: c.creds.Password}, "", nil)
	return err
}

// Login gets a token (POST /v3/watchers/login) and says what it allows.
func (c *Client) Login(ctx context.Context) (LoginInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loginLocked(ctx)
}

func (c *Client) loginLocked(ctx context.Context) (LoginInfo, error) {
	scen := []string{}
	if c.scen != nil {
		scen = append(scen, c.scen()...)
	}
	var out wire.LoginResponse
	_, err := c.do(ctx, "login", http.MethodPost, "v3/watchers/login",
		wire.LoginRequest{MachineID: c.creds.Login, Password: c.creds.Password, Scenarios: scen}, "", &out)
	if err != nil {
		return LoginInfo{}, err
	}
	if out.Token == "" {
		return LoginInfo{}, &Error{Op: "login", Status: 200, Msg: "no token in the answer"}
	}
	info := LoginInfo{}
	if t, err := time.Parse(time.RFC3339, out.Expire); err == nil {
		info.Expire = t
	} else {
		info.Expire = c.now().Add(time.Hour)
	}
	claims := jwtClaims(out.Token)
	if org, ok := claims["organization_id"]; ok && org != nil && fmt.Sprint(org) != "" {
		info.Enrolled, info.Organization = true, fmt.Sprint(org)
	}
	if s, ok := claims["subscription_type"].(string); ok {
		info.Subscription = s
	}
	c.token, c.info = out.Token, info
	return info, nil
}

// jwtClaims decodes a JWT's payload without checking it (the client only
// reads what the central says about the install).
func jwtClaims(tok string) map[string]any {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}

// tokenFor returns a valid token, logging in when there is none or it
// expires within a minute; force renews it.
func (c *Client) tokenFor(ctx context.Context, force bool) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !force && c.token != "" && c.info.Expire.After(c.now().Add(time.Minute)) {
		return c.token, nil
	}
	if _, err := c.loginLocked(ctx); err != nil {
		return "", err
	}
	return c.token, nil
}

// authed calls an authenticated route, logging in again once on 401/403.
func (c *Client) authed(ctx context.Context, op, method, path string, body, out any) (http.Header, error) {
	for attempt := 0; ; attempt++ {
		tok, err := c.tokenFor(ctx, attempt > 0)
		if err != nil {
			return nil, err
		}
		h, err := c.do(ctx, op, method, path, body, tok, out)
		var e *Error
		if attempt == 0 && errors.As(err, &e) && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden) {
			continue
		}
		return h, err
	}
}

// Info returns what the last login said (zero before any).
func (c *Client) Info() LoginInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.info
}

// Enroll attaches the install to an organisation (POST /v3/watchers/enroll).
func (c *Client) Enroll(ctx context.Context, key, name string, tags []string, overwrite bool) error {
	if tags == nil {
		tags = []string{}
	}
	_, err := c.authed(ctx, "enroll", http.MethodPost, "v3/watchers/enroll",
		wire.EnrollRequest{AttachmentKey: key, Name: name, Tags: tags, Overwrite: overwrite}, nil)
	return err
}

// PushSignals sends signals (POST /v3/signals), each already encoded.
// Retryable failures (transport, 429, 5xx) say so (see Retryable); the
// central deduplicates by uuid, so a batch retried after a lost answer
// counts once.
func (c *Client) PushSignals(ctx context.Context, signals []json.RawMessage) error {
	_, err := c.authed(ctx, "push signals", http.MethodPost, "v3/signals", signals, nil)
	return err
}

// PullInfo is what the central said about pulling, besides the stream.
type PullInfo struct {
	// Interval is the pull interval the central asked for (0: none asked).
	Interval time.Duration
}

// PullStream gets the community list (GET /v3/decisions/stream);
// startup asks for the whole current list (the first pull after start).
func (c *Client) PullStream(ctx context.Context, startup, community, additional bool) (*wire.Stream, PullInfo, error) {
	q := url.Values{}
	if startup {
		q.Set("startup", "true")
	}
	if !community {
		q.Set("community_pull", "false")
	}
	if !additional {
		q.Set("additional_pull", "false")
	}
	path := "v3/decisions/stream"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out wire.Stream
	h, err := c.authedRaw(ctx, "pull stream", path, &out)
	if err != nil {
		return nil, PullInfo{}, err
	}
	var pi PullInfo
	if v := h.Get(PullIntervalHeader); v != "" {
		if d, err := duration.Positive(v); err == nil {
			pi.Interval = d
		}
	}
	return &out, pi, nil
}

// authedRaw is authed for a GET whose path carries a query.
func (c *Client) authedRaw(ctx context.Context, op, pathQuery string, out any) (http.Header, error) {
	path, query, _ := strings.Cut(pathQuery, "?")
	for attempt := 0; ; attempt++ {
		tok, err := c.tokenFor(ctx, attempt > 0)
		if err != nil {
			return nil, err
		}
		u := c.base.ResolveReference(&url.URL{Path: path, RawQuery: query})
		h, err := c.send(ctx, op, http.MethodGet, u.String(), nil, tok, out)
		var e *Error
		if attempt == 0 && errors.As(err, &e) && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden) {
			continue
		}
		return h, err
	}
}

// FetchList downloads a linked blocklist (plain text, one value per line).
// The token is sent only to the central's own host. With a non-zero
// since, the request is conditional: notModified reports a 304.
func (c *Client) FetchList(ctx context.Context, link string, since time.Time) (values []string, lastModified time.Time, notModified bool, err error) {
	op := "fetch list"
	u, err := c.base.Parse(link)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, time.Time{}, false, &Error{Op: op, Msg: fmt.Sprintf("bad link %q", link)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, time.Time{}, false, &Error{Op: op, Msg: err.Error()}
	}
	req.Header.Set("User-Agent", c.ua)
	if !since.IsZero() {
		req.Header.Set("If-Modified-Since", since.UTC().Format(http.TimeFormat))
	}
	if u.Host == c.base.Host {
		tok, err := c.tokenFor(ctx, false)
		if err != nil {
			return nil, time.Time{}, false, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, time.Time{}, false, &Error{Op: op, Msg: redact(err.Error()), Retryable: ctx.Err() == nil}
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified {
		return nil, since, true, nil
	}
	if resp.StatusCode/100 != 2 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, time.Time{}, false, statusError(op, resp, data)
	}
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		lastModified = lm
	}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, maxBody))
	sc.Buffer(make([]byte, 4096), 4096)
	for sc.Scan() {
		v := strings.TrimSpace(sc.Text())
		if v == "" || strings.HasPrefix(v, "#") {
			continue
		}
		values = append(values, v)
	}
	if err := sc.Err(); err != nil {
		return nil, time.Time{}, false, &Error{Op: op, Status: resp.StatusCode, Msg: "read list: " + err.Error(), Retryable: true}
	}
	return values, lastModified, false, nil
}

// DeleteDecisions tells the central that decisions (their uuids) were
// deleted locally (POST /v3/decisions/delete).
func (c *Client) DeleteDecisions(ctx context.Context, uuids []string) error {
	_, err := c.authed(ctx, "delete decisions", http.MethodPost, "v3/decisions/delete", uuids, nil)
	return err
}

// PushMetrics sends the LAPI's inventory of bouncers and machines
// (POST /v3/metrics/).
func (c *Client) PushMetrics(ctx context.Context, m wire.Metrics) error {
	if m.Bouncers == nil {
		m.Bouncers = []wire.MetricsBouncer{}
	}
	if m.Machines == nil {
		m.Machines = []wire.MetricsMachine{}
	}
	_, err := c.authed(ctx, "push metrics", http.MethodPost, "v3/metrics/", m, nil)
	return err
}
