package httppush

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/acquire"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/netguard"
	"github.com/phalanx-ids/phalanx/internal/netguard/guardtest"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

type sink struct {
	mu    sync.Mutex
	lines []event.Line
}

func (s *sink) emit(l event.Line) error {
	s.mu.Lock()
	s.lines = append(s.lines, l)
	s.mu.Unlock()
	return nil
}

func (s *sink) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range s.lines {
		out = append(out, l.Raw)
	}
	s.lines = nil
	return out
}

// start runs a source on a loopback port and returns its base URL.
func start(t *testing.T, cfg Config) (string, *sink) {
	t.Helper()
	cfg.ListenAddr = "127.0.0.1:0"
	cfg.Labels = map[string]string{"type": "push"}
	src, err := New(&cfg, acquire.Deps{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	s := &sink{}
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, s.emit) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Error("http source did not stop")
		}
	})
	actx, acancel := context.WithTimeout(ctx, 10*time.Second)
	defer acancel()
	addr, err := src.Addr(actx)
	require.NoError(t, err, "not listening")
	scheme := "http"
	if cfg.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + addr.String(), s
}

func gz(t *testing.T, s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, err := w.Write([]byte(s))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return b.Bytes()
}

func TestPush(t *testing.T) {
	t.Parallel()
	basic := Config{Path: "/logs", AuthType: AuthBasic, BasicAuth: &BasicAuth{Username: "u", Password: "p"},
		CustomStatusCode: 202, CustomHeaders: map[string]string{"X-Ok": "yes"}, MaxBodySize: 200}
	base, s := start(t, basic)
	headers := Config{AuthType: AuthHeaders, Headers: map[string]string{"X-Key": "secret"}}
	hbase, hs := start(t, headers)

	cases := []struct {
		name    string
		url     string
		method  string
		body    []byte
		hdr     map[string]string
		user    string
		status  int
		want    []string
		fromSrc *sink
	}{
		{"json stream", base + "/logs", "POST", []byte(`{"a": 1} {"b":[1, 2]}` + "\n" + `[3]`), nil, "u:p", 202, []string{`{"a":1}`, `{"b":[1,2]}`, `[3]`}, s},
		{"lines", base + "/logs", "POST", []byte("line one\r\n\nline two\n"), nil, "u:p", 202, []string{"line one", "line two"}, s},
		{"text starting like json", base + "/logs", "POST", []byte("[error] x\n"), nil, "u:p", 202, []string{"[error] x"}, s},
		{"gzip", base + "/logs", "POST", gz(t, `{"z":true}`), map[string]string{"Content-Encoding": "gzip"}, "u:p", 202, []string{`{"z":true}`}, s},
		{"bad gzip", base + "/logs", "POST", []byte("nope"), map[string]string{"Content-Encoding": "gzip"}, "u:p", 400, nil, s},
		{"broken stream", base + "/logs", "POST", []byte(`{"a":1} {"b":`), nil, "u:p", 400, nil, s},
		{"too big", base + "/logs", "POST", []byte(strings.Repeat("x", 300)), nil, "u:p", 413, nil, s},
		{"too big after gunzip", base + "/logs", "POST", gz(t, strings.Repeat("x", 300)), map[string]string{"Content-Encoding": "gzip"}, "u:p", 413, nil, s},
		{"wrong password", base + "/logs", "POST", []byte("x"), nil, "u:bad", 401, nil, s},
		{"no credentials", base + "/logs", "POST", []byte("x"), nil, "", 401, nil, s},
		{"get", base + "/logs", "GET", nil, nil, "u:p", 405, nil, s},
		{"other path", base + "/other", "POST", []byte("x"), nil, "u:p", 404, nil, s},
		{"headers ok", hbase + "/", "POST", []byte("h1\n"), map[string]string{"X-Key": "secret"}, "", 200, []string{"h1"}, hs},
		{"headers wrong", hbase + "/", "POST", []byte("h1\n"), map[string]string{"X-Key": "nope"}, "", 401, nil, hs},
		{"headers missing", hbase + "/", "POST", []byte("h1\n"), nil, "", 401, nil, hs},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, tc.url, bytes.NewReader(tc.body))
			require.NoError(t, err)
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			if u, p, ok := strings.Cut(tc.user, ":"); ok {
				req.SetBasicAuth(u, p)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, tc.status, resp.StatusCode)
			if tc.status == 202 {
				require.Equal(t, "yes", resp.Header.Get("X-Ok"))
			}
			require.Equal(t, tc.want, tc.fromSrc.take())
		})
	}
}

// When Run cannot listen (the address is taken), Addr returns Run's
// error instead of waiting for the caller's ctx.
func TestRunFailsBeforeListening(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	src, err := New(&Config{CommonConfig: acquire.CommonConfig{Mode: acquire.ModeTail}, ListenAddr: taken.Addr().String(),
		AuthType: AuthHeaders, Headers: map[string]string{"X-Key": "secret"}}, acquire.Deps{})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr := make(chan error, 1)
	go func() { _, err := src.Addr(ctx); addr <- err }() // waiting before Run starts
	runErr := src.Run(ctx, (&sink{}).emit)
	require.ErrorContains(t, runErr, "http: listen: ")
	require.ErrorIs(t, runErr, syscall.EADDRINUSE)
	require.Equal(t, runErr, testutil.Recv(t, addr, "Addr returns once Run has"), "Addr returns Run's error")
}

