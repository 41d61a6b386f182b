package scenario

import (
	"encoding/binary"
	"maps"
	"math/bits"
	"strings"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/natexpr"
)

// bkey identifies a partition (groupby value) of a scenario: blackhole
// entries (buckets are found by scenario alias, then partition).
type bkey struct {
	sc  int
	key string
}

// item is what a bucket queue keeps of a poured event: only the parts an
// alert needs (see view.go), packed in a record, or the whole event when
// the scenario's queue expressions may read more of it (full). Items are
// never modified after creation, but for view, built on first use by the
// worker that owns them, and for what itemFor adds when another scenario
// shares the item.
type item struct {
	rec   record       // Meta, Enriched, MarshaledTime (unless full or view has them), the line
	etime time.Time    // evt.Time
	full  *event.Event // also every event that is not a log line (an overflow's Sources: alert.go)
	view  *event.Event // maps for queue expressions: at creation for conditions that scan the queue, else on first use
	line  *lineOrigin  // where the line (rec.raw) comes from, when the engine keeps raw lines (Config.RawLines)
	lineT int64        // the line's time, Unix ns (0: none)
}

// mapped returns the event whose maps hold the item's Meta and Enriched:
// the whole event or the view, nil when only the record has them.
func (it *item) mapped() *event.Event {
	if it.full != nil {
		return it.full
	}
	return it.view
}

// metaValue returns the queued event's Meta[key].
func (it *item) metaValue(key string) (string, bool) {
	if e := it.mapped(); e != nil {
		return e.Lookup(event.Meta, key)
	}
	return it.rec.meta(key)
}

// enrichedValue returns the queued event's Enriched[key].
func (it *item) enrichedValue(key string) (string, bool) {
	if e := it.mapped(); e != nil {
		return e.Lookup(event.Enriched, key)
	}
	return it.rec.enriched(key)
}

// event returns the queued event as queue expressions see it: the whole
// event if the item kept it, else a view holding what the item holds.
func (it *item) event() *event.Event {
	if it.full != nil {
		return it.full
	}
	if it.view != nil {
		return it.view
	}
	it.view = it.rec.event()
	it.view.Time = it.etime
	return it.view
}

// vmEvent is event with the views of Meta and Enriched built, for the
// expression VM (a view made by viewOf holds them as slots).
func (it *item) vmEvent() *event.Event {
	e := it.event()
	if e == it.view {
		e.ExposeSet(event.Meta.Set() | event.Enriched.Set())
	}
	return e
}

// viewOf makes the view of e: its own copy of e's Meta and Enriched (as
// slots: conditions compiled natively read them so; queueEvent builds
// the maps for the expression VM on first use).
func viewOf(e *event.Event) *event.Event {
	return e.PartsCopy(event.Meta.Set() | event.Enriched.Set())
}

// lineOrigin is where an item's line comes from: the same for every line
// of a source, so items share it (lineOrigins).
type lineOrigin struct {
	src, module string
	labels      map[string]string
}

// lineOrigins interns the origins of a worker's lines; the worker is its
// only user. It forgets everything past maxOrigins (a source whose lines
// each have their own labels could otherwise grow it without bound).
type lineOrigins struct {
	m map[[2]string][]*lineOrigin
	n int
}

const maxOrigins = 1024

func newLineOrigins() *lineOrigins { return &lineOrigins{m: map[[2]string][]*lineOrigin{}} }

func (o *lineOrigins) get(l *event.Line) *lineOrigin {
	k := [2]string{l.Src, l.Module}
	for _, lo := range o.m[k] {
		if maps.Equal(lo.labels, l.Labels) {
			return lo
		}
	}
	if o.n >= maxOrigins {
		clear(o.m)
		o.n = 0
	}
	lo := &lineOrigin{src: l.Src, module: l.Module, labels: l.Labels}
	o.m[k] = append(o.m[k], lo)
	o.n++
	return lo
}

// newItem makes the item of e, with the line's text and origin when lines
// is not nil (the engine keeps raw lines); itemFor adds what the scenario
// needs of the rest.
func newItem(e *event.Event, lines *lineOrigins) *item {
	it := &item{etime: e.Time}
	if e.Type != event.LOG {
		it.full = e // a view has no Overflow (GetMeta of an overflow reads it)
	}
	if lines != nil && e.Type == event.LOG && e.Line.Raw != "" {
		it.rec.raw = e.Line.Raw
		it.line = lines.get(&e.Line)
		if !e.Line.Time.IsZero() {
			it.lineT = e.Line.Time.UnixNano()
		}
	}
	return it
}

// bucket is one live instance of a scenario for one partition. A live
// burst keeps tens of thousands of them: what is rare lives behind a
// pointer, and the limiter's clock is lastTs (a bucket that lives on took
// its last pour's token).
type bucket struct {
	sc         *scen
	key        string
	tokens     float64
	first      time.Time
	lastTs     time.Time
	total      int
	q          queue
	distinct   distinctSet
	guillotine *[]bool // bayesian: the conditions that fired and hold
	deadline   time.Time
	hidx       int32
}

