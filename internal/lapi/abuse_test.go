package lapi_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/lapi"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/netguard"
	"github.com/phalanx-ids/phalanx/internal/netguard/guardtest"
	"github.com/phalanx-ids/phalanx/internal/profile"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/store/storetest"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// doFrom sends a raw request from the loopback address src (127.0.0.x).
func doFrom(t testing.TB, src, method, url, body string, headers ...string) rawResp {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	return doWith(t, hc, method, url, rd, headers...)
}

func registerBody(id, pw string) string {
	b, _ := json.Marshal(map[string]string{"machine_id": id, "password": pw})
	return string(b)
}

func loginBody(id, pw string) string {
	b, _ := json.Marshal(map[string]any{"machine_id": id, "password": pw, "scenarios": []string{}})
	return string(b)
}

// The attack of issue 8 item 3: unauthenticated registrations of huge or
// hostile machine ids. Only ids agents and cscli generate are accepted.
func TestRegistrationMachineIDs(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	logs := &testutil.Buffer{}
	srv := startServer(t, st, lapi.Config{Registration: lapi.RegistrationLimits{Rate: netguard.Off, MaxPending: -1}},
		lapi.Deps{Logger: logs.Logger()})
	tests := []struct {
		name, id string
		want     int
		msg      string
	}{
		{name: "cscli generated id", id: "3923f4ccdd84438581a2397ba488a6a454dpH1qIzAz4gKBg", want: http.StatusCreated},
		{name: "host name", id: "edge-1.example.com", want: http.StatusCreated},
		{name: "underscores", id: "my_agent_2", want: http.StatusCreated},
		{name: "longest", id: strings.Repeat("a", lapi.MaxMachineIDLen), want: http.StatusCreated},
		{name: "2 MB id", id: strings.Repeat("a", 2<<20), want: http.StatusRequestEntityTooLarge},
		{name: "one too long", id: strings.Repeat("b", lapi.MaxMachineIDLen+1), want: http.StatusUnprocessableEntity, msg: "longer than 128"},
		{name: "certificate name", id: "agent1@10.0.0.1", want: http.StatusUnprocessableEntity, msg: "'@' is reserved"},
		{name: "newline", id: "x\nlevel=ERROR", want: http.StatusUnprocessableEntity, msg: "only letters"},
		{name: "terminal escape", id: "\x1b[2J", want: http.StatusUnprocessableEntity, msg: "only letters"},
		{name: "space", id: "a b", want: http.StatusUnprocessableEntity, msg: "only letters"},
		{name: "slash", id: "../x", want: http.StatusUnprocessableEntity, msg: "only letters"},
		{name: "unicode", id: "nœud", want: http.StatusUnprocessableEntity, msg: "only letters"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, "POST", srv.url+"/v1/watchers", strings.NewReader(registerBody(tc.id, "s3cret-password")))
			require.Equal(t, tc.want, r.status, string(r.body))
			require.Contains(t, string(r.body), tc.msg)
			require.Less(t, len(r.body), 512, "answers do not echo the id")
			_, err := st.GetMachine(context.Background(), tc.id)
			if tc.want == http.StatusCreated {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, store.ErrNotFound)
			}
		})
	}
	require.NotContains(t, logs.String(), "\x1b", "no raw escape reaches the log")
	require.Less(t, len(logs.String()), 64<<10, "nothing big reaches the log")
}

// The squatting attack: before an mTLS agent first connects, somebody
// registers its future name <CN>@<ip> with a password, leaving the agent
// locked out. '@' is reserved for certificate machines.
func TestRegistrationCannotSquatCertificateMachine(t *testing.T) {
	t.Parallel()
	env := startMTLS(t, lapi.TLSConfig{})
	ctx := context.Background()
	// The attacker has no certificate: a plain HTTPS client trusting the CA.
	pool := x509.NewCertPool()
	pool.AddCert(env.ca.cert)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	req, err := http.NewRequest("POST", env.srv.url+"/v1/watchers", strings.NewReader(registerBody("agent1@127.0.0.1", "squatter-password")))
	require.NoError(t, err)
	resp, err := hc.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, string(body))
	_, err = env.srv.st.GetMachine(ctx, "agent1@127.0.0.1")
	require.ErrorIs(t, err, store.ErrNotFound)

	c := env.client(t, env.ca, "agent", "agent1", []string{"agent-ou"}, agentUA)
	require.NoError(t, c.Login(ctx), "the certificate's agent gets its own name")
	m, err := env.srv.st.GetMachine(ctx, "agent1@127.0.0.1")
	require.NoError(t, err)
	require.Equal(t, "tls", m.AuthType)
}

