package scenario

import (
	"context"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phalanx-ids/phalanx/internal/event"
)

// Config configures an Engine.
type Config struct {
	// Workers is the number of goroutines evaluating scenarios. Scenarios
	// are spread over the workers (each scenario, and so each of its
	// buckets, lives in exactly one worker); every worker sees every event
	// in input order. <= 1 means no goroutine: Pour does the work inline.
	Workers int
	// Mode is event.LIVE (wall clock) or event.TIMEMACHINE (the events'
	// MarshaledTime).
	Mode event.Mode
	// Now is the wall clock (LIVE). Defaults to time.Now.
	Now func() time.Time
	// OnOverflow receives every overflow that produced an alert. See the
	// Engine doc for the contract.
	OnOverflow func(*Overflow)
	// Lateness (TIMEMACHINE) is how far behind the newest event time an
	// event may be and still find the buckets it would have found with
	// in-order input: expired buckets are collected only once the newest
	// event time is past their deadline by more than Lateness.
	//
	// A negative Lateness turns collection by event time off, which is
	// CrowdSec's time-machine behaviour (its bucket GC is dead code): a
	// bucket then ends only when it overflows, when an event poured into it
	// finds it past its deadline (it is replaced by a fresh one), or at
	// Close. Input whose time goes backwards (log files concatenated out of
	// order, as hub tests do) then behaves as in CrowdSec, at the cost of
	// memory: expired buckets nobody pours into again stay until Close.
	Lateness time.Duration
	// Tick (LIVE) is how often expired buckets are collected and counters
	// fire when no event arrives. Default 1s.
	Tick time.Duration
	// BatchSize bounds the events handed to the workers at once. Default 256.
	BatchSize int
	// Inbox is the number of batches a worker may have waiting (default
	// 4): with BatchSize, it bounds the events poured and not yet
	// processed, which are live memory (each holds its event). Pour
	// blocks while the inboxes are full.
	Inbox int

	// Done, if set, receives each poured event once the engine is done
	// with it and keeps nothing of it (no scenario queued the whole event):
	// the caller may then reuse it (a pipeline recycles its events, which
	// are most of what it allocates per line). An event a scenario keeps is
	// never handed back. Done may be called from several goroutines at
	// once (the workers).
	Done func(*event.Event)

	// RawLines bounds the log lines an alert carries (models.Alert.RawLines):
	// the tail of the events that filled the bucket. The zero value keeps
	// none (replay, hubtest); the daemon's agent sets it.
	RawLines RawLineLimit

	// DisableIndex and DisableNative turn off the scenario index and the
	// native filter pre-check (diagnostics and equivalence tests);
	// DisablePrefilter the shared test of native filters' literals
	// (natexpr.Prefilter).
	DisableIndex     bool
	DisableNative    bool
	DisablePrefilter bool
}

// RawLineLimit bounds the raw lines kept with an alert: at most MaxLines
// lines (the newest) and MaxBytes bytes of them; a line longer than
// MaxBytes is cut. MaxLines <= 0 keeps none.
type RawLineLimit struct {
	MaxLines, MaxBytes int
}

// Engine pours events into the buckets of a Set and reports overflows.
//
// Concurrency contract:
//   - Pour, Flush and Close may be called from any goroutine; calls are
//     serialised. Pour takes ownership of the event: the caller must not
//     modify it afterwards. The engine never modifies a poured event (filters
//     that call SetMeta/SetParsed run on a private copy) beyond exposing
//     its ParsedView (Prepare) before Pour returns, so the caller may keep
//     reading it, and may pour the same event into several engines.
//   - OnOverflow is called from a worker goroutine (Workers > 1), or from
//     inside Pour/Flush/Close (Workers <= 1), never concurrently with itself.
//     It owns the Overflow it receives. It must not call Pour, Flush or
//     Close (that would deadlock): to re-pour an overflow whose
//     Signal.Reprocess is set, hand it to the pouring goroutine, which runs
//     the postoverflows on its Event and then pours that.
//   - Ordering: events reach each bucket in Pour order, whatever Workers
//     is, so the overflows produced (content and per-scenario order) do not
//     depend on Workers. Overflows of scenarios that live in different
//     workers may interleave in any order.
//   - Stats may be called at any time from any goroutine.
type Engine struct {
	set   *Set
	cfg   Config
	mode  event.Mode
	now   func() time.Time
	emit  func(*Overflow)
	emMu  sync.Mutex
	mu    sync.Mutex // serialises Pour/Flush/Close
	wm    time.Time  // newest event time seen (TIMEMACHINE) / last wall clock
	cur   *batch
	pool  sync.Pool
	ws    []*worker
	wg    sync.WaitGroup
	async bool

	closed   bool
	stopTick chan struct{}

	stats   []scenCounters
	dropped dropCounters

	// The last MarshaledTime parsed and its time (TIMEMACHINE; eventTime):
	// a log's lines share their timestamp with the previous line's
	// nearly always (tens of lines a second, stamped to the second).
	lastMT string
	lastT  time.Time
}

