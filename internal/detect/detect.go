// Package detect runs the detection pipeline over a stream of log lines:
// lines are parsed in parallel, poured into the scenarios in input order,
// and overflows go through the postoverflows and become alerts.
//
//	source -> batches -> parse workers -> reorder -> scenario engine
//	       -> overflows -> postoverflows -> (reprocess) -> alerts
//
// Depth batches wait between stages and the engine's inboxes hold a few
// batches each: the events in flight are bounded (they are most of a
// replay's live heap besides the content and the buckets). An event the
// scenarios are done with, and keep nothing of, is reused for a later line
// (scenario.Config.Done), as are the batches' line slices: replay and live
// input share this one mechanism, and what a line allocates is what it
// leaves behind.
//
// Replay cuts the input into batches of Config.BatchSize lines; live input
// (Config.CloseIdle, the daemon) closes a batch as soon as the source has
// nothing more ready, so a line never waits for the next one to arrive.
//
// Concurrency: a Runner runs one stream at a time (Run is not reentrant).
// OnAlert is called from the goroutine that called Run, never concurrently,
// in the order overflows were handled.
package detect

import (
	"context"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phalanx-ids/phalanx/internal/alertctx"
	"github.com/phalanx-ids/phalanx/internal/content"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/scenario"
)

// Config configures a Runner.
type Config struct {
	Runtime *content.Runtime
	// ParseWorkers parse lines in parallel (default GOMAXPROCS).
	ParseWorkers int
	// BucketWorkers spread the scenarios over goroutines (default GOMAXPROCS).
	BucketWorkers int
	// Mode is event.TIMEMACHINE (replay: the logs' own time) or event.LIVE.
	Mode event.Mode
	// Now is the wall clock (default time.Now).
	Now func() time.Time
	// BatchSize is the number of lines handed to a parse worker at once.
	BatchSize int
	// Depth is the number of batches that may wait between two stages
	// (read -> parse, parse -> pour), default ParseWorkers; with BatchSize
	// and the scenario engine's inboxes (EngineInbox) it bounds the events
	// in flight, which are most of a replay's live heap besides the
	// content and the buckets.
	Depth int
	// EngineInbox is scenario.Config.Inbox (0: its default).
	EngineInbox int
	// CloseIdle closes a batch as soon as the source has no further line
	// ready, instead of when it holds BatchSize lines (live input: a quiet
	// log's last line is parsed at once, never held back waiting for more,
	// while a busy one still gets full batches). It costs a lock per line
	// between the source and the batcher (lineQueue).
	CloseIdle bool
	// RawLines bounds the raw log lines each alert carries (zero: none).
	RawLines scenario.RawLineLimit
	// OnAlert receives each overflow that is not whitelisted (one overflow
	// may carry several APIAlerts, one per source). It owns the event.
	OnAlert func(*event.Event)
	// OnPoured, if set, is called once a batch is poured with the time its
	// first line was read (event.Line.Time): live input's wait between the
	// source and the scenarios. Called from the goroutine that called Run.
	OnPoured func(read time.Time)
}

// Stats counts what went through a run.
type Stats struct {
	Lines       int64 // lines read
	Parsed      int64 // lines that went through every parser stage
	Unparsed    int64 // lines no parser took (or dropped at a stage)
	Whitelisted int64 // parsed lines dropped by a whitelist
	Poured      int64 // events handed to the scenarios
	Overflows   int64 // overflows reported by the scenarios
	Suppressed  int64 // overflows whitelisted by a postoverflow
	Reprocessed int64 // overflows poured back (reprocess: true)
	Alerts      int64 // overflows handed to OnAlert
	NewEvents   int64 // events made for lines (the others reused one: Runner.free)
	KeptEvents  int64 // poured events a scenario kept whole (never handed back for reuse)
}