func TestRegistrationPendingCap(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	srv := startServer(t, st, lapi.Config{Registration: lapi.RegistrationLimits{MaxPending: 3, Rate: netguard.Off}}, lapi.Deps{})
	for i := range 3 {
		r := do(t, "POST", srv.url+"/v1/watchers", strings.NewReader(registerBody(fmt.Sprintf("m%d", i), "pw-123456")))
		require.Equal(t, http.StatusCreated, r.status, string(r.body))
	}
	r := do(t, "POST", srv.url+"/v1/watchers", strings.NewReader(registerBody("m3", "pw-123456")))
	require.Equal(t, http.StatusForbidden, r.status, string(r.body))
	require.Contains(t, string(r.body), "3 machines already wait for validation")
	_, err := st.UpdateMachine(context.Background(), "m0", func(m *store.Machine) error { m.IsValidated = true; return nil })
	require.NoError(t, err)
	r = do(t, "POST", srv.url+"/v1/watchers", strings.NewReader(registerBody("m3", "pw-123456")))
	require.Equal(t, http.StatusCreated, r.status, "a validated machine frees a place: %s", r.body)
}

func TestRegistrationRatePerAddress(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	srv := startServer(t, st, lapi.Config{Registration: lapi.RegistrationLimits{Rate: netguard.Rate(1.0 / 3600), Burst: 2}}, lapi.Deps{})
	for i := range 2 {
		r := doFrom(t, "127.0.0.2", "POST", srv.url+"/v1/watchers", registerBody(fmt.Sprintf("r%d", i), "pw-123456"))
		require.Equal(t, http.StatusCreated, r.status, string(r.body))
	}
	r := doFrom(t, "127.0.0.2", "POST", srv.url+"/v1/watchers", registerBody("r2", "pw-123456"))
	require.Equal(t, http.StatusTooManyRequests, r.status, string(r.body))
	ra, err := strconv.Atoi(r.header.Get("Retry-After"))
	require.NoError(t, err)
	require.Greater(t, ra, 60)
	_, err = st.GetMachine(context.Background(), "r2")
	require.ErrorIs(t, err, store.ErrNotFound)
	r = doFrom(t, "127.0.0.3", "POST", srv.url+"/v1/watchers", registerBody("r2", "pw-123456"))
	require.Equal(t, http.StatusCreated, r.status, "another address has its own budget: %s", r.body)
}

// Remote clients cannot register unless the operator allows it (or they
// hold the auto-registration token); the handler sees the client address.
func TestRemoteRegistration(t *testing.T) {
	t.Parallel()
	token := strings.Repeat("t", 32)
	tests := []struct {
		name    string
		disable *bool
		from    string
		token   string
		want    int
	}{
		{name: "default: remote refused", from: "192.0.2.10", want: http.StatusForbidden},
		{name: "default: loopback accepted", from: "127.0.0.1", want: http.StatusCreated},
		{name: "default: remote with the token", from: "192.0.2.10", token: token, want: http.StatusAccepted},
		{name: "allowed: remote accepted", disable: ptr(false), from: "192.0.2.10", want: http.StatusCreated},
		{name: "disabled: remote with the token refused", disable: ptr(true), from: "192.0.2.10", token: token, want: http.StatusForbidden},
		{name: "disabled: loopback accepted", disable: ptr(true), from: "::1", want: http.StatusCreated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, err := lapi.New(lapi.Config{DisableRemoteRegistration: tc.disable,
				AutoRegistration: lapi.AutoRegistration{Enabled: true, Token: token, AllowedRanges: []string{"192.0.2.0/24"}}},
				lapi.Deps{Store: openSQLite(t)})
			require.NoError(t, err)
			body, _ := json.Marshal(map[string]string{"machine_id": "m1", "password": "pw-123456", "registration_token": tc.token})
			req := httptest.NewRequest("POST", "/v1/watchers", bytes.NewReader(body))
			req.RemoteAddr = net.JoinHostPort(tc.from, "40000")
			w := httptest.NewRecorder()
			srv.Handler().ServeHTTP(w, req)
			require.Equal(t, tc.want, w.Code, w.Body.String())
		})
	}
}

