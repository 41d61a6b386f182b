package lapi_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/lapi"
	"github.com/phalanx-ids/phalanx/internal/store"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // PEM of cert
	dir  string
}

func newTestCA(t *testing.T, dir, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	file := filepath.Join(dir, name+".pem")
	require.NoError(t, os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return &testCA{cert: cert, key: key, file: file, dir: dir}
}

// issue signs a leaf certificate and writes it and its key as PEM files;
// server certificates are valid for 127.0.0.1.
func (ca *testCA) issue(t *testing.T, file, cn string, ous []string, server bool) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: serial.Add(serial, big.NewInt(2)),
		Subject:      pkix.Name{CommonName: cn, OrganizationalUnit: ous},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile = filepath.Join(ca.dir, file+".pem")
	keyFile = filepath.Join(ca.dir, file+"-key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	return certFile, keyFile
}

// mtlsEnv is a LAPI over TLS verifying client certificates against ca.
type mtlsEnv struct {
	srv   *testServer
	ca    *testCA
	rogue *testCA // a CA the server does not trust
}

func startMTLS(t *testing.T, tlsCfg lapi.TLSConfig) *mtlsEnv {
	t.Helper()
	dir := t.TempDir()
	ca := newTestCA(t, dir, "ca")
	rogue := newTestCA(t, dir, "rogue")
	tlsCfg.CertFile, tlsCfg.KeyFile = ca.issue(t, "server", "lapi", nil, true)
	tlsCfg.ClientCAFile = ca.file
	srv := startServer(t, openSQLite(t), lapi.Config{TLS: tlsCfg}, lapi.Deps{})
	return &mtlsEnv{srv: srv, ca: ca, rogue: rogue}
}

// client returns an apiclient authenticating with a certificate (issued
// by signer) and nothing else.
func (e *mtlsEnv) client(t *testing.T, signer *testCA, name, cn string, ous []string, ua string) *apiclient.Client {
	t.Helper()
	certFile, keyFile := signer.issue(t, name, cn, ous, false)
	c, err := apiclient.New(apiclient.Config{URL: e.srv.url, UserAgent: ua,
		TLS:   apiclient.TLSConfig{CAFile: e.ca.file, CertFile: certFile, KeyFile: keyFile},
		Retry: apiclient.RetryConfig{MaxAttempts: 1}, Timeout: 10 * time.Second})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

func apiStatus(t *testing.T, err error) int {
	t.Helper()
	var ae *apiclient.Error
	require.True(t, errors.As(err, &ae), "want an *apiclient.Error, got %T: %v", err, err)
	return ae.Status
}

func TestMTLSAgent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		agentsOU   []string
		certOU     []string
		rogue      bool // signed by a CA the server does not trust
		wantLogin  bool
		wantStatus int // when the login is refused by the LAPI (0: TLS failure)
	}{
		{name: "default OU allowed", certOU: []string{"agent-ou"}, wantLogin: true},
		{name: "one of several OUs allowed", certOU: []string{"x", "agent-ou"}, wantLogin: true},
		{name: "configured OU allowed", agentsOU: []string{"my-agents"}, certOU: []string{"my-agents"}, wantLogin: true},
		{name: "default OU not allowed when configured", agentsOU: []string{"my-agents"}, certOU: []string{"agent-ou"}, wantStatus: http.StatusUnauthorized},
		{name: "bouncer OU refused", certOU: []string{"bouncer-ou"}, wantStatus: http.StatusUnauthorized},
		{name: "no OU refused", wantStatus: http.StatusUnauthorized},
		{name: "untrusted CA refused", certOU: []string{"agent-ou"}, rogue: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			env := startMTLS(t, lapi.TLSConfig{AgentsAllowedOU: tc.agentsOU})
			signer := env.ca
			if tc.rogue {
				signer = env.rogue
			}
			c := env.client(t, signer, "agent", "agent1", tc.certOU, agentUA)
			err := c.Login(ctx)
			machines, lerr := env.srv.st.ListMachines(ctx)
			require.NoError(t, lerr)
			if !tc.wantLogin {
				require.Error(t, err)
				if tc.wantStatus != 0 {
					require.Equal(t, tc.wantStatus, apiStatus(t, err))
				}
				require.Empty(t, machines, "a refused certificate must not create a machine")
				return
			}
			require.NoError(t, err)
			require.NoError(t, c.Heartbeat(ctx))
			require.Len(t, machines, 1)
			m := machines[0]
			require.Equal(t, "agent1@127.0.0.1", m.ID)
			require.True(t, m.IsValidated)
			require.Equal(t, "tls", m.AuthType)
			require.Equal(t, "127.0.0.1", m.IPAddress)

			// The certificate alone authenticates machine routes too (no JWT).
			r := certGet(t, env, "agent-raw", "agent1", tc.certOU, "/v1/heartbeat", nil)
			require.Equal(t, http.StatusOK, r.status, string(r.body))
		})
	}
}

