// Package agent delivers the alerts of the live detection pipeline to a
// Local API: alerts are collected in memory, written as batches to a
// bounded on-disk Spool with fsync, and pushed from the spool in order with
// apiclient.
//
// Batching adds no latency when the LAPI keeps up: up to PushesInFlight
// batches are pushed at once (each spooled batch goes as soon as it is
// spooled while fewer are pending, so an alert does not wait behind a slow
// push); while that many are pending, alerts collect in memory and go as
// one batch when one of them is done, when BatchSize of them wait, or
// after FlushInterval at most. When the LAPI is down or slow the batches
// wait in the spool and are delivered later; a restart redelivers whatever
// was not acknowledged. The agent also sends a heartbeat every
// HeartbeatInterval.
//
// A batch is spooled as the JSON array that POST /v1/alerts takes and is
// pushed as those very bytes (checked with json.Valid, never decoded and
// encoded again). A spooled batch that is not a JSON array (corrupted
// past the spool's checksum, or written by a bug) is logged, counted and
// set aside (Spool.SetAside) instead of being sent.
//
// Delivery is at-least-once: a batch is acknowledged in the spool only
// after the LAPI answered 201 for it and for every batch spooled before it
// (pushes in flight may finish in any order; they are acknowledged in
// spool order, so a restart redelivers from the oldest one not answered), so a crash between the answer and the
// acknowledgement, or an answer lost on the way, pushes that batch again.
// Every alert gets a UUID when it is added (before it is spooled), so the
// repeated push carries the same UUIDs and Phalanx's LAPI, idempotent by
// alert UUID, stores nothing twice. A batch the LAPI refuses for good (a
// 4xx other than 401, 403, 408, 429: the batch itself is bad) is dropped
// and counted, so that one bad batch cannot block the queue forever.
//
// Retry policy: each push in flight is the only retry loop of its batch
// (the client is called under apiclient.SingleAttempt): after a failure it
// waits as package retry says, from RetryMin doubling up to RetryMax with
// jitter, honouring the LAPI's Retry-After.
package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/retry"
)

// Config is the agent's configuration (plain data).
type Config struct {
	// BatchSize: a batch is spooled as soon as it holds this many alerts
	// (default 100).
	BatchSize int
	// FlushInterval: alerts wait at most this long in memory while
	// PushesInFlight pushes are pending (default 1s). With fewer pending
	// they are spooled at once.
	FlushInterval time.Duration
	// PushesInFlight bounds the batches pushed at once (default 1). With
	// more, a batch spooled while a push is pending starts at once instead
	// of waiting for it (the LAPI's store commits concurrent pushes
	// together); on bench/live's paced phase, on a loaded machine, 4 did
	// not lower the line -> alert p99 (886 and 1081 ms against 1007 and
	// 851 with 1), and the burst made more, slower pushes.
	PushesInFlight int
	// HeartbeatInterval between heartbeats (default 1m; < 0 disables).
	HeartbeatInterval time.Duration
	// SpoolDir is where batches wait for delivery (required).
	SpoolDir string
	// SpoolMaxBytes bounds the spool (default 64 MiB).
	SpoolMaxBytes int64
	// RetryMin and RetryMax bound the wait between failed pushes
	// (defaults 1s and 30s).
	RetryMin, RetryMax time.Duration
	// DrainTimeout bounds how long Run keeps pushing after its context
	// ends (default 10s). What is left stays in the spool.
	DrainTimeout time.Duration
}

// Pusher is what the agent needs from a LAPI client; *apiclient.Client
// implements it. PushAlertsJSON (body: a JSON array of alerts, sent as it
// is) is called under apiclient.SingleAttempt (the agent retries); errors
// that apiclient.IsRetryable accepts, and 401/403, are retried. The agent
// calls PushAlertsJSON from up to Config.PushesInFlight goroutines at once
// and Heartbeat from another.
type Pusher interface {
	PushAlertsJSON(ctx context.Context, body []byte) ([]string, error)
	Heartbeat(ctx context.Context) error
}

var _ Pusher = (*apiclient.Client)(nil)

