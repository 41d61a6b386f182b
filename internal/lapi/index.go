package lapi

import (
	"container/heap"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phalanx-ids/phalanx/internal/store"
)

// entry is one decision as the index holds it. Entries are immutable once
// published: an expiry publishes a copy (in a gone event) instead of
// changing the active entry, so readers may use entries without the lock.
type entry struct {
	id        int64
	uuid      string
	origin    string
	typ       string
	scope     string
	value     string
	scenario  string
	simulated bool
	hasRange  bool
	created   int64 // unix ns
	until     int64 // unix ns
	addVer    uint64
	rng       store.IPRange
	// tail is the decision's stream JSON after the duration's value:
	// `","id":1,...,"value":"..."}`; uuid and value share its bytes when
	// they need no escaping.
	tail string
	// grp is the group of value; pos the entry's place in index.dense.
	// Both change only under the index's write lock (grp is set before
	// the entry is published).
	grp *group
	pos int
}

// event is one change of the index: a decision added, or gone (expired or
// deleted; e is then a copy carrying the new until).
type event struct {
	ver  uint64
	at   int64 // unix ns when the index applied it (gone: the end time)
	e    *entry
	gone bool
}

// group holds the active decisions of one value. The list is replaced,
// never changed in place (under the index's write lock), so that readers
// without the lock see a consistent one.
type group struct {
	members atomic.Pointer[[]*entry]
}

// list returns the group's active entries (do not modify).
func (g *group) list() []*entry {
	if p := g.members.Load(); p != nil {
		return *p
	}
	return nil
}

// logView is a published, immutable view of the change log: readers load
// it without the lock (RCU). log may share its array with later views;
// elements up to len(log) are never written again.
type logView struct {
	log   []event
	floor uint64 // changes with a version <= floor may be missing
	ver   uint64 // the index version when published (the last event's)
}

// index is the in-memory view of the decisions: every active one, plus a
// log of the changes applied since it was built (adds and removals), so
// that an incremental pull reads only what changed.
//
// Concurrency: every method is safe for concurrent use; changes take the
// write lock; full walks (startup pulls, live queries) the read lock;
// incremental pulls take no lock: they read the published logView and the
// groups' copy-on-write lists. Natural expiries are applied lazily by
// sweep (called before reads and by the follower).
type index struct {
	mu      sync.RWMutex
	ver     uint64
	byID    map[int64]*entry
	byValue map[string]*group
	// dense holds every active entry (unordered, swap-removed): full walks
	// read it instead of iterating maps.
	dense  []*entry
	ranges map[int64]*entry // active entries spanning more than one address
	exp    expHeap
	log    []event
	// logFloor: changes with a version <= logFloor may be missing from log.
	logFloor uint64
	strs     map[string]string // interned low-cardinality strings
	scratch  []byte            // encode buffer (under the write lock)
	counts   map[[2]string]int // active, non-simulated: (origin, type) -> n
	// nextExp is the earliest until in exp (unix ns), read without the lock.
	nextExp atomic.Int64
	// view is the log as of the last change (see logView).
	view          atomic.Pointer[logView]
	deletedWindow time.Duration
	maxLog        int
}

func newIndex(deletedWindow time.Duration) *index {
	ix := &index{
		byID:          make(map[int64]*entry),
		byValue:       make(map[string]*group),
		ranges:        make(map[int64]*entry),
		strs:          make(map[string]string),
		counts:        make(map[[2]string]int),
		deletedWindow: deletedWindow,
		maxLog:        4 << 20,
		ver:           1, // versions recorded by pulls are never 0
	}
	ix.nextExp.Store(1<<63 - 1)
	ix.publish()
	return ix
}

// publish makes the current log visible to lock-free readers. Called with
// the write lock held, after every change of the log.
func (ix *index) publish() {
	ix.view.Store(&logView{log: ix.log[:len(ix.log):len(ix.log)], floor: ix.logFloor, ver: ix.ver})
}

func (ix *index) intern(s string) string {
	if v, ok := ix.strs[s]; ok {
		return v
	}
	if len(ix.strs) > 100000 { // bounded: stop interning rather than grow forever
		return s
	}
	ix.strs[s] = s
	return s
}

