package apiclient

import (
	"encoding/base64"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestMachineAuth covers the JWT lifecycle: login on first use, one login
// for concurrent callers, refresh before expiry, re-login on 401.
func TestMachineAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// run drives the client; the fake's heartbeat answers 200.
		run             func(t *testing.T, f *fakeLAPI, c *Client, clock *fakeClock)
		wantLogins      int
		wantRefreshes   int
		wantRefreshReqs int // requests to /v1/refresh_token, successful or not
	}{
		{
			name: "concurrent first calls log in once",
			run: func(t *testing.T, _ *fakeLAPI, c *Client, _ *fakeClock) {
				var wg sync.WaitGroup
				errs := make(chan error, 20)
				for range 20 {
					wg.Go(func() { errs <- c.Heartbeat(t.Context()) })
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					require.NoError(t, err)
				}
			},
			wantLogins: 1,
		},
		{
			name: "token reused while fresh",
			run: func(t *testing.T, _ *fakeLAPI, c *Client, clock *fakeClock) {
				require.NoError(t, c.Heartbeat(t.Context()))
				clock.advance(58 * time.Minute)
				require.NoError(t, c.Heartbeat(t.Context()))
			},
			wantLogins: 1,
		},
		{
			name: "refresh shortly before expiry",
			run: func(t *testing.T, f *fakeLAPI, c *Client, clock *fakeClock) {
				require.NoError(t, c.Heartbeat(t.Context()))
				exp1, err := c.TokenExpiry(t.Context())
				require.NoError(t, err)
				clock.advance(59*time.Minute + 30*time.Second)
				require.NoError(t, c.Heartbeat(t.Context()))
				exp2, err := c.TokenExpiry(t.Context())
				require.NoError(t, err)
				require.True(t, exp2.After(exp1))
				hb := f.requests(http.MethodGet, "/v1/heartbeat")
				require.Equal(t, "Bearer "+tokenPrefix+"2", hb[len(hb)-1].Header.Get("Authorization"))
				rf := f.requests(http.MethodGet, "/v1/refresh_token")
				require.Equal(t, "Bearer "+tokenPrefix+"1", rf[0].Header.Get("Authorization"))
			},
			wantLogins: 1, wantRefreshes: 1, wantRefreshReqs: 1,
		},
		{
			name: "failed refresh falls back to login",
			run: func(t *testing.T, f *fakeLAPI, c *Client, clock *fakeClock) {
				require.NoError(t, c.Heartbeat(t.Context()))
				clock.advance(59*time.Minute + 30*time.Second)
				f.revokeTokens()
				require.NoError(t, c.Heartbeat(t.Context()))
			},
			wantLogins: 2, wantRefreshReqs: 1,
		},
		{
			name: "expired token logs in without refresh",
			run: func(t *testing.T, _ *fakeLAPI, c *Client, clock *fakeClock) {
				require.NoError(t, c.Heartbeat(t.Context()))
				clock.advance(2 * time.Hour)
				require.NoError(t, c.Heartbeat(t.Context()))
			},
			wantLogins: 2,
		},
		{
			name: "401 logs in again and retries once",
			run: func(t *testing.T, f *fakeLAPI, c *Client, _ *fakeClock) {
				require.NoError(t, c.Heartbeat(t.Context()))
				f.revokeTokens() // e.g. the LAPI restarted with a new secret
				require.NoError(t, c.Heartbeat(t.Context()))
				require.Len(t, f.requests(http.MethodGet, "/v1/heartbeat"), 3)
			},
			wantLogins: 2,
		},
		{
			name: "persistent 401 is final after one re-login",
			run: func(t *testing.T, f *fakeLAPI, c *Client, _ *fakeClock) {
				f.respond("GET /v1/heartbeat", http.StatusUnauthorized, "error_login.json")
				err := c.Heartbeat(t.Context())
				require.ErrorIs(t, err, ErrUnauthorized)
				require.False(t, IsRetryable(err))
				require.Len(t, f.requests(http.MethodGet, "/v1/heartbeat"), 2)
			},
			wantLogins: 2,
		},
		{
			name: "explicit login then set scenarios for the next one",
			run: func(t *testing.T, f *fakeLAPI, c *Client, _ *fakeClock) {
				require.NoError(t, c.Login(t.Context()))
				require.NoError(t, c.SetScenarios(t.Context(), []string{"a/b", "c/d"}))
				require.NoError(t, c.Login(t.Context()))
				f.mu.Lock()
				defer f.mu.Unlock()
				require.Equal(t, [][]string{{"crowdsecurity/ssh-bf"}, {"a/b", "c/d"}}, f.scenarios)
			},
			wantLogins: 2,
		},
		{
			name: "unregister forgets the token",
			run: func(t *testing.T, f *fakeLAPI, c *Client, _ *fakeClock) {
				f.respond("DELETE /v1/watchers/self", http.StatusNoContent, "")
				require.NoError(t, c.Unregister(t.Context()))
				exp, err := c.TokenExpiry(t.Context())
				require.NoError(t, err)
				require.True(t, exp.IsZero())
			},
			wantLogins: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := &fakeClock{t: time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)}
			f := newFakeHandler(t)
			f.now = clock.now
			srv := newServer(t, f)
			f.respond("GET /v1/heartbeat", http.StatusOK, "")
			c := newTestClient(t, testConfig(srv.URL), WithClock(clock.now))

			tc.run(t, f, c, clock)

			logins, refreshes := f.counts()
			require.Equal(t, tc.wantLogins, logins, "logins")
			require.Equal(t, tc.wantRefreshes, refreshes, "refreshes")
			require.Len(t, f.requests(http.MethodGet, "/v1/refresh_token"), tc.wantRefreshReqs)
		})
	}
}

func TestLoginRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		machine   string
		password  Secret
		wantIs    error
		wantLogin int // login requests sent
	}{
		{name: "wrong password", machine: testMachine, password: "nope-SECRET", wantIs: ErrUnauthorized, wantLogin: 1},
		{name: "unknown machine", machine: "other", password: testPassword, wantIs: ErrUnauthorized, wantLogin: 1},
		{name: "no machine configured", machine: "", password: "", wantLogin: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeLAPI(t)
			f.respond("POST /v1/alerts", http.StatusCreated, "alerts_push_response.json")
			cfg := testConfig(f.srv.URL)
			cfg.MachineID, cfg.Password = tc.machine, tc.password
			c := newTestClient(t, cfg)

			_, err := c.PushAlerts(t.Context(), nil)

			require.Error(t, err)
			require.False(t, IsRetryable(err))
			if tc.wantIs != nil {
				require.ErrorIs(t, err, tc.wantIs)
			}
			require.Contains(t, err.Error(), "apiclient: login")
			require.NotContains(t, err.Error(), "SECRET")
			require.Len(t, f.requests(http.MethodPost, "/v1/watchers/login"), tc.wantLogin)
			require.Empty(t, f.requests(http.MethodPost, "/v1/alerts"))
		})
	}
}

func TestJWTExpiry(t *testing.T) {
	t.Parallel()
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name  string
		token string
		want  time.Time
	}{
		{name: "exp claim", token: enc(`{"alg":"HS256"}`) + "." + enc(`{"exp":1767351600,"id":"x"}`) + ".sig", want: time.Unix(1767351600, 0)},
		{name: "float exp", token: "h." + enc(`{"exp":1767351600.0}`) + ".s", want: time.Unix(1767351600, 0)},
		{name: "no exp", token: "h." + enc(`{"id":"x"}`) + ".s"},
		{name: "not a jwt", token: "opaque-token"},
		{name: "bad base64", token: "h.!!!.s"},
		{name: "absurd exp", token: "h." + enc(`{"exp":1e300}`) + ".s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.True(t, tc.want.Equal(jwtExpiry(tc.token)), "got %v", jwtExpiry(tc.token))
		})
	}
}
