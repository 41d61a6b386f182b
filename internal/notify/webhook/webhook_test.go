package webhook_test

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/notify"
	"github.com/phalanx-ids/phalanx/internal/notify/notifytest"
	"github.com/phalanx-ids/phalanx/internal/notify/outbound"
	"github.com/phalanx-ids/phalanx/internal/notify/webhook"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// request is what the receiver saw.
type request struct {
	method, path, query, body string
	header                    http.Header
	host                      string
	clientCN                  string
}

type recorder struct {
	mu   sync.Mutex
	reqs []request
	code int
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	rq := request{method: req.Method, path: req.URL.Path, query: req.URL.RawQuery, body: string(b), header: req.Header.Clone(), host: req.Host}
	if req.TLS != nil && len(req.TLS.PeerCertificates) > 0 {
		rq.clientCN = req.TLS.PeerCertificates[0].Subject.CommonName
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, rq)
	code := r.code
	r.mu.Unlock()
	if code == 0 {
		code = http.StatusOK
	}
	w.WriteHeader(code)
	_, _ = io.WriteString(w, "answer body")
}

func (r *recorder) last(t *testing.T) request {
	r.mu.Lock()
	defer r.mu.Unlock()
	require.NotEmpty(t, r.reqs)
	return r.reqs[len(r.reqs)-1]
}

func build(t *testing.T, cfg *webhook.Config) notify.Notifier {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "h"
	}
	n, err := webhook.New(cfg, notify.Deps{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close() })
	return n
}

func send(t *testing.T, n notify.Notifier, text string) (bool, error) {
	t.Helper()
	return notifytest.Send(t, n, text)
}

func TestRequest(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	n := build(t, &webhook.Config{URL: srv.URL + "/hook?static=1", Method: "put", Headers: map[string]string{
		"Authorization": "token 0x64312313", "Content-Type": "application/json", "Host": "receiver.example",
	}})
	retry, err := send(t, n, `[{"scenario":"x"}]`)
	require.NoError(t, err)
	require.False(t, retry)
	got := rec.last(t)
	require.Equal(t, http.MethodPut, got.method)
	require.Equal(t, "/hook", got.path)
	require.Equal(t, "static=1", got.query)
	require.Equal(t, `[{"scenario":"x"}]`, got.body)
	require.Equal(t, "token 0x64312313", got.header.Get("Authorization"))
	require.Equal(t, "application/json", got.header.Get("Content-Type"))
	require.Equal(t, "receiver.example", got.host)
	require.Equal(t, "phalanx-notify", got.header.Get("User-Agent"))
}

// TestQueryParamsAndBody: CrowdSec's url_query_params/request_body shape.
func TestQueryParamsAndBody(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	n := build(t, &webhook.Config{URL: srv.URL + "/alerts?a=1", Method: "POST"})
	for _, tc := range []struct {
		name, text, query, body string
	}{
		{"params and a JSON body", `{"url_query_params": {"ip": "1.2.3.4", "n": 2}, "request_body": [{"x": 1}]}`, "a=1&ip=1.2.3.4&n=2", `[{"x": 1}]`},
		{"a string body is sent as its text", `{"request_body": "plain text"}`, "a=1", "plain text"},
		{"params only: no body", `{"url_query_params": {"ip": "5.6.7.8"}}`, "a=1&ip=5.6.7.8", ""},
		{"any other JSON object is the body", `{"alerts": 3}`, "a=1", `{"alerts": 3}`},
		{"text that is not JSON is the body", `{not json`, "a=1", `{not json`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := send(t, n, tc.text)
			require.NoError(t, err)
			got := rec.last(t)
			require.Equal(t, tc.query, got.query)
			require.Equal(t, tc.body, got.body)
		})
	}
	_, err := send(t, n, `{"url_query_params": ["not", "an object"]}`)
	require.ErrorContains(t, err, "url_query_params: want a JSON object")
}