func TestMTLSBouncer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		bouncersOU  []string
		certOU      []string
		path        string
		want        int
		wantBouncer string // "" when no bouncer may be created
	}{
		{name: "stream with bouncer OU", certOU: []string{"bouncer-ou"}, path: "/v1/decisions/stream?startup=true", want: http.StatusOK, wantBouncer: "fw@127.0.0.1"},
		{name: "live decisions with bouncer OU", certOU: []string{"bouncer-ou"}, path: "/v1/decisions", want: http.StatusOK, wantBouncer: "fw@127.0.0.1"},
		{name: "configured OU", bouncersOU: []string{"fw"}, certOU: []string{"fw"}, path: "/v1/decisions/stream", want: http.StatusOK, wantBouncer: "fw@127.0.0.1"},
		{name: "default OU not allowed when configured", bouncersOU: []string{"fw"}, certOU: []string{"bouncer-ou"}, path: "/v1/decisions/stream", want: http.StatusForbidden},
		{name: "agent OU refused on a bouncer route", certOU: []string{"agent-ou"}, path: "/v1/decisions/stream", want: http.StatusForbidden},
		{name: "bouncer OU refused on a machine route", certOU: []string{"bouncer-ou"}, path: "/v1/heartbeat", want: http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			env := startMTLS(t, lapi.TLSConfig{BouncersAllowedOU: tc.bouncersOU})
			r := certGet(t, env, "bouncer", "fw", tc.certOU, tc.path, nil)
			require.Equal(t, tc.want, r.status, string(r.body))
			bouncers, err := env.srv.st.ListBouncers(ctx)
			require.NoError(t, err)
			if tc.wantBouncer == "" {
				require.Empty(t, bouncers)
				return
			}
			require.Len(t, bouncers, 1)
			b := bouncers[0]
			require.Equal(t, tc.wantBouncer, b.Name)
			require.Equal(t, "tls", b.AuthType)
			require.Equal(t, "127.0.0.1", b.IPAddress)
			require.Equal(t, "cs-firewall-bouncer", b.Type)
			require.Equal(t, "v0.0.31", b.Version)
		})
	}
}

// TestMTLSBouncerClient pulls decisions with the apiclient as a bouncer
// authenticated by certificate only.
func TestMTLSBouncerClient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := startMTLS(t, lapi.TLSConfig{})
	c := env.client(t, env.ca, "bouncer", "fw", []string{"bouncer-ou"}, "cs-firewall-bouncer/v0.0.31")
	resp, err := c.DecisionsStream(ctx, apiclient.StreamFilter{Startup: true})
	require.NoError(t, err)
	require.Empty(t, resp.New)
	b, err := env.srv.st.GetBouncer(ctx, "fw@127.0.0.1")
	require.NoError(t, err)
	require.Equal(t, "tls", b.AuthType)
	// Pulling again reuses the bouncer.
	_, err = c.DecisionsStream(ctx, apiclient.StreamFilter{})
	require.NoError(t, err)
	all, err := env.srv.st.ListBouncers(ctx)
	require.NoError(t, err)
	require.Len(t, all, 1)
}