func TestNewErrors(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no listen", Config{AuthType: AuthHeaders, Headers: map[string]string{"a": "b"}}, "listen_addr"},
		{"no auth", Config{ListenAddr: ":0"}, "auth_type is required"},
		{"bad auth", Config{ListenAddr: ":0", AuthType: "magic"}, "auth_type"},
		{"basic without creds", Config{ListenAddr: ":0", AuthType: AuthBasic}, "basic_auth.username"},
		{"mtls without ca", Config{ListenAddr: ":0", AuthType: AuthMTLS}, "ca_cert"},
		{"bad status", Config{ListenAddr: ":0", AuthType: AuthHeaders, Headers: map[string]string{"a": "b"}, CustomStatusCode: 42}, "custom_status_code"},
		{"missing cert", Config{ListenAddr: ":0", AuthType: AuthMTLS, TLS: &TLSConfig{CACert: "x", ServerCert: "/nope", ServerKey: "/nope"}}, "tls"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(&tc.cfg, acquire.Deps{})
			require.ErrorContains(t, err, tc.want)
		})
	}
}

type pki struct {
	caPEM, srvCert, srvKey string
	client                 tls.Certificate
	stranger               tls.Certificate
	pool                   *x509.CertPool
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
}

func newCert(t *testing.T, tmpl *x509.Certificate, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	require.NoError(t, err)
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return c, key, der
}

func newPKI(t *testing.T) pki {
	dir := t.TempDir()
	now := time.Now()
	caT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	ca, caKey, caDER := newCert(t, caT, nil, nil)
	srvT := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "srv"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	_, srvKey, srvDER := newCert(t, srvT, ca, caKey)
	cliT := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "cli"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	_, cliKey, cliDER := newCert(t, cliT, ca, caKey)
	strT := *cliT
	strT.SerialNumber = big.NewInt(4)
	_, strKey, strDER := newCert(t, &strT, nil, nil) // self-signed: not from the CA
	p := pki{caPEM: filepath.Join(dir, "ca.pem"), srvCert: filepath.Join(dir, "srv.pem"), srvKey: filepath.Join(dir, "srv.key"), pool: x509.NewCertPool()}
	writePEM(t, p.caPEM, "CERTIFICATE", caDER)
	writePEM(t, p.srvCert, "CERTIFICATE", srvDER)
	kb, err := x509.MarshalECPrivateKey(srvKey)
	require.NoError(t, err)
	writePEM(t, p.srvKey, "EC PRIVATE KEY", kb)
	p.pool.AddCert(ca)
	p.client = tls.Certificate{Certificate: [][]byte{cliDER}, PrivateKey: cliKey}
	p.stranger = tls.Certificate{Certificate: [][]byte{strDER}, PrivateKey: strKey}
	return p
}

func TestMTLS(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	base, s := start(t, Config{AuthType: AuthMTLS, TLS: &TLSConfig{ServerCert: p.srvCert, ServerKey: p.srvKey, CACert: p.caPEM}})
	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool, Certificates: certs}}}
	}
	resp, err := client(p.client).Post(base+"/", "text/plain", strings.NewReader("secure line\n"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, []string{"secure line"}, s.take())

	for name, c := range map[string]*http.Client{"no client cert": client(), "foreign cert": client(p.stranger)} {
		resp, err := c.Post(base+"/", "text/plain", strings.NewReader("x\n"))
		if err == nil {
			resp.Body.Close()
		}
		require.Error(t, err, name)
	}
	require.Empty(t, s.take())
}

func FuzzSplit(f *testing.F) {
	f.Add([]byte(`{"a":1} [2] "x"`))
	f.Add([]byte("a\nb\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := Split(b)
		if err != nil {
			return
		}
		for _, l := range out {
			if l == "" {
				t.Fatal("empty line emitted")
			}
		}
	})
}

// The slow-client attacks against the push endpoint (authenticated, so
// that the trickled body reaches the handler's read).
func TestResistsSlowClients(t *testing.T) {
	t.Parallel()
	cfg := Config{AuthType: AuthHeaders, Headers: map[string]string{"X-Key": "k"},
		Limits: netguard.Config{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: time.Second,
			IdleTimeout: 300 * time.Millisecond, MaxConnsPerAddress: 3}}
	url, _ := start(t, cfg)
	guardtest.Suite(t, guardtest.Target{Addr: strings.TrimPrefix(url, "http://"), Header: "X-Key: k\r\n",
		ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: time.Second, IdleTimeout: 300 * time.Millisecond,
		MaxHeaderBytes: 32 << 10, MaxConnsPerAddress: 3})
}

// Without limits, timeout bounds the whole request (CrowdSec's key).
func TestTimeoutCutsTrickledBody(t *testing.T) {
	t.Parallel()
	url, _ := start(t, Config{AuthType: AuthHeaders, Headers: map[string]string{"X-Key": "k"}, Timeout: time.Second})
	c := guardtest.DialFrom(t, "127.0.0.1", strings.TrimPrefix(url, "http://"))
	_, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nX-Key: k\r\nContent-Length: 100000\r\n\r\n")
	require.NoError(t, err)
	stop := guardtest.Trickle(c, 20*time.Millisecond)
	defer stop()
	require.True(t, guardtest.ClosedWithin(c, 15*time.Second))
}
