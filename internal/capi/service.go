package capi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phalanx-ids/phalanx/internal/allowlist"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/retry"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/textsafe"
)

// Settings are what the service runs with (runtime values, resolved).
type Settings struct {
	Credentials Credentials
	Consent     Consent
	// Sharing pushes signals; PullCommunity and PullBlocklists pull.
	Sharing, PullCommunity, PullBlocklists bool
	// PullInterval fixes the interval between pulls; 0: the central's
	// (PullIntervalHeader), else DefaultPullInterval.
	PullInterval time.Duration
	// BatchWait is the longest a signal waits for others to fill a batch
	// of BatchMin (default 1s); BatchMax caps a request (default 250).
	BatchWait          time.Duration
	BatchMin, BatchMax int
	// PushRetry is the back-off between failed pushes and pulls (default
	// 1s doubling to 1m, jittered; a Retry-After is honoured up to the
	// cap): the outbox keeps every signal meanwhile, and once the central
	// is back delivery resumes within the cap, or at the first successful
	// pull, whichever comes first.
	PushRetry retry.Policy
	// SentRetention keeps sent uuids so that a re-pushed alert is not
	// sent twice (default 7 days).
	SentRetention time.Duration
	HTTP          *http.Client
	UserAgent     string
	// Version is the LAPI's, sent with the metrics (apil_version).
	Version string
	// SendMetrics sends the inventory of machines and bouncers (POST
	// /v3/metrics/) at start, every MetricsInterval (default 30 min, as
	// CrowdSec) and when the machines change.
	SendMetrics     bool
	MetricsInterval time.Duration
	// MetricsCheck is how often the machines are compared with those
	// last sent (default 20 s, as CrowdSec).
	MetricsCheck time.Duration
	// SendUsageMetrics forwards the usage metrics of the LAPI's components
	// with its own (POST /v3/usage-metrics) every UsageMetricsInterval
	// (default 30 min, as CrowdSec), the first UsageMetricsFirst after
	// start (default the interval ± half of it, as CrowdSec).
	SendUsageMetrics     bool
	UsageMetricsInterval time.Duration
	UsageMetricsFirst    time.Duration
	// DeleteSyncInterval is how often decision deletions are sent
	// (default 10 s, as CrowdSec; only with share_manual_decisions).
	DeleteSyncInterval time.Duration
}

// Deps are the service's runtime dependencies.
type Deps struct {
	// Store holds the outbox and receives the pulled decisions. Required.
	Store store.Store
	// Allowlists are the LAPI's: pulled decisions they cover are dropped.
	Allowlists *allowlist.Set
	// Refused, if set, says why a pulled decision must not be stored ("" to
	// keep it): the LAPI's never-ban guard (loopback, this host...).
	Refused func(d *models.Decision) string
	// Synced is called after pulled decisions were written (the LAPI
	// brings its decision index up to date).
	Synced func(ctx context.Context) error
	// Scenarios are sent at login (the install's scenarios).
	Scenarios func() []string
	// Community is replaced after every pull (nil: none kept).
	Community *Community
	Logger    *slog.Logger
	// Now and Sleep are the clock the loops run on (nil: the real one);
	// tests drive minutes of outage on a virtual clock.
	Now   func() time.Time
	Sleep retry.Sleeper
	// Registerer receives the service's metrics (nil: not registered).
	Registerer prometheus.Registerer
}

// Service pushes signals from the outbox and pulls the community list.
//
// Concurrency: Share may be called from any goroutine (the LAPI's
// handlers); Run once; PullNow from any goroutine (serialised with Run's
// own pulls).
type Service struct {
	set   Settings
	d     Deps
	cl    *Client
	log   *slog.Logger
	now   func() time.Time
	sleep retry.Sleeper
	wake  chan struct{}
	// back is signalled when a pull succeeds after failing: the central
	// is back, the push loop stops its back-off.
	back chan struct{}
	met  *metrics
	// started is the service's start (utc_startup_timestamp of its usage
	// metrics).
	started int64
	pullMu  sync.Mutex
	pushMu  sync.Mutex

	limit    int                  // signals per push now: BatchMax, halved on a refused batch (pushMu)
	listMod  map[string]time.Time // blocklist name -> Last-Modified (pullMu)
	allowMod map[string]string    // allowlist link name -> URL|updated_at last applied (pullMu)
	interval time.Duration        // asked by the central (pullMu)
}

