package notify

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/retry"
)

// Options configure a Dispatcher.
type Options struct {
	// Logger (nil: discard). Each notification logs through it with its
	// own log_level.
	Logger *slog.Logger
	// Registerer receives the metrics (nil: not registered).
	Registerer prometheus.Registerer
	// Backoff between attempts of a message (default 1s doubling up to 1m,
	// CrowdSec's base).
	Backoff retry.Policy
	// RetireTimeout bounds how long a notification removed by a reload
	// keeps delivering what it holds (default 10s).
	RetireTimeout time.Duration
}

// Defaults of Options.
const (
	DefaultBackoffBase   = time.Second
	DefaultBackoffMax    = time.Minute
	DefaultRetireTimeout = 10 * time.Second
)

// Dispatcher delivers alerts to the notifications they are meant for: one
// bounded queue and one delivery goroutine per notification.
//
// Delivery, per notification: alerts are grouped (group_wait,
// group_threshold: see due), the group is rendered with the format and
// sent; a retryable failure is tried again after a back-off (jittered,
// doubling, capped) up to max_retry attempts (0: until delivered), the
// message staying at the head of the queue meanwhile, so a receiver down
// for a while loses nothing as long as queue_size holds what arrives; a
// failure that is not retryable drops the message. Every alert given up is
// counted (phalanx_notification_dropped_alerts_total, by reason) and
// logged, never silently lost.
//
// Concurrency contract: Notify is safe for concurrent use and never
// blocks on delivery (a mutex held for an append). Prepare/Commit pairs
// must not interleave (the daemon serialises reloads); they may run
// concurrently with Notify. Close may be called once, concurrently with
// Notify; after it Notify only counts what it is given as dropped.
type Dispatcher struct {
	log     *slog.Logger
	met     *metrics
	policy  retry.Policy
	retireT time.Duration

	mu       sync.RWMutex // guards workers, closed, retiring
	workers  map[string]*worker
	closed   bool
	retiring map[*worker]struct{}

	warnMu sync.Mutex // guards warned
	warned map[string]bool
}

// NewDispatcher returns a dispatcher without notifications (Prepare then
// Commit adds them).
func NewDispatcher(o Options) (*Dispatcher, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Backoff.Base <= 0 {
		o.Backoff.Base = DefaultBackoffBase
	}
	if o.Backoff.Max <= 0 {
		o.Backoff.Max = DefaultBackoffMax
	}
	if o.RetireTimeout <= 0 {
		o.RetireTimeout = DefaultRetireTimeout
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	return &Dispatcher{
		log: o.Logger, met: m, policy: o.Backoff, retireT: o.RetireTimeout,
		workers: map[string]*worker{}, retiring: map[*worker]struct{}{}, warned: map[string]bool{},
	}, nil
}

// Notify queues alert for each named notification (a name listed twice
// gets it once). It never blocks on delivery; an alert that does not fit a
// queue, or for a name that is not configured, is counted and logged. The
// alert must not be modified afterwards.
func (d *Dispatcher) Notify(alert *models.Alert, names []string) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for i, name := range names {
		if slices.Contains(names[:i], name) {
			continue
		}
		w := d.workers[name]
		switch {
		case d.closed:
			d.met.dropped.WithLabelValues(name, DropClosed).Inc()
			d.warnOnce(name, "notify: alert for a closed dispatcher dropped")
		case w == nil:
			d.met.dropped.WithLabelValues(name, DropUnknown).Inc()
			d.warnOnce(name, "notify: alert for an unknown notification dropped")
		default:
			w.enqueue(alert)
		}
	}
}

func (d *Dispatcher) warnOnce(name, msg string) {
	d.warnMu.Lock()
	first := !d.warned[name]
	d.warned[name] = true
	d.warnMu.Unlock()
	if first {
		d.log.Warn(msg, "notification", name)
	}
}

