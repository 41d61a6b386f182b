package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/phalanx-ids/phalanx/internal/agent"
	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/lapi"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/store/sqlite"
	"github.com/phalanx-ids/phalanx/internal/store/storetest"
)

// lossyLAPI is a real LAPI (SQLite) behind a handler that lets the first
// `lose` POST /v1/alerts go through (the alerts are stored, the answer
// written to a recorder) and then cuts the connection instead of
// answering: the ambiguous failure of a timeout after commit.
type lossyLAPI struct {
	st     store.Store
	url    string
	lose   int32
	posts  atomic.Int32
	forget atomic.Int32
}

func newLossyLAPI(t *testing.T, lose int32) *lossyLAPI {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "lapi.db")})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	h, err := bcrypt.GenerateFromPassword([]byte("pw-agent-1"), bcrypt.MinCost)
	require.NoError(t, err)
	require.NoError(t, st.CreateMachine(context.Background(), &store.Machine{ID: "agent1", PasswordHash: string(h),
		IsValidated: true, AuthType: "password"}))
	srv, err := lapi.New(lapi.Config{}, lapi.Deps{Store: st})
	require.NoError(t, err)
	l := &lossyLAPI{st: st, lose: lose}
	inner := srv.Handler()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/alerts" {
			inner.ServeHTTP(w, r)
			return
		}
		l.posts.Add(1)
		if l.forget.Load() >= l.lose {
			inner.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		inner.ServeHTTP(rec, r)
		require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
		l.forget.Add(1)
		conn, _, err := w.(http.Hijacker).Hijack()
		require.NoError(t, err)
		_ = conn.Close() // stored, but the agent never hears it
	}))
	t.Cleanup(hs.Close)
	l.url = hs.URL
	return l
}

func (l *lossyLAPI) client(t *testing.T) *apiclient.Client {
	t.Helper()
	c, err := apiclient.New(apiclient.Config{URL: l.url, UserAgent: "crowdsec/v1.7.5", MachineID: "agent1",
		Password: "pw-agent-1", Retry: apiclient.RetryConfig{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond}})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

func (l *lossyLAPI) requireStoredOnce(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	alerts, err := l.st.ListAlerts(ctx, store.AlertFilter{IncludeSimulated: true})
	require.NoError(t, err)
	require.Len(t, alerts, 1, "the alert is stored once")
	ds, err := l.st.ListDecisions(ctx, store.DecisionFilter{})
	require.NoError(t, err)
	require.Len(t, ds, 1, "its decision is made once")
	require.EqualValues(t, l.lose, l.forget.Load(), "answers were lost")
	require.Greater(t, l.posts.Load(), l.lose, "and the push was repeated")
}

func overflow(ip string) *models.Alert {
	a := storetest.Alert("crowdsecurity/ssh-bf", "Ip", ip, time.Now().Add(-time.Minute))
	a.Decisions = nil
	return a
}

// TestLostAnswerClientRetry: the client's own retry after a lost answer
// to POST /v1/alerts creates no duplicate alert or decision.
func TestLostAnswerClientRetry(t *testing.T) {
	l := newLossyLAPI(t, 2)
	ids, err := l.client(t).PushAlerts(t.Context(), []*models.Alert{overflow("192.0.2.10")})
	require.NoError(t, err)
	require.Len(t, ids, 1)
	l.requireStoredOnce(t)
}

// TestLostAnswerAgentRetry: the agent's spool loop re-pushes a batch whose
// answer was lost; the batch read back from the spool carries the same
// alert UUIDs, so nothing is stored twice.
func TestLostAnswerAgentRetry(t *testing.T) {
	l := newLossyLAPI(t, 2)
	a, err := agent.New(agent.Config{SpoolDir: t.TempDir(), FlushInterval: 10 * time.Millisecond,
		RetryMin: time.Millisecond, RetryMax: 10 * time.Millisecond, HeartbeatInterval: -1},
		agent.Deps{Client: l.client(t)})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	a.Add(overflow("192.0.2.11"))
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := a.Stats()
		if st.Buffered == 0 && st.Spool.Records == 0 && l.forget.Load() == l.lose {
			break
		}
		require.True(t, time.Now().Before(deadline), "the agent did not deliver: %+v", st)
		time.Sleep(5 * time.Millisecond) // polling an observable condition, not synchronising
	}
	cancel()
	require.NoError(t, <-done)
	require.NoError(t, a.Close())
	l.requireStoredOnce(t)
}

// gatedPusher passes pushes to a real client, holding each one until the
// test lets it go, and records how many alerts each push carried.
type gatedPusher struct {
	agent.Pusher
	gate    chan struct{}
	batches chan int
}

func (g *gatedPusher) PushAlertsJSON(ctx context.Context, body []byte) ([]string, error) {
	var alerts []json.RawMessage
	if err := json.Unmarshal(body, &alerts); err != nil {
		return nil, err
	}
	g.batches <- len(alerts)
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.Pusher.PushAlertsJSON(ctx, body)
}