func TestRetryPolicy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code  int
		ok    bool
		retry bool
	}{
		{200, true, false}, {201, true, false}, {204, true, false},
		{400, false, false}, {401, false, false}, {403, false, false}, {404, false, false}, {413, false, false},
		{408, false, true}, {425, false, true}, {429, false, true}, {500, false, true}, {502, false, true}, {503, false, true},
	} {
		t.Run(http.StatusText(tc.code), func(t *testing.T) {
			t.Parallel()
			rec := &recorder{code: tc.code}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			n := build(t, &webhook.Config{URL: srv.URL + "/x?token=SECRET", Method: "POST"})
			retry, err := send(t, n, "x")
			require.Equal(t, tc.ok, err == nil, "%v", err)
			require.Equal(t, tc.retry, retry)
			if err != nil {
				require.Contains(t, err.Error(), "answer body", "the answer's start helps")
				require.NotContains(t, err.Error(), "SECRET", "tokens in the URL are never shown")
			}
		})
	}
	t.Run("connection refused is retryable, the URL redacted", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.NotFoundHandler())
		u := srv.URL
		srv.Close()
		n := build(t, &webhook.Config{URL: u + "/hook/SECRET", Method: "POST"})
		retry, err := send(t, n, "x")
		require.Error(t, err)
		require.True(t, retry)
		require.NotContains(t, err.Error(), "SECRET")
	})
}

func TestTLS(t *testing.T) {
	t.Parallel()
	pki := testutil.NewPKI(t)
	srvPair := pki.Server(t, "receiver")
	rec := &recorder{}
	srv := httptest.NewUnstartedServer(rec)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{srvPair.Cert}, ClientCAs: pki.Pool, ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	defer srv.Close()
	client := pki.Client(t, "phalanx-notifier")

	t.Run("an unknown CA is refused, not retried", func(t *testing.T) {
		n := build(t, &webhook.Config{URL: srv.URL, Method: "POST"})
		retry, err := send(t, n, "x")
		require.Error(t, err)
		require.False(t, retry)
	})
	t.Run("ca_cert_path trusts the receiver", func(t *testing.T) {
		n := build(t, &webhook.Config{URL: srv.URL, Method: "POST", TLS: tlsKeys(pki.CAFile, "", "", false)})
		_, err := send(t, n, "x")
		require.NoError(t, err)
		require.Empty(t, rec.last(t).clientCN)
	})
	t.Run("skip_tls_verification", func(t *testing.T) {
		n := build(t, &webhook.Config{URL: srv.URL, Method: "POST", TLS: tlsKeys("", "", "", true)})
		_, err := send(t, n, "x")
		require.NoError(t, err)
	})
	t.Run("client certificate", func(t *testing.T) {
		n := build(t, &webhook.Config{URL: srv.URL, Method: "POST", TLS: tlsKeys(pki.CAFile, client.CertFile, client.KeyFile, false)})
		_, err := send(t, n, "x")
		require.NoError(t, err)
		require.Equal(t, "phalanx-notifier", rec.last(t).clientCN)
	})
}

func TestUnixSocket(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "r.sock")
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	rec := &recorder{}
	srv := &http.Server{Handler: rec, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	n := build(t, &webhook.Config{URL: "http://receiver/in", Method: "POST", UnixSocket: sock})
	_, err = send(t, n, "over the socket")
	require.NoError(t, err)
	require.Equal(t, "over the socket", rec.last(t).body)
	require.Equal(t, "/in", rec.last(t).path)
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  webhook.Config
		want string
	}{
		{"CrowdSec's placeholder", webhook.Config{URL: "<HTTP_url>"}, "url <redacted>: want an http:// or https:// URL"},
		{"missing url", webhook.Config{}, "url: missing"},
		{"bad method", webhook.Config{URL: "http://x/", Method: "GE T"}, `method "GE T"`},
		{"header injection", webhook.Config{URL: "http://x/", Headers: map[string]string{"X": "a\r\nB: c"}}, `headers: "X"`},
		{"missing CA file", webhook.Config{URL: "https://x/", TLS: tlsKeys("/nonexistent/ca.pem", "", "", false)}, "ca_cert_path"},
		{"cert without key", webhook.Config{URL: "https://x/", TLS: tlsKeys("", "/c.pem", "", false)}, "set both or neither"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := webhook.New(&tc.cfg, notify.Deps{})
			require.ErrorContains(t, err, tc.want)
			require.False(t, strings.Contains(err.Error(), "\n"))
		})
	}
}

func tlsKeys(ca, cert, key string, skip bool) outbound.TLS {
	return outbound.TLS{CAPath: ca, CertPath: cert, KeyPath: key, SkipVerify: skip}
}