type scenCounters struct {
	poured, overflowed, underflowed, canceled    atomic.Int64
	blackholed, ovflFiltered, noAlert, discarded atomic.Int64
	instantiated, filterErr, groupbyErr, other   atomic.Int64
	live                                         atomic.Int64
}

type dropCounters struct {
	noTime, badTime, afterClose atomic.Int64
	received                    atomic.Int64
}

// envelope is one event in flight with its bucket time and the watermark
// (newest event time seen so far) at the time it was poured.
type envelope struct {
	evt  *event.Event
	vals []string // the fields ReadFields read (nil: read on demand)
	t    time.Time
	wm   time.Time
	wall bool // TIMEMACHINE event without a usable time: t is the wall clock, triggers only
}

type batch struct {
	envs    []envelope
	vals    []string        // the envelopes' fields (PourFields)
	kept    []atomic.Uint64 // bit i: a worker kept envs[i].evt (Config.Done)
	refs    atomic.Int32
	barrier *sync.WaitGroup
	tick    bool // LIVE: collect with now = wm
	wm      time.Time
	final   bool // Close: collect at wm then discard everything
}

// NewEngine builds an engine over set and, if cfg.Workers > 1, starts its
// workers (and in LIVE mode one ticker goroutine). Close stops them.
func NewEngine(set *Set, cfg Config) *Engine {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 256
	}
	if cfg.Inbox <= 0 {
		cfg.Inbox = 4
	}
	n := cfg.Workers
	if n < 1 {
		n = 1
	}
	if n > len(set.scens) && len(set.scens) > 0 {
		n = len(set.scens)
	}
	e := &Engine{set: set, cfg: cfg, mode: cfg.Mode, now: cfg.Now, async: cfg.Workers > 1 && n > 1}
	e.emit = cfg.OnOverflow
	if e.emit == nil {
		e.emit = func(*Overflow) {}
	}
	e.stats = make([]scenCounters, len(set.scens))
	e.pool.New = func() any { return &batch{envs: make([]envelope, 0, cfg.BatchSize)} }

	// Spread scenarios over workers: round-robin inside each index group so
	// that the scenarios an event reaches are split evenly.
	owner := make([]int, len(set.scens))
	groups := map[string][]int{}
	var order []string
	for _, sc := range set.scens {
		g := "\x00fallback"
		if sc.indexPred >= 0 && !cfg.DisableIndex {
			p := sc.preds[sc.indexPred]
			g = string(rune('0'+p.Field.Src)) + p.Field.Key + "\x00" + p.Vals[0]
		}
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], sc.idx)
	}
	// Inside each group, a scenario goes to the worker with the least
	// estimated cost so far (scenarioCost), so that both are equally busy.
	load := make([]int, n)
	for _, g := range order {
		for _, idx := range groups[g] {
			if set.scens[idx].alias != idx {
				continue
			}
			best := 0
			for i := range load {
				if load[i] < load[best] {
					best = i
				}
			}
			owner[idx] = best
			load[best] += scenarioCost(set.scens[idx])
		}
	}
	// Scenarios sharing buckets live with the first of them.
	for _, sc := range set.scens {
		owner[sc.idx] = owner[sc.alias]
	}
	e.ws = make([]*worker, n)
	for i := range e.ws {
		var mine []*scen
		for _, sc := range set.scens {
			if owner[sc.idx] == i {
				mine = append(mine, sc)
			}
		}
		e.ws[i] = newWorker(e, mine)
	}
	if e.async {
		for i, w := range e.ws {
			w.ch = make(chan *batch, cfg.Inbox)
			e.wg.Add(1)
			// Labelled so that CPU profiles split the time per worker
			// (go tool pprof -tags).
			labels := pprof.Labels("phalanx", "scenario-worker-"+strconv.Itoa(i))
			go pprof.Do(context.Background(), labels, func(context.Context) { w.run() })
		}
	}
	if cfg.Mode == event.LIVE {
		e.stopTick = make(chan struct{})
		go e.ticker()
	}
	return e
}

