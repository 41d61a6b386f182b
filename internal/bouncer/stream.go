package bouncer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/retry"
	"github.com/phalanx-ids/phalanx/internal/usagemetrics"
)

// Checker answers whether an address is under a decision. Stream and Live
// implement it, so an enforcement point (the HTTP bouncer) works in either
// mode.
//
// Check returns the strongest decision covering addr, nil when there is
// none. An error means no answer at all could be had (live mode, LAPI
// unreachable and nothing cached for addr): the caller applies its fail
// mode. Check is safe for concurrent use.
type Checker interface {
	Check(ctx context.Context, addr netip.Addr) (*Decision, error)
}

// Update is one change of a Stream's decision set, as sent on the channel
// given to Run.
//
// The first Update a Run sends is Full: New holds every active decision and
// the receiver replaces everything it had. Later ones are deltas: remove
// Deleted (matched by Key), then add New (replacing same Key). After a
// failed pull the next successful one is Full again, so a receiver that
// applies updates in order always converges on the LAPI's state.
// The slices and decisions are shared: read them, never change them.
type Update struct {
	Full    bool
	New     []*Decision
	Deleted []*Decision
}

// Option injects a runtime dependency into NewStream or NewLive.
type Option func(*deps)

type deps struct {
	logger *slog.Logger
	now    func() time.Time
	jitter func(time.Duration) time.Duration
	client []apiclient.Option
	usage  func() []UsageCounter
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(d *deps) { d.logger = l } }

// WithClock sets the clock (default time.Now).
func WithClock(now func() time.Time) Option { return func(d *deps) { d.now = now } }

// WithClientOptions passes options to the underlying apiclient.Client.
func WithClientOptions(o ...apiclient.Option) Option {
	return func(d *deps) { d.client = append(d.client, o...) }
}

func newDeps(opts []Option) deps {
	d := deps{logger: slog.New(slog.DiscardHandler), now: time.Now, jitter: retry.HalfJitter}
	for _, o := range opts {
		o(&d)
	}
	return d
}

func newClient(cfg Config, d deps) (*apiclient.Client, error) {
	c, err := apiclient.New(cfg.ClientConfig(), d.client...)
	if err != nil {
		return nil, fmt.Errorf("bouncer: %w", err)
	}
	return c, nil
}

// Stream keeps a decision Set in step with the LAPI in stream mode: a
// startup pull (the full state), then incremental pulls every
// UpdateFrequency.
//
// Failure policy: a failed pull leaves the Set as it was (the last good
// set keeps being enforced; decisions still expire at their Until), is
// logged, and is retried after an exponential backoff with jitter (1s
// doubling up to RetryMaxInterval); the next successful pull is a startup
// pull, delivered as a Full Update. Only a refusal of the credentials
// (401/403) at the very first pull ends Run with an error: retrying cannot
// fix a wrong key. Later refusals are retried like any failure.
//
// Concurrency: Run may be called once; Set, Check, Ready and Stats are safe
// for concurrent use with it and with each other.
type Stream struct {
	cfg    Config
	client *apiclient.Client
	set    *Set
	d      deps
	ready  chan struct{}
	once   sync.Once
	ran    atomic.Bool

	pulls, failures atomic.Int64
	lastOK          atomic.Int64 // unix ns of the last successful pull
}

// NewStream validates cfg and builds a Stream. It does no I/O.
func NewStream(cfg Config, opts ...Option) (*Stream, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := newDeps(opts)
	c, err := newClient(cfg, d)
	if err != nil {
		return nil, err
	}
	return &Stream{cfg: cfg, client: c, set: NewSet(d.now), d: d, ready: make(chan struct{})}, nil
}

// Set returns the live decision set (updated by Run).
func (s *Stream) Set() *Set { return s.set }

// Check implements Checker from the in-memory set: no I/O, never an error.
func (s *Stream) Check(_ context.Context, addr netip.Addr) (*Decision, error) {
	d, _ := s.set.Contains(addr)
	return d, nil
}

// Ready is closed once the first full snapshot has been applied.
func (s *Stream) Ready() <-chan struct{} { return s.ready }

// StreamStats are counters of a Stream.
type StreamStats struct {
	Pulls, Failures int64
	LastSuccess     time.Time // zero before the first successful pull
	Decisions       int
}

