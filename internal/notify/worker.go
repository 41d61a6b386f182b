package notify

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phalanx-ids/phalanx/internal/models"
)

// queued is one alert waiting, with its arrival time (group_wait).
type queued struct {
	a  *models.Alert
	at time.Time
}

// worker is one notification's queue and delivery goroutine (run). The
// goroutine is the only caller of the notifier's Send and Close.
type worker struct {
	name string
	d    *Dispatcher

	mu       sync.Mutex // guards the fields below
	spec     *Spec
	n        Notifier
	lg       *slog.Logger
	swap     *swapTo // set by replace, applied by run
	queue    []queued
	inflight int  // alerts taken by run and not yet finished
	draining bool // deliver what is queued, then stop
	dropping bool // the queue was full at the last enqueue
	dropRun  int  // alerts dropped since dropping began

	// The metrics of the enqueue path, with their label resolved.
	mQueued, mFull prometheus.Counter
	mDepth         prometheus.Gauge

	wake chan struct{} // capacity 1: "something changed"
	hard context.Context
	kill context.CancelFunc // ends deliveries now
	done chan struct{}      // closed when run returns
	lost atomic.Int64       // alerts dropped at the end (shutdown)
}

type swapTo struct {
	spec *Spec
	n    Notifier
}

func newWorker(d *Dispatcher, s *Spec, n Notifier) *worker {
	hard, kill := context.WithCancel(context.Background())
	w := &worker{name: s.Name(), d: d, spec: s, n: n, lg: s.logger(d.log),
		wake: make(chan struct{}, 1), hard: hard, kill: kill, done: make(chan struct{})}
	w.mQueued = d.met.queued.WithLabelValues(w.name)
	w.mFull = d.met.dropped.WithLabelValues(w.name, DropQueueFull)
	w.mDepth = d.met.depth.WithLabelValues(w.name)
	w.mDepth.Set(0)
	return w
}

func (w *worker) log() *slog.Logger {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lg
}

func (w *worker) currentSpec() *Spec {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.swap != nil {
		return w.swap.spec
	}
	return w.spec
}

func (w *worker) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// enqueue adds a to the queue, or drops it when the queue is full.
func (w *worker) enqueue(a *models.Alert) {
	w.mu.Lock()
	limit := w.spec.Common().QueueSize
	if w.swap != nil {
		limit = w.swap.spec.Common().QueueSize
	}
	if len(w.queue)+w.inflight >= limit {
		first := !w.dropping
		w.dropping = true
		w.dropRun++
		lg := w.lg
		w.mu.Unlock()
		w.mFull.Inc()
		if first {
			lg.Warn("notify: queue full: dropping new alerts until it drains (counted in phalanx_notification_dropped_alerts_total)", "queue_size", limit)
		}
		return
	}
	recovered := 0
	if w.dropping {
		w.dropping, recovered, w.dropRun = false, w.dropRun, 0
	}
	w.queue = append(w.queue, queued{a: a, at: time.Now()})
	depth := len(w.queue) + w.inflight
	lg := w.lg
	w.mu.Unlock()
	w.mQueued.Inc()
	w.mDepth.Set(float64(depth))
	if recovered > 0 {
		lg.Warn("notify: queue accepting alerts again", "dropped", recovered)
	}
	w.signal()
}

// replace switches to a new configuration; the worker applies it between
// two messages and closes the old notifier.
func (w *worker) replace(s *Spec, n Notifier) {
	w.mu.Lock()
	prev := w.swap
	w.swap = &swapTo{spec: s, n: n}
	w.mu.Unlock()
	if prev != nil {
		_ = prev.n.Close() // never used
	}
	w.signal()
}

// applySwap installs a pending replacement (run's goroutine only).
func (w *worker) applySwap() {
	w.mu.Lock()
	s := w.swap
	w.swap = nil
	var old Notifier
	if s != nil {
		old = w.n
		w.spec, w.n, w.lg = s.spec, s.n, s.spec.logger(w.d.log)
	}
	w.mu.Unlock()
	if old != nil {
		if err := old.Close(); err != nil {
			w.log().Warn("notify: close replaced notifier", "err", err)
		}
		w.log().Info("notify: notification reconfigured")
	}
}

func (w *worker) drain() {
	w.mu.Lock()
	w.draining = true
	w.mu.Unlock()
	w.signal()
}

// outcome of one delivery attempt.
type outcome int

const (
	delivered outcome = iota
	givenUp           // not retryable: dropped
	retryLater
)

func (w *worker) run() {
	defer close(w.done)
	defer w.kill() // releases the context
	defer w.shutdown()
	var batch []*models.Alert
	attempt := 0
	for {
		w.applySwap()
		if batch == nil {
			if batch = w.next(); batch == nil {
				return
			}
			attempt = 0
		}
		attempt++
		switch w.attempt(batch, attempt) {
		case delivered, givenUp:
			w.finish(len(batch))
			batch = nil
			continue
		}
		spec := w.currentSpec()
		if m := spec.Common().MaxRetry; m > 0 && attempt >= m {
			w.log().Error("notify: message dropped: no attempt left (max_retry)", "alerts", len(batch), "attempts", attempt)
			w.d.met.dropped.WithLabelValues(w.name, DropRetries).Add(float64(len(batch)))
			w.finish(len(batch))
			batch = nil
			continue
		}
		t := time.NewTimer(w.d.policy.Delay(attempt, 0))
		select {
		case <-t.C:
		case <-w.hard.Done():
			t.Stop()
			w.lose(len(batch))
			w.finish(len(batch))
			return
		}
	}
}