// The brute-force attack of issue 8 item 4: failed logins are throttled per
// address and per id with back-off, 429 + Retry-After, without bcrypt work.
func TestLoginThrottle(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	logs := &testutil.Buffer{}
	// The clock stands still: the back-off (1 s after the 4th failure)
	// cannot run out between two tries, however slow the machine is.
	frozen := time.Now()
	srv := startServer(t, st, lapi.Config{Login: lapi.LoginLimits{FreeFailures: 3, MaxBackoff: time.Hour}},
		lapi.Deps{Logger: logs.Logger(), Clock: func() time.Time { return frozen }})
	addMachine(t, st, "agent", "right-password", true)
	url := srv.url + "/v1/watchers/login"
	// The agent logs in from its address, which the server remembers.
	r := doFrom(t, "127.0.0.4", "POST", url, loginBody("agent", "right-password"))
	require.Equal(t, http.StatusOK, r.status, string(r.body))

	for i := range 3 {
		r = doFrom(t, "127.0.0.2", "POST", url, loginBody("agent", fmt.Sprintf("guess-%d", i)))
		require.Equal(t, http.StatusUnauthorized, r.status, "free failure %d: %s", i, r.body)
		require.JSONEq(t, `{"code":401,"message":"incorrect Username or Password"}`, string(r.body))
	}
	compares := lapi.HashCompares(srv.Server)
	r = doFrom(t, "127.0.0.2", "POST", url, loginBody("agent", "guess-3"))
	require.Equal(t, http.StatusUnauthorized, r.status, "the 4th failure is answered, and starts the back-off")
	r = doFrom(t, "127.0.0.2", "POST", url, loginBody("agent", "right-password"))
	require.Equal(t, http.StatusTooManyRequests, r.status, "the address waits, even with the right password: %s", r.body)
	ra, err := strconv.Atoi(r.header.Get("Retry-After"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, ra, 1)
	// Another address guessing the same id is throttled by the id.
	r = doFrom(t, "127.0.0.3", "POST", url, loginBody("agent", "guess-4"))
	require.Equal(t, http.StatusTooManyRequests, r.status, string(r.body))
	require.Equal(t, compares+1, lapi.HashCompares(srv.Server), "refused tries cost no bcrypt work")
	// The machine's own address is not locked out by the id's back-off.
	r = doFrom(t, "127.0.0.4", "POST", url, loginBody("agent", "right-password"))
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	// The success reset the id: another address may try again.
	r = doFrom(t, "127.0.0.3", "POST", url, loginBody("agent", "guess-5"))
	require.Equal(t, http.StatusUnauthorized, r.status, string(r.body))

	log := logs.String()
	require.Contains(t, log, `level=WARN msg="lapi: failed login" machine=agent ip=127.0.0.2 reason="wrong password"`)
	require.NotContains(t, log, "guess-", "passwords are never logged")
}

// Unknown ids cost a bcrypt compare too (against a dummy hash), so the
// answer time does not tell which ids exist.
func TestLoginUnknownIDComparesAHash(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	srv := startServer(t, st, lapi.Config{Login: lapi.LoginLimits{FreeFailures: 100}}, lapi.Deps{})
	addMachine(t, st, "agent", "right-password", true)
	require.NoError(t, st.CreateMachine(context.Background(), &store.Machine{ID: "cert@10.0.0.1", AuthType: "tls", IsValidated: true}))
	for _, tc := range []struct{ name, id string }{
		{"known id, wrong password", "agent"},
		{"unknown id", "ghost"},
		{"certificate machine", "cert@10.0.0.1"},
		{"id too long to exist", strings.Repeat("g", 1000)},
	} {
		before := lapi.HashCompares(srv.Server)
		r := do(t, "POST", srv.url+"/v1/watchers/login", strings.NewReader(loginBody(tc.id, "whatever")))
		require.Equal(t, http.StatusUnauthorized, r.status, "%s: %s", tc.name, r.body)
		require.JSONEq(t, `{"code":401,"message":"incorrect Username or Password"}`, string(r.body), tc.name)
		require.Equal(t, before+1, lapi.HashCompares(srv.Server), "%s: one bcrypt compare", tc.name)
	}
}

// Concurrent bcrypt work is bounded: beyond the slots, logins and
// registrations get 429 at once instead of queueing CPU work. A machine
// logging in from its own last address has one more slot, so a spray of
// tries from elsewhere does not lock installed agents out.
func TestHashSlotsBounded(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	srv := startServer(t, st, lapi.Config{MaxConcurrentHashes: 1}, lapi.Deps{})
	addMachine(t, st, "agent", "right-password", true)
	url := srv.url + "/v1/watchers/login"
	r := doFrom(t, "127.0.0.4", "POST", url, loginBody("agent", "right-password"))
	require.Equal(t, http.StatusOK, r.status, "the agent's address is now known: %s", r.body)

	release := lapi.HoldHashSlots(srv.Server, false)
	r = doFrom(t, "127.0.0.5", "POST", url, loginBody("agent", "right-password"))
	require.Equal(t, http.StatusTooManyRequests, r.status, "from another address: %s", r.body)
	require.Equal(t, "1", r.header.Get("Retry-After"))
	r = do(t, "POST", srv.url+"/v1/watchers", strings.NewReader(registerBody("newbie", "pw-123456")))
	require.Equal(t, http.StatusTooManyRequests, r.status, string(r.body))
	r = doFrom(t, "127.0.0.4", "POST", url, loginBody("agent", "right-password"))
	require.Equal(t, http.StatusOK, r.status, "from its own address, the reserved slot: %s", r.body)
	release()

	release = lapi.HoldHashSlots(srv.Server, true)
	r = doFrom(t, "127.0.0.4", "POST", url, loginBody("agent", "right-password"))
	require.Equal(t, http.StatusTooManyRequests, r.status, "every slot taken: %s", r.body)
	release()
	r = doFrom(t, "127.0.0.5", "POST", url, loginBody("agent", "right-password"))
	require.Equal(t, http.StatusOK, r.status, string(r.body))
}

// Failed-login lines are rate limited, and the ids in them escaped and
// truncated.
func TestFailedLoginLog(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	logs := &testutil.Buffer{}
	// The clock stands still: the log's budget (a burst of 20, then about
	// one line a second) does not refill during the test.
	frozen := time.Now()
	srv := startServer(t, st, lapi.Config{Login: lapi.LoginLimits{FreeFailures: 1000}},
		lapi.Deps{Logger: logs.Logger(), Clock: func() time.Time { return frozen }})
	hostile := "x\nlevel=ERROR msg=\"fake\" \x1b]0;pwned\a" + strings.Repeat("y", 10000)
	for range 25 {
		r := do(t, "POST", srv.url+"/v1/watchers/login", strings.NewReader(loginBody(hostile, "pw")))
		require.Equal(t, http.StatusUnauthorized, r.status, string(r.body))
	}
	lines := regexp.MustCompile(`(?m)^.*lapi: failed login.*$`).FindAllString(logs.String(), -1)
	require.Len(t, lines, 20, "25 failures, 20 lines: rate limited")
	for _, l := range lines {
		require.NotContains(t, l, "\x1b")
		require.Less(t, len(l), 600)
		require.Contains(t, l, `x\\nlevel=ERROR`)
	}
	require.NotContains(t, logs.String(), "\nlevel=ERROR msg=\"fake\"", "no forged log line")
}

// A JWT must carry an expiry no further than the server's own tokens:
// forged with the server's secret, a token without exp (or with one ten
// years ahead) is refused on every route that takes a token.
func TestJWTWithoutExpRefused(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	srv := startServer(t, st, lapi.Config{JWTSecret: testSecret}, lapi.Deps{})
	addMachine(t, st, "agent", "pw", true)
	now := time.Now()
	tests := []struct {
		name   string
		claims jwt.MapClaims
		want   int
		msg    string
	}{
		{name: "no exp", claims: jwt.MapClaims{"id": "agent", "orig_iat": now.Unix()}, want: http.StatusUnauthorized, msg: "missing exp field"},
		{name: "exp in ten years", claims: jwt.MapClaims{"id": "agent", "exp": now.AddDate(10, 0, 0).Unix(), "orig_iat": now.Unix()}, want: http.StatusUnauthorized, msg: "too far ahead"},
		{name: "as issued", claims: jwt.MapClaims{"id": "agent", "exp": now.Add(time.Hour).Unix(), "orig_iat": now.Unix()}, want: http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := signed(t, testSecret, tc.claims)
			for _, path := range []string{"/v1/heartbeat", "/v1/refresh_token"} {
				r := do(t, "GET", srv.url+path, nil, "Authorization: Bearer "+tok)
				require.Equal(t, tc.want, r.status, "%s: %s", path, r.body)
				require.Contains(t, string(r.body), tc.msg)
			}
		})
	}
}