// scenarioCost is a rough relative cost of pouring an event the index
// lets through into sc, to balance the workers: a native filter is cheap,
// data-file lookups less so, the VM and event copies (SetMeta) costly.
func scenarioCost(sc *scen) int {
	c := 1
	if strings.Contains(sc.spec.Filter, "File(") {
		c += 3
	}
	if sc.filter.nat == nil {
		c += 6
	}
	if sc.mutates {
		c += 6
	}
	if sc.condition != nil || len(sc.bayes) > 0 {
		c += 3
	}
	return c
}

// Pour hands one event to the scenarios. In TIMEMACHINE mode an event
// without a parsable MarshaledTime is counted in Stats (NoTime, BadTime)
// and, as in CrowdSec, poured only into trigger scenarios, which date its
// overflow with the wall clock (Config.Now).
// Overflow events (Type OVFLW, e.g. reprocessed ones) are poured like any
// other event.
func (e *Engine) Pour(evt *event.Event) { e.PourFields(evt, nil) }

// FieldCount is the length of the vector ReadFields fills.
func (e *Engine) FieldCount() int {
	if e.set.slots == nil {
		return 0
	}
	return e.set.slots.NumFields()
}

// ReadFields copies into dst (length FieldCount) the event fields the
// scenarios' index and native filters read, so that PourFields does not
// look them up in the event's maps (once per worker). It only reads evt and
// may be called from any goroutine, concurrently with anything but a write
// to evt: a pipeline calls it where the event was parsed, in parallel.
func (e *Engine) ReadFields(evt *event.Event, dst []string) {
	if e.set.slots != nil {
		e.set.slots.Read(evt, dst[:e.set.slots.NumFields()])
	}
}

// Prepare makes evt ready to be queued whole: it builds the event's views
// when a scenario keeps whole events that an expression will read
// evt.Parsed, Meta or Enriched of, as maps, from the queue (native code
// reads the fields by slot; the VM run on the poured event gets views of
// its own, worker.forVM). It writes to evt: call it where the event is
// owned (a pipeline's parse worker, in parallel); Pour calls it too, a
// no-op for a prepared event.
func (e *Engine) Prepare(evt *event.Event) {
	if e.set.queueViews {
		evt.ExposeAll()
	}
}