func (ix *index) newEntry(d *store.Decision) *entry {
	e := &entry{
		id: d.ID, uuid: d.UUID, origin: ix.intern(d.Origin), typ: ix.intern(d.Type),
		scope: ix.intern(d.Scope), value: d.Value, scenario: ix.intern(d.Scenario),
		simulated: d.Simulated, created: d.CreatedAt.UnixNano(), until: d.Until.UnixNano(),
	}
	if r, ok, err := store.DecisionRange(d.Scope, d.Value); err == nil && ok {
		e.rng, e.hasRange = r, true
	}
	ix.scratch = e.encode(ix.scratch)
	return e
}

// encode fills e.tail (the stream JSON of e after the duration) and
// points e.uuid and e.value into it when they are stored verbatim. buf is
// scratch space (returned, possibly grown, for reuse).
func (e *entry) encode(buf []byte) []byte {
	b := append(buf[:0], `","id":`...)
	b = strconv.AppendInt(b, e.id, 10)
	b = append(b, `,"origin":`...)
	b = appendJSONString(b, e.origin)
	b = append(b, `,"scenario":`...)
	b = appendJSONString(b, e.scenario)
	b = append(b, `,"scope":`...)
	b = appendJSONString(b, e.scope)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, e.typ)
	uuidAt, valueAt := -1, -1
	if e.uuid != "" {
		b = append(b, `,"uuid":`...)
		if plainJSON(e.uuid) {
			uuidAt = len(b) + 1
		}
		b = appendJSONString(b, e.uuid)
	}
	b = append(b, `,"value":`...)
	if plainJSON(e.value) {
		valueAt = len(b) + 1
	}
	b = appendJSONString(b, e.value)
	b = append(b, '}')
	e.tail = string(b)
	if uuidAt >= 0 {
		e.uuid = e.tail[uuidAt : uuidAt+len(e.uuid)]
	}
	if valueAt >= 0 {
		e.value = e.tail[valueAt : valueAt+len(e.value)]
	}
	return b
}

// load inserts active decisions without logging them (index build).
func (ix *index) load(ds []*store.Decision, now time.Time) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	n := now.UnixNano()
	for _, d := range ds {
		if d.Until.UnixNano() <= n {
			continue
		}
		if _, ok := ix.byID[d.ID]; ok {
			continue
		}
		ix.insert(ix.newEntry(d), 0)
	}
	ix.updateNextExp()
}