// Runner is a configured pipeline.
type Runner struct {
	cfg    Config
	lines  atomic.Int64
	made   atomic.Int64 // events made by newEvent in the current run
	back   atomic.Int64 // poured events handed back by the engine in the current run
	engine atomic.Pointer[scenario.Engine]
	// free holds events the scenarios are done with (scenario.Config.Done),
	// reused for the next lines: an event's maps are most of what the
	// pipeline allocates per line. It holds as many as can be in flight
	// (newRun), so that a line's event is a recycled one once the pipeline
	// is full: two batches were too few when the engine's inboxes filled up
	// in a live burst, and half of what a line allocated was a new event.
	// It is bounded (a sync.Pool kept thousands of events alive across a
	// GC cycle: +17 MB of a replay's peak live heap); what does not fit is
	// left to the GC. Set by Run before the stages start.
	free *freeList
	// lineBufs are batches' line slices, reused once parsed (the events
	// hold copies of their lines).
	lineBufs sync.Pool
	// fieldBufs are batches' field vectors, reused once poured (the
	// engine copies what it keeps).
	fieldBufs sync.Pool
}

// New returns a Runner.
func New(cfg Config) *Runner {
	if cfg.ParseWorkers <= 0 {
		cfg.ParseWorkers = runtime.GOMAXPROCS(0)
	}
	if cfg.BucketWorkers <= 0 {
		cfg.BucketWorkers = runtime.GOMAXPROCS(0)
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 512
	}
	if cfg.Depth <= 0 {
		cfg.Depth = cfg.ParseWorkers
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Runner{cfg: cfg}
}

// LinesRead returns the lines read so far by the running Run (for progress).
func (r *Runner) LinesRead() int64 { return r.lines.Load() }

// ScenarioStats returns the scenario engine's counters of the running Run
// (zero when no Run is in progress or no scenario is loaded). Safe to call
// from any goroutine, e.g. a metrics collector.
func (r *Runner) ScenarioStats() scenario.Stats {
	if eng := r.engine.Load(); eng != nil {
		return eng.Stats()
	}
	return scenario.Stats{}
}

// Source feeds lines to the pipeline: it calls emit for each line, in order,
// and returns when the input is exhausted (or emit returns an error).
type Source func(ctx context.Context, emit func(event.Line) error) error

type batch struct {
	seq                     int
	lines                   []event.Line   // nil once parsed (lineBufs)
	n                       int            // lines in the batch
	read                    time.Time      // when the first line was read (Line.Time)
	events                  []*event.Event // parsed, not whitelisted, in input order
	fields                  []string       // the scenarios' fields of events[i]: [i*nf, (i+1)*nf)
	parsed, unparsed, white int64
}

// Run runs src through the pipeline until the input ends, then drains the
// scenarios (buckets still alive at the end of a replay raise nothing, as
// upstream) and returns the counters and the scenario engine's statistics.
//
// Goroutines: the reader (readFull or readIdle) cuts src into batches; the
// parse workers parse them and read the scenarios' fields ahead; Run's own
// goroutine pours the batches in input order (collect) and handles the
// overflows (drain). Depth bounds the batches between them.
func (r *Runner) Run(ctx context.Context, src Source) (Stats, scenario.Stats, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	x := r.newRun()
	defer r.engine.Store(nil)
	r.made.Store(0)
	r.back.Store(0)

	work := make(chan *batch, r.cfg.Depth)
	done := make(chan *batch, r.cfg.Depth)
	x.slots = make(chan struct{}, r.window())
	r.startParsers(ctx, x.eng, work, done, x.slots)
	readErr := make(chan error, 1)
	if r.cfg.CloseIdle {
		go func() { readErr <- r.readIdle(ctx, src, work) }()
	} else {
		go func() { readErr <- r.readFull(ctx, src, work) }()
	}
	x.collect(done)

	err := <-readErr
	var es scenario.Stats
	if x.eng != nil {
		if cerr := x.eng.Close(); cerr != nil && err == nil {
			err = cerr
		}
		x.drain()
		es = x.eng.Stats()
	}
	x.st.NewEvents = r.made.Load()
	if x.eng != nil {
		x.st.KeptEvents = x.st.Poured + x.st.Reprocessed - r.back.Load()
	}
	return x.st, es, err
}

// run is the state of one Run, owned by Run's goroutine but for pending,
// which the engine's OnOverflow fills from the scenario workers.
type run struct {
	r   *Runner
	rt  *content.Runtime
	eng *scenario.Engine // nil: no scenario
	st  Stats

	// slots bounds the batches taken by the parse workers and not yet
	// poured (window): a worker takes one to start a batch, collect gives
	// it back once the batch is poured. Without it a parse worker could
	// run ahead of a slower one (descheduled on a loaded machine) without
	// bound, its batches waiting in collect for their turn.
	slots chan struct{}

	mu      sync.Mutex
	pending []*scenario.Overflow
}

// window is the most batches the parse workers take before collect pours
// them: one per worker and Depth finished, and as many again for batches
// finished out of order.
func (r *Runner) window() int { return r.cfg.Depth + 2*r.cfg.ParseWorkers }

// newRun starts the scenario engine (if there are scenarios) and publishes
// it for ScenarioStats.
func (r *Runner) newRun() *run {
	x := &run{r: r, rt: r.cfg.Runtime}
	if x.rt.Scenarios == nil || x.rt.Scenarios.Len() == 0 {
		r.free = newFreeList(2 * r.cfg.BatchSize) // unparsed lines' events
		return x
	}
	x.eng = scenario.NewEngine(x.rt.Scenarios, scenario.Config{
		Workers:  r.cfg.BucketWorkers,
		Inbox:    r.cfg.EngineInbox,
		Mode:     r.cfg.Mode,
		Now:      r.cfg.Now,
		RawLines: r.cfg.RawLines,
		Done: func(evt *event.Event) {
			r.back.Add(1)
			r.recycle(evt)
		},
		OnOverflow: func(ov *scenario.Overflow) {
			x.mu.Lock()
			x.pending = append(x.pending, ov)
			x.mu.Unlock()
		},
	})
	r.engine.Store(x.eng)
	// The events in flight: the parse workers' window, then what the
	// engine holds.
	r.free = newFreeList(r.window()*r.cfg.BatchSize + x.eng.MaxPending())
	return x
}

// startParsers starts ParseWorkers goroutines that parse the batches of
// work and hand them to done, which they close when work is closed and
// every batch is handed on.
func (r *Runner) startParsers(ctx context.Context, eng *scenario.Engine, work <-chan *batch, done chan<- *batch, slots chan struct{}) {
	var wg sync.WaitGroup
	for i := 0; i < r.cfg.ParseWorkers; i++ {
		wg.Add(1)
		go pprof.Do(ctx, pprof.Labels("phalanx", "parse-worker"), func(context.Context) {
			defer wg.Done()
			var scratch []*event.Event
			for {
				// The batch the collector waits for was taken before any
				// later one, so the slots never all wait on it.
				slots <- struct{}{}
				b, ok := <-work
				if !ok {
					<-slots
					return
				}
				r.parseBatch(b, eng, &scratch)
				done <- b
			}
		})
	}
	go func() {
		wg.Wait()
		close(done)
	}()
}

// collect pours the parsed batches into the scenarios in input order (the
// parse workers finish them in any order) until done is closed. In live
// mode a ticker also drains the overflows that the engine raises on its
// own (expiring counters, workers finishing after the last line), so they
// do not wait for the next line to arrive.
func (x *run) collect(done <-chan *batch) {
	var tick <-chan time.Time
	if x.r.cfg.Mode == event.LIVE && x.eng != nil {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		tick = t.C
	}
	next := 0
	held := map[int]*batch{}
	for {
		select {
		case <-tick:
			x.drain()
		case b, ok := <-done:
			if !ok {
				return
			}
			held[b.seq] = b
			for hb := held[next]; hb != nil; hb = held[next] {
				delete(held, next)
				next++
				x.pour(hb)
				<-x.slots
			}
		}
	}
}

// pour counts a batch and pours its events, then handles the overflows.
func (x *run) pour(b *batch) {
	x.st.Lines += int64(b.n)
	x.st.Parsed += b.parsed
	x.st.Unparsed += b.unparsed
	x.st.Whitelisted += b.white
	if x.eng == nil {
		x.poured(b)
		return
	}
	nf := x.eng.FieldCount()
	for i, ev := range b.events {
		x.eng.PourFields(ev, b.fields[i*nf:(i+1)*nf:(i+1)*nf])
		x.st.Poured++
	}
	clear(b.fields)
	x.r.fieldBufs.Put(b.fields[:0])
	b.fields = nil
	x.poured(b)
	x.drain()
}

// poured reports a poured batch to OnPoured.
func (x *run) poured(b *batch) {
	if f := x.r.cfg.OnPoured; f != nil && b.n > 0 {
		f(b.read)
	}
}

// drain handles the overflows reported so far, on the Run goroutine.
func (x *run) drain() {
	for {
		x.mu.Lock()
		got := x.pending
		x.pending = nil
		x.mu.Unlock()
		if len(got) == 0 {
			return
		}
		for _, ov := range got {
			x.handle(ov)
		}
	}
}

// handle runs one overflow through the postoverflows, pours it back if its
// scenario reprocesses, adds the alert context and hands it to OnAlert
// unless a postoverflow whitelisted it.
func (x *run) handle(o *scenario.Overflow) {
	ov := o.Event()
	x.st.Overflows++
	if x.rt.PostOverflows != nil {
		x.rt.PostOverflows.Parse(ov, nil)
	}
	if ov.Overflow.Whitelisted {
		x.st.Suppressed++
		return
	}
	if ov.Overflow.Reprocess && x.eng != nil {
		x.st.Reprocessed++
		x.eng.Pour(ov.Clone())
	}
	if x.rt.Context != nil {
		for i := range ov.Overflow.APIAlerts {
			a := &ov.Overflow.APIAlerts[i]
			a.Meta = append(a.Meta, x.rt.Context.Meta(alertctx.FromAlert(a))...)
		}
	}
	x.st.Alerts++
	if x.r.cfg.OnAlert != nil {
		x.r.cfg.OnAlert(ov)
	}
}

// recycle takes back an event nothing refers to any more.
func (r *Runner) recycle(evt *event.Event) {
	if evt.Type != event.LOG {
		return
	}
	r.free.put(evt)
}

// freeList is a bounded stack of events to reuse (Runner.free), last in
// first out: the event reused is the one handed back last, still in a
// cache, not the one that waited longest (a queue of thousands of events,
// megabytes, that Reset then read from memory). Parse workers take what a
// batch needs at once (take); the scenario workers put events back one by
// one (put, from several goroutines).
type freeList struct {
	mu  sync.Mutex
	evs []*event.Event
}

func newFreeList(n int) *freeList { return &freeList{evs: make([]*event.Event, 0, n)} }

// put adds evt, unless the list is full (it is then left to the GC).
func (f *freeList) put(evt *event.Event) {
	f.mu.Lock()
	if len(f.evs) < cap(f.evs) {
		f.evs = append(f.evs, evt)
	}
	f.mu.Unlock()
}

// take moves up to n events, the last put first, onto dst.
func (f *freeList) take(dst []*event.Event, n int) []*event.Event {
	f.mu.Lock()
	k := max(len(f.evs)-n, 0)
	for i := len(f.evs) - 1; i >= k; i-- {
		dst = append(dst, f.evs[i])
	}
	clear(f.evs[k:])
	f.evs = f.evs[:k]
	f.mu.Unlock()
	return dst
}

// newEvent returns the event of l: the next of reuse (recycled events,
// which it consumes) if there is one, else a new one.
func (r *Runner) newEvent(l event.Line, reuse *[]*event.Event) *event.Event {
	if evs := *reuse; len(evs) > 0 {
		evt := evs[0]
		evs[0] = nil
		*reuse = evs[1:]
		evt.Reset(l)
		return evt
	}
	r.made.Add(1)
	return r.cfg.Runtime.Parsers.Schema().New(l)
}

// parseBatch parses b's lines into b.events and, when there are scenarios
// (eng), reads the fields they test into b.fields: in parallel, not once
// per bucket worker, and for each event just after it is parsed, while it
// is in this core's cache (read after the whole batch, a 512-line batch's
// later events had pushed it out: the read then cost as much again), and
// builds the map views queued events need, if any (Prepare).
// scratch is the calling worker's buffer for recycled events.
func (r *Runner) parseBatch(b *batch, eng *scenario.Engine, scratch *[]*event.Event) {
	ps := r.cfg.Runtime.Parsers.Session() // one scratch for the batch
	defer ps.Close()
	nf := 0
	if eng != nil {
		nf = eng.FieldCount()
		b.fields = r.newFields(nf * len(b.lines))[:0]
	}
	var spare *event.Event // an unparsed line's event, reused for the next line
	// The recycled events the batch needs, taken at once.
	reuse := r.free.take((*scratch)[:0], len(b.lines))
	*scratch = reuse
	for i := range b.lines {
		evt := spare
		spare = nil
		if evt == nil {
			evt = r.newEvent(b.lines[i], &reuse)
		} else {
			evt.Reset(b.lines[i])
		}
		evt.ExpectMode = int(r.cfg.Mode)
		evt.Process = true
		if !ps.Parse(evt, nil) {
			b.unparsed++
			spare = evt
			continue
		}
		b.parsed++
		if evt.Whitelisted {
			b.white++
			spare = evt
			continue
		}
		b.events = append(b.events, evt)
		if eng != nil {
			eng.Prepare(evt)
			n := len(b.fields)
			b.fields = b.fields[:n+nf]
			eng.ReadFields(evt, b.fields[n:n+nf:n+nf])
		}
	}
	if spare != nil {
		r.recycle(spare)
	}
	for i := len(reuse) - 1; i >= 0; i-- { // lines no parser took reused spare
		r.free.put(reuse[i])
	}
	clear(*scratch)
	b.n = len(b.lines)
	if b.n > 0 {
		b.read = b.lines[0].Time
	}
	clear(b.lines)
	r.lineBufs.Put(b.lines[:0])
	b.lines = nil
}

// newFields returns a field vector of n strings.
func (r *Runner) newFields(n int) []string {
	if f, ok := r.fieldBufs.Get().([]string); ok && cap(f) >= n {
		return f[:n]
	}
	return make([]string, n)
}

// newBatch returns batch seq with room for BatchSize lines.
func (r *Runner) newBatch(seq int) *batch {
	return &batch{seq: seq, lines: r.lineBuf()}
}

// lineBuf returns an empty line slice with room for BatchSize lines.
func (r *Runner) lineBuf() []event.Line {
	if lines, ok := r.lineBufs.Get().([]event.Line); ok {
		return lines
	}
	return make([]event.Line, 0, r.cfg.BatchSize)
}

// readFull reads src into batches of BatchSize lines (the last one
// shorter) and closes work when the input ends.
func (r *Runner) readFull(ctx context.Context, src Source, work chan<- *batch) error {
	defer close(work)
	seq := 0
	cur := r.newBatch(seq)
	err := src(ctx, func(l event.Line) error {
		r.lines.Add(1)
		cur.lines = append(cur.lines, l)
		if len(cur.lines) == r.cfg.BatchSize {
			select {
			case work <- cur:
			case <-ctx.Done():
				return ctx.Err()
			}
			seq++
			cur = r.newBatch(seq)
		}
		return nil
	})
	if err == nil && len(cur.lines) > 0 {
		select {
		case work <- cur:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	return err
}

// readIdle reads src through a lineQueue of BatchSize lines; a batcher
// takes every line waiting at once (at least one, at most BatchSize) and
// hands them on as a batch: a batch closes when the input has nothing more
// ready. It closes work when the input ends.
func (r *Runner) readIdle(ctx context.Context, src Source, work chan<- *batch) error {
	q := newLineQueue(r.lineBuf(), r.cfg.BatchSize)
	batched := make(chan struct{})
	go func() {
		defer close(batched)
		defer close(work)
		for seq := 0; ; seq++ {
			lines := q.take(r.lineBuf())
			if lines == nil {
				return
			}
			select {
			case work <- &batch{seq: seq, lines: lines}:
			case <-ctx.Done():
				return // the source's next push that finds no room ends
			}
		}
	}()
	err := src(ctx, func(l event.Line) error {
		r.lines.Add(1)
		return q.push(ctx, l)
	})
	q.close()
	<-batched
	return err
}