// Deps are the agent's runtime dependencies.
type Deps struct {
	Client Pusher
	Logger *slog.Logger
	// Registerer receives the agent's metrics (nil: not exported).
	Registerer prometheus.Registerer
}

// Agent collects alerts and delivers them.
//
// Concurrency: Add may be called from any goroutine at any time, also
// before Run and after Run returned (the alerts are then spooled by Close).
// Run is called once; Close after Run returned (or without Run).
type Agent struct {
	cfg   Config
	deps  Deps
	log   *slog.Logger
	spool *Spool
	m     *metrics

	mu    sync.Mutex
	buf   []*models.Alert
	added map[string]time.Time // by UUID: when buffered alerts of this run were added (delivery metric)
	// timed: when the alerts of the batches spooled by this run were
	// added (delivery metric); nTimed counts its times.
	timed  map[RecordID][]time.Time
	nTimed int
	full   chan struct{}
	ready  chan struct{} // alerts added, or a batch left the spool: spool now if nothing is pending
	acked  chan struct{} // signalled after each delivered batch (tests, Flush)
}

// New opens the spool (recovering batches left by an earlier run) and
// returns an agent. It starts nothing.
func New(cfg Config, deps Deps) (*Agent, error) {
	if cfg.SpoolDir == "" {
		return nil, errors.New("agent: spool dir is required")
	}
	if deps.Client == nil {
		return nil, errors.New("agent: a LAPI client is required")
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 100
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = time.Second
	}
	if cfg.PushesInFlight <= 0 {
		cfg.PushesInFlight = 1
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = time.Minute
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = time.Second
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(30*time.Second, cfg.RetryMin)
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 10 * time.Second
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sp, err := OpenSpool(cfg.SpoolDir, SpoolOptions{MaxBytes: cfg.SpoolMaxBytes})
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, deps: deps, log: log, spool: sp, full: make(chan struct{}, 1), ready: make(chan struct{}, 1),
		acked: make(chan struct{}, 1), added: map[string]time.Time{}, timed: map[RecordID][]time.Time{}}
	if a.m, err = newMetrics(deps.Registerer, sp); err != nil {
		_ = sp.Close()
		return nil, err
	}
	if st := sp.Stats(); st.Records > 0 {
		log.Info("agent: spooled alerts from an earlier run will be delivered", "batches", st.Records, "alerts", st.Items)
	}
	return a, nil
}

// Add queues alerts for delivery. It never blocks on the network. Alerts
// without a UUID get one (set on the caller's alert).
func (a *Agent) Add(alerts ...*models.Alert) {
	if len(alerts) == 0 {
		return
	}
	for _, al := range alerts {
		if al != nil && al.UUID == "" {
			al.UUID = models.NewUUID()
		}
	}
	now := time.Now()
	a.mu.Lock()
	for _, al := range alerts {
		if al != nil && len(a.added)+a.nTimed < maxTimed {
			a.added[al.UUID] = now
		}
	}
	a.buf = append(a.buf, alerts...)
	n := len(a.buf)
	a.mu.Unlock()
	a.m.received.Add(float64(len(alerts)))
	if n >= a.cfg.BatchSize {
		signal(a.full)
	}
	signal(a.ready)
}

// maxTimed bounds the alerts whose delivery is timed at once (alerts
// dropped from a full spool are never delivered and would stay timed).
const maxTimed = 1 << 16

// spooled moves the add times of alerts, just spooled as record id (or
// dropped, when id is nil), from added to timed.
func (a *Agent) spooled(alerts []*models.Alert, id *RecordID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var ts []time.Time
	for _, al := range alerts {
		if al == nil {
			continue
		}
		if t, ok := a.added[al.UUID]; ok {
			ts = append(ts, t)
			delete(a.added, al.UUID)
		}
	}
	if id != nil && len(ts) > 0 {
		a.timed[*id] = ts
		a.nTimed += len(ts)
	}
}

// delivered observes the delivery time of the alerts of record id when it
// was spooled by this run (observe false: it left the spool undelivered),
// and forgets them.
func (a *Agent) delivered(id RecordID, observe bool) {
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	ts := a.timed[id]
	if observe {
		for _, t := range ts {
			a.m.delivery.Observe(now.Sub(t).Seconds())
		}
	}
	delete(a.timed, id)
	a.nTimed -= len(ts)
}