// apply applies changes read from the store's change sequence: active
// decisions are added (if unknown), expired ones removed.
func (ix *index) apply(ds []*store.Decision, now time.Time) {
	if len(ds) == 0 {
		return
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	n := now.UnixNano()
	for _, d := range ds {
		until := d.Until.UnixNano()
		old, known := ix.byID[d.ID]
		switch {
		case until > n && !known:
			ix.ver++
			e := ix.newEntry(d)
			ix.insert(e, ix.ver)
			ix.log = append(ix.log, event{ver: ix.ver, at: n, e: e})
		case until <= n && known:
			ix.remove(old, until, n)
		case until <= n && !known && until > n-int64(ix.deletedWindow):
			// Added and expired between two reads (or before the build):
			// report it as deleted so that no bouncer keeps it.
			ix.ver++
			e := ix.newEntry(d)
			e.grp = ix.byValue[e.value]
			ix.log = append(ix.log, event{ver: ix.ver, at: max(until, n-int64(time.Second)), e: e, gone: true})
		}
	}
	ix.updateNextExp()
	ix.trimLog(n)
	ix.publish()
}

func (ix *index) insert(e *entry, ver uint64) {
	e.addVer = ver
	ix.byID[e.id] = e
	g := ix.byValue[e.value]
	if g == nil {
		g = &group{}
		ix.byValue[e.value] = g
	}
	if old := g.list(); len(old) == 0 {
		// one allocation for the common single-decision group
		one := &struct {
			list []*entry
			arr  [1]*entry
		}{}
		one.arr[0] = e
		one.list = one.arr[:]
		g.members.Store(&one.list)
	} else {
		list := make([]*entry, len(old)+1)
		copy(list, old)
		list[len(old)] = e
		g.members.Store(&list)
	}
	e.grp = g
	e.pos = len(ix.dense)
	ix.dense = append(ix.dense, e)
	if e.hasRange && e.rng.Start != e.rng.End {
		ix.ranges[e.id] = e
	}
	heap.Push(&ix.exp, e)
	if !e.simulated {
		ix.counts[[2]string{e.origin, e.typ}]++
	}
}

// remove takes e out of the active set and logs its end (until, at the
// latest now).
func (ix *index) remove(e *entry, until, now int64) {
	delete(ix.byID, e.id)
	delete(ix.ranges, e.id)
	last := ix.dense[len(ix.dense)-1]
	ix.dense[e.pos], last.pos = last, e.pos
	ix.dense[len(ix.dense)-1] = nil
	ix.dense = ix.dense[:len(ix.dense)-1]
	if g := e.grp; g != nil {
		old := g.list()
		list := make([]*entry, 0, len(old))
		for _, x := range old {
			if x != e {
				list = append(list, x)
			}
		}
		g.members.Store(&list)
		if len(list) == 0 && ix.byValue[e.value] == g {
			delete(ix.byValue, e.value)
		}
	}
	if !e.simulated {
		k := [2]string{e.origin, e.typ}
		if ix.counts[k]--; ix.counts[k] <= 0 {
			delete(ix.counts, k)
		}
	}
	c := *e
	c.until = min(until, now)
	ix.ver++
	ix.log = append(ix.log, event{ver: ix.ver, at: max(c.until, now-int64(time.Second)), e: &c, gone: true})
}

// sweep removes the decisions whose until has passed.
func (ix *index) sweep(now time.Time) {
	n := now.UnixNano()
	if ix.nextExp.Load() > n {
		return
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for len(ix.exp) > 0 && ix.exp[0].until <= n {
		e := heap.Pop(&ix.exp).(*entry)
		if ix.byID[e.id] == e {
			ix.remove(e, e.until, e.until)
		}
	}
	ix.updateNextExp()
	ix.trimLog(n)
	ix.publish()
}

func (ix *index) updateNextExp() {
	// Entries removed by apply stay in the heap until popped; skip them.
	for len(ix.exp) > 0 && ix.byID[ix.exp[0].id] != ix.exp[0] {
		heap.Pop(&ix.exp)
	}
	if len(ix.exp) == 0 {
		ix.nextExp.Store(1<<63 - 1)
		return
	}
	ix.nextExp.Store(ix.exp[0].until)
}

// trimLog forgets events older than the deleted window, and the oldest
// half when the log grows past maxLog.
func (ix *index) trimLog(now int64) {
	cut := 0
	horizon := now - int64(ix.deletedWindow)
	for cut < len(ix.log) && ix.log[cut].at < horizon {
		cut++
	}
	if len(ix.log)-cut > ix.maxLog {
		cut = len(ix.log) - ix.maxLog/2
	}
	if cut == 0 {
		return
	}
	ix.logFloor = ix.log[cut-1].ver
	ix.log = append([]event(nil), ix.log[cut:]...)
}

// streamFilter selects decisions for bouncers.
type streamFilter struct {
	scopes         []string // lower case; empty: all
	origins        []string // empty: all
	containing     []string
	notContaining  []string
	withSimulated  bool
	dedupDisabled  bool
	typ, valueOnly string
}

func (f *streamFilter) scopeOK(scope string) bool {
	if len(f.scopes) == 0 {
		return true
	}
	for _, s := range f.scopes {
		if strings.EqualFold(s, scope) {
			return true
		}
	}
	return false
}

func (f *streamFilter) match(e *entry) bool {
	if e.simulated && !f.withSimulated {
		return false
	}
	if !f.scopeOK(e.scope) {
		return false
	}
	if f.typ != "" && e.typ != f.typ {
		return false
	}
	if len(f.origins) > 0 {
		ok := false
		for _, o := range f.origins {
			if e.origin == o {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(f.containing) > 0 {
		ok := false
		for _, w := range f.containing {
			if strings.Contains(e.scenario, w) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, w := range f.notContaining {
		if strings.Contains(e.scenario, w) {
			return false
		}
	}
	return true
}

// dkey is CrowdSec's dedup key: the longest decision per (value, type, scope).
type dkey struct{ value, typ, scope string }

// wins says whether e (matching f) is what the stream serves for its
// (value, type, scope): with dedup, the matching entry of its group with
// the latest until (ties: the highest id).
func (f *streamFilter) wins(e *entry) bool {
	members := e.grp.list()
	if f.dedupDisabled || len(members) == 1 {
		return true
	}
	for _, o := range members {
		if o == e || o.typ != e.typ || o.scope != e.scope {
			continue
		}
		if (o.until > e.until || (o.until == e.until && o.id > e.id)) && f.match(o) {
			return false
		}
	}
	return true
}

// pullResult is what a stream pull returns.
type pullResult struct {
	fresh, gone []*entry
	ver         uint64
}

// pull computes a stream answer. startup: every active decision (deduped)
// and nothing deleted (CrowdSec answers "deleted": [] there: a bouncer
// starting from nothing has nothing to remove). Otherwise, with sinceVer > 0 known to this index: the changes after
// sinceVer; else the changes since the time since (minus 2s, as CrowdSec).
func (ix *index) pull(f *streamFilter, startup bool, sinceVer uint64, since time.Time, now time.Time) pullResult {
	ix.sweep(now)
	if v := ix.view.Load(); !startup && sinceVer > 0 && sinceVer >= v.floor && sinceVer <= v.ver {
		// incremental: lock-free, from the published log
		i := sort.Search(len(v.log), func(i int) bool { return v.log[i].ver > sinceVer })
		res := pullResult{ver: v.ver}
		res.fresh, res.gone = changes(f, v.log[i:], sinceVer)
		return res
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	res := pullResult{ver: ix.ver}
	n := now.UnixNano()
	switch {
	case startup || (sinceVer == 0 && since.IsZero()):
		res.fresh = make([]*entry, 0, len(ix.dense))
		for _, e := range ix.dense {
			if f.match(e) && f.wins(e) {
				res.fresh = append(res.fresh, e)
			}
		}
		if !startup { // first pull without startup=true: what ended lately
			res.gone = ix.goneSince(f, 0, n-int64(ix.deletedWindow), n)
		}
	case sinceVer > 0 && sinceVer >= ix.logFloor && sinceVer <= ix.ver:
		i := sort.Search(len(ix.log), func(i int) bool { return ix.log[i].ver > sinceVer })
		res.fresh, res.gone = changes(f, ix.log[i:], sinceVer)
	default:
		floor := since.Add(-2 * time.Second).UnixNano()
		// the best decisions created (or added here) since floor
		for _, e := range ix.dense {
			if f.match(e) && f.wins(e) && (e.created > floor || e.addVer > 0 && ix.addedAfter(e, floor)) {
				res.fresh = append(res.fresh, e)
			}
		}
		res.gone = ix.goneSince(f, 0, floor, n)
	}
	return res
}

// addedAfter says whether e was added to this index after floor (for
// decisions followed from another replica after their creation).
func (ix *index) addedAfter(e *entry, floor int64) bool {
	i := sort.Search(len(ix.log), func(i int) bool { return ix.log[i].ver >= e.addVer })
	return i < len(ix.log) && ix.log[i].ver == e.addVer && ix.log[i].at > floor
}

// goneSince returns the gone events with at in (floor, now], one per dedup
// key, leaving out keys that still have an active matching decision.
func (ix *index) goneSince(f *streamFilter, _ uint64, floor, now int64) []*entry {
	seen := make(map[dkey]struct{})
	var out []*entry
	for i := len(ix.log) - 1; i >= 0; i-- {
		ev := ix.log[i]
		if ev.at <= floor {
			break
		}
		if !ev.gone || ev.at > now || !f.match(ev.e) {
			continue
		}
		k := dkey{ev.e.value, ev.e.typ, ev.e.scope}
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		if ix.activeMatch(f, k) {
			continue
		}
		out = append(out, ev.e)
	}
	return out
}

func (ix *index) activeMatch(f *streamFilter, k dkey) bool {
	g := ix.byValue[k.value]
	if g == nil {
		return false
	}
	for _, e := range g.list() {
		if e.typ == k.typ && e.scope == k.scope && f.match(e) {
			return true
		}
	}
	return false
}

// changes turns log events into a stream answer: for each touched key,
// the current best active decision when it was added or replaces a
// removed one, else the removed decision. It reads only the events and
// the groups they point to (no lock: see logView).
func changes(f *streamFilter, evs []event, sinceVer uint64) (fresh, gone []*entry) {
	if len(evs) == 0 {
		return nil, nil
	}
	type touch struct {
		k       dkey
		removed *entry
		grp     *group // of the latest event with one
	}
	var touched []touch
	var pos map[dkey]int // index in touched; built only for long logs
	const linear = 16
	for _, ev := range evs {
		if !f.match(ev.e) {
			continue
		}
		k := dkey{ev.e.value, ev.e.typ, ev.e.scope}
		at := -1
		if pos != nil {
			if i, ok := pos[k]; ok {
				at = i
			}
		} else {
			for i := range touched {
				if touched[i].k == k {
					at = i
					break
				}
			}
		}
		if at < 0 {
			at = len(touched)
			touched = append(touched, touch{k: k})
			if pos != nil {
				pos[k] = at
			} else if len(touched) > linear {
				pos = make(map[dkey]int, len(evs))
				for i, t := range touched {
					pos[t.k] = i
				}
			}
		}
		t := &touched[at]
		if ev.gone {
			t.removed = ev.e
		}
		if ev.e.grp != nil {
			t.grp = ev.e.grp
		}
	}
	for i := range touched {
		t := &touched[i]
		k := t.k
		var best *entry
		n := 0
		if t.grp != nil {
			for _, e := range t.grp.list() {
				if e.typ != k.typ || e.scope != k.scope || !f.match(e) {
					continue
				}
				n++
				if f.dedupDisabled {
					if e.addVer > sinceVer {
						fresh = append(fresh, e)
					}
					continue
				}
				if best == nil || e.until > best.until || (e.until == best.until && e.id > best.id) {
					best = e
				}
			}
		}
		switch {
		case f.dedupDisabled:
			if t.removed != nil && n == 0 {
				gone = append(gone, t.removed)
			}
		case best != nil && (best.addVer > sinceVer || t.removed != nil):
			fresh = append(fresh, best)
		case best == nil && t.removed != nil:
			gone = append(gone, t.removed)
		}
	}
	return fresh, gone
}

// liveQuery selects active decisions for GET /v1/decisions.
type liveQuery struct {
	f        streamFilter
	value    string
	rng      *store.IPRange // ip/range filter
	contains bool
}

func (ix *index) live(q *liveQuery, now time.Time) []*entry {
	ix.sweep(now)
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var out []*entry
	add := func(e *entry) {
		if !q.f.match(e) {
			return
		}
		if q.value != "" && e.value != q.value {
			return
		}
		if q.rng != nil {
			if !e.hasRange {
				return
			}
			if q.contains && !e.rng.Contains(*q.rng) {
				return
			}
			if !q.contains && !q.rng.Contains(e.rng) {
				return
			}
		}
		out = append(out, e)
	}
	switch {
	case q.value != "":
		if g := ix.byValue[q.value]; g != nil {
			for _, e := range g.list() {
				add(e)
			}
		}
	case q.rng != nil && q.contains:
		// single-address decisions are found by value, wider ones scanned
		if q.rng.Start == q.rng.End {
			a := netip.AddrFrom16(q.rng.Start).Unmap()
			if g := ix.byValue[a.String()]; g != nil {
				for _, e := range g.list() {
					if e.rng.Start == e.rng.End {
						add(e)
					}
				}
			}
		}
		for _, e := range ix.ranges {
			add(e)
		}
	default:
		for _, e := range ix.dense {
			add(e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// active says whether decision id is in force.
func (ix *index) active(id int64, now time.Time) bool {
	ix.sweep(now)
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	_, ok := ix.byID[id]
	return ok
}

// countsSnapshot returns the active, non-simulated decisions per (origin, type).
func (ix *index) countsSnapshot() map[[2]string]int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	out := make(map[[2]string]int, len(ix.counts))
	for k, v := range ix.counts {
		out[k] = v
	}
	return out
}

// size returns the number of active decisions.
func (ix *index) size() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.byID)
}

// expHeap orders entries by until.
type expHeap []*entry

func (h expHeap) Len() int           { return len(h) }
func (h expHeap) Less(i, j int) bool { return h[i].until < h[j].until }
func (h expHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expHeap) Push(x any)        { *h = append(*h, x.(*entry)) }
func (h *expHeap) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return e
}
