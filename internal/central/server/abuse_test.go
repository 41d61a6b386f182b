package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/netguard"
)

// The attacks a central facing the internet meets, each performed over
// loopback HTTP (the slow-client attacks on headers, bodies and idle
// connections are TestCentralResistsSlowClients; bad input is
// TestAuthAndBadInput and the fuzz targets).

// post sends body (JSON-encoded unless []byte) from client address from
// (X-Forwarded-For through the trusted loopback proxy) and returns the
// status, the Retry-After header and the body.
func (c *central) post(t *testing.T, path, from, token string, body any) (int, string, string) {
	t.Helper()
	raw, ok := body.([]byte)
	if !ok {
		var err error
		raw, err = json.Marshal(body)
		require.NoError(t, err)
	}
	code, h, b := c.send(t, http.MethodPost, path, from, token, raw)
	return code, h.Get("Retry-After"), string(b)
}

func regBody(n int) map[string]string {
	id := fmt.Sprintf("abuse%043d", n)
	return map[string]string{"machine_id": id, "password": "password-" + id[:20]}
}

// requireJSONMessage: a refusal is a JSON {"message"} a client can show.
func requireJSONMessage(t *testing.T, body string) {
	t.Helper()
	var m struct {
		Message string `json:"message"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &m), body)
	require.NotEmpty(t, m.Message)
}

// A registration flood from one /24 is cut at the burst (429 with a
// Retry-After); another network still registers. Registering at the
// first login (stock CrowdSec credentials) counts the same.
func TestRegistrationFloodPerNetwork(t *testing.T) {
	c := startCentral(t, Config{RegistrationBurst: 5, RegistrationRate: netguard.Rate(1.0 / 3600)})
	for i := range 5 {
		code, _, body := c.post(t, "/v3/watchers", fmt.Sprintf("31.1.1.%d", 10+i), "", regBody(i))
		require.Equal(t, 200, code, body)
	}
	code, retry, body := c.post(t, "/v3/watchers", "31.1.1.99", "", regBody(5))
	require.Equal(t, http.StatusTooManyRequests, code, "the sixth from the same /24")
	require.NotEmpty(t, retry)
	requireJSONMessage(t, body)
	code, _, body = c.post(t, "/v3/watchers/login", "31.1.1.98", "", regBody(6))
	require.Equal(t, http.StatusTooManyRequests, code, "a first login is a registration: %s", body)
	code, _, body = c.post(t, "/v3/watchers", "32.1.1.10", "", regBody(7))
	require.Equal(t, 200, code, "another network: %s", body)
	_, err := c.st.GetInstall(t.Context(), regBody(5)["machine_id"])
	require.Error(t, err, "the refused registration left nothing")
}

// Password guessing from one address: after the free failures, 429 with
// a growing Retry-After, without a bcrypt compare; the install's own
// login from its network still works.
func TestLoginGuessingBackoff(t *testing.T) {
	c := startCentral(t, Config{})
	in := c.newInstall(t, "33.1.1.10")
	for i := range 6 { // 5 free failures, and the one that starts the back-off
		code, _, body := c.post(t, "/v3/watchers/login", "34.1.1.10", "", map[string]string{"machine_id": in.id, "password": fmt.Sprintf("guess-%04d", i)})
		require.Equal(t, http.StatusForbidden, code, body)
		requireJSONMessage(t, body)
	}
	code, retry, body := c.post(t, "/v3/watchers/login", "34.1.1.10", "", map[string]string{"machine_id": in.id, "password": in.pw})
	require.Equal(t, http.StatusTooManyRequests, code, "even the right password waits: %s", body)
	require.NotEmpty(t, retry)
	code, _, body = c.post(t, "/v3/watchers/login", in.egress, "", map[string]string{"machine_id": in.id, "password": in.pw})
	require.Equal(t, 200, code, "the install itself is not locked out: %s", body)
	c.clock.add(2 * time.Second) // the first wait (1 s) is over
	code, _, body = c.post(t, "/v3/watchers/login", "34.1.1.10", "", map[string]string{"machine_id": in.id, "password": "guess-again"})
	require.Equal(t, http.StatusForbidden, code, body)
	code, retry, _ = c.post(t, "/v3/watchers/login", "34.1.1.10", "", map[string]string{"machine_id": in.id, "password": "guess-again"})
	require.Equal(t, http.StatusTooManyRequests, code)
	require.Equal(t, "2", retry, "each further failure doubles the wait")
}

// A signal flood from one install is cut at its burst (429, Retry-After).
func TestSignalFloodPerInstall(t *testing.T) {
	c := startCentral(t, Config{SignalRate: netguard.Rate(0.1), SignalBurst: 3})
	in := c.newInstall(t, "35.1.1.10")
	other := c.newInstall(t, "36.1.1.10")
	sig := []map[string]any{{"scenario": sshBF, "source": map[string]string{"scope": "ip", "value": "45.1.2.3"}}}
	for range 3 {
		code, _, body := c.post(t, "/v3/signals", in.egress, in.token, sig)
		require.Equal(t, 200, code, body)
	}
	code, retry, body := c.post(t, "/v3/signals", in.egress, in.token, sig)
	require.Equal(t, http.StatusTooManyRequests, code, body)
	require.NotEmpty(t, retry)
	requireJSONMessage(t, body)
	code, _, body = c.post(t, "/v3/signals", other.egress, other.token, sig)
	require.Equal(t, 200, code, "another install is not held back: %s", body)
}

// Bodies over max_body are refused with 413, before and after
// authentication, without the server reading them whole.
func TestOversizedBodies(t *testing.T) {
	c := startCentral(t, Config{MaxBody: 64 << 10})
	in := c.newInstall(t, "37.1.1.10")
	big := []byte(`["` + strings.Repeat("a", 1<<20) + `"]`)
	for _, tc := range []struct{ name, path, token string }{
		{"register", "/v3/watchers", ""},
		{"login", "/v3/watchers/login", ""},
		{"signals", "/v3/signals", in.token},
		{"metrics", "/v3/metrics/", in.token},
		{"decisions delete", "/v3/decisions/delete", in.token},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := c.post(t, tc.path, "37.1.1.11", tc.token, big)
			require.Equal(t, http.StatusRequestEntityTooLarge, code, body)
			requireJSONMessage(t, body)
		})
	}
	// Valid signals over the limit: 413 too.
	sigs := make([]map[string]any, 0, 2000)
	for i := range 2000 {
		sigs = append(sigs, map[string]any{"scenario": sshBF, "uuid": fmt.Sprintf("u-%d", i), "source": map[string]string{"scope": "ip", "value": "45.1.2.3"}})
	}
	code, _, body := c.post(t, "/v3/signals", in.egress, in.token, sigs)
	require.Equal(t, http.StatusRequestEntityTooLarge, code, body)
}

// bcrypt is bounded: when every hashing slot is taken (a registration or
// login flood in flight), further registrations and logins are refused at
// once with 429 rather than queued, and an install logging in from its
// own network still gets the reserved slot.
func TestBcryptWorkBounded(t *testing.T) {
	c := startCentral(t, Config{MaxConcurrentHashes: 2})
	in := c.newInstall(t, "38.1.1.10")
	release := c.srv.work.Hold(false)
	defer release()
	start := time.Now()
	code, retry, body := c.post(t, "/v3/watchers", "39.1.1.10", "", regBody(1))
	require.Equal(t, http.StatusTooManyRequests, code, body)
	require.Equal(t, "1", retry)
	code, _, body = c.post(t, "/v3/watchers/login", "39.1.1.10", "", map[string]string{"machine_id": in.id, "password": in.pw})
	require.Equal(t, http.StatusTooManyRequests, code, "a login from elsewhere waits: %s", body)
	// Refused, not queued: the slots stay held until the test ends, so a
	// queue without a time limit could not have answered at all. The
	// bound rules out a queue that waits a while and then refuses; it is
	// generous (both answers take milliseconds, even under -race) so that
	// a loaded machine's pauses do not break it.
	require.Less(t, time.Since(start), 10*time.Second, "refused at once, not queued")
	code, _, body = c.post(t, "/v3/watchers/login", in.egress, "", map[string]string{"machine_id": in.id, "password": in.pw})
	require.Equal(t, 200, code, "the install's own login uses the reserved slot: %s", body)
}

// A stock CrowdSec LAPI joins by changing only `url`: its credentials,
// registered elsewhere, register at their first login (register_on_login,
// default on); with it off, the login fails as for any unknown id. A bad
// password for a known id never re-registers it.
func TestRegisterOnLogin(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprint("register_on_login=", on), func(t *testing.T) {
			c := startCentral(t, Config{RegisterOnLogin: &on})
			creds := regBody(42)
			code, _, body := c.post(t, "/v3/watchers/login", "40.1.1.10", "", map[string]any{"machine_id": creds["machine_id"], "password": creds["password"], "scenarios": []string{sshBF}})
			if !on {
				require.Equal(t, http.StatusForbidden, code, body)
				return
			}
			require.Equal(t, 200, code, body)
			var lr struct {
				Token string `json:"token"`
			}
			require.NoError(t, json.Unmarshal([]byte(body), &lr))
			code, _, body = c.post(t, "/v3/signals", "40.1.1.10", lr.Token, []map[string]any{{"scenario": sshBF, "source": map[string]string{"scope": "ip", "value": "45.1.2.3"}}})
			require.Equal(t, 200, code, body)
			code, _, body = c.post(t, "/v3/watchers/login", "40.1.1.10", "", map[string]any{"machine_id": creds["machine_id"], "password": "another-password"})
			require.Equal(t, http.StatusForbidden, code, "the id is taken now: %s", body)
			in, err := c.st.GetInstall(t.Context(), creds["machine_id"])
			require.NoError(t, err)
			require.Equal(t, "40.1.1.0/24", in.Net)
		})
	}
}