// certGet sends GET path with a client certificate (issued by env.ca)
// as cs-firewall-bouncer, from localAddr when set.
func certGet(t *testing.T, env *mtlsEnv, name, cn string, ous []string, path string, localAddr net.Addr) rawResp {
	t.Helper()
	certFile, keyFile := env.ca.issue(t, name, cn, ous, false)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(env.ca.cert)
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12},
		DialContext:     (&net.Dialer{LocalAddr: localAddr}).DialContext,
	}
	defer tr.CloseIdleConnections()
	return rawGet(t, &http.Client{Transport: tr, Timeout: 10 * time.Second}, env.srv.url+path,
		"User-Agent", "cs-firewall-bouncer/v0.0.31")
}

func rawGet(t *testing.T, hc *http.Client, url string, kv ...string) rawResp {
	t.Helper()
	var headers []string
	for i := 0; i+1 < len(kv); i += 2 {
		headers = append(headers, kv[i]+": "+kv[i+1])
	}
	return doWith(t, hc, http.MethodGet, url, nil, headers...)
}

// fromClient is an HTTP client whose connections leave from ip.
func fromClient(t *testing.T, ip string) *http.Client {
	t.Helper()
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// TestBouncerKeyNewIP: a known API key used from a second address gets
// its own "<name>@<ip>" bouncer row (same key hash, auto-created), as
// CrowdSec does; the original keeps the first address.
func TestBouncerKeyNewIP(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openSQLite(t)
	srv := startServer(t, st, lapi.Config{}, lapi.Deps{})
	key := addBouncer(t, st, "fw")
	steps := []struct {
		from        string
		wantBouncer []string // names after the pull
	}{
		{from: "127.0.0.1", wantBouncer: []string{"fw"}},
		{from: "127.0.0.2", wantBouncer: []string{"fw", "fw@127.0.0.2"}},
		{from: "127.0.0.2", wantBouncer: []string{"fw", "fw@127.0.0.2"}},
		{from: "127.0.0.1", wantBouncer: []string{"fw", "fw@127.0.0.2"}},
	}
	for i, s := range steps {
		r := rawGet(t, fromClient(t, s.from), srv.url+"/v1/decisions/stream?startup=true",
			"User-Agent", "cs-firewall-bouncer/v0.0.31", "X-Api-Key", key)
		require.Equal(t, http.StatusOK, r.status, "step %d from %s: %s", i, s.from, r.body)
		all, err := st.ListBouncers(ctx)
		require.NoError(t, err)
		var names []string
		for _, b := range all {
			names = append(names, b.Name)
		}
		require.Equal(t, s.wantBouncer, names, "step %d from %s", i, s.from)
	}
	orig, err := st.GetBouncer(ctx, "fw")
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", orig.IPAddress)
	require.False(t, orig.AutoCreated)
	auto, err := st.GetBouncer(ctx, "fw@127.0.0.2")
	require.NoError(t, err)
	require.Equal(t, "127.0.0.2", auto.IPAddress)
	require.True(t, auto.AutoCreated)
	require.Equal(t, store.HashAPIKey(key), auto.KeyHash)
	require.Equal(t, "api-key", auto.AuthType)
	require.Equal(t, "cs-firewall-bouncer", auto.Type)

	// A wrong key from the new address creates nothing.
	r := rawGet(t, fromClient(t, "127.0.0.3"), srv.url+"/v1/decisions/stream",
		"User-Agent", "cs-firewall-bouncer/v0.0.31", "X-Api-Key", key+"x")
	require.Equal(t, http.StatusForbidden, r.status)
	all, err := st.ListBouncers(ctx)
	require.NoError(t, err)
	require.Len(t, all, 2)
}