// TestBatchingAddsNoLatency: with a flush interval of an hour and one
// push in flight at most, an alert added while nothing is pending is
// pushed at once; alerts added while that push is pending wait and go
// together as the next batch as soon as it is delivered (not an hour
// later).
func TestBatchingAddsNoLatency(t *testing.T) {
	l := newLossyLAPI(t, 0)
	g := &gatedPusher{Pusher: l.client(t), gate: make(chan struct{}), batches: make(chan int, 10)}
	a, err := agent.New(agent.Config{SpoolDir: t.TempDir(), FlushInterval: time.Hour, HeartbeatInterval: -1, PushesInFlight: 1},
		agent.Deps{Client: g})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	wait := func(what string) int {
		t.Helper()
		select {
		case n := <-g.batches:
			return n
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: no push started", what)
			return 0
		}
	}
	a.Add(overflow("192.0.2.20"))
	require.Equal(t, 1, wait("idle agent"), "an alert with nothing pending goes alone, at once")
	for i := range 5 {
		a.Add(overflow(fmt.Sprintf("192.0.2.%d", 30+i)))
	}
	select {
	case n := <-g.batches:
		t.Fatalf("a push of %d alerts started while the first was pending", n)
	case <-time.After(200 * time.Millisecond):
	}
	g.gate <- struct{}{} // deliver the first
	require.Equal(t, 5, wait("after the first push"), "the alerts that waited go as one batch")
	g.gate <- struct{}{}
	cancel()
	require.NoError(t, <-done)
	require.NoError(t, a.Close())
	alerts, err := l.st.ListAlerts(context.Background(), store.AlertFilter{IncludeSimulated: true})
	require.NoError(t, err)
	require.Len(t, alerts, 6)
}

// TestDeliveryTimed: an alert's delivery time, from Add to the LAPI's
// acknowledgement, is observed once, and covers a push held back.
func TestDeliveryTimed(t *testing.T) {
	l := newLossyLAPI(t, 0)
	g := &gatedPusher{Pusher: l.client(t), gate: make(chan struct{}), batches: make(chan int, 10)}
	reg := prometheus.NewRegistry()
	a, err := agent.New(agent.Config{SpoolDir: t.TempDir(), HeartbeatInterval: -1}, agent.Deps{Client: g, Registerer: reg})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	a.Add(overflow("192.0.2.40"))
	select {
	case <-g.batches:
	case <-time.After(20 * time.Second):
		t.Fatal("no push started")
	}
	const held = 150 * time.Millisecond
	time.Sleep(held) // the push is held: the delivery time must include it
	g.gate <- struct{}{}
	var count uint64
	var sum float64
	for deadline := time.Now().Add(20 * time.Second); count == 0; time.Sleep(5 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "no delivery observed")
		mfs, err := reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() == "phalanx_agent_alert_delivery_seconds" {
				h := mf.GetMetric()[0].GetHistogram()
				count, sum = h.GetSampleCount(), h.GetSampleSum()
			}
		}
	}
	cancel()
	require.NoError(t, <-done)
	require.NoError(t, a.Close())
	require.EqualValues(t, 1, count)
	require.GreaterOrEqual(t, sum, held.Seconds())
}

// heldPusher passes pushes to a real client, holding a push whose body
// holds one of the held addresses until the test releases it.
type heldPusher struct {
	agent.Pusher
	mu      sync.Mutex
	held    map[string]chan struct{}
	started chan string // the held address of each push that started
}

func (h *heldPusher) hold(ip string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.held[ip] = make(chan struct{})
}

func (h *heldPusher) release(ip string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	close(h.held[ip])
}

func (h *heldPusher) PushAlertsJSON(ctx context.Context, body []byte) ([]string, error) {
	h.mu.Lock()
	var gate chan struct{}
	var who string
	for ip, g := range h.held {
		if bytes.Contains(body, []byte(`"`+ip+`"`)) {
			gate, who = g, ip
		}
	}
	h.mu.Unlock()
	h.started <- who
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return h.Pusher.PushAlertsJSON(ctx, body)
}

// TestPushesOverlap: an alert added while a push is pending is pushed at
// once in a push of its own (it does not wait behind the slow one), and
// delivered batches are acknowledged in spool order: the second, delivered
// first, stays in the spool until the first is delivered too (a restart in
// between would push both again).
func TestPushesOverlap(t *testing.T) {
	l := newLossyLAPI(t, 0)
	h := &heldPusher{Pusher: l.client(t), held: map[string]chan struct{}{}, started: make(chan string, 10)}
	h.hold("192.0.2.50")
	a, err := agent.New(agent.Config{SpoolDir: t.TempDir(), FlushInterval: time.Hour, HeartbeatInterval: -1, PushesInFlight: 2},
		agent.Deps{Client: h})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	started := func(what string) string {
		t.Helper()
		select {
		case who := <-h.started:
			return who
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: no push started", what)
			return ""
		}
	}
	a.Add(overflow("192.0.2.50"))
	require.Equal(t, "192.0.2.50", started("first alert"))
	a.Add(overflow("192.0.2.51"))
	require.Equal(t, "", started("second alert, while the first is held"), "the second goes at once, alone")
	// The second is delivered, the first still held: both stay spooled.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		alerts, err := l.st.ListAlerts(context.Background(), store.AlertFilter{IncludeSimulated: true})
		require.NoError(t, err)
		if len(alerts) == 1 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the second alert was not stored")
	}
	require.Equal(t, 2, a.Stats().Spool.Records, "a batch is acknowledged only after the ones spooled before it")
	h.release("192.0.2.50")
	for deadline := time.Now().Add(20 * time.Second); a.Stats().Spool.Records > 0; time.Sleep(5 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the spool did not drain: %+v", a.Stats())
	}
	cancel()
	require.NoError(t, <-done)
	require.NoError(t, a.Close())
	alerts, err := l.st.ListAlerts(context.Background(), store.AlertFilter{IncludeSimulated: true})
	require.NoError(t, err)
	require.Len(t, alerts, 2)
}
