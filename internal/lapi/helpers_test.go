package lapi_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/lapi"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/store/postgres"
	"github.com/phalanx-ids/phalanx/internal/store/postgres/pgtest"
	"github.com/phalanx-ids/phalanx/internal/store/sqlite"
)

const agentUA = "crowdsec/v1.7.5"

// pg is the package run's PostgreSQL server (PHALANX_TEST_PG_DSN, or
// started by scripts/pg.sh on first use and stopped by TestMain).
var pg pgtest.Server

func TestMain(m *testing.M) {
	code := m.Run()
	if err := pg.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

func findUp(t testing.TB, rel string) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("%s not found above the package directory", rel)
		}
		dir = parent
	}
}

// pgDSN returns the DSN of a fresh database of the test PostgreSQL server.
func pgDSN(t testing.TB) string {
	t.Helper()
	return pg.DSN(t)
}

func openPG(t testing.TB, dsn string) store.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgres.Config{DSN: dsn})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func openSQLite(t testing.TB) store.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "lapi.db")})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// testServer is a running LAPI on a loopback port.
type testServer struct {
	*lapi.Server
	url string
	st  store.Store
	reg *prometheus.Registry
}

// startServer runs a LAPI over st on 127.0.0.1:0 until the test ends.
func startServer(t testing.TB, st store.Store, cfg lapi.Config, deps lapi.Deps) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return startServerOn(t, ln, st, cfg, deps)
}

// startServerOn is startServer on ln.
func startServerOn(t testing.TB, ln net.Listener, st store.Store, cfg lapi.Config, deps lapi.Deps) *testServer {
	t.Helper()
	deps.Store = st
	if deps.PasswordCost == 0 {
		deps.PasswordCost = bcrypt.MinCost
	}
	reg := prometheus.NewRegistry()
	if deps.Registerer == nil {
		deps.Registerer = reg
	}
	srv, err := lapi.New(cfg, deps)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(15 * time.Second):
			t.Error("lapi: Run did not return after cancel")
		}
	})
	scheme := "http"
	if cfg.TLS.Enabled() {
		scheme = "https"
	}
	return &testServer{Server: srv, url: scheme + "://" + ln.Addr().String(), st: st, reg: reg}
}

// addMachine stores a machine (password hashed at bcrypt's minimum cost
// to keep tests fast).
func addMachine(t testing.TB, st store.Store, id, password string, validated bool) {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	require.NoError(t, err)
	require.NoError(t, st.CreateMachine(context.Background(), &store.Machine{ID: id, PasswordHash: string(h),
		IsValidated: validated, AuthType: "password"}))
}

// addBouncer stores a bouncer and returns its API key.
func addBouncer(t testing.TB, st store.Store, name string) string {
	t.Helper()
	key := "key-" + name + "-0123456789abcdef"
	require.NoError(t, st.CreateBouncer(context.Background(), &store.Bouncer{Name: name,
		KeyHash: store.HashAPIKey(key), AuthType: "api-key"}))
	return key
}

func agentClient(t testing.TB, url, id, password string) *apiclient.Client {
	t.Helper()
	c, err := apiclient.New(apiclient.Config{URL: url, UserAgent: agentUA, MachineID: id,
		Password: apiclient.Secret(password), Retry: apiclient.RetryConfig{MaxAttempts: 1}})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

func bouncerClient(t testing.TB, url, key string) *apiclient.Client {
	t.Helper()
	c, err := apiclient.New(apiclient.Config{URL: url, UserAgent: "cs-firewall-bouncer/v0.0.31", APIKey: apiclient.Secret(key),
		Retry: apiclient.RetryConfig{MaxAttempts: 1}})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// rawResp is a raw HTTP answer.
type rawResp struct {
	status int
	header http.Header
	body   []byte
}

// do sends a raw request; headers are "Key: value" strings.
func do(t testing.TB, method, url string, body io.Reader, headers ...string) rawResp {
	t.Helper()
	return doWith(t, http.DefaultClient, method, url, body, headers...)
}

// doWith is do through hc (User-Agent agentUA unless headers set one).
func doWith(t testing.TB, hc *http.Client, method, url string, body io.Reader, headers ...string) rawResp {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	require.NoError(t, err)
	req.Header.Set("User-Agent", agentUA)
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return rawResp{status: resp.StatusCode, header: resp.Header, body: b}
}

func ptr[T any](v T) *T { return &v }
