package capi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/phalanx-ids/phalanx/internal/capi"
	"github.com/phalanx-ids/phalanx/internal/central/centralstore"
	"github.com/phalanx-ids/phalanx/internal/central/server"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/netguard"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// vclock is a virtual clock: Sleep blocks until the test advances the
// time past the sleeper's deadline.
type vclock struct {
	mu       sync.Mutex
	now      time.Time
	sleepers map[*vsleeper]struct{}
}

type vsleeper struct {
	until time.Time
	done  chan struct{}
}

func newVClock(t time.Time) *vclock { return &vclock{now: t, sleepers: map[*vsleeper]struct{}{}} }

func (c *vclock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *vclock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	c.mu.Lock()
	s := &vsleeper{until: c.now.Add(d), done: make(chan struct{})}
	c.sleepers[s] = struct{}{}
	c.mu.Unlock()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.sleepers, s)
		c.mu.Unlock()
		return ctx.Err()
	}
}

// Advance moves the time by d and wakes the sleepers whose deadline passed.
func (c *vclock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for s := range c.sleepers {
		if !s.until.After(c.now) {
			delete(c.sleepers, s)
			close(s.done)
		}
	}
}

// WaitSleepers waits (real time) until n loops sleep on the clock: they
// did what the last step asked.
func (c *vclock) WaitSleepers(t *testing.T, n int) {
	t.Helper()
	// A minute: more than the installs' 10 s HTTP timeout (a loop sleeps
	// once its try in flight ends); 10 s failed under -race at load ~28.
	deadline := time.Now().Add(time.Minute)
	for {
		c.mu.Lock()
		k := len(c.sleepers)
		c.mu.Unlock()
		if k == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d loops sleep on the virtual clock, want %d", k, n)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// WaitSleeperUntil waits (real time, 10 s at most) until a loop sleeps
// on the clock until at.
func (c *vclock) WaitSleeperUntil(t *testing.T, at time.Time) {
	t.Helper()
	require.Eventually(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for s := range c.sleepers {
			if s.until.Equal(at) {
				return true
			}
		}
		return false
	}, 10*time.Second, 200*time.Microsecond, "no loop sleeps on the virtual clock until %s", at)
}

// pushFailures sums phalanx_capi_push_failures_total over the registries
// of the service's successive starts.
func pushFailures(t *testing.T, regs []*prometheus.Registry) int {
	t.Helper()
	n := 0.0
	for _, r := range regs {
		mfs, err := r.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() == "phalanx_capi_push_failures_total" {
				n += mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
	}
	return int(n)
}

// sigRecorder watches the install's requests to the central (it is the
// install's HTTP transport): the uuids of the signals requests the
// central accepted.
type sigRecorder struct {
	bodyRecorder
	accepted map[string]int // under bodyRecorder.mu
}

func newSigRecorder() *sigRecorder {
	r := &sigRecorder{accepted: map[string]int{}}
	r.path = "/v3/signals"
	r.onOK = func(body []byte) {
		var sigs []struct {
			UUID string `json:"uuid"`
		}
		if json.Unmarshal(body, &sigs) == nil {
			for _, s := range sigs {
				r.accepted[s.UUID]++
			}
		}
	}
	return r
}

func (r *sigRecorder) Accepted() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := make(map[string]int, len(r.accepted))
	for k, v := range r.accepted {
		m[k] = v
	}
	return m
}

// realCentral is a Phalanx central (internal/central/server, SQLite in
// dir) over loopback that a test stops and starts again on the same
// address and database.
type realCentral struct {
	t      *testing.T
	dir    string
	read   *centralstore.Store // the test's own handle on the database
	addr   string
	srv    *server.Server
	tweak  func(*server.Config)
	cancel context.CancelFunc
	done   chan error
}

func startRealCentral(t *testing.T, tweak ...func(*server.Config)) *realCentral {
	c := &realCentral{t: t, dir: t.TempDir(), addr: "127.0.0.1:0"}
	if len(tweak) > 0 {
		c.tweak = tweak[0]
	}
	c.Up()
	t.Cleanup(c.Down)
	st, err := server.OpenStore(context.Background(), server.Config{DataDir: c.dir})
	require.NoError(t, err)
	c.read = st
	t.Cleanup(func() { _ = st.Close() })
	return c
}

// Up starts the central (again) on its address.
func (c *realCentral) Up() {
	c.t.Helper()
	// The test runs minutes of the install's time in a second: the
	// central's per-second limits (which run on the real clock) would
	// refuse what is, on the install's clock, one pull every 10 s.
	cfg := server.Config{DataDir: c.dir, Listen: c.addr, PullRate: 1000, PullBurst: 1000, SignalRate: 1000,
		SignalBurst: 1000, Limits: netguard.Config{RequestRate: netguard.Off}, Poll: 50 * time.Millisecond}
	if c.tweak != nil {
		c.tweak(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, server.Deps{PasswordCost: bcrypt.MinCost})
	require.NoError(c.t, err)
	c.srv, c.addr, c.cancel, c.done = srv, srv.Addr(), cancel, make(chan error, 1)
	go func() { c.done <- srv.Run(ctx) }()
}

// Down stops the central: its listener is closed.
func (c *realCentral) Down() {
	if c.cancel == nil {
		return
	}
	c.cancel()
	require.NoError(c.t, testutil.Recv(c.t, c.done, "the central stops"))
	c.cancel = nil
}

func (c *realCentral) URL() string { return "http://" + c.addr + "/" }

// Stored returns the uuids of the signals the central holds.
func (c *realCentral) Stored() map[string]int {
	c.t.Helper()
	sigs, err := c.read.SignalsAfter(context.Background(), 0, 100000)
	require.NoError(c.t, err)
	m := map[string]int{}
	for _, s := range sigs {
		m[s.UUID]++
	}
	return m
}

// TestOutboxAcrossTenMinuteOutage: the central is unreachable for 10
// minutes (its listener closed, or a proxy in front answering 503 with a
// Retry-After of an hour) while alerts keep coming every 5 s and the LAPI
// restarts half-way, its agent pushing some alerts again. The install
// runs on a virtual clock (the outbox's back-off sleeps on it), against a
// real central over loopback. When the central is back, the outbox
// delivers every signal within the back-off cap (1 min), each accepted
// once; during the outage it tried about once a minute, not more.
func TestOutboxAcrossTenMinuteOutage(t *testing.T) {
	for _, mode := range []string{"listener closed", "503 from a proxy"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			testOutboxAcrossOutage(t, mode == "503 from a proxy")
		})
	}
}

