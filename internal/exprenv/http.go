package exprenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxHTTPBody caps the body an HTTP helper reads.
const maxHTTPBody = 10 << 20

// HTTPResponse is what the HTTP helpers return.
type HTTPResponse struct {
	StatusCode int
	Body       string
	Headers    http.Header
}

// errNoHTTP is returned by the HTTP helpers when Deps.HTTP is nil.
var errNoHTTP = errors.New("exprenv: http helpers are disabled (no client)")

// httpHelpers: outbound HTTP through the injected Deps.HTTP client (its
// Timeout applies). Without a client every call is an error.
func (e *Env) httpHelpers() []helper {
	return []helper{
		{"HTTPGet", func(p ...any) (any, error) { return e.doHTTP(http.MethodGet, argStr(p, 0), nil, "") }, []any{new(func(string) (*HTTPResponse, error))}},
		{"HTTPHead", func(p ...any) (any, error) { return e.doHTTP(http.MethodHead, argStr(p, 0), nil, "") }, []any{new(func(string) (*HTTPResponse, error))}},
		{"HTTPPost", func(p ...any) (any, error) {
			return e.doHTTP(http.MethodPost, argStr(p, 0), map[string]string{"Content-Type": argStr(p, 1)}, argStr(p, 2))
		}, []any{new(func(string, string, string) (*HTTPResponse, error))}},
		{"HTTPRequest", func(p ...any) (any, error) {
			raw, _ := p[2].(map[string]any)
			h := make(map[string]string, len(raw))
			for k, v := range raw {
				h[k] = fmt.Sprint(v)
			}
			return e.doHTTP(argStr(p, 0), argStr(p, 1), h, argStr(p, 3))
		}, []any{new(func(string, string, map[string]any, string) (*HTTPResponse, error))}},
	}
}

func (e *Env) doHTTP(method, uri string, headers map[string]string, body string) (*HTTPResponse, error) {
	if e.d.HTTP == nil {
		return nil, errNoHTTP
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, uri, rd)
	if err != nil {
		return nil, fmt.Errorf("exprenv: http: %w", err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := e.d.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("exprenv: http: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxHTTPBody))
	if err != nil {
		return nil, fmt.Errorf("exprenv: http: %w", err)
	}
	return &HTTPResponse{StatusCode: resp.StatusCode, Body: string(b), Headers: resp.Header}, nil
}