// Names lists the notifications being delivered, sorted.
func (d *Dispatcher) Names() []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]string, 0, len(d.workers))
	for n := range d.workers {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Update is a provisioned change of the notifications (see Prepare).
type Update struct {
	d     *Dispatcher
	specs []*Spec             // the usable notifications of the new set
	built map[string]Notifier // notifiers provisioned for new or changed specs
	done  bool
}

// Prepare provisions the notifications of set that are new or changed
// (unchanged ones keep their notifier and their queue). Every name in
// required (what the profiles list) must be in set and provision: else
// the error names it and nothing changes. A notification no profile
// requires that fails to provision is logged and left out (CrowdSec's
// default files carry placeholders until they are used). Nothing changes
// until Commit.
func (d *Dispatcher) Prepare(set *Set, required []string) (*Update, error) {
	for _, name := range required {
		if _, ok := set.Lookup(name); !ok {
			var have []string
			for _, s := range set.Specs() {
				have = append(have, s.Name())
			}
			return nil, fmt.Errorf("notify: profiles use notification %q, which is not configured (configured: %s)", name, strings.Join(have, ", "))
		}
	}
	d.mu.RLock()
	cur := make(map[string]*Spec, len(d.workers))
	for name, w := range d.workers {
		cur[name] = w.currentSpec()
	}
	d.mu.RUnlock()
	u := &Update{d: d, built: map[string]Notifier{}}
	for _, s := range set.Specs() {
		if old, ok := cur[s.Name()]; ok && old.sameAs(s) {
			u.specs = append(u.specs, old)
			continue
		}
		n, err := s.Provision(d.log)
		if err != nil {
			if slices.Contains(required, s.Name()) {
				u.Discard()
				return nil, err
			}
			d.log.Warn("notify: notification not usable (no profile uses it)", "notification", s.Name(), "err", err)
			continue
		}
		u.specs = append(u.specs, s)
		u.built[s.Name()] = n
	}
	return u, nil
}

// Discard closes what Prepare provisioned. Idempotent; no-op after Commit
// and on nil.
func (u *Update) Discard() {
	if u == nil || u.done {
		return
	}
	u.done = true
	for _, n := range u.built {
		_ = n.Close()
	}
}

// Commit applies the update (no-op on nil, after Discard or a Commit): new notifications start, changed ones switch
// to their new configuration keeping their queue (the message being
// delivered finishes with the old one), removed ones deliver what they hold
// within the retire timeout and stop.
func (u *Update) Commit() {
	if u == nil || u.done {
		return
	}
	u.done = true
	d := u.d
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		for _, n := range u.built {
			_ = n.Close()
		}
		return
	}
	keep := map[string]bool{}
	for _, s := range u.specs {
		name := s.Name()
		keep[name] = true
		n, fresh := u.built[name]
		w, exists := d.workers[name]
		switch {
		case exists && fresh:
			w.replace(s, n)
		case !exists:
			w = newWorker(d, s, n)
			d.workers[name] = w
			go w.run()
		}
	}
	var gone []*worker
	for name, w := range d.workers {
		if !keep[name] {
			delete(d.workers, name)
			d.retiring[w] = struct{}{}
			gone = append(gone, w)
		}
	}
	d.mu.Unlock()
	for _, w := range gone {
		w.log().Info("notify: notification removed: delivering what it holds", "timeout", d.retireT)
		go d.retire(w)
	}
}

// retire drains w within the retire timeout (or until Close ends it).
func (d *Dispatcher) retire(w *worker) {
	w.drain()
	t := time.NewTimer(d.retireT)
	defer t.Stop()
	select {
	case <-w.done:
	case <-t.C:
		w.kill()
		<-w.done
	}
	d.met.depth.DeleteLabelValues(w.name)
	d.mu.Lock()
	delete(d.retiring, w)
	d.mu.Unlock()
}

// Close stops accepting alerts and delivers what is queued (grouping
// windows are cut short) until ctx ends; what is left then is dropped,
// counted and logged, and Close returns an error saying how much.
// Notifiers are closed before Close returns.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	var ws []*worker
	for _, w := range d.workers {
		ws = append(ws, w)
	}
	for w := range d.retiring {
		ws = append(ws, w)
	}
	d.mu.Unlock()
	for _, w := range ws {
		w.drain()
	}
	all := make(chan struct{})
	go func() {
		for _, w := range ws {
			<-w.done
		}
		close(all)
	}()
	select {
	case <-all:
		return nil
	case <-ctx.Done():
	}
	var lost int64
	for _, w := range ws {
		w.kill()
	}
	<-all
	for _, w := range ws {
		lost += w.lost.Load()
	}
	if lost > 0 {
		return fmt.Errorf("notify: close: %d alerts not delivered before the drain deadline: %w", lost, ctx.Err())
	}
	return nil
}