// DefaultRetry is the default back-off of pushes and pulls. Its cap
// (1 min) bounds how long after a central's return the outbox waits,
// and keeps an install's tries during an outage to about one a minute.
func DefaultRetry() retry.Policy { return retry.Policy{Base: time.Second, Max: time.Minute} }

// New checks the settings and builds the client.
func New(set Settings, d Deps) (*Service, error) {
	if d.Store == nil {
		return nil, errors.New("capi: new: no store")
	}
	if err := set.Credentials.Validate(); err != nil {
		return nil, fmt.Errorf("capi: new: credentials: %w", err)
	}
	if set.BatchWait <= 0 {
		set.BatchWait = time.Second
	}
	if set.BatchMax <= 0 {
		set.BatchMax = 250
	}
	if set.BatchMin <= 0 {
		set.BatchMin = 50
	}
	set.BatchMin = min(set.BatchMin, set.BatchMax)
	if set.PushRetry.Base <= 0 {
		set.PushRetry = DefaultRetry()
	}
	if set.MetricsInterval <= 0 {
		set.MetricsInterval = 30 * time.Minute
	}
	if set.MetricsCheck <= 0 {
		set.MetricsCheck = 20 * time.Second
	}
	if set.UsageMetricsInterval <= 0 {
		set.UsageMetricsInterval = 30 * time.Minute
	}
	if set.UsageMetricsFirst <= 0 {
		set.UsageMetricsFirst = usageFirst(set.UsageMetricsInterval)
	}
	if set.DeleteSyncInterval <= 0 {
		set.DeleteSyncInterval = 10 * time.Second
	}
	if set.SentRetention <= 0 {
		set.SentRetention = 7 * 24 * time.Hour
	}
	s := &Service{set: set, d: d, limit: set.BatchMax, log: d.Logger, now: d.Now, sleep: d.Sleep.Or(),
		wake: make(chan struct{}, 1), back: make(chan struct{}, 1), listMod: map[string]time.Time{}, allowMod: map[string]string{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.started = s.now().UTC().Unix()
	s.met = newMetrics(d.Community)
	if d.Registerer != nil {
		if err := s.met.register(d.Registerer); err != nil {
			return nil, fmt.Errorf("capi: new: metrics: %w", err)
		}
	}
	var err error
	s.cl, err = NewClient(set.Credentials, ClientOptions{HTTP: set.HTTP, UserAgent: set.UserAgent, Scenarios: d.Scenarios, Now: s.now})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Client is the service's central API client.
func (s *Service) Client() *Client { return s.cl }

// Share queues the alerts the LAPI just stored (sent by machine) as
// signals in the outbox, in the store: they survive restarts and outages.
// Alerts that must not be shared (simulated, community-caused, refused by
// the consent flags) are skipped. Queueing an alert twice (an agent
// retrying its push) sends it once. An error means nothing was queued:
// the LAPI answers 500 and the agent pushes again.
func (s *Service) Share(ctx context.Context, machine string, alerts []*models.Alert) error {
	if !s.set.Sharing {
		return nil
	}
	now := s.now()
	items := make([]store.OutboxItem, 0, len(alerts))
	for _, a := range alerts {
		sig, why := ToSignal(a, machine, s.set.Consent, now)
		if sig == nil {
			s.log.Debug("capi: alert not shared", "scenario", a.GetScenario(), "reason", why)
			s.met.skipped.WithLabelValues(why).Inc()
			continue
		}
		if sig.UUID == "" {
			continue // the LAPI gives every alert a uuid before storing it
		}
		b, err := json.Marshal(sig)
		if err != nil {
			return fmt.Errorf("capi: share: %w", err)
		}
		items = append(items, store.OutboxItem{Kind: store.OutboxSignal, UUID: sig.UUID, Payload: b, CreatedAt: now})
	}
	if len(items) == 0 {
		return nil
	}
	n, err := s.d.Store.OutboxAdd(ctx, items)
	if err != nil {
		return fmt.Errorf("capi: share: %w", err)
	}
	s.met.queued.Add(float64(n))
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// Run pushes and pulls until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if s.set.Sharing {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.pushLoop(ctx)
		}()
	}
	if s.set.Sharing && s.set.Consent.ShareManualDecisions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.deleteLoop(ctx)
		}()
	}
	if s.set.SendMetrics {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.metricsLoop(ctx)
		}()
	}
	if s.set.SendUsageMetrics {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.usageLoop(ctx)
		}()
	}
	if s.set.PullCommunity || s.set.PullBlocklists {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.pullLoop(ctx)
		}()
	}
	wg.Wait()
	return nil
}

