package lapi_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/lapi"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
)

const testSecret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// login returns a token for a validated machine.
func login(t testing.TB, url, id, pw string) string {
	t.Helper()
	r := do(t, "POST", url+"/v1/watchers/login", strings.NewReader(`{"machine_id":"`+id+`","password":"`+pw+`"}`))
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var a models.WatcherAuthResponse
	require.NoError(t, json.Unmarshal(r.body, &a))
	return a.Token
}

func signed(t testing.TB, secret string, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	require.NoError(t, err)
	return tok
}

// TestEveryRouteRefusesBadCredentials proves that each authenticated
// route answers 401/403 without, or with wrong, credentials, and never
// runs its handler (nothing changes in the store).
func TestEveryRouteRefusesBadCredentials(t *testing.T) {
	st := openSQLite(t)
	srv := startServer(t, st, lapi.Config{JWTSecret: testSecret}, lapi.Deps{})
	addMachine(t, st, "agent", "pw", true)
	addMachine(t, st, "pending", "pw", false)
	bouncerKey := addBouncer(t, st, "fw")
	machineTok := login(t, srv.url, "agent", "pw")
	now := time.Now()
	creds := map[string][]string{
		"none":               nil,
		"garbage bearer":     {"Authorization: Bearer not.a.jwt"},
		"empty bearer":       {"Authorization: Bearer "},
		"basic auth":         {"Authorization: Basic YWdlbnQ6cHc="},
		"other secret":       {"Authorization: Bearer " + signed(t, strings.Repeat("x", 64), jwt.MapClaims{"id": "agent", "exp": now.Add(time.Hour).Unix(), "orig_iat": now.Unix()})},
		"expired token":      {"Authorization: Bearer " + signed(t, testSecret, jwt.MapClaims{"id": "agent", "exp": now.Add(-time.Minute).Unix(), "orig_iat": now.Add(-2 * time.Hour).Unix()})},
		"unknown machine":    {"Authorization: Bearer " + signed(t, testSecret, jwt.MapClaims{"id": "ghost", "exp": now.Add(time.Hour).Unix(), "orig_iat": now.Unix()})},
		"unvalidated":        {"Authorization: Bearer " + signed(t, testSecret, jwt.MapClaims{"id": "pending", "exp": now.Add(time.Hour).Unix(), "orig_iat": now.Unix()})},
		"alg none":           {"Authorization: Bearer " + noneToken(t)},
		"no exp":             {"Authorization: Bearer " + signed(t, testSecret, jwt.MapClaims{"id": "agent", "orig_iat": now.Unix()})},
		"exp in ten years":   {"Authorization: Bearer " + signed(t, testSecret, jwt.MapClaims{"id": "agent", "exp": now.AddDate(10, 0, 0).Unix(), "orig_iat": now.Unix()})},
		"wrong api key":      {"X-Api-Key: wrong-key"},
		"empty api key":      {"X-Api-Key: "},
		"key on jwt route":   {"X-Api-Key: " + bouncerKey},
		"token on key route": {"Authorization: Bearer " + machineTok},
	}
	routes := []struct {
		method, path string
		bouncer      bool // an X-Api-Key route
		body         string
	}{
		{"DELETE", "/v1/watchers/self", false, ""},
		{"GET", "/v1/heartbeat", false, ""},
		{"GET", "/v1/refresh_token", false, ""},
		{"POST", "/v1/alerts", false, `[]`},
		{"GET", "/v1/alerts", false, ""},
		{"HEAD", "/v1/alerts", false, ""},
		{"DELETE", "/v1/alerts", false, ""},
		{"GET", "/v1/alerts/1", false, ""},
		{"HEAD", "/v1/alerts/1", false, ""},
		{"DELETE", "/v1/alerts/1", false, ""},
		{"DELETE", "/v1/decisions", false, ""},
		{"DELETE", "/v1/decisions/1", false, ""},
		{"GET", "/v1/decisions", true, ""},
		{"HEAD", "/v1/decisions", true, ""},
		{"GET", "/v1/decisions/stream", true, ""},
		{"HEAD", "/v1/decisions/stream", true, ""},
		{"POST", "/v1/usage-metrics", true, `{}`},
		{"GET", "/v1/allowlists", false, ""},
		{"GET", "/v1/allowlists/x", false, ""},
		{"HEAD", "/v1/allowlists/x", false, ""},
		{"GET", "/v1/allowlists/check/1.2.3.4", false, ""},
		{"HEAD", "/v1/allowlists/check/1.2.3.4", false, ""},
		{"POST", "/v1/allowlists/check", false, `{"targets":["1.2.3.4"]}`},
	}
	for _, rt := range routes {
		for cname, hdrs := range creds {
			if rt.bouncer && cname == "key on jwt route" || !rt.bouncer && cname == "token on key route" {
				continue // those are valid credentials for the route
			}
			if rt.path == "/v1/usage-metrics" && (cname == "key on jwt route" || cname == "token on key route") {
				continue // usage metrics accept both
			}
			t.Run(rt.method+" "+rt.path+"/"+cname, func(t *testing.T) {
				var body *strings.Reader
				if rt.body != "" {
					body = strings.NewReader(rt.body)
				}
				var r rawResp
				if body != nil {
					r = do(t, rt.method, srv.url+rt.path, body, hdrs...)
				} else {
					r = do(t, rt.method, srv.url+rt.path, nil, hdrs...)
				}
				require.Contains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, r.status, "body: %s", r.body)
			})
		}
	}
	// Login refuses wrong passwords, unknown and unvalidated machines, and
	// a User-Agent that is not name/version: 401 {"code": 401, ...}, as
	// CrowdSec answers.
	for name, tc := range map[string]struct{ body, ua string }{
		"wrong password": {`{"machine_id":"agent","password":"nope"}`, agentUA},
		"unknown":        {`{"machine_id":"ghost","password":"pw"}`, agentUA},
		"unvalidated":    {`{"machine_id":"pending","password":"pw"}`, agentUA},
		"no user agent":  {`{"machine_id":"agent","password":"pw"}`, "crowdsec"},
	} {
		t.Run("login/"+name, func(t *testing.T) {
			r := do(t, "POST", srv.url+"/v1/watchers/login", strings.NewReader(tc.body), "User-Agent: "+tc.ua)
			require.Equal(t, http.StatusUnauthorized, r.status, string(r.body))
			require.Contains(t, string(r.body), `"code":401`)
		})
	}
	// Nothing was changed by the refused requests.
	_, err := st.GetMachine(context.Background(), "agent")
	require.NoError(t, err)
	// Deletes from an untrusted IP are refused even with a valid token.
	srv2 := startServer(t, st, lapi.Config{JWTSecret: testSecret, TrustedIPs: []string{"10.0.0.0/8"}}, lapi.Deps{})
	r := do(t, "DELETE", srv2.url+"/v1/alerts", nil, "Authorization: Bearer "+machineTok)
	require.Equal(t, http.StatusForbidden, r.status)
	require.Contains(t, string(r.body), "access forbidden from this IP")
}