// Item 21 of issue 8: an internal error (here the database closed under
// the running server) answers 500 with a generic message and the request
// id; the real error is logged with that id.
func TestInternalErrorHidden(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	logs := &testutil.Buffer{}
	srv := startServer(t, st, lapi.Config{JWTSecret: testSecret}, lapi.Deps{Logger: logs.Logger()})
	addMachine(t, st, "agent", "pw", true)
	tok := login(t, srv.url, "agent", "pw")
	r := do(t, "GET", srv.url+"/v1/alerts", nil, "Authorization: Bearer "+tok)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.NoError(t, st.Close())

	r = do(t, "GET", srv.url+"/v1/alerts", nil, "Authorization: Bearer "+tok)
	require.Equal(t, http.StatusInternalServerError, r.status, string(r.body))
	id := r.header.Get("X-Request-Id")
	require.Regexp(t, `^[0-9a-f]{16}$`, id)
	require.JSONEq(t, `{"message":"internal server error (request id `+id+`)"}`, string(r.body))
	log := logs.String()
	require.Regexp(t, `level=ERROR msg="lapi: request failed" route=/v1/alerts method=GET request_id=`+id+` err=.*closed`, log)
}

// A long answer outlives write_timeout: a bouncer reading a big startup
// stream slowly still gets all of it. The reader is paced so that the
// whole answer takes about twice write_timeout while one of the server's
// writes (256 KiB) needs about a seventh of it: a reader or server starved
// of CPU for seconds (the race detector on a loaded machine) does not make
// a write miss its deadline, and the total still proves the deadline is
// extended write by write.
func TestLongStreamOutlivesWriteTimeout(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	const n = 20_000
	const writeTimeout = 5 * time.Second
	storetest.SeedDecisions(t, st, n)
	// Small socket buffers on both sides: what the kernel holds after the
	// server's last write drains in well under write_timeout.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := startServerOn(t, smallBuffers{ln}, st, lapi.Config{Limits: netguard.Config{WriteTimeout: writeTimeout}}, lapi.Deps{})
	key := addBouncer(t, st, "fw")
	req, err := http.NewRequest("GET", srv.url+"/v1/decisions/stream?startup=true", nil)
	require.NoError(t, err)
	req.Header.Set("X-Api-Key", key)
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			_ = c.(*net.TCPConn).SetReadBuffer(32 << 10)
		}
		return c, err
	}
	resp, err := (&http.Client{Transport: &http.Transport{DialContext: dial}}).Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	// A slow reader: 8 KiB every 20 ms (400 KB/s; a 256 KiB write drains
	// in ~0.65 s).
	var body bytes.Buffer
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for {
		<-tick.C
		k, err := io.CopyN(&body, resp.Body, 8<<10)
		if err == io.EOF || (err == nil && k == 0) {
			break
		}
		require.NoError(t, err, "after %d bytes", body.Len())
	}
	took := time.Since(start)
	t.Logf("read %d bytes in %s (write_timeout %s)", body.Len(), took.Round(time.Millisecond), writeTimeout)
	require.Greater(t, took, writeTimeout, "the answer must outlive write_timeout for the test to prove anything")
	var sr models.DecisionsStreamResponse
	require.NoError(t, json.Unmarshal(body.Bytes(), &sr))
	require.Len(t, sr.New, n)
}