// PourFields is Pour for an event whose fields ReadFields read into vals
// (nil: none read). evt may not change afterwards (until Config.Done hands
// it back); vals may be reused once PourFields returns (the engine keeps a
// copy while the event waits for the workers).
func (e *Engine) PourFields(evt *event.Event, vals []string) {
	if evt == nil {
		return
	}
	if len(vals) != e.FieldCount() {
		vals = nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		e.dropped.afterClose.Add(1)
		e.done(evt)
		return
	}
	var t time.Time
	wall := false
	if e.mode == event.TIMEMACHINE {
		var err error
		switch {
		case evt.MarshaledTime == "":
			e.dropped.noTime.Add(1)
			wall = true
		default:
			if t, err = e.eventTime(evt.MarshaledTime); err != nil {
				e.dropped.badTime.Add(1)
				wall = true
			}
		}
		if wall {
			// CrowdSec's trigger buckets take the wall clock when the event
			// time cannot be read; every other bucket type refuses the event.
			if !e.set.hasTrigger {
				e.done(evt)
				return
			}
			t = e.now().UTC()
		} else if t.After(e.wm) {
			e.wm = t
		}
	} else {
		t = e.now().UTC()
		e.wm = t
	}
	e.dropped.received.Add(1)
	e.Prepare(evt)
	env := envelope{evt: evt, vals: vals, t: t, wm: e.wm, wall: wall}
	if !e.async {
		w := e.ws[0]
		w.kept = false
		w.process(&env)
		if !w.kept {
			e.done(evt)
		}
		return
	}
	if e.cur == nil {
		e.cur = e.pool.Get().(*batch)
	}
	if vals != nil {
		// The batch's own copy, in room made for BatchSize events' fields
		// (never reallocated: earlier envelopes point into it).
		n := len(vals)
		if cap(e.cur.vals)-len(e.cur.vals) < n {
			e.cur.vals = make([]string, 0, e.cfg.BatchSize*n)
		}
		off := len(e.cur.vals)
		e.cur.vals = append(e.cur.vals, vals...)
		env.vals = e.cur.vals[off : off+n : off+n]
	}
	e.cur.envs = append(e.cur.envs, env)
	if len(e.cur.envs) >= e.cfg.BatchSize || e.idle() {
		e.send()
	}
}

// eventTime parses an event's MarshaledTime (RFC 3339), reusing the
// previous result for the same text. Caller holds e.mu.
func (e *Engine) eventTime(mt string) (time.Time, error) {
	if mt == e.lastMT && mt != "" {
		return e.lastT, nil
	}
	t, err := time.Parse(time.RFC3339Nano, mt)
	if err != nil {
		return t, err
	}
	// A copy of the text: the event's may be part of its log line, which
	// the engine would keep alive.
	e.lastMT, e.lastT = strings.Clone(mt), t
	return t, nil
}

// idle reports whether every worker has an empty inbox.
func (e *Engine) idle() bool {
	for _, w := range e.ws {
		if len(w.ch) > 0 {
			return false
		}
	}
	return true
}

// send hands the current batch to every worker. Caller holds e.mu.
func (e *Engine) send() {
	b := e.cur
	if b == nil || len(b.envs) == 0 {
		return
	}
	e.cur = nil
	if n := len(b.envs)/64 + 1; len(b.kept) < n {
		b.kept = make([]atomic.Uint64, n)
	}
	b.refs.Store(int32(len(e.ws)))
	for _, w := range e.ws {
		w.ch <- b
	}
}

// MaxPending is the most events poured and neither handed back
// (Config.Done) nor kept at once: those of the batches in the workers'
// inboxes, of the batch each works on and of the one being filled (a batch
// is handed back when every worker is done with it).
func (e *Engine) MaxPending() int { return (e.cfg.Inbox + 2) * e.cfg.BatchSize }

// done hands evt back (Config.Done).
func (e *Engine) done(evt *event.Event) {
	if e.cfg.Done != nil {
		e.cfg.Done(evt)
	}
}

// keep records that a worker keeps envs[i].evt.
func (b *batch) keep(i int) {
	if n := len(b.envs)/64 + 1; len(b.kept) < n {
		panic("scenario: batch without its kept bits") // send sizes them
	}
	b.kept[i/64].Or(1 << (i % 64))
}

func (e *Engine) release(b *batch) {
	if b.refs.Add(-1) == 0 {
		if e.cfg.Done != nil {
			for i := range b.envs {
				if b.kept[i/64].Load()&(1<<(i%64)) == 0 {
					e.cfg.Done(b.envs[i].evt)
				}
			}
		}
		for i := range b.kept {
			b.kept[i].Store(0)
		}
		clear(b.vals)
		b.vals = b.vals[:0]
		clear(b.envs)
		b.envs = b.envs[:0]
		e.pool.Put(b)
	}
}

// control sends a control batch to every worker and waits for all of them
// to handle it. Caller holds e.mu.
func (e *Engine) control(mk func() *batch) {
	if !e.async {
		b := mk()
		e.ws[0].control(b)
		return
	}
	e.send()
	var wg sync.WaitGroup
	wg.Add(len(e.ws))
	for _, w := range e.ws {
		b := mk()
		b.barrier = &wg
		w.ch <- b
	}
	wg.Wait()
}