// allow is the token-bucket decision of golang.org/x/time/rate's
// AllowN(t, 1) (burst = capacity, one token per leakspeed, starts full),
// computed lazily from the time since the last successful take, last (the
// zero time for none).
func (b *bucket) allow(t, last time.Time) bool {
	sc := b.sc
	if t.Before(last) {
		last = t
	}
	tokens := b.tokens + t.Sub(last).Seconds()*sc.limit
	if tokens > sc.burst {
		tokens = sc.burst
	}
	tokens--
	if tokens < 0 {
		// x/time/rate accepts when the wait rounds down to zero.
		wait := time.Duration(float64(time.Second) * (-tokens / sc.limit))
		if wait > 0 {
			return false
		}
	}
	b.tokens = tokens
	return true
}

// push queues it (see queue); scratch is the worker's buffer.
func (b *bucket) push(it *item, scratch *[]byte) {
	b.q.push(it, b.sc.qsize, b.sc.packs, scratch)
}

// distinctSet is the values a bucket's distinct has seen: a few in one
// string, each as its length (uvarint) and its bytes (most buckets see a
// handful before they end, and a map, or a string each, costs several
// times their size), a map past maxFewDistinct values or maxFewBytes.
type distinctSet struct {
	few  string
	many map[string]struct{}
}

const (
	maxFewDistinct = 32
	maxFewBytes    = 512
)

// add adds v (its own copy: the event's strings are often parts of its
// log line, which they would keep alive) and reports whether it is new.
func (d *distinctSet) add(v string) bool {
	if d.many != nil {
		if _, dup := d.many[v]; dup {
			return false
		}
		d.many[strings.Clone(v)] = struct{}{}
		return true
	}
	n := 0
	for s := d.few; s != ""; n++ {
		l, w := uvarint(s)
		x := s[w : w+int(l)]
		if x == v {
			return false
		}
		s = s[w+int(l):]
	}
	if n < maxFewDistinct && len(d.few)+len(v) < maxFewBytes {
		var hdr [binary.MaxVarintLen64]byte
		d.few += string(binary.AppendUvarint(hdr[:0], uint64(len(v)))) + v
		return true
	}
	d.many = make(map[string]struct{}, 2*n)
	for s := d.few; s != ""; {
		l, w := uvarint(s)
		d.many[s[w:w+int(l)]] = struct{}{}
		s = s[w+int(l):]
	}
	d.few = ""
	d.many[strings.Clone(v)] = struct{}{}
	return true
}

// bheap orders buckets by deadline: a binary min-heap with
// container/heap's algorithms (the same order of expiry, hence of
// counters' overflows), on the buckets directly: no interface call per
// comparison or swap. Each bucket knows its place (hidx, -1: none).
type bheap []*bucket

func (h bheap) less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }

func (h bheap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx = int32(i)
	h[j].hidx = int32(j)
}

// push adds b (container/heap.Push).
func (h *bheap) push(b *bucket) {
	b.hidx = int32(len(*h))
	*h = append(*h, b)
	h.up(len(*h) - 1)
}

// pop removes and returns the bucket of the earliest deadline
// (container/heap.Pop).
func (h *bheap) pop() *bucket {
	n := len(*h) - 1
	h.swap(0, n)
	h.down(0, n)
	return h.popLast()
}

// remove removes the bucket at i (container/heap.Remove).
func (h *bheap) remove(i int) {
	n := len(*h) - 1
	if n != i {
		h.swap(i, n)
		if !h.down(i, n) {
			h.up(i)
		}
	}
	h.popLast()
}

// fix restores the order after the deadline of the bucket at i changed
// (container/heap.Fix).
func (h *bheap) fix(i int) {
	if !h.down(i, len(*h)) {
		h.up(i)
	}
}

func (h *bheap) popLast() *bucket {
	old := *h
	n := len(old)
	b := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	b.hidx = -1
	return b
}