// pushLoop sends the outbox: at once when a batch of BatchMin is waiting,
// else when the oldest pending signal has waited BatchWait; failures wait
// PushRetry's back-off and try again (nothing is dropped).
func (s *Service) pushLoop(ctx context.Context) {
	bo := s.set.PushRetry.Backoff()
	lastPurge := time.Time{}
	for {
		sent, wait, err := s.pushOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			d := bo.Next(RetryAfter(err))
			s.log.Warn("capi: push signals failed; they stay in the outbox", "err", err, "retry_in", d, "failures", bo.Failures())
			if s.sleepUntil(ctx, d, s.back) != nil {
				return
			}
			continue
		}
		bo.Reset()
		if sent > 0 {
			continue // more may be waiting
		}
		if now := s.now(); now.Sub(lastPurge) > time.Hour {
			lastPurge = now
			if _, err := s.d.Store.OutboxPurge(ctx, now.Add(-s.set.SentRetention)); err != nil && ctx.Err() == nil {
				s.log.Warn("capi: purge outbox", "err", err)
			}
		}
		if wait <= 0 {
			wait = 10 * time.Second // another replica may have queued signals
		}
		if s.sleepUntil(ctx, wait, s.wake) != nil {
			return
		}
	}
}

// sleepUntil waits d on the service's clock, or less when wake fires;
// it returns ctx.Err() when ctx ends.
func (s *Service) sleepUntil(ctx context.Context, d time.Duration, wake <-chan struct{}) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-wake:
			cancel()
		case <-wctx.Done():
		}
	}()
	_ = s.sleep(wctx, d)
	return ctx.Err()
}

// pushOnce sends one batch if one is due, or says how long until one is;
// sent counts the signals handled (accepted, or refused and set aside).
func (s *Service) pushOnce(ctx context.Context) (sent int, wait time.Duration, err error) {
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	items, err := s.d.Store.OutboxPending(ctx, store.OutboxSignal, s.limit)
	if err != nil || len(items) == 0 {
		return 0, 0, err
	}
	if len(items) < min(s.set.BatchMin, s.limit) {
		if age := s.now().Sub(items[0].CreatedAt); age < s.set.BatchWait {
			return 0, s.set.BatchWait - age, nil
		}
	}
	n, err := s.send(ctx, items)
	return n, 0, err
}

// refusedForContent says whether the central refused a push for what it
// says (400 bad request, 413 too large, 422 unprocessable), not for who
// sent it (401, 403) or for load (408, 429, 5xx): sending it again can
// never succeed.
func refusedForContent(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return true
	}
	return false
}

func (s *Service) send(ctx context.Context, items []store.OutboxItem) (int, error) {
	batch := make([]json.RawMessage, len(items))
	ids := make([]int64, len(items))
	for i, it := range items {
		batch[i], ids[i] = it.Payload, it.ID
	}
	if err := s.cl.PushSignals(ctx, batch); err != nil {
		s.met.pushFailures.Inc()
		// A refusal that is not about load (400, 413...): send smaller
		// batches, down to one signal, to get past what the central
		// refuses. A lone signal refused for its content can never be
		// accepted: it is set aside (kept in the outbox, marked refused)
		// so that it does not hold back every signal queued after it.
		if !Retryable(err) && len(items) > 1 {
			s.limit = max(1, len(items)/2)
		}
		if len(items) == 1 && refusedForContent(err) {
			if merr := s.d.Store.OutboxMarkRefused(ctx, items[0].ID, err.Error(), s.now()); merr != nil {
				return 0, merr
			}
			s.met.refused.Inc()
			s.log.Warn("capi: the central refused a signal; set aside in the outbox", "uuid", textsafe.Log(items[0].UUID), "err", textsafe.Log(err.Error()))
			return 1, nil // handled: the next ones go at once
		}
		return 0, err
	}
	if len(items) == s.limit && s.limit < s.set.BatchMax {
		s.limit = min(s.set.BatchMax, s.limit*2)
	}
	// The central has them; should this write fail, they are sent again
	// (the central counts a uuid once).
	if err := s.d.Store.OutboxMarkSent(ctx, ids, s.now()); err != nil {
		return 0, err
	}
	s.met.pushed.Add(float64(len(items)))
	s.log.Debug("capi: signals pushed", "count", len(items))
	return len(items), nil
}
