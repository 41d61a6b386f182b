// Package outbound is what the notifiers that talk to a network receiver
// share: the TLS keys of CrowdSec's plugins, an HTTP client built from
// them, and the retry verdict on an HTTP answer or a transport error.
package outbound

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/phalanx-ids/phalanx/internal/notify"
)

// TLS are the TLS keys of CrowdSec's http plugin, shared by every network
// notifier.
type TLS struct {
	// SkipVerify accepts any server certificate (self-signed test setups).
	SkipVerify bool `yaml:"skip_tls_verification"`
	// CAPath is a PEM file of CAs trusted in addition to the system's.
	CAPath string `yaml:"ca_cert_path"`
	// CertPath and KeyPath are a client certificate (mutual TLS): both or
	// neither.
	CertPath string `yaml:"cert_path"`
	KeyPath  string `yaml:"key_path"`
}

// Config reads the files t names and returns the client TLS configuration
// for serverName ("" lets the caller's library fill it in).
func (t TLS) Config(serverName string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName, InsecureSkipVerify: t.SkipVerify} //nolint:gosec // skip_tls_verification is the user's explicit choice
	if t.CAPath != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(t.CAPath)
		if err != nil {
			return nil, fmt.Errorf("ca_cert_path: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_cert_path %s: no PEM certificate in it", t.CAPath)
		}
		c.RootCAs = pool
	}
	switch {
	case t.CertPath != "" && t.KeyPath != "":
		cert, err := tls.LoadX509KeyPair(t.CertPath, t.KeyPath)
		if err != nil {
			return nil, fmt.Errorf("cert_path/key_path: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	case t.CertPath != "" || t.KeyPath != "":
		return nil, errors.New("cert_path and key_path: set both or neither")
	}
	return c, nil
}

// CheckURL parses an http(s) URL with a host.
func CheckURL(key, raw string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("%s: missing", key)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s %s: not a URL", key, notify.RedactURL(raw))
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s %s: want an http:// or https:// URL with a host", key, notify.RedactURL(raw))
	}
	return u, nil
}

// NewClient builds an HTTP client over t; a non-empty socket dials that
// unix socket whatever the URL's host.
func NewClient(t TLS, socket string) (*http.Client, error) {
	tc, err := t.Config("")
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.MaxIdleConnsPerHost = 2
	tr.IdleConnTimeout = time.Minute
	if socket != "" {
		socket = strings.TrimSuffix(socket, "/")
		var d net.Dialer
		tr.Proxy = nil
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", socket)
		}
	}
	return &http.Client{Transport: tr}, nil
}

// Endpoint is a receiver's URL with the HTTP client that reaches it.
type Endpoint struct {
	URL    *url.URL
	Client *http.Client
}

// NewEndpoint checks raw (an http(s) URL; key names it in errors) and
// builds its client (see NewClient).
func NewEndpoint(key, raw string, t TLS, socket string) (*Endpoint, error) {
	u, err := CheckURL(key, raw)
	if err != nil {
		return nil, err
	}
	c, err := NewClient(t, socket)
	if err != nil {
		return nil, err
	}
	return &Endpoint{URL: u, Client: c}, nil
}

// Send makes one request to u (nil: the endpoint's URL) with body and
// header (Content-Type among them), and returns the answer as Do does.
func (e *Endpoint) Send(ctx context.Context, method string, u *url.URL, body []byte, header http.Header) ([]byte, bool, error) {
	if u == nil {
		u = e.URL
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, false, fmt.Errorf("%s %s: %w", method, notify.RedactURL(u.String()), err)
	}
	req.Header = header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", UserAgent)
	}
	if h := req.Header.Get("Host"); h != "" {
		req.Host = h
		req.Header.Del("Host")
	}
	return Do(e.Client, req)
}

// Close releases idle connections.
func (e *Endpoint) Close() error {
	e.Client.CloseIdleConnections()
	return nil
}

// UserAgent of the notifiers' requests unless a header sets one.
const UserAgent = "phalanx-notify"

// maxAnswer is how much of an answer is read (the rest is discarded).
const maxAnswer = 64 << 10

// Do sends req and reads the answer. A 2xx is success. Otherwise the error
// gives the status and the start of the answer, and retryable is true for
// 408, 425, 429 and 5xx and for transport errors (refused, reset,
// timeout) except TLS verification failures. URLs in errors are redacted
// (tokens often live in a webhook's path or query).
func Do(c *http.Client, req *http.Request) (body []byte, retryable bool, err error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, TransportRetryable(err), redact(err)
	}
	defer resp.Body.Close()
	// A short read still leaves the status: the verdict rests on it.
	body, _ = io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return body, false, nil
	}
	return body, StatusRetryable(resp.StatusCode), fmt.Errorf("%s %s: %s%s", req.Method, notify.RedactURL(req.URL.String()), resp.Status, Snippet(body))
}

// StatusRetryable is the verdict on a non-2xx HTTP status.
func StatusRetryable(code int) bool {
	switch {
	case code == http.StatusRequestTimeout, code == http.StatusTooEarly, code == http.StatusTooManyRequests:
		return true
	case code >= 500:
		return true
	}
	return false
}

// TransportRetryable is the verdict on an error met before any answer: a
// certificate the client does not trust will not be trusted later.
func TransportRetryable(err error) bool {
	var (
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		ci  x509.CertificateInvalidError
		cve *tls.CertificateVerificationError
	)
	return !(errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) || errors.As(err, &cve))
}

func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = notify.RedactURL(ue.URL)
	}
	return err
}

// Snippet quotes the start of an answer for an error message (": ..."),
// control characters escaped; "" for an empty answer.
func Snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return ""
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	q := strconv.Quote(s)
	return ": " + q[1:len(q)-1]
}