func noneToken(t testing.TB) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"id": "agent", "exp": time.Now().Add(time.Hour).Unix()}).
		SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)
	return tok
}

func gz(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, err := zw.Write(data)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return b.Bytes()
}

func TestBodies(t *testing.T) {
	st := openSQLite(t)
	srv := startServer(t, st, lapi.Config{JWTSecret: testSecret, MaxBodyAuth: 1 << 20}, lapi.Deps{})
	addMachine(t, st, "agent", "pw", true)
	tok := login(t, srv.url, "agent", "pw")
	alertJSON, err := json.Marshal([]*models.Alert{overflow("crowdsecurity/ssh-bf", "192.0.2.44")})
	require.NoError(t, err)
	big := bytes.Repeat([]byte(" "), 3<<20)
	cases := []struct {
		name, method, path string
		body               []byte
		headers            []string
		status             int
		msg                string
	}{
		{"unauth oversize (2 MiB)", "POST", "/v1/watchers/login", append([]byte(`{"machine_id":"agent"`), big...), nil, 413, "too large"},
		{"auth oversize", "POST", "/v1/alerts", append([]byte(`[`), bytes.Repeat([]byte(" "), 2<<20)...), []string{"Authorization: Bearer " + tok}, 413, "too large"},
		{"gzip bomb", "POST", "/v1/alerts", gz(t, append([]byte(`[`), bytes.Repeat([]byte(" "), 8<<20)...)), []string{"Authorization: Bearer " + tok, "Content-Encoding: gzip"}, 413, "too large"},
		{"malformed json", "POST", "/v1/alerts", []byte(`[{"scenario": }]`), []string{"Authorization: Bearer " + tok}, 400, "invalid JSON body"},
		{"wrong json type", "POST", "/v1/alerts", []byte(`{"scenario":"x"}`), []string{"Authorization: Bearer " + tok}, 400, "invalid JSON body"},
		{"empty body", "POST", "/v1/alerts", nil, []string{"Authorization: Bearer " + tok}, 400, "empty body"},
		{"bad gzip", "POST", "/v1/alerts", []byte("not gzip"), []string{"Authorization: Bearer " + tok, "Content-Encoding: gzip"}, 400, "gzip"},
		{"missing required field", "POST", "/v1/alerts", []byte(`[{"scenario":"x"}]`), []string{"Authorization: Bearer " + tok}, 422, "scenario_hash is required"},
		{"bad source ip", "POST", "/v1/alerts", bytes.Replace(alertJSON, []byte("192.0.2.44"), []byte("not-an-ip"), -1), []string{"Authorization: Bearer " + tok}, 422, "not an IP"},
		{"gzip accepted", "POST", "/v1/alerts", gz(t, alertJSON), []string{"Authorization: Bearer " + tok, "Content-Encoding: gzip"}, 201, ""},
		{"malformed login", "POST", "/v1/watchers/login", []byte(`{`), nil, 400, "invalid JSON body"},
		{"register missing password", "POST", "/v1/watchers", []byte(`{"machine_id":"x"}`), nil, 422, "required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, tc.method, srv.url+tc.path, bytes.NewReader(tc.body), tc.headers...)
			require.Equal(t, tc.status, r.status, string(r.body))
			if tc.msg != "" {
				var e models.ErrorResponse
				require.NoError(t, json.Unmarshal(r.body, &e), string(r.body))
				require.NotNil(t, e.Message)
				require.Contains(t, *e.Message, tc.msg)
			}
		})
	}
	// The apiclient's gzip mode works end to end.
	c, err := apiclient.New(apiclient.Config{URL: srv.url, UserAgent: agentUA, MachineID: "agent", Password: "pw",
		GzipRequests: true, Retry: apiclient.RetryConfig{MaxAttempts: 1}})
	require.NoError(t, err)
	defer c.Close()
	ids, err := c.PushAlerts(context.Background(), []*models.Alert{overflow("crowdsecurity/ssh-bf", "192.0.2.45")})
	require.NoError(t, err)
	require.Len(t, ids, 1)
}