// signal wakes c's reader without blocking (c has room for one wake-up).
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// spoolBuffer writes the alerts collected so far as batches to the spool.
func (a *Agent) spoolBuffer() error {
	a.mu.Lock()
	buf := a.buf
	a.buf = nil
	a.mu.Unlock()
	for len(buf) > 0 {
		n := min(len(buf), a.cfg.BatchSize)
		b, err := json.Marshal(buf[:n])
		if err != nil {
			return fmt.Errorf("agent: encode alerts: %w", err)
		}
		id, err := a.spool.Append(b, n)
		if err != nil {
			if errors.Is(err, ErrTooLarge) {
				a.log.Error("agent: alert batch dropped", "alerts", n, "err", err)
				a.spooled(buf[:n], nil)
				buf = buf[n:]
				continue
			}
			// Keep them in memory for the next try.
			a.mu.Lock()
			a.buf = append(buf, a.buf...)
			a.mu.Unlock()
			return err
		}
		a.spooled(buf[:n], &id)
		buf = buf[n:]
	}
	return nil
}

// Run spools and delivers alerts until ctx ends, then drains: the alerts
// in memory are spooled and the spool is pushed for at most DrainTimeout.
// It returns nil unless the spool fails.
func (a *Agent) Run(ctx context.Context) error {
	sendCtx, stopSend := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSend()
	draining := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.sender(sendCtx, draining)
	}()
	if a.cfg.HeartbeatInterval > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.heartbeats(ctx)
		}()
	}
	tick := time.NewTicker(a.cfg.FlushInterval)
	defer tick.Stop()
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
		case <-a.full:
		case <-a.ready:
			if a.spool.Stats().Records >= a.cfg.PushesInFlight {
				continue // as many pushes as allowed are pending: keep collecting
			}
		}
		if err := a.spoolBuffer(); err != nil {
			a.log.Error("agent: spool write failed; alerts kept in memory", "err", err)
		}
	}
	if err := a.spoolBuffer(); err != nil {
		runErr = err
	}
	close(draining)
	// Drain: the sender stops once the spool is empty or the timeout hits.
	timer := time.AfterFunc(a.cfg.DrainTimeout, stopSend)
	wg.Wait()
	timer.Stop()
	if st := a.spool.Stats(); st.Records > 0 {
		a.log.Warn("agent: alerts left in the spool, delivered at next start", "batches", st.Records, "alerts", st.Items)
	}
	return runErr
}

// sender pushes spooled batches, up to PushesInFlight at once, oldest
// first, and acknowledges them in spool order as they are delivered. Once
// stop is closed (after the last alerts were spooled) it returns as soon as
// the spool is empty, or when ctx ends (a push in flight then ends
// undelivered and its batch stays in the spool).
func (a *Agent) sender(ctx context.Context, stop <-chan struct{}) {
	var (
		fl   []*flight // in flight or delivered but not acknowledged, in spool order
		last *RecordID // the newest record started
		fin  = make(chan struct{}, 1)
		wg   sync.WaitGroup
	)
	defer wg.Wait()
	for {
		for len(fl) > 0 {
			f := fl[0]
			if !f.finished() {
				break
			}
			if !f.left {
				return // ctx ended with it undelivered: it stays spooled
			}
			fl = fl[1:]
			if err := a.spool.Ack(f.rec); err != nil {
				a.log.Error("agent: spool acknowledgement failed", "err", err)
			}
			signal(a.ready)
			signal(a.acked)
		}
		for len(fl) < a.cfg.PushesInFlight && ctx.Err() == nil {
			rec, ok, err := a.spool.PeekAfter(last)
			if err != nil {
				a.log.Error("agent: spool read failed", "err", err)
				break
			}
			if !ok {
				break
			}
			id := rec.ID()
			last = &id
			f := &flight{rec: rec, done: make(chan struct{})}
			fl = append(fl, f)
			wg.Add(1)
			go func() {
				defer wg.Done()
				f.left = a.fly(ctx, f.rec)
				close(f.done)
				signal(fin)
			}()
		}
		if len(fl) == 0 {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-a.spool.NotEmpty():
			}
			continue
		}
		select {
		case <-fin:
		case <-a.spool.NotEmpty():
		case <-ctx.Done():
			return
		}
	}
}