// Stats returns the counters.
func (s *Stream) Stats() StreamStats {
	st := StreamStats{Pulls: s.pulls.Load(), Failures: s.failures.Load(), Decisions: s.set.Len()}
	if ns := s.lastOK.Load(); ns != 0 {
		st.LastSuccess = time.Unix(0, ns)
	}
	return st
}

// Run pulls until ctx ends, applying each answer to Set and then sending
// it on updates (when not nil; Run blocks until the receiver takes it or
// ctx ends). The caller owns updates: Run never closes it. Run returns nil
// when ctx ends, or an error as the failure policy says.
func (s *Stream) Run(ctx context.Context, updates chan<- Update) error {
	if !s.ran.CompareAndSwap(false, true) {
		return errors.New("bouncer: stream: Run called twice")
	}
	defer s.client.Close()
	if every := s.cfg.UsageMetricsInterval; every > 0 {
		// Stopped before the client closes (deferred after it).
		uctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		u := newUsageReport(s.cfg.UserAgent, s.d.now(), s.set, s.d.usage)
		go func() {
			defer close(done)
			usagemetrics.Run(uctx, s.client, usagemetrics.Schedule{First: every, Interval: every}, u.build, s.d.now, s.d.logger)
		}()
		defer func() { stop(); <-done }()
	}
	startup, first, fails := true, true, 0
	for {
		s.pulls.Add(1)
		u, err := s.pull(ctx, startup)
		var wait time.Duration
		switch {
		case err == nil:
			s.set.Apply(u)
			if !u.Full {
				u.Deleted = append(u.Deleted, s.set.Sweep(s.d.now())...)
			}
			s.lastOK.Store(s.d.now().UnixNano())
			if !send(ctx, updates, u) {
				return nil
			}
			s.once.Do(func() { close(s.ready) })
			startup, first, fails = false, false, 0
			wait = s.cfg.UpdateFrequency
		case ctx.Err() != nil:
			return nil
		default:
			s.failures.Add(1)
			if first && (errors.Is(err, apiclient.ErrUnauthorized) || errors.Is(err, apiclient.ErrForbidden)) {
				return fmt.Errorf("bouncer: stream: the LAPI refused the credentials: %w", err)
			}
			fails++
			startup = true
			wait = retry.Policy{Base: time.Second, Max: s.cfg.RetryMaxInterval, Jitter: s.d.jitter}.Delay(fails, 0)
			s.d.logger.Warn("bouncer: decisions pull failed, keeping the last good set",
				"err", err, "retry_in", wait, "decisions", s.set.Len())
			if gone := s.set.Sweep(s.d.now()); len(gone) > 0 && !first {
				if !send(ctx, updates, Update{Deleted: gone}) {
					return nil
				}
			}
		}
		if retry.Sleep(ctx, wait) != nil {
			return nil
		}
	}
}

func send(ctx context.Context, ch chan<- Update, u Update) bool {
	if ch == nil {
		return true
	}
	select {
	case ch <- u:
		return true
	case <-ctx.Done():
		return false
	}
}

// pull fetches one stream answer and converts it.
func (s *Stream) pull(ctx context.Context, startup bool) (Update, error) {
	resp, err := s.client.DecisionsStream(ctx, s.cfg.streamFilter(startup))
	if err != nil {
		return Update{}, err
	}
	now := s.d.now()
	u := Update{Full: startup}
	u.New = s.convert(resp.New, now, true)
	if !startup {
		u.Deleted = s.convert(resp.Deleted, now, false)
	}
	return u, nil
}

func (s *Stream) convert(ms []*models.Decision, now time.Time, active bool) []*Decision {
	out := make([]*Decision, 0, len(ms))
	for _, m := range ms {
		d, err := FromModel(m, now)
		if err != nil {
			if !errors.Is(err, ErrUnsupportedScope) {
				s.d.logger.Debug("bouncer: skipping decision", "err", err)
			}
			continue
		}
		if !s.wantScope(d.Scope) || (active && !d.Until.After(now)) {
			continue
		}
		out = append(out, d)
	}
	return out
}

func (s *Stream) wantScope(scope string) bool {
	for _, sc := range s.cfg.Scopes {
		if models.NormalizeScope(sc) == scope {
			return true
		}
	}
	return false
}