// The slow-client attacks of issue 8 item 2 against the LAPI, over HTTP
// and HTTPS: silent connections, huge unfinished headers, trickled bodies,
// idle keep-alive connections and a connection flood from one address.
func TestServerResistsSlowClients(t *testing.T) {
	t.Parallel()
	limits := netguard.Config{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: time.Second,
		IdleTimeout: 300 * time.Millisecond, MaxConnsPerAddress: 4}
	target := func(addr string, tc *tls.Config) guardtest.Target {
		return guardtest.Target{Addr: addr, TLS: tc, Request: "GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
			Method: "POST", Path: "/v1/watchers", ReadHeaderTimeout: limits.ReadHeaderTimeout,
			ReadTimeout: limits.ReadTimeout, IdleTimeout: limits.IdleTimeout,
			MaxHeaderBytes: 16 << 10, MaxConnsPerAddress: limits.MaxConnsPerAddress}
	}
	t.Run("http", func(t *testing.T) {
		t.Parallel()
		srv := startServer(t, openSQLite(t), lapi.Config{Limits: limits}, lapi.Deps{})
		guardtest.Suite(t, target(strings.TrimPrefix(srv.url, "http://"), nil))
	})
	t.Run("https", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		ca := newTestCA(t, dir, "ca")
		cert, key := ca.issue(t, "server", "lapi", nil, true)
		srv := startServer(t, openSQLite(t), lapi.Config{Limits: limits, TLS: lapi.TLSConfig{CertFile: cert, KeyFile: key}}, lapi.Deps{})
		pool := x509.NewCertPool()
		pool.AddCert(ca.cert)
		guardtest.Suite(t, target(strings.TrimPrefix(srv.url, "https://"), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}))
	})
}

