// Package webhook is the `http` notifier (ID notify.http): the format's
// output is the body of an HTTP request to a URL, with CrowdSec's http
// plugin keys: url, method, headers, skip_tls_verification, ca_cert_path,
// cert_path, key_path, unix_socket.
//
// As in CrowdSec, when the output is a JSON object with a
// "url_query_params" object and/or a "request_body" field, the params are
// added to the URL's query and request_body becomes the body (a JSON
// string as its text, anything else as its JSON); any other output is the
// body as is.
package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/phalanx-ids/phalanx/internal/notify"
	"github.com/phalanx-ids/phalanx/internal/notify/outbound"
)

// ID of the module; the `type` is "http".
const ID = notify.IDPrefix + "http"

// DefaultFormat sends the alerts as a JSON array (CrowdSec's default).
const DefaultFormat = "{{.|toJson}}"

// Config is the YAML configuration of an http notification.
type Config struct {
	notify.CommonConfig `yaml:",inline"`
	// URL receives the requests (a token in its path or query is never
	// logged).
	URL string `yaml:"url" notify:"url"`
	// Method (default POST).
	Method string `yaml:"method"`
	// Headers are added to every request (values are never logged).
	Headers map[string]string `yaml:"headers" notify:"secret"`
	// UnixSocket sends the requests over this socket instead.
	UnixSocket   string `yaml:"unix_socket"`
	outbound.TLS `yaml:",inline"`
}

// Module returns the http notifier module.
func Module() notify.Module {
	return notify.Define(ID, DefaultFormat, func() *Config { return &Config{Method: http.MethodPost} }, New)
}

// Notifier posts messages to a webhook.
type Notifier struct {
	*outbound.Endpoint
	method  string
	headers http.Header
}

var _ notify.Notifier = (*Notifier)(nil)

// New checks cfg and builds the notifier (TLS files are read now).
//
// Retry policy: a 2xx answer is delivered. Retryable: no answer
// (refused, reset, timeout), 408, 425, 429 and 5xx. Not retryable: any
// other status (the receiver refused the message: CrowdSec's plugin only
// logs it, Phalanx counts it as a failure) and TLS verification errors.
func New(cfg *Config, _ notify.Deps) (*Notifier, error) {
	method := strings.ToUpper(cfg.Method)
	if method == "" {
		method = http.MethodPost
	}
	if !validToken(method) {
		return nil, fmt.Errorf("method %q: not an HTTP method", cfg.Method)
	}
	n := &Notifier{method: method, headers: http.Header{}}
	for k, v := range cfg.Headers {
		if !validToken(k) || strings.ContainsAny(v, "\r\n\x00") {
			return nil, fmt.Errorf("headers: %q: not a valid header", k)
		}
		n.headers.Add(k, v)
	}
	var err error
	if n.Endpoint, err = outbound.NewEndpoint("url", cfg.URL, cfg.TLS, cfg.UnixSocket); err != nil {
		return nil, err
	}
	return n, nil
}

// validToken reports whether s is an RFC 9110 token (methods, header names).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

// Send makes one request (see New for the retry policy).
func (n *Notifier) Send(ctx context.Context, msg notify.Message) (bool, error) {
	u, body, err := n.shape(msg.Text)
	if err != nil {
		return false, fmt.Errorf("http: %w", err)
	}
	if _, retry, err := n.Endpoint.Send(ctx, n.method, u, body, n.headers); err != nil {
		return retry, fmt.Errorf("http: %w", err)
	}
	return false, nil
}

// shape applies CrowdSec's url_query_params/request_body convention.
func (n *Notifier) shape(text string) (*url.URL, []byte, error) {
	u := *n.URL
	t := strings.TrimSpace(text)
	if !strings.HasPrefix(t, "{") || !json.Valid([]byte(t)) {
		return &u, []byte(text), nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(t), &obj); err != nil {
		return &u, []byte(text), nil
	}
	params, hasParams := obj["url_query_params"]
	body, hasBody := obj["request_body"]
	if !hasParams && !hasBody {
		return &u, []byte(text), nil
	}
	if hasParams {
		var m map[string]any
		if err := json.Unmarshal(params, &m); err != nil {
			return nil, nil, errors.New("format: url_query_params: want a JSON object")
		}
		q := u.Query()
		for _, k := range slices.Sorted(maps.Keys(m)) {
			v := m[k]
			if s, ok := v.(string); ok {
				q.Add(k, s)
			} else {
				b, _ := json.Marshal(v)
				q.Add(k, string(b))
			}
		}
		u.RawQuery = q.Encode()
	}
	out := []byte(nil)
	if hasBody {
		var s string
		if err := json.Unmarshal(body, &s); err == nil {
			out = []byte(s)
		} else {
			out = []byte(body)
		}
	}
	return &u, out, nil
}
