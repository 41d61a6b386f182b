package apiclient

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o600))
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{name: "valid", mutate: func(*Config) {}},
		{name: "default user agent", mutate: func(c *Config) { c.UserAgent = "" }},
		{name: "unix socket", mutate: func(c *Config) { c.URL = "unix:///run/lapi.sock" }},
		{name: "url with prefix", mutate: func(c *Config) { c.URL = "https://lapi.example:8443/crowdsec/" }},
		{name: "empty url", mutate: func(c *Config) { c.URL = "" }, wantErr: "apiclient: new: url is empty"},
		{name: "bad scheme", mutate: func(c *Config) { c.URL = "ftp://x" }, wantErr: "scheme must be http, https or unix"},
		{name: "no host", mutate: func(c *Config) { c.URL = "http:///v1" }, wantErr: "no host"},
		{name: "credentials in url", mutate: func(c *Config) { c.URL = "http://u:SECRET@h:8080" }, wantErr: "credentials in url"},
		{name: "unix without path", mutate: func(c *Config) { c.URL = "unix://" }, wantErr: "no socket path"},
		{name: "user agent without version", mutate: func(c *Config) { c.UserAgent = "phalanx" }, wantErr: "want name/version"},
		{name: "user agent with space", mutate: func(c *Config) { c.UserAgent = "phalanx/1 beta" }, wantErr: "space or control"},
		{name: "cert without key", mutate: func(c *Config) { c.TLS.CertFile = "c.pem" }, wantErr: "cert_path and key_path go together"},
		{name: "missing ca file", mutate: func(c *Config) { c.TLS.CAFile = filepath.Join(dir, "nope.pem") }, wantErr: "tls ca"},
		{name: "ca file without certificate", mutate: func(c *Config) { c.TLS.CAFile = notPEM }, wantErr: "no PEM certificate"},
		{name: "missing client cert", mutate: func(c *Config) {
			c.TLS.CertFile, c.TLS.KeyFile = filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
		}, wantErr: "tls client certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig("http://127.0.0.1:8080")
			tc.mutate(&cfg)
			c, err := New(cfg)
			if tc.wantErr == "" {
				require.NoError(t, err)
				c.Close()
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
			require.NotContains(t, err.Error(), "SECRET")
		})
	}
}

// TestSecretsNeverLeak: passwords, API keys, registration tokens and JWTs
// appear in no error, no log line and no printed Config.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	f := newFakeLAPI(t)
	f.respond("POST /v1/watchers", http.StatusBadRequest, "error_validation.json")
	f.respond("GET /v1/heartbeat", http.StatusServiceUnavailable, "")
	f.respond("GET /v1/decisions", http.StatusForbidden, "error_not_found.json")
	var logs bytes.Buffer
	cfg := testConfig(f.srv.URL)
	cfg.RegistrationToken = testRegToken
	c := newTestClient(t, cfg, WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))

	var errs []error
	_, err := c.Register(t.Context())
	errs = append(errs, err)
	errs = append(errs, c.Heartbeat(t.Context()))
	f.revokeTokens()
	errs = append(errs, c.Heartbeat(t.Context()))
	_, err = c.Decisions(t.Context(), DecisionFilter{IP: "192.0.2.1"})
	errs = append(errs, err)

	var out strings.Builder
	for _, err := range errs {
		require.Error(t, err)
		fmt.Fprintf(&out, "%v\n%+v\n%#v\n", err, err, err)
	}
	fmt.Fprintf(&out, "%v\n%+v\n%#v\n%s\n%q\n", cfg, cfg, cfg, cfg.Password, cfg.APIKey)
	out.Write(logs.Bytes())
	require.NotEmpty(t, logs.String())
	require.Contains(t, logs.String(), "retrying")
	require.NotContains(t, out.String(), "SECRET", out.String())
	// The secrets did reach the server, so the test can fail.
	reg := f.requests(http.MethodPost, "/v1/watchers")
	require.Contains(t, string(reg[0].Body), testRegToken)
}