func TestAutoRegistration(t *testing.T) {
	st := openSQLite(t)
	token := strings.Repeat("t", 32)
	srv := startServer(t, st, lapi.Config{AutoRegistration: lapi.AutoRegistration{Enabled: true, Token: token,
		AllowedRanges: []string{"127.0.0.0/8"}}}, lapi.Deps{})
	ctx := context.Background()
	for name, tc := range map[string]struct {
		token     string
		validated bool
	}{
		"right token": {token, true},
		"wrong token": {strings.Repeat("u", 32), false},
		"no token":    {"", false},
	} {
		t.Run(name, func(t *testing.T) {
			id := "m-" + strings.ReplaceAll(name, " ", "-")
			c, err := apiclient.New(apiclient.Config{URL: srv.url, UserAgent: agentUA, MachineID: id, Password: "pw",
				RegistrationToken: apiclient.Secret(tc.token), Retry: apiclient.RetryConfig{MaxAttempts: 1}})
			require.NoError(t, err)
			defer c.Close()
			v, err := c.Register(ctx)
			require.NoError(t, err)
			require.Equal(t, tc.validated, v)
			m, err := st.GetMachine(ctx, id)
			require.NoError(t, err)
			require.Equal(t, tc.validated, m.IsValidated)
			if tc.validated {
				require.NoError(t, c.Login(ctx)) // auto-registered machines log in at once
			}
		})
	}
	// Registering twice is refused.
	r := do(t, "POST", srv.url+"/v1/watchers", strings.NewReader(`{"machine_id":"m-no-token","password":"pw"}`))
	require.Equal(t, http.StatusForbidden, r.status)
}