// flight is a spooled record being pushed; left (set before done is
// closed) says whether it left the queue (delivered, refused for good or
// set aside) and may be acknowledged.
type flight struct {
	rec  Record
	done chan struct{}
	left bool
}

func (f *flight) finished() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// fly pushes rec until it leaves the queue (true), retrying failures with
// backoff, or until ctx ends (false).
func (a *Agent) fly(ctx context.Context, rec Record) bool {
	backoff := retry.Policy{Base: a.cfg.RetryMin, Max: a.cfg.RetryMax}.Backoff()
	for {
		err := a.deliver(ctx, rec)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		wait := backoff.Next(apiclient.RetryAfter(err))
		a.log.Warn("agent: push failed, will retry", "alerts", rec.Items, "retry_in", wait, "err", err)
		if retry.Sleep(ctx, wait) != nil {
			return false
		}
	}
}

// push delivers one record and acknowledges it; a nil error means it left
// the spool (delivered, or dropped as permanently refused).
func (a *Agent) push(ctx context.Context, rec Record) error {
	if err := a.deliver(ctx, rec); err != nil {
		return err
	}
	if err := a.spool.Ack(rec); err != nil {
		return err
	}
	signal(a.ready)
	signal(a.acked)
	return nil
}

// deliver pushes one record; a nil error means it may leave the spool
// (delivered, dropped as permanently refused, or set aside). It does not
// acknowledge it.
func (a *Agent) deliver(ctx context.Context, rec Record) error {
	if !isJSONArray(rec.Payload) {
		path, err := a.spool.SaveAside(rec)
		if err != nil {
			return err
		}
		a.log.Error("agent: spooled alert batch is not a JSON array; set aside, not sent", "alerts", rec.Items, "file", path)
		a.m.setAside.Add(float64(rec.Items))
		a.delivered(rec.ID(), false)
		return nil
	}
	start := time.Now()
	_, err := a.deps.Client.PushAlertsJSON(apiclient.SingleAttempt(ctx), rec.Payload)
	a.m.pushSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		a.m.pushErrors.Inc()
		if permanent(err) {
			a.log.Error("agent: LAPI refused an alert batch; dropped", "alerts", rec.Items, "err", err)
			a.m.rejected.Add(float64(rec.Items))
			a.delivered(rec.ID(), false)
			return nil
		}
		return err
	}
	a.m.pushed.Add(float64(rec.Items))
	a.delivered(rec.ID(), true)
	return nil
}

// isJSONArray says whether b is valid JSON whose value is an array
// (json.Valid scans; nothing is decoded).
func isJSONArray(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return len(t) > 0 && t[0] == '[' && json.Valid(b)
}

// permanent says whether the LAPI refused the batch itself.
func permanent(err error) bool {
	if apiclient.IsRetryable(err) {
		return false
	}
	st := apiclient.StatusCode(err)
	switch {
	case st == 0, st == http.StatusUnauthorized, st == http.StatusForbidden,
		st == http.StatusRequestTimeout, st == http.StatusTooManyRequests, st >= 500:
		return false
	}
	return st >= 400
}

func (a *Agent) heartbeats(ctx context.Context) {
	t := time.NewTicker(a.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			hctx, cancel := context.WithTimeout(ctx, a.cfg.HeartbeatInterval)
			if err := a.deps.Client.Heartbeat(hctx); err != nil && ctx.Err() == nil {
				a.log.Warn("agent: heartbeat failed", "err", err)
			}
			cancel()
		}
	}
}

// Stats is a snapshot of the agent.
type Stats struct {
	Buffered int // alerts in memory, not yet spooled
	Spool    SpoolStats
}

// Stats returns a snapshot.
func (a *Agent) Stats() Stats {
	a.mu.Lock()
	n := len(a.buf)
	a.mu.Unlock()
	return Stats{Buffered: n, Spool: a.spool.Stats()}
}

// Close spools any alert still in memory and closes the spool.
func (a *Agent) Close() error {
	err := a.spoolBuffer()
	return errors.Join(err, a.spool.Close())
}
