package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/phalanx-ids/phalanx/internal/central/centralstore"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

const (
	sshBF     = "crowdsecurity/ssh-bf"
	sshBFVer  = "0.3"
	sshBFHash = "242f36684d66bbae3044e576b7cfffef62d5323465f3f74f87923167c6d93356"
)

// vclock is a virtual clock tests move.
type vclock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *vclock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *vclock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type central struct {
	srv   *Server
	url   string
	clock *vclock
	st    *centralstore.Store
	cfg   Config
	stop  func() // stops srv and waits for Run to return
}

func startCentral(t testing.TB, cfg Config) *central {
	t.Helper()
	if cfg.DB == "" && cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.Listen = "127.0.0.1:0"
	cfg.TrustedProxies = []string{"127.0.0.1/32"}
	cfg.HubIndex = filepath.Join("..", "..", "..", "..", "shared", "hub", "index.json")
	if _, err := os.Stat(cfg.HubIndex); err != nil {
		cfg.HubIndex = "/work/shared/hub/index.json"
	}
	cfg.Poll = 50 * time.Millisecond
	if cfg.RegistrationBurst == 0 {
		cfg.RegistrationBurst = 1000
	}
	if cfg.PullRate == 0 {
		cfg.PullRate, cfg.PullBurst = 100, 100
	}
	if cfg.MaxConcurrentHashes == 0 {
		cfg.MaxConcurrentHashes = 8
	}
	c := &central{clock: &vclock{t: time.Now().UTC()}, cfg: cfg}
	c.run(t)
	st, err := OpenStore(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	c.st = st
	return c
}

// run starts a server on c's configuration and clock.
func (c *central) run(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := New(ctx, c.cfg, Deps{Clock: c.clock.now, PasswordCost: bcrypt.MinCost})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	c.stop = func() { once.Do(func() { cancel(); testutil.Recv(t, done, "the central stops") }) }
	t.Cleanup(c.stop)
	c.srv, c.url = s, "http://"+s.Addr()
}

// restart stops the central and starts it again on the same database
// and clock (a new address: installs log in again).
func (c *central) restart(t testing.TB) {
	t.Helper()
	c.stop()
	c.run(t)
}

// install is a CAPI client playing one LAPI from a given egress address
// (X-Forwarded-For through the trusted loopback proxy).
type install struct {
	t      testing.TB
	c      *central
	id, pw string
	egress string
	token  string
}

func (c *central) do(t testing.TB, method, path, egress, token string, body any) (int, []byte) {
	t.Helper()
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	code, _, b := c.send(t, method, path, egress, token, raw)
	return code, b
}

// send makes one request with raw as its body, from client address egress
// when set (X-Forwarded-For through the trusted loopback proxy), and
// returns the status, the answer's header and its body.
func (c *central) send(t testing.TB, method, path, egress, token string, raw []byte) (int, http.Header, []byte) {
	t.Helper()
	// Bounded: a request the server queues instead of answering fails the
	// test instead of hanging the package until go test's timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.url+path, bytes.NewReader(raw))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if egress != "" {
		req.Header.Set("X-Forwarded-For", egress)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, resp.Header, buf.Bytes()
}

var idSeq struct {
	sync.Mutex
	n int
}

func (c *central) newInstall(t testing.TB, egress string, scenarios ...string) *install {
	idSeq.Lock()
	idSeq.n++
	id := fmt.Sprintf("%032d%016d", idSeq.n, time.Now().UnixNano()%1e16)
	idSeq.Unlock()
	in := &install{t: t, c: c, id: id, pw: "password-" + id, egress: egress}
	code, body := c.do(t, "POST", "/v3/watchers", egress, "", map[string]string{"machine_id": id, "password": in.pw})
	require.Equal(t, 200, code, string(body))
	in.login(scenarios...)
	return in
}

func (in *install) login(scenarios ...string) {
	code, body := in.c.do(in.t, "POST", "/v3/watchers/login", in.egress, "", map[string]any{"machine_id": in.id, "password": in.pw, "scenarios": scenarios})
	require.Equal(in.t, 200, code, string(body))
	var lr struct {
		Token  string `json:"token"`
		Expire string `json:"expire"`
	}
	require.NoError(in.t, json.Unmarshal(body, &lr))
	in.token = lr.Token
}

func (in *install) enroll(key string) {
	code, body := in.c.do(in.t, "POST", "/v3/watchers/enroll", in.egress, in.token, map[string]any{"attachment_key": key, "name": "x"})
	require.Equal(in.t, 200, code, string(body))
	in.login()
}

func (c *central) org(t testing.TB, name string, seed bool) string {
	key := fmt.Sprintf("key%x%d", name, time.Now().UnixNano())
	_, err := c.st.AddOrg(context.Background(), name, seed, KeyHash(key))
	require.NoError(t, err)
	return key
}

type sigOpt func(map[string]any)

func (in *install) report(ip string, opts ...sigOpt) {
	s := map[string]any{"scenario": sshBF, "scenario_hash": sshBFHash, "scenario_version": sshBFVer, "scenario_trust": "certified",
		"uuid": fmt.Sprintf("%s-%s-%d", in.id, ip, time.Now().UnixNano()), "start_at": time.Now().Format(time.RFC3339), "stop_at": time.Now().Format(time.RFC3339),
		"message": "secret message", "context": []map[string]string{{"key": "target_uri", "value": "/secret"}},
		"source": map[string]any{"scope": "ip", "value": ip, "cn": "FR", "as_name": "x"}}
	for _, o := range opts {
		o(s)
	}
	code, body := in.c.do(in.t, "POST", "/v3/signals", in.egress, in.token, []any{s})
	require.Equal(in.t, 200, code, string(body))
}

type streamResp struct {
	New []struct {
		Scenario  string `json:"scenario"`
		Decisions []struct {
			Value    string `json:"value"`
			Duration string `json:"duration"`
		} `json:"decisions"`
	} `json:"new"`
	Deleted []struct {
		Decisions []string `json:"decisions"`
	} `json:"deleted"`
}

func (in *install) pull(startup bool) (added map[string]string, deleted []string) {
	path := "/v3/decisions/stream"
	if startup {
		path += "?startup=true"
	}
	code, body := in.c.do(in.t, "GET", path, in.egress, in.token, nil)
	require.Equal(in.t, 200, code, string(body))
	var sr streamResp
	require.NoError(in.t, json.Unmarshal(body, &sr))
	added = map[string]string{}
	for _, g := range sr.New {
		for _, d := range g.Decisions {
			added[d.Value] = d.Duration
		}
	}
	for _, g := range sr.Deleted {
		deleted = append(deleted, g.Decisions...)
	}
	return added, deleted
}

// listedSoon waits (real time, the curator polls every 50 ms) until ip is
// in in's full stream, or says it never came.
func (in *install) listedSoon(ip string, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if a, _ := in.pull(true); a[ip] != "" {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// neverListed waits until the curator has taken every stored signal (its
// cursor, written with its effects) and then checks that ip does not come
// into in's stream within a few stream refreshes: a decision made, not a
// curator that has not run yet.
func (c *central) neverListed(t testing.TB, in *install, ip string, msg ...any) {
	t.Helper()
	c.waitCurated(t)
	require.False(t, in.listedSoon(ip, 300*time.Millisecond), msg...)
}

// waitCurated waits until the curator has taken every signal stored so
// far and written what they changed.
func (c *central) waitCurated(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	last, err := c.st.LastSignalID(ctx)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		v, err := c.st.CuratedSignal(ctx)
		return err == nil && v >= last
	}, 10*time.Second, 20*time.Millisecond, "the curator takes every stored signal")
}

// crowd: a seed install and two enrolled installs of other organisations
// on other /16s, plus a consumer.
func crowd(t testing.TB, c *central) (seed, b, d, consumer *install) {
	seed = c.newInstall(t, "11.1.1.10")
	seed.enroll(c.org(t, "operator", true))
	b = c.newInstall(t, "12.1.1.10")
	b.enroll(c.org(t, "orgb", false))
	d = c.newInstall(t, "13.1.1.10")
	d.enroll(c.org(t, "orgd", false))
	consumer = c.newInstall(t, "14.1.1.10", sshBF)
	return
}

func TestC1ThreeIndependentClustersList(t *testing.T) {
	c := startCentral(t, Config{})
	seed, b, d, consumer := crowd(t, c)
	other := c.newInstall(t, "15.1.1.10", "crowdsecurity/http-probing")
	seed.report("1.2.3.4")
	b.report("1.2.3.4")
	c.neverListed(t, consumer, "1.2.3.4", "two clusters do not list")
	start := time.Now()
	d.report("1.2.3.4")
	require.True(t, consumer.listedSoon("1.2.3.4", 5*time.Second))
	t.Logf("listed %v after the third report", time.Since(start))
	a, _ := other.pull(true)
	require.Empty(t, a, "an install that declared other scenarios does not get it")
	// Duration from the central: the first TTL (4h).
	a, _ = consumer.pull(true)
	dur, err := time.ParseDuration(a["1.2.3.4"])
	require.NoError(t, err)
	require.InDelta(t, (4 * time.Hour).Seconds(), dur.Seconds(), 5)
	// Nothing but IP, scenario, times and the reporter identity is stored.
	sigs, err := c.st.SignalsOf(context.Background(), "1.2.3.4", time.Time{})
	require.NoError(t, err)
	require.Len(t, sigs, 3)
}

func TestC1LongPollDeliversAtOnce(t *testing.T) {
	c := startCentral(t, Config{})
	seed, b, d, consumer := crowd(t, c)
	consumer.pull(true)
	got := make(chan map[string]string, 1)
	go func() {
		code, body := c.do(t, "GET", "/v3/decisions/stream?wait=10s", consumer.egress, consumer.token, nil)
		var sr streamResp
		_ = json.Unmarshal(body, &sr)
		m := map[string]string{"code": fmt.Sprint(code)}
		for _, g := range sr.New {
			for _, dd := range g.Decisions {
				m[dd.Value] = dd.Duration
			}
		}
		got <- m
	}()
	time.Sleep(100 * time.Millisecond)
	for _, in := range []*install{seed, b, d} {
		in.report("5.6.7.8")
	}
	select {
	case m := <-got:
		require.Equal(t, "200", m["code"])
		require.NotEmpty(t, m["5.6.7.8"])
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll did not return the new listing")
	}
}

func TestC2AnonymousNeverList(t *testing.T) {
	c := startCentral(t, Config{})
	consumer := c.newInstall(t, "14.1.1.10")
	for i := range 12 {
		c.newInstall(t, fmt.Sprintf("%d.9.9.9", 20+i)).report("1.2.3.4")
	}
	c.neverListed(t, consumer, "1.2.3.4")
}

func TestC3OneOrgOneSlash24IsOneCluster(t *testing.T) {
	c := startCentral(t, Config{})
	seed, _, _, consumer := crowd(t, c)
	key := c.org(t, "bigorg", false)
	for i := range 4 {
		in := c.newInstall(t, fmt.Sprintf("%d.1.1.10", 30+i))
		in.enroll(key)
		in.report("1.2.3.4")
	}
	seed.report("1.2.3.4")
	c.neverListed(t, consumer, "1.2.3.4", "one organisation is one vote")
	// Three organisations in one /24.
	for i := range 3 {
		in := c.newInstall(t, fmt.Sprintf("40.1.1.%d", 10+i))
		in.enroll(c.org(t, fmt.Sprintf("o24-%d", i), false))
		in.report("5.5.5.5")
	}
	seed.report("5.5.5.5")
	c.neverListed(t, consumer, "5.5.5.5", "one /24 is one vote")
}

func TestC4NeverListed(t *testing.T) {
	c := startCentral(t, Config{})
	seed, b, d, consumer := crowd(t, c)
	ctx := context.Background()
	require.NoError(t, c.st.AddAllow(ctx, []centralstore.AllowEntry{{CIDR: "66.249.64.0/19", Reason: "googlebot"}}))
	require.NoError(t, c.st.AddCanary(ctx, "8.8.4.4"))
	time.Sleep(300 * time.Millisecond) // the central reloads within its poll
	for _, ip := range []string{"66.249.66.1", "10.0.0.5", "127.0.0.9", "169.254.1.1", "192.0.2.7", "240.1.1.1", "12.1.1.10"} {
		for _, in := range []*install{seed, b, d} {
			in.report(ip)
		}
	}
	c.waitCurated(t)
	time.Sleep(300 * time.Millisecond) // a few stream refreshes
	a, _ := consumer.pull(true)
	require.Empty(t, a)
	// A canary report costs b its weight: with b, seed and d, 9.8.7.6 is
	// not listed any more.
	b.report("8.8.4.4")
	time.Sleep(300 * time.Millisecond)
	for _, in := range []*install{seed, b, d} {
		in.report("9.8.7.6")
	}
	c.neverListed(t, consumer, "9.8.7.6")
	got, err := c.st.GetInstall(ctx, b.id)
	require.NoError(t, err)
	require.True(t, got.QuarantinedUntil.After(c.clock.now().Add(24*time.Hour)))
}

func TestC5CustomAndTaintedDoNotCount(t *testing.T) {
	c := startCentral(t, Config{})
	seed, b, d, consumer := crowd(t, c)
	seed.report("1.2.3.4")
	b.report("1.2.3.4", func(m map[string]any) { m["scenario_hash"] = "0000"; m["scenario_trust"] = "tainted" })
	d.report("1.2.3.4", func(m map[string]any) {
		m["scenario"] = "me/custom"
		m["scenario_hash"] = ""
		m["scenario_trust"] = "custom"
	})
	c.neverListed(t, consumer, "1.2.3.4")
	sigs, _ := c.st.SignalsOf(context.Background(), "1.2.3.4", time.Time{})
	require.Len(t, sigs, 3, "kept for the reporter's record")
}

func TestC6DelistRemovesAndRefutes(t *testing.T) {
	c := startCentral(t, Config{})
	seed, b, d, consumer := crowd(t, c)
	for _, in := range []*install{seed, b, d} {
		in.report("1.2.3.4")
	}
	require.True(t, consumer.listedSoon("1.2.3.4", 5*time.Second))
	consumer.pull(false)
	require.NoError(t, c.st.AddDelist(context.Background(), "1.2.3.4", "appeal upheld"))
	deadline := time.Now().Add(10 * time.Second)
	var deleted []string
	for time.Now().Before(deadline) && len(deleted) == 0 {
		_, deleted = consumer.pull(false)
		time.Sleep(50 * time.Millisecond)
	}
	require.Equal(t, []string{"1.2.3.4"}, deleted)
	a, _ := consumer.pull(true)
	require.Empty(t, a)
	got, _ := c.st.GetInstall(context.Background(), b.id)
	require.Greater(t, got.Beta, 10.0, "reporters refuted")
}

func TestC7ExpiryEscalatesAndIsReported(t *testing.T) {
	c := startCentral(t, Config{})
	seed, b, d, consumer := crowd(t, c)
	for _, in := range []*install{seed, b, d} {
		in.report("1.2.3.4")
	}
	require.True(t, consumer.listedSoon("1.2.3.4", 5*time.Second))
	consumer.pull(false)
	c.clock.add(4*time.Hour + time.Minute)
	consumer.login(sshBF) // the token expired too
	deadline := time.Now().Add(10 * time.Second)
	var deleted []string
	for time.Now().Before(deadline) && len(deleted) == 0 {
		_, deleted = consumer.pull(false)
		time.Sleep(50 * time.Millisecond)
	}
	require.Equal(t, []string{"1.2.3.4"}, deleted, "the stream reports the expiry")
}

func TestAuthAndBadInput(t *testing.T) {
	c := startCentral(t, Config{})
	in := c.newInstall(t, "11.1.1.10")
	for _, tc := range []struct {
		name, method, path, token string
		body                      any
		want                      int
	}{
		{"stream without token", "GET", "/v3/decisions/stream", "", nil, 401},
		{"signals with a forged token", "POST", "/v3/signals", "abc.def.ghi", []any{}, 401},
		{"bad JSON", "POST", "/v3/signals", in.token, "nope", 400},
		{"bad IP", "POST", "/v3/signals", in.token, []any{map[string]any{"scenario": "a/b", "source": map[string]string{"scope": "ip", "value": "x"}}}, 400},
		{"NUL in a scenario (PostgreSQL cannot store it)", "POST", "/v3/signals", in.token, []any{map[string]any{"scenario": "a\x00b", "source": map[string]string{"scope": "ip", "value": "1.2.3.4"}}}, 400},
		{"terminal escape in a uuid", "POST", "/v3/signals", in.token, []any{map[string]any{"scenario": "a/b", "uuid": "\x1b[2J", "source": map[string]string{"value": "1.2.3.4"}}}, 400},
		{"data after the JSON value", "POST", "/v3/signals", in.token, json.RawMessage(`[] []`), 400},
		{"control character in a login scenario", "POST", "/v3/watchers/login", "", map[string]any{"machine_id": in.id, "password": in.pw, "scenarios": []string{"a\rb"}}, 400},
		{"bidi control in an enrolment name", "POST", "/v3/watchers/enroll", in.token, map[string]string{"attachment_key": "unknownkey1", "name": "a\u202eb"}, 400},
		{"short machine id", "POST", "/v3/watchers", "", map[string]string{"machine_id": "abc", "password": "12345678"}, 400},
		{"wrong password", "POST", "/v3/watchers/login", "", map[string]string{"machine_id": in.id, "password": "wrongwrong"}, 403},
		{"unknown key", "POST", "/v3/watchers/enroll", in.token, map[string]string{"attachment_key": "unknownkey1"}, 403},
		{"metrics", "POST", "/v3/metrics/", in.token, map[string]any{"bouncers": []any{}, "machines": []any{}}, 200},
		{"usage metrics", "POST", "/v3/usage-metrics", in.token, map[string]any{}, 201},
		{"usage metrics without a token", "POST", "/v3/usage-metrics", "", map[string]any{}, 401},
		{"usage metrics: not JSON", "POST", "/v3/usage-metrics", in.token, json.RawMessage(`{"lapi":`), 400},
		{"usage metrics: wrong type", "POST", "/v3/usage-metrics", in.token, map[string]any{"log_processors": "x"}, 400},
		{"usage metrics: item without unit", "POST", "/v3/usage-metrics", in.token, json.RawMessage(`{"remediation_components":[{"version":"1","metrics":[{"meta":{"window_size_seconds":60,"utc_now_timestamp":1},"items":[{"name":"dropped","value":1}]}]}]}`), 422},
		{"usage metrics: window without meta", "POST", "/v3/usage-metrics", in.token, json.RawMessage(`{"lapi":{"version":"1","metrics":[{"items":[]}]}}`), 422},
		{"usage metrics: name over 255 bytes", "POST", "/v3/usage-metrics", in.token, map[string]any{"remediation_components": []any{map[string]any{"name": strings.Repeat("a", 256)}}}, 422},
		{"usage metrics: escape in a label", "POST", "/v3/usage-metrics", in.token, json.RawMessage(`{"remediation_components":[{"metrics":[{"meta":{"window_size_seconds":60,"utc_now_timestamp":1},"items":[{"name":"dropped","value":1,"unit":"ip","labels":{"origin":"\u001b[2J"}}]}]}]}`), 422},
		{"usage metrics: too many components", "POST", "/v3/usage-metrics", in.token, map[string]any{"log_processors": make([]map[string]any, maxInventory+1)}, 422},
		{"metrics without a token", "POST", "/v3/metrics/", "", map[string]any{"bouncers": []any{}, "machines": []any{}}, 401},
		{"metrics: escape in a bouncer name", "POST", "/v3/metrics/", in.token, map[string]any{"bouncers": []any{map[string]string{"name": "\x1b]0;x\x07"}}, "machines": []any{}}, 400},
		{"metrics: not an object", "POST", "/v3/metrics", in.token, []any{}, 400},
		{"decisions delete", "POST", "/v3/decisions/delete", in.token, []string{"0b2c8f3e-0000-4000-8000-000000000001"}, 200},
		{"decisions delete without a token", "POST", "/v3/decisions/delete", "", []string{"x"}, 401},
		{"decisions delete: not strings", "POST", "/v3/decisions/delete", in.token, []int{1}, 400},
		{"decisions delete: too many", "POST", "/v3/decisions/delete", in.token, make([]string, maxDeletions+1), 400},
		{"allowlist content when not published", "GET", allowlistPath, "", nil, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := c.do(t, tc.method, tc.path, "", tc.token, tc.body)
			require.Equal(t, tc.want, code, string(body))
			require.NotContains(t, string(body), "sql")
		})
	}
}