func (h bheap) up(j int) {
	for {
		i := (j - 1) / 2 // parent
		if i == j || !h.less(j, i) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

func (h bheap) down(i0, n int) bool {
	i := i0
	for {
		j1 := 2*i + 1
		if j1 >= n || j1 < 0 { // j1 < 0 after int overflow
			break
		}
		j := j1 // left child
		if j2 := j1 + 1; j2 < n && h.less(j2, j1) {
			j = j2 // right child
		}
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}

// index selects the scenarios of a worker an event can reach. Every
// positive native conjunct of a filter (field == 'v', field in [...]) on an
// indexed field constrains its scenario: an event reaches the scenarios
// that every field either does not constrain (free) or allows with the
// event's value (maps).
//
// An event's fields mostly repeat the previous event's (the log type, the
// service, the verb), so each field remembers its last value and what the
// lookup gave for it (last), and a field that constrains none of the
// scenarios still selected is not looked up at all (an nginx line, once
// the log type left the ssh scenarios out, skips the ssh fields).
type index struct {
	words  int
	all    []uint64 // every scenario of the worker
	fields []natexpr.Field
	fnos   []int                 // field numbers of fields (natexpr.Table)
	free   [][]uint64            // per field: the scenarios it does not constrain
	maps   []map[string][]uint64 // per field: value -> constrained scenarios allowing it
	few    [][]fewKey            // per field with at most maxFewKeys values: maps's entries (nil: use maps)
	last   []lastLookup          // per field: its previous lookup
}

// fewKey is a value of an index field and the constrained scenarios
// allowing it: a field with few values (the http verbs, a file name, a
// path) is looked up by comparing them, which costs less than hashing a
// value that changes with every line.
type fewKey struct {
	v  string
	bs []uint64
}

// maxFewKeys is the most values an index field compares (index.few).
const maxFewKeys = 4

// lastLookup is an index field's previous lookup: its value v and what
// maps gave for it (bs, nil when v is not a key). set is false before the
// first one.
type lastLookup struct {
	v   string
	bs  []uint64
	set bool
}

// lookup returns maps[i][v] (nil when v is not a key), from the field's
// previous lookup when v is the same value.
func (x *index) lookup(i int, v string) []uint64 {
	l := &x.last[i]
	if l.set && l.v == v {
		return l.bs
	}
	var bs []uint64
	if few := x.few[i]; few != nil {
		for k := range few {
			if few[k].v == v {
				bs = few[k].bs
				break
			}
		}
	} else {
		bs = x.maps[i][v]
	}
	l.v, l.bs, l.set = v, bs, true
	return bs
}

// worker owns a subset of the scenarios and all their buckets. Only its
// goroutine touches its state (counters are atomics read by Stats).
type worker struct {
	e          *Engine
	scens      []*scen
	natFilters []natFilter // by position in scens
	idx        index
	buckets    []map[string]*bucket // by scenario alias, then partition (nil: none yet)
	heap       bheap
	bh         map[bkey]time.Time
	bhSweep    int
	vm         vm.VM
	nc         *natexpr.Ctx       // memoised native evaluation of the poured event
	pre        *natexpr.Prefilter // the native filters' guards, by position in scens (nil: none)
	sx         natexpr.Ctx        // native evaluation without memo (groupby, distinct)
	qv         itemQueue          // the queue a native condition reads
	keys       *keySets           // the key sets of the records of this worker's items
	kept       bool               // process queued the whole event (Config.Done)
	recBuf     []byte             // keySets.record's scratch
	keyBuf     []byte             // partition's scratch (strExpr.evalKey)
	dBuf       []byte             // encodeDelta's scratch
	origins    *lineOrigins       // the origins of their lines (nil: no raw line kept)
	scratch    []uint64
	ch         chan *batch
	spare      []*bucket // ended buckets, for reuse (newBucket, recycle)

	// The poured event as the VM reads it (forVM): a copy with a
	// ParsedView of the worker's own, built once per event.
	pvSrc   *event.Event
	pvEvt   event.Event
	pvViews event.Views

	// The scratch copy a writing filter runs on (tryWrite): its written
	// parts its own, its views in the worker's maps.
	wEvt   event.Event
	wViews event.Views

	lateness time.Duration
}

func newWorker(e *Engine, scens []*scen) *worker {
	w := &worker{e: e, scens: scens, buckets: make([]map[string]*bucket, len(e.set.scens)), bh: map[bkey]time.Time{}, bhSweep: 1024, lateness: e.cfg.Lateness,
		keys: newKeySets()}
	if e.cfg.RawLines.MaxLines > 0 {
		w.origins = newLineOrigins()
	}
	w.nc = natexpr.NewCtx(e.set.slots)
	n := len(scens)
	w.natFilters = make([]natFilter, n)
	guards := make([][]natexpr.Guard, n)
	anyGuard := false
	for i, sc := range scens {
		nf := &w.natFilters[i]
		*nf = sc.filter.native(&e.cfg)
		nf.trigger = sc.kind == KindTrigger
		if nf.f != nil && !e.cfg.DisablePrefilter && len(sc.filter.guards) > 0 {
			guards[i], anyGuard = sc.filter.guards, true
		}
	}
	if anyGuard {
		w.pre = natexpr.NewPrefilter(guards)
		for i := range w.natFilters {
			nf := &w.natFilters[i]
			if _, ok, more := w.pre.First(i); ok {
				nf.guards = 1
				if more {
					nf.guards = 2
				}
			}
		}
	}
	w.idx.words = (n + 63) / 64
	w.scratch = make([]uint64, w.idx.words)
	w.idx.all = make([]uint64, w.idx.words)
	for i := range n {
		w.idx.all[i/64] |= 1 << (i % 64)
	}
	if !e.cfg.DisableIndex {
		w.idx.build(scens, e.set.slots)
	}
	return w
}

// build indexes the positive conjuncts of scens (those natexpr.Preds
// finds, which read the event as poured: none comes after an operand
// that writes the event). A native filter's residual form (filterExpr)
// leaves them out: keep the two in step.
func (x *index) build(scens []*scen, slots *natexpr.Table) {
	type cons map[natexpr.Field]map[string]bool
	per := make([]cons, len(scens))
	fpos := map[natexpr.Field]int{}
	for i, sc := range scens {
		c := cons{}
		for pi := range sc.preds {
			p := &sc.preds[pi]
			if !p.Positive() {
				continue
			}
			allowed := map[string]bool{}
			for _, v := range p.Vals {
				if prev, ok := c[p.Field]; !ok || prev[v] {
					allowed[v] = true // intersection with earlier conjuncts on the field
				}
			}
			c[p.Field] = allowed
			if _, ok := fpos[p.Field]; !ok {
				fpos[p.Field] = len(x.fields)
				x.fields = append(x.fields, p.Field)
				x.fnos = append(x.fnos, slots.Field(p.Field)) // registered at load
			}
		}
		per[i] = c
	}
	x.free = make([][]uint64, len(x.fields))
	x.maps = make([]map[string][]uint64, len(x.fields))
	x.last = make([]lastLookup, len(x.fields))
	for fi, f := range x.fields {
		x.free[fi] = make([]uint64, x.words)
		x.maps[fi] = map[string][]uint64{}
		for i := range scens {
			allowed, ok := per[i][f]
			if !ok {
				x.free[fi][i/64] |= 1 << (i % 64)
				continue
			}
			for v := range allowed {
				bs := x.maps[fi][v]
				if bs == nil {
					bs = make([]uint64, x.words)
					x.maps[fi][v] = bs
				}
				bs[i/64] |= 1 << (i % 64)
			}
		}
	}
	x.few = make([][]fewKey, len(x.fields))
	for fi, m := range x.maps {
		if len(m) == 0 || len(m) > maxFewKeys {
			continue // an empty map: a lookup costs no hash
		}
		for v, bs := range m {
			x.few[fi] = append(x.few[fi], fewKey{v: v, bs: bs})
		}
	}
}

func (w *worker) run() {
	defer w.e.wg.Done()
	for b := range w.ch {
		if b.barrier != nil {
			w.control(b)
			b.barrier.Done()
			continue
		}
		for i := range b.envs {
			w.kept = false
			w.process(&b.envs[i])
			if w.kept {
				b.keep(i)
			}
		}
		w.e.release(b)
	}
}

func (w *worker) control(b *batch) {
	switch {
	case b.final:
		w.collect(b.wm, w.e.mode == event.TIMEMACHINE)
		for len(w.heap) > 0 {
			bk := w.heap.pop()
			w.remove(bk)
			w.e.stats[bk.sc.idx].discarded.Add(1)
			w.recycle(bk, true)
		}
	case b.tick:
		w.collect(b.wm, true)
	}
}

// collect expires every bucket whose deadline is before now - lateness.
func (w *worker) collect(now time.Time, useLateness bool) {
	limit := now
	if useLateness && w.e.mode == event.TIMEMACHINE {
		if w.lateness < 0 {
			return
		}
		limit = now.Add(-w.lateness)
	}
	for len(w.heap) > 0 && limit.After(w.heap[0].deadline) {
		b := w.heap.pop()
		w.expire(b)
	}
}

// remove forgets a bucket (already out of the heap or still in it).
func (w *worker) remove(b *bucket) {
	if b.hidx >= 0 {
		w.heap.remove(int(b.hidx))
	}
	delete(w.buckets[b.sc.alias], b.key)
	w.e.stats[b.sc.idx].live.Add(-1)
}

// expire ends a bucket whose lifetime is over: counters emit their timed
// overflow, every other type underflows silently.
func (w *worker) expire(b *bucket) {
	w.remove(b)
	if b.sc.kind == KindCounter {
		w.overflow(b.sc, b.key, b.first, b.lastTs, b.deadline, b.total, b.q.items())
		w.recycle(b, false)
		return
	}
	w.e.stats[b.sc.idx].underflowed.Add(1)
	w.recycle(b, true)
}

// maxSpareBuckets bounds a worker's ended buckets kept for reuse, and
// maxSpareQueue the queue storage one keeps (items, delta bytes).
const (
	maxSpareBuckets = 256
	maxSpareQueue   = 16
)

// newBucket returns a new bucket of sc for the partition key: an ended
// one of the worker's (recycle) when it has one. Most buckets of a replay
// live for a few events (a source seen once, then gone): reusing their
// structs, and the storage of their queues, spares an allocation of ~200
// bytes with pointers per bucket, and the collector's work on it.
func (w *worker) newBucket(sc *scen, key string) *bucket {
	n := len(w.spare)
	if n == 0 {
		return &bucket{sc: sc, key: key, tokens: sc.burst, hidx: -1}
	}
	b := w.spare[n-1]
	w.spare[n-1] = nil
	w.spare = w.spare[:n-1]
	b.sc, b.key, b.tokens = sc, key, sc.burst
	return b
}

// recycle keeps b, a bucket that ended (removed, or never stored), for
// reuse by newBucket, cleared: its queue's storage too when keepQueue
// (no overflow took the queue's items) and it is small.
func (w *worker) recycle(b *bucket, keepQueue bool) {
	if len(w.spare) >= maxSpareBuckets {
		return
	}
	var q queue
	if keepQueue {
		if cap(b.q.its) <= maxSpareQueue {
			clear(b.q.its)
			q.its = b.q.its[:0]
		}
		if cap(b.q.older) <= maxSpareQueue*64 {
			q.older = b.q.older[:0]
		}
	}
	*b = bucket{q: q, hidx: -1}
	w.spare = append(w.spare, b)
}

// candidates returns the scenarios of the worker (bits by position in
// scens) that the index lets e reach (see index).
func (w *worker) candidates(e *event.Event, vals []string) []uint64 {
	x := &w.idx
	s := w.scratch
	copy(s, x.all)
	for i, f := range x.fields {
		free := x.free[i]
		if !constrains(s, free) {
			continue // every scenario still selected is free on this field
		}
		var v string
		if vals != nil {
			v = vals[x.fnos[i]]
		} else {
			v = f.Get(e)
		}
		if bs := x.lookup(i, v); bs != nil {
			for j := range s {
				s[j] &= free[j] | bs[j]
			}
		} else {
			for j := range s {
				s[j] &= free[j]
			}
		}
	}
	return s
}

// constrains reports whether some scenario of s is not in free.
func constrains(s, free []uint64) bool {
	for j := range s {
		if s[j]&^free[j] != 0 {
			return true
		}
	}
	return false
}

func (w *worker) process(env *envelope) {
	if len(w.heap) > 0 {
		w.collect(env.wm, true)
	}
	w.nc.Reset(env.evt, env.vals)
	w.pvSrc = nil
	cand := w.candidates(env.evt, env.vals)
	if w.pre != nil {
		// The native filters whose literals the event lacks are false
		// (natexpr.Guard): one pass over each string their first guards
		// read, and they leave the selection at once.
		w.pre.Reset()
		w.pre.Select(w.nc, cand)
	}
	var shared *item
	nc, nfs := w.nc, w.natFilters
	for wi, word := range cand {
		for word != 0 {
			i := wi*64 + bits.TrailingZeros64(word)
			word &= word - 1
			nf := &nfs[i]
			if !nf.ok {
				w.pourScenario(w.scens[i], env, &shared)
				continue
			}
			// The filter is native code on the poured event (most events
			// meet none of the filters the index lets through: no call
			// but this one for them).
			if env.wall && !nf.trigger {
				continue
			}
			if nf.f != nil {
				// Select left the filter's first guard holding: its
				// others, if it has more.
				if nf.guards > 1 && !w.pre.Pass(nc, i) {
					continue
				}
				ok, err := nf.f(nc)
				if err != nil {
					w.e.stats[w.scens[i].idx].filterErr.Add(1)
					continue
				}
				if !ok {
					continue
				}
			}
			w.pourAccepted(w.scens[i], env, env.evt, false, &shared)
		}
	}
}

// fieldVals returns the fields read ahead for the poured event, or nil when
// the expression runs on a private copy (cloned), which may differ.
func (w *worker) fieldVals(cloned bool) []string {
	if cloned {
		return nil
	}
	return w.nc.Vals()
}

// forVM returns evt as an expression VM program that reads the parts need
// as maps (readsViews) sees it: evt itself when their views are built (or
// need is empty), else a read-only copy of evt with the views built by
// this worker, once per event (poured events are shared between workers:
// they are read, never written). A program that writes to the event runs
// on a copy whose written parts are its own and whose views are built
// (scratchForWrite, then ownCopy).
func (w *worker) forVM(evt *event.Event, need event.PartSet) *event.Event {
	if evt.Exposed(need) {
		return evt
	}
	if w.pvSrc != evt {
		evt.ViewCopy(&w.pvEvt, &w.pvViews, need)
		w.pvSrc = evt
	} else if !w.pvEvt.Exposed(need) {
		evt.AddViews(&w.pvEvt, &w.pvViews, need)
	}
	return &w.pvEvt
}

func (w *worker) runBool(p *vm.Program, env any) (bool, error) {
	out, err := w.vm.Run(p, env)
	if err != nil {
		return false, err
	}
	b, _ := out.(bool)
	return b, nil
}

// pourScenario pours the event of env into scenario sc (which the index
// selected), in the order CrowdSec does: filter, groupby, the bucket, then
// the bucket's distinct and cancel_on, the pour itself and its overflow.
// shared is the item of env's event that scenarios not writing to the
// event share (made on first use).
func (w *worker) pourScenario(sc *scen, env *envelope, shared **item) {
	if env.wall && sc.kind != KindTrigger {
		return
	}
	evt, cloned, ok := w.accept(sc, env.evt)
	if !ok {
		return
	}
	w.pourAccepted(sc, env, evt, cloned, shared)
}

// pourAccepted is pourScenario once sc's filter accepted evt (env's
// event, or sc's private copy: cloned).
func (w *worker) pourAccepted(sc *scen, env *envelope, evt *event.Event, cloned bool, shared **item) {
	key, ok := w.partition(sc, evt, cloned)
	if !ok {
		return
	}
	b, fresh := w.bucketFor(sc, key, env.t)
	if b != nil {
		sc = b.sc // the scenario that made a shared bucket rules it
		if env.wall && sc.kind != KindTrigger {
			return
		}
	}
	st := &w.e.stats[sc.idx]
	if sc.kind == KindTrigger {
		st.poured.Add(1)
		st.instantiated.Add(1)
		w.overflow(sc, strings.Clone(key), env.t, env.t, env.t, 1, []*item{w.itemFor(sc, evt, cloned, shared)})
		return
	}
	if fresh {
		// The bucket's own copies of the strings it keeps: the event's are
		// often parts of its log line, which they would keep alive.
		key = strings.Clone(key)
		b = w.newBucket(sc, key)
	}
	if !w.admit(b, fresh, evt, cloned) {
		if fresh {
			w.recycle(b, true) // never stored: nothing refers to it
		}
		return
	}
	// The item only once the event is poured: an event that distinct
	// drops or that cancels the bucket (sshd's successful logins, for the
	// time-based scenarios) is not kept.
	it := w.itemFor(sc, evt, cloned, shared)
	if fresh {
		st.instantiated.Add(1)
		st.live.Add(1)
		m := w.buckets[sc.alias]
		if m == nil {
			m = map[string]*bucket{}
			w.buckets[sc.alias] = m
		}
		m[key] = b
	}
	if w.fill(b, it, evt, env.t) {
		w.remove(b)
		w.overflow(sc, b.key, b.first, b.lastTs, env.t, b.total, b.q.items())
		w.recycle(b, false) // the overflow may keep the queue's items
		return
	}
	w.schedule(b, fresh)
}

// accept runs sc's filter. It returns the event the scenario's other
// expressions see: the poured one, or a private copy (cloned) for a
// scenario whose expressions write to it (SetMeta, SetParsed).
func (w *worker) accept(sc *scen, evt *event.Event) (_ *event.Event, cloned, ok bool) {
	if sc.filter.rejects(w) {
		return nil, false, false
	}
	if sc.mutates {
		evt, cloned = w.scratchForWrite(evt, sc.writes, sc.readsViews), true
	}
	ok, err := sc.filter.eval(w, evt)
	if err != nil {
		w.e.stats[sc.idx].filterErr.Add(1)
		return nil, false, false
	}
	if ok && cloned {
		evt = ownCopy(evt, sc.writes, sc.readsViews)
	}
	return evt, cloned, ok
}

// scratchForWrite copies e, for a filter that calls SetMeta/SetParsed, into
// the worker's scratch event (wEvt): the parts the filter writes (writes)
// are the copy's own (Unshare), the rest is shared read-only, and the
// views of the parts it reads as maps (reads) are built in the worker's
// maps (wViews), reused from event to event. Most events a
// writing filter sees it rejects (http-cve-probing and
// http-technology-probing read every 404 and 403 and write to the few
// probes they accept), and what it wrote to a rejected event nobody
// reads; an accepted one leaves the scratch for a copy of its own
// (ownCopy), with what the filter wrote.
func (w *worker) scratchForWrite(e *event.Event, writes natexpr.Writes, reads event.PartSet) *event.Event {
	own := writtenParts(writes)
	e.ViewCopy(&w.wEvt, &w.wViews, reads&^own)
	w.wEvt.Unshare(own)
	e.AddViews(&w.wEvt, &w.wViews, reads&own)
	return &w.wEvt
}

// ownCopy returns a copy of the scratch event s (scratchForWrite) that
// shares nothing the worker reuses: the written parts and the views of
// reads are copied again (the parts it does not write stay shared,
// read-only, with the poured event).
func ownCopy(s *event.Event, writes natexpr.Writes, reads event.PartSet) *event.Event {
	c := new(event.Event)
	*c = *s
	c.Unshare(writtenParts(writes) | reads)
	return c
}

// writtenParts returns the parts an expression that writes writes
// changes.
func writtenParts(writes natexpr.Writes) event.PartSet {
	var own event.PartSet
	if writes&natexpr.WritesMeta != 0 {
		own |= event.Meta.Set()
	}
	if writes&natexpr.WritesParsed != 0 {
		own |= event.Parsed.Set()
	}
	return own
}

// partition returns the groupby value of evt ("" without groupby); false
// when it fails or is not a string (counted; the event is not poured).
// The value may be the worker's keyBuf: valid until the next partition.
func (w *worker) partition(sc *scen, evt *event.Event, cloned bool) (string, bool) {
	if sc.groupby == nil {
		return "", true
	}
	key, isStr, err := sc.groupby.evalKey(w, evt, cloned, &w.keyBuf)
	if err != nil || !isStr {
		w.e.stats[sc.idx].groupbyErr.Add(1)
		return "", false
	}
	return key, true
}

// bucketFor returns the live bucket of (sc, key), nil and fresh if there is
// none: scenarios with the same name and filter share their buckets
// (CrowdSec keys buckets by a hash of name, filter and partition). A bucket
// whose deadline t has passed expires first. A trigger scenario that shares
// nothing has no live bucket.
func (w *worker) bucketFor(sc *scen, key string, t time.Time) (b *bucket, fresh bool) {
	if sc.kind == KindTrigger && !sc.shared {
		return nil, true
	}
	b = w.buckets[sc.alias][key]
	if b != nil && t.After(b.deadline) {
		w.expire(b)
		b = nil
	}
	return b, b == nil
}

// itemFor returns the item that sc's bucket queues for evt: the shared one
// unless evt is a private copy, holding the whole event if sc's queue
// expressions need it, a view if the expression VM scans the queue at
// every pour, else a record (a native condition reads the record's fields:
// itemQueue).
func (w *worker) itemFor(sc *scen, evt *event.Event, cloned bool, shared **item) *item {
	var it *item
	if cloned {
		it = newItem(evt, w.origins)
	} else {
		if *shared == nil {
			*shared = newItem(evt, w.origins)
		}
		it = *shared
	}
	switch {
	case it.full != nil:
	case sc.needFull:
		it.full = evt
	case sc.scansQueue && !sc.nativeScan:
		if it.view == nil {
			it.view = viewOf(evt)
		}
	case it.rec.keys == nil: // the record, even when the item has a view
		it.rec = w.keys.record(evt, it.rec.raw, &w.recBuf)
	}
	if it.full != nil {
		w.kept = true // the poured event, or a copy sharing its maps
	}
	return it
}

// admit applies the bucket's distinct and cancel_on to evt: false when the
// event is a duplicate (not poured) or cancels the bucket (which is then
// gone).
func (w *worker) admit(b *bucket, fresh bool, evt *event.Event, cloned bool) bool {
	sc := b.sc
	st := &w.e.stats[sc.idx]
	if sc.distinct != nil {
		// CrowdSec lets the event through when distinct fails.
		if v, _, err := sc.distinct.eval(w, evt, cloned); err == nil {
			if !b.distinct.add(v) {
				return false
			}
		}
	}
	if sc.cancelOn != nil {
		if yes, err := sc.cancelOn.eval(w, evt); err == nil && yes {
			st.canceled.Add(1)
			if fresh {
				st.instantiated.Add(1)
			} else {
				w.remove(b)
				w.recycle(b, true)
			}
			return false
		}
	}
	return true
}

// fill pours the item into the bucket at time t and reports whether the
// bucket overflows: its token bucket is empty (leaky), its condition is
// true (conditional), its posterior passes the threshold (bayesian).
func (w *worker) fill(b *bucket, it *item, evt *event.Event, t time.Time) bool {
	sc := b.sc
	w.e.stats[sc.idx].poured.Add(1)
	b.total++
	if b.first.IsZero() {
		b.first = t
	}
	prev := b.lastTs
	b.lastTs = t
	over := sc.limiter && !b.allow(t, prev)
	b.push(it, &w.dBuf)
	if !over && sc.condition != nil {
		yes, err := sc.condition.eval(w, b, evt)
		over = err == nil && yes
	}
	if !over && len(sc.bayes) > 0 {
		over = w.bayesian(b, evt)
	}
	return over
}

// schedule sets the bucket's deadline (after its last pour; after its
// first for a counter) and its place in the expiry heap.
func (w *worker) schedule(b *bucket, fresh bool) {
	sc := b.sc
	if sc.kind == KindCounter && !fresh {
		return
	}
	b.deadline = b.lastTs.Add(sc.lifetime)
	if sc.kind == KindCounter {
		b.deadline = b.first.Add(sc.lifetime)
	}
	if b.hidx < 0 {
		w.heap.push(b)
	} else {
		w.heap.fix(int(b.hidx))
	}
}

// bayesian recomputes the posterior from the prior over every condition.
func (w *worker) bayesian(b *bucket, evt *event.Event) bool {
	sc := b.sc
	if b.guillotine == nil {
		g := make([]bool, len(sc.bayes))
		b.guillotine = &g
	}
	guillotine := *b.guillotine
	post := sc.prior
	var env ConditionEnv
	for i, c := range sc.bayes {
		if c.guillotine && guillotine[i] {
			post = bayesUpdate(post, c.pe, c.pb)
			continue
		}
		if env.Queue == nil {
			env = ConditionEnv{Evt: evt, Queue: w.queueView(b.sc, b.q.items()), Leaky: w.leakyView(b, time.Time{})}
		}
		env.Evt = w.forVM(evt, c.pv)
		yes, err := w.runBool(c.prog, env)
		if err != nil {
			continue
		}
		if yes {
			post = bayesUpdate(post, c.pe, c.pb)
			guillotine[i] = true
		} else {
			post = bayesUpdate(post, 1-c.pe, 1-c.pb)
		}
	}
	return post > sc.thresh
}

func bayesUpdate(prior, pe, pb float32) float32 {
	num := pe * prior
	return num / (num + pb*(1-prior))
}

func (w *worker) queueView(sc *scen, items []*item) *Queue {
	q := &Queue{Queue: make([]*event.Event, len(items)), L: sc.qsize}
	for i, it := range items {
		q.Queue[i] = it.vmEvent()
	}
	return q
}

func (w *worker) leakyView(b *bucket, ovfl time.Time) *Leaky {
	return &Leaky{
		Name: b.sc.spec.Name, Capacity: b.sc.spec.Capacity, Leakspeed: b.sc.leakspeed, Duration: b.sc.lifetime,
		First_ts: b.first, Last_ts: b.lastTs, Ovflw_ts: ovfl, Total_count: b.total, Mapkey: b.sc.mapkey(b.key),
	}
}

// overflow runs the overflow processors (overflow_filter, blackhole) and
// reports the alert.
func (w *worker) overflow(sc *scen, key string, first, last, ovfl time.Time, total int, q []*item) {
	st := &w.e.stats[sc.idx]
	st.overflowed.Add(1)
	ov, err := buildOverflow(w, sc, key, first, last, ovfl, total, q)
	if sc.ovflFilter != nil {
		b := &bucket{sc: sc, key: key, first: first, lastTs: last, total: total}
		sig := &ov.Signal
		yes, ferr := w.runBool(sc.ovflFilter, OverflowEnv{Queue: w.queueView(sc, q), Signal: sig, Leaky: w.leakyView(b, ovfl)})
		if ferr == nil && !yes {
			st.ovflFiltered.Add(1)
			return
		}
	}
	if sc.blackhole > 0 {
		bk := bkey{sc.idx, key}
		if exp, ok := w.bh[bk]; ok && exp.After(ovfl) {
			st.blackholed.Add(1)
			return
		}
		w.bh[bk] = ovfl.Add(sc.blackhole)
		if len(w.bh) >= w.bhSweep {
			w.sweepBlackholes(ovfl)
		}
	}
	if err != nil || ov.Signal.Alert == nil {
		st.noAlert.Add(1)
		return
	}
	if lim := w.e.cfg.RawLines; lim.MaxLines > 0 {
		if lines := rawLines(q, lim); len(lines) > 0 {
			for i := range ov.Signal.APIAlerts {
				ov.Signal.APIAlerts[i].RawLines = lines
			}
		}
	}
	w.e.report(ov)
}

// sweepBlackholes drops expired blackhole entries; amortised O(1).
func (w *worker) sweepBlackholes(now time.Time) {
	limit := now
	if w.e.mode == event.TIMEMACHINE && w.lateness > 0 {
		limit = now.Add(-w.lateness)
	}
	for k, exp := range w.bh {
		if !exp.After(limit) {
			delete(w.bh, k)
		}
	}
	w.bhSweep = 2 * len(w.bh)
	if w.bhSweep < 1024 {
		w.bhSweep = 1024
	}
}

// itemQueue shows a bucket's queue to native conditions (natexpr.Queue):
// each field is read from the item as it keeps it (its record, its view or
// its whole event), so the pour path builds nothing.
type itemQueue struct {
	q *queue
}

func (v *itemQueue) Len() int { return v.q.len() }

func (v *itemQueue) Meta(i int, key string) string {
	s, _ := v.q.at(i).metaValue(key)
	return s
}

func (v *itemQueue) Time(i int) time.Time {
	it := v.q.at(i)
	if e := it.mapped(); e != nil {
		return e.Time
	}
	return it.etime
}