func TestGzipRequests(t *testing.T) {
	t.Parallel()
	for _, gz := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip=%v", gz), func(t *testing.T) {
			t.Parallel()
			f := newFakeLAPI(t)
			f.respond("POST /v1/allowlists/check", http.StatusOK, "allowlist_bulk_response.json")
			cfg := testConfig(f.srv.URL)
			cfg.GzipRequests = gz
			c := newTestClient(t, cfg)
			_, err := c.CheckAllowlists(t.Context(), []string{"192.0.2.3", "198.51.100.0/24"})
			require.NoError(t, err)
			reqs := f.requests(http.MethodPost, "/v1/allowlists/check")
			require.Len(t, reqs, 1)
			want := ""
			if gz {
				want = "gzip"
			}
			require.Equal(t, want, reqs[0].Header.Get("Content-Encoding"))
			requireJSONEqual(t, readFixture(t, "allowlist_bulk_request.json"), reqs[0].Body)
		})
	}
}

func TestUnixSocket(t *testing.T) {
	t.Parallel()
	f := newFakeHandler(t)
	f.respond("GET /v1/decisions/stream", http.StatusOK, "stream_startup.json")
	sock := filepath.Join(t.TempDir(), "lapi.sock")
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	srv := &http.Server{Handler: f.handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	c := newTestClient(t, testConfig("unix://"+sock))
	got, err := c.DecisionsStream(t.Context(), StreamFilter{Startup: true})
	require.NoError(t, err)
	require.Len(t, got.New, 2)
	require.Len(t, got.Deleted, 1)
}

// TestMTLS runs against a loopback HTTPS server that requires a client
// certificate signed by its CA.
func TestMTLS(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	f := newFakeHandler(t)
	f.respond("GET /v1/decisions", http.StatusOK, "decisions.json")
	srv := httptest.NewUnstartedServer(f.handler())
	pool := x509.NewCertPool()
	pool.AddCert(pki.caCert)
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{pki.server},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	tests := []struct {
		name      string
		tls       TLSConfig
		wantErr   bool
		wantRetry bool
	}{
		{name: "client certificate accepted", tls: TLSConfig{CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey}},
		{name: "no client certificate", tls: TLSConfig{CAFile: pki.caFile}, wantErr: true},
		{name: "server not trusted", tls: TLSConfig{CertFile: pki.clientCert, KeyFile: pki.clientKey}, wantErr: true},
		{name: "insecure skip verify still needs client cert", tls: TLSConfig{InsecureSkipVerify: true}, wantErr: true},
		{name: "insecure skip verify with client cert", tls: TLSConfig{InsecureSkipVerify: true, CertFile: pki.clientCert, KeyFile: pki.clientKey}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(srv.URL)
			cfg.TLS = tc.tls
			cfg.MachineID, cfg.Password, cfg.APIKey = "", "", ""
			c := newTestClient(t, cfg)
			got, err := c.Decisions(t.Context(), DecisionFilter{})
			if tc.wantErr {
				require.Error(t, err)
				require.Equal(t, tc.wantRetry, IsRetryable(err), "%v", err)
				return
			}
			require.NoError(t, err)
			require.Len(t, got, 2)
		})
	}
}

type testPKI struct {
	caCert                        *x509.Certificate
	caFile, clientCert, clientKey string
	server                        tls.Certificate
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		return k
	}
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, ip net.IP) ([]byte, *ecdsa.PrivateKey) {
		k := newKey()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn, OrganizationalUnit: []string{"agent-ou"}},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		if ip != nil {
			tmpl.IPAddresses = []net.IP{ip}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		require.NoError(t, err)
		return der, k
	}
	writePEM := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return p
	}
	keyDER := func(k *ecdsa.PrivateKey) []byte {
		b, err := x509.MarshalECPrivateKey(k)
		require.NoError(t, err)
		return b
	}
	srvDER, srvKey := issue(2, "lapi", x509.ExtKeyUsageServerAuth, net.ParseIP("127.0.0.1"))
	cliDER, cliKey := issue(3, "agent-1", x509.ExtKeyUsageClientAuth, nil)
	server, err := tls.X509KeyPair(
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER(srvKey)}))
	require.NoError(t, err)
	return testPKI{
		caCert:     caCert,
		caFile:     writePEM("ca.pem", "CERTIFICATE", caDER),
		clientCert: writePEM("client.pem", "CERTIFICATE", cliDER),
		clientKey:  writePEM("client-key.pem", "EC PRIVATE KEY", keyDER(cliKey)),
		server:     server,
	}
}