func testOutboxAcrossOutage(t *testing.T, via503 bool) {
	central := startRealCentral(t)
	target := central.URL()
	var down atomic.Bool
	if via503 {
		u, err := url.Parse(target)
		require.NoError(t, err)
		proxy := httputil.NewSingleHostReverseProxy(u)
		gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if down.Load() {
				w.Header().Set("Retry-After", "3600")
				http.Error(w, `{"message":"maintenance"}`, http.StatusServiceUnavailable)
				return
			}
			proxy.ServeHTTP(w, r)
		}))
		t.Cleanup(gate.Close)
		target = gate.URL + "/"
	}
	clock := newVClock(time.Now().UTC())
	rec := newSigRecorder()
	var regs []*prometheus.Registry // one per start of the service
	in := newInstallAt(t, target, true, "", func(s *capi.Settings) {
		s.PushRetry = capi.DefaultRetry()
		s.HTTP = &http.Client{Transport: rec, Timeout: 10 * time.Second}
	}, func(d *capi.Deps) {
		d.Now, d.Sleep = clock.Now, clock.Sleep
		regs = append(regs, prometheus.NewRegistry())
		d.Registerer = regs[len(regs)-1]
	})
	const loops = 2 // push and pull
	ctx := context.Background()
	step := func(d time.Duration) {
		clock.WaitSleepers(t, loops)
		clock.Advance(d)
	}
	want := map[string]int{}
	n := 0
	push := func(k int) []*models.Alert {
		var batch []*models.Alert
		for range k {
			u := fmt.Sprintf("00000000-0000-0000-0000-%012d", n)
			batch = append(batch, alert(u, ipN(n), "crowdsecurity/ssh-bf"))
			want[u] = 1
			n++
		}
		clock.WaitSleepers(t, loops)
		_, err := in.agent().PushAlerts(ctx, batch)
		require.NoError(t, err)
		return batch
	}

	// Before: delivered within the batch wait. (A loop just woken may
	// still count as a sleeper for an instant, so the test steps until the
	// signals are there, within a bound on the install's clock.)
	push(3)
	start := clock.Now()
	for len(central.Stored()) < len(want) {
		require.Less(t, clock.Now().Sub(start), 5*time.Second, "the signals were not delivered within the batch wait")
		step(time.Second)
	}
	require.Equal(t, want, central.Stored())

	// Ten minutes of outage, alerts every 5 s, the LAPI restarting at 5 min.
	if via503 {
		down.Store(true)
	} else {
		central.Down()
	}
	before := pushFailures(t, regs)
	var last []*models.Alert
	for sec := 0; sec < 600; sec++ {
		if sec%5 == 0 {
			last = push(3)
		}
		if sec == 300 {
			clock.WaitSleepers(t, loops)
			in.restart(true)
			_, err := in.agent().PushAlerts(ctx, last) // the agent retries its last push
			require.NoError(t, err)
		}
		step(time.Second)
	}
	tries := pushFailures(t, regs) - before
	clock.WaitSleepers(t, loops)
	require.Len(t, central.Stored(), 3, "nothing reached the central during the outage")
	pending, _, err := in.st.OutboxStats(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(len(want)-3), pending, "every signal of the outage waits in the outbox")
	// About one try a minute once the back-off reached its cap (1, 2, 4...
	// 32 s, then 30 to 60 s jittered; a Retry-After of an hour capped to
	// 60 s), the back-off starting again at the restart.
	require.GreaterOrEqual(t, tries, 9, "the outbox kept trying")
	require.LessOrEqual(t, tries, 50, "the outbox did not hammer the central")

	// The central is back: everything is delivered within the cap.
	if via503 {
		down.Store(false)
	} else {
		central.Up()
	}
	back := clock.Now()
	for len(central.Stored()) < len(want) {
		require.Less(t, clock.Now().Sub(back), 5*time.Minute, "the outbox did not deliver after the central came back")
		step(time.Second)
	}
	took := clock.Now().Sub(back)
	t.Logf("%d signals queued over a 10-minute outage; %d pushes tried during it; all delivered %s (virtual) after the central came back",
		len(want), tries, took)
	require.LessOrEqual(t, took, capi.DefaultRetry().Max+2*time.Second, "delivery resumes within the back-off cap (+ the test's 1 s steps)")
	require.Equal(t, want, central.Stored(), "every signal at the central")
	// The install records the central's answers and marks the outbox on
	// the real clock, just after the central stored the signals.
	require.Eventually(t, func() bool {
		pending, _, err := in.st.OutboxStats(ctx)
		return err == nil && pending == 0 && len(rec.Accepted()) == len(want)
	}, 20*time.Second, 5*time.Millisecond, "the outbox is marked sent")
	require.Equal(t, want, rec.Accepted(), "every signal accepted once (uuid)")
}

// bodyRecorder is an install's HTTP transport that hands the bodies of
// requests to path the central accepted to onOK.
type bodyRecorder struct {
	path string
	onOK func([]byte)
	mu   sync.Mutex
	seen int
}

func (r *bodyRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	match := strings.HasSuffix(req.URL.Path, r.path)
	var body []byte
	if match && req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if match {
		r.mu.Lock()
		r.seen++
		if err == nil && resp.StatusCode/100 == 2 {
			r.onOK(body)
		}
		r.mu.Unlock()
	}
	return resp, err
}

// Seen says how many requests to path were made.
func (r *bodyRecorder) Seen() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen
}