// Flush returns once every event poured so far has been processed and its
// overflows reported.
func (e *Engine) Flush() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	e.control(func() *batch { return &batch{} })
}

// Close ends the run. In TIMEMACHINE mode buckets whose deadline the last
// event time has passed by more than Lateness are collected first
// (counters that are due fire; nothing is collected if Lateness < 0);
// then, as CrowdSec does at the end of a replay or at shutdown, every
// bucket still alive is dropped without an alert (counted as discarded).
// Close stops the goroutines; later Pours are counted and ignored.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	wm := e.wm
	if e.mode == event.LIVE {
		wm = e.now().UTC()
	}
	e.control(func() *batch { return &batch{final: true, wm: wm} })
	e.closed = true
	if e.async {
		for _, w := range e.ws {
			close(w.ch)
		}
		e.wg.Wait()
	}
	if e.stopTick != nil {
		close(e.stopTick)
	}
	return nil
}

// ticker (LIVE) periodically collects expired buckets and fires counters.
func (e *Engine) ticker() {
	t := time.NewTicker(e.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-e.stopTick:
			return
		case <-t.C:
			e.mu.Lock()
			if !e.closed {
				now := e.now().UTC()
				e.control(func() *batch { return &batch{tick: true, wm: now} })
			}
			e.mu.Unlock()
		}
	}
}

func (e *Engine) report(ov *Overflow) {
	e.emMu.Lock()
	defer e.emMu.Unlock()
	e.emit(ov)
}

// ScenarioStats are the bucket counters of one scenario.
type ScenarioStats struct {
	Poured           int64 // events accepted into a bucket (after distinct, cancel_on)
	Instantiated     int64 // buckets created
	Overflowed       int64 // overflows, before overflow_filter and blackhole
	Underflowed      int64 // buckets that expired without overflowing
	Canceled         int64 // buckets killed by cancel_on
	Blackholed       int64 // overflows dropped by blackhole
	OverflowFiltered int64 // overflows dropped by overflow_filter
	NoAlert          int64 // overflows without a usable source (no alert)
	Discarded        int64 // buckets dropped alive at Close
	FilterErrors     int64 // filter runtime errors (event not poured)
	GroupByErrors    int64 // groupby error, missing (nil) or non-string value (event not poured)
	Live             int64 // buckets alive now
}

// Stats is a snapshot of the engine counters.
type Stats struct {
	Received int64 // events accepted by Pour (poured into some scenario's filter)
	// TIMEMACHINE events without a usable time: poured into trigger
	// scenarios only (counted in Received if the set has any), dropped
	// otherwise.
	NoTime     int64 // no MarshaledTime
	BadTime    int64 // unparsable MarshaledTime
	AfterClose int64
	Scenarios  map[string]ScenarioStats
}

// Stats returns a snapshot of the counters.
func (e *Engine) Stats() Stats {
	st := Stats{
		Received:   e.dropped.received.Load(),
		NoTime:     e.dropped.noTime.Load(),
		BadTime:    e.dropped.badTime.Load(),
		AfterClose: e.dropped.afterClose.Load(),
		Scenarios:  make(map[string]ScenarioStats, len(e.stats)),
	}
	for i := range e.stats {
		c := &e.stats[i]
		name := e.set.scens[i].spec.Name
		prev := st.Scenarios[name]
		prev.Poured += c.poured.Load()
		prev.Instantiated += c.instantiated.Load()
		prev.Overflowed += c.overflowed.Load()
		prev.Underflowed += c.underflowed.Load()
		prev.Canceled += c.canceled.Load()
		prev.Blackholed += c.blackholed.Load()
		prev.OverflowFiltered += c.ovflFiltered.Load()
		prev.NoAlert += c.noAlert.Load()
		prev.Discarded += c.discarded.Load()
		prev.FilterErrors += c.filterErr.Load()
		prev.GroupByErrors += c.groupbyErr.Load()
		prev.Live += c.live.Load()
		st.Scenarios[name] = prev
	}
	return st
}