// smallBuffers gives accepted connections a 32 KiB send buffer.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(32 << 10)
	}
	return c, err
}

// failingProfiles is a Decider whose evaluation fails with an internal
// detail that must not reach the client.
type failingProfiles struct{}

func (failingProfiles) Evaluate(*models.Alert) (*profile.Outcome, error) {
	return nil, &profile.EvalError{Profile: "default_ip_remediation", Err: errors.New("expr: secret-internal-detail")}
}

// Item 21 of issue 8: a profile that fails on an alert answers 500 with a
// generic message and the request id, not the evaluation error's text.
func TestProfileErrorHidden(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	logs := &testutil.Buffer{}
	srv := startServer(t, st, lapi.Config{JWTSecret: testSecret}, lapi.Deps{Logger: logs.Logger(), Profiles: failingProfiles{}})
	addMachine(t, st, "agent", "pw", true)
	tok := login(t, srv.url, "agent", "pw")
	r := doJWT(t, tok, "POST", srv.url+"/v1/alerts", mustJSON(t, []*models.Alert{overflow("crowdsecurity/ssh-bf", "192.0.2.1")}))
	require.Equal(t, http.StatusInternalServerError, r.status, string(r.body))
	id := r.header.Get("X-Request-Id")
	require.JSONEq(t, `{"message":"internal server error (request id `+id+`)"}`, string(r.body))
	require.NotContains(t, string(r.body), "secret-internal-detail")
	require.Regexp(t, `request_id=`+id+` err=.*secret-internal-detail`, logs.String())
}