func TestConfigErrors(t *testing.T) {
	st := openSQLite(t)
	for name, cfg := range map[string]lapi.Config{
		"short secret":       {JWTSecret: "short"},
		"bad trusted ip":     {TrustedIPs: []string{"nope"}},
		"auto reg no token":  {AutoRegistration: lapi.AutoRegistration{Enabled: true, AllowedRanges: []string{"10.0.0.0/8"}}},
		"auto reg no ranges": {AutoRegistration: lapi.AutoRegistration{Enabled: true, Token: strings.Repeat("t", 40)}},
		"tls cert only":      {TLS: lapi.TLSConfig{CertFile: "/nonexistent.pem"}},
		"tls missing files":  {TLS: lapi.TLSConfig{CertFile: "/nonexistent.pem", KeyFile: "/nonexistent.key"}},
		"bad verification":   {TLS: lapi.TLSConfig{ClientVerification: "Sometimes"}},
		"bad flush max age":  {Flush: lapi.FlushConfig{MaxAge: "soon"}},
		"negative flush age": {Flush: lapi.FlushConfig{MaxAge: "-1h"}},
		"NaN flush age":      {Flush: lapi.FlushConfig{MaxAge: "NaNd"}},
		"v4 prefix too long": {MinDecisionPrefix: lapi.PrefixLengths{IPv4: ptr(33)}},
		"v6 prefix negative": {MinDecisionPrefix: lapi.PrefixLengths{IPv6: ptr(-1)}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := lapi.New(cfg, lapi.Deps{Store: st})
			require.Error(t, err)
			require.True(t, strings.HasPrefix(err.Error(), "lapi: "), err.Error())
		})
	}
	t.Run("secret from env", func(t *testing.T) {
		env := map[string]string{lapi.SecretEnv: "short"}
		_, err := lapi.New(lapi.Config{}, lapi.Deps{Store: st, Getenv: func(k string) string { return env[k] }})
		require.ErrorContains(t, err, "jwt secret")
	})
	t.Run("no store", func(t *testing.T) {
		_, err := lapi.New(lapi.Config{}, lapi.Deps{})
		require.ErrorContains(t, err, "no store")
	})
}

// TestSecretFromEnv: two servers sharing PHALANX_LAPI_SECRET accept each
// other's tokens; a server with a random secret does not.
func TestSecretFromEnv(t *testing.T) {
	st := openSQLite(t)
	addMachine(t, st, "agent", "pw", true)
	env := func(k string) string {
		if k == lapi.SecretEnv {
			return testSecret
		}
		return ""
	}
	a := startServer(t, st, lapi.Config{}, lapi.Deps{Getenv: env})
	b := startServer(t, st, lapi.Config{}, lapi.Deps{Getenv: env})
	c := startServer(t, st, lapi.Config{}, lapi.Deps{Getenv: func(string) string { return "" }})
	tok := login(t, a.url, "agent", "pw")
	require.Equal(t, http.StatusOK, do(t, "GET", b.url+"/v1/heartbeat", nil, "Authorization: Bearer "+tok).status)
	require.Equal(t, http.StatusUnauthorized, do(t, "GET", c.url+"/v1/heartbeat", nil, "Authorization: Bearer "+tok).status)
	_ = store.ErrNotFound
}