// next waits until a group is due (or, draining, anything is queued) and
// takes it; nil when the worker must stop.
func (w *worker) next() []*models.Alert {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		w.applySwap()
		w.mu.Lock()
		if w.hard.Err() != nil {
			w.mu.Unlock()
			return nil
		}
		c := w.spec.Common()
		var waited time.Duration
		if len(w.queue) > 0 {
			waited = time.Since(w.queue[0].at)
		}
		take, after := due(len(w.queue), waited, c.GroupWait, c.GroupThreshold, w.draining)
		if take > 0 {
			batch := make([]*models.Alert, take)
			for i := range take {
				batch[i] = w.queue[i].a
				w.queue[i] = queued{}
			}
			w.queue = w.queue[take:]
			if len(w.queue) == 0 {
				w.queue = nil
			}
			w.inflight += take
			w.mu.Unlock()
			return batch
		}
		if len(w.queue) == 0 && w.draining {
			w.mu.Unlock()
			return nil
		}
		w.mu.Unlock()
		var tc <-chan time.Time
		if after > 0 {
			if timer == nil {
				timer = time.NewTimer(after)
			} else {
				timer.Reset(after)
			}
			tc = timer.C
		}
		select {
		case <-w.wake:
		case <-tc:
		case <-w.hard.Done():
		}
	}
}

// due decides, for n alerts waiting (the oldest for waited), how many to
// send now as one message; when none, after > 0 is when to look again
// (0: when an alert arrives). The rules, as CrowdSec documents them:
//   - neither group_wait nor group_threshold: every alert alone, at once;
//   - group_wait only: everything that arrived within group_wait of the
//     first waiting alert, as one message;
//   - group_threshold only: a message as soon as threshold alerts wait
//     (fewer wait for more);
//   - both: whichever comes first, at most threshold alerts a message.
//
// Draining (shutdown, removal) sends what waits at once, in messages of at
// most threshold alerts (one alert each when neither key is set).
func due(n int, waited, groupWait time.Duration, threshold int, draining bool) (take int, after time.Duration) {
	if n == 0 {
		return 0, 0
	}
	chunk := threshold
	if chunk == 0 {
		chunk = n
		if groupWait == 0 {
			chunk = 1
		}
	}
	switch {
	case draining:
		return min(n, chunk), 0
	case threshold > 0 && n >= threshold:
		return threshold, 0
	case groupWait == 0 && threshold == 0:
		return 1, 0
	case groupWait > 0 && waited >= groupWait:
		return min(n, chunk), 0
	case groupWait > 0:
		return 0, groupWait - waited
	}
	return 0, 0
}

// attempt renders and sends batch once.
func (w *worker) attempt(batch []*models.Alert, attempt int) outcome {
	w.mu.Lock()
	spec, n, lg := w.spec, w.n, w.lg
	w.mu.Unlock()
	met := w.d.met
	text, err := spec.Render(batch)
	if err != nil {
		lg.Error("notify: message dropped: the format failed", "alerts", len(batch), "err", err)
		met.failures.WithLabelValues(w.name).Inc()
		met.dropped.WithLabelValues(w.name, DropRender).Add(float64(len(batch)))
		return givenUp
	}
	if attempt > 1 {
		met.retries.WithLabelValues(w.name).Inc()
	}
	ctx, cancel := context.WithTimeout(w.hard, spec.Common().Timeout)
	retryable, err := n.Send(ctx, Message{Name: w.name, Text: text, Alerts: batch})
	cancel()
	if err == nil {
		met.deliveries.WithLabelValues(w.name).Inc()
		met.delivered.WithLabelValues(w.name).Add(float64(len(batch)))
		lg.Debug("notify: delivered", "alerts", len(batch), "attempt", attempt)
		return delivered
	}
	met.failures.WithLabelValues(w.name).Inc()
	if !retryable {
		lg.Error("notify: message dropped: the receiver refused it (not retryable)", "alerts", len(batch), "err", err)
		met.dropped.WithLabelValues(w.name, DropRejected).Add(float64(len(batch)))
		return givenUp
	}
	lg.Warn("notify: delivery failed, will retry", "alerts", len(batch), "attempt", attempt, "err", err)
	return retryLater
}

// finish releases the in-flight count of a message done with.
func (w *worker) finish(n int) {
	w.mu.Lock()
	w.inflight -= n
	depth := len(w.queue) + w.inflight
	w.mu.Unlock()
	w.mDepth.Set(float64(depth))
}

// lose counts n alerts given up at shutdown.
func (w *worker) lose(n int) {
	if n == 0 {
		return
	}
	w.lost.Add(int64(n))
	w.d.met.dropped.WithLabelValues(w.name, DropShutdown).Add(float64(n))
}

// shutdown drops what is still queued (counted) and closes the notifiers.
func (w *worker) shutdown() {
	w.mu.Lock()
	left := len(w.queue)
	w.queue = nil
	n, lg := w.n, w.lg
	var pending Notifier
	if w.swap != nil {
		pending, w.swap = w.swap.n, nil
	}
	w.mu.Unlock()
	w.lose(left)
	if lost := w.lost.Load(); lost > 0 {
		lg.Error("notify: stopped before delivering everything: alerts dropped", "alerts", lost)
	}
	w.mDepth.Set(0)
	for _, c := range []Notifier{n, pending} {
		if c != nil {
			if err := c.Close(); err != nil {
				lg.Warn("notify: close", "err", err)
			}
		}
	}
}
