package lapi

import (
	"container/heap"
	"hash/maphash"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phalanx-ids/phalanx/internal/store"
)

// entry is one decision as the index holds it, in about 110 bytes: the
// strings most decisions share (origin, type, scope, scenario) live once
// in a decMeta, the uuid and the address range are kept as bytes, and the
// stream JSON is written from these at pull time (see appendTail).
//
// Entries are immutable once published: an expiry publishes a copy (in a
// gone event) instead of changing the active entry, so readers may use
// entries without the lock.
type entry struct {
	id      int64
	created int64 // unix ns
	until   int64 // unix ns
	addVer  uint64
	m       *decMeta
	// grp is the group of value; pos the entry's place in index.dense.
	// Both change only under the index's write lock (grp is set before
	// the entry is published; readers without the lock read grp only).
	grp   *group
	value string
	// uuid is the decision's UUID when canonical (oddUUID nil); oddUUID
	// holds any other text (an empty uuid has neither).
	uuid    [16]byte
	oddUUID *string
	// addr/bits: the address range of an Ip/Range decision, as a prefix
	// of the 16-byte form (IPv4 mapped: bits 96 + IPv4 length); bits is
	// noRange for other scopes.
	addr [16]byte
	pos  int32
	bits uint8
}

const noRange = 0xff

// decMeta is what many decisions share. Immutable once made.
type decMeta struct {
	origin, typ, scope, scenario string
	simulated                    bool
	// frag is the stream JSON of the fields after the id:
	// `,"origin":"…","scenario":"…","scope":"…","type":"…"`.
	frag string
}

type metaKey struct {
	origin, typ, scope, scenario string
	simulated                    bool
}

// maxMetas bounds the decMeta intern table (decisions with unique
// scenarios then get their own decMeta: correct, just larger).
const maxMetas = 100000

func (ix *index) meta(d *store.Decision) *decMeta {
	k := metaKey{d.Origin, d.Type, d.Scope, d.Scenario, d.Simulated}
	if m, ok := ix.metas[k]; ok {
		return m
	}
	b := append(ix.scratch[:0], `,"origin":`...)
	b = appendJSONString(b, d.Origin)
	b = append(b, `,"scenario":`...)
	b = appendJSONString(b, d.Scenario)
	b = append(b, `,"scope":`...)
	b = appendJSONString(b, d.Scope)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, d.Type)
	ix.scratch = b
	m := &decMeta{origin: d.Origin, typ: d.Type, scope: d.Scope, scenario: d.Scenario, simulated: d.Simulated, frag: string(b)}
	if len(ix.metas) < maxMetas {
		ix.metas[k] = m
	}
	return m
}

func (ix *index) newEntry(d *store.Decision) *entry {
	e := &entry{id: d.ID, m: ix.meta(d), value: strings.Clone(d.Value), created: d.CreatedAt.UnixNano(),
		until: d.Until.UnixNano(), bits: noRange}
	if u, ok := parseUUID(d.UUID); ok {
		e.uuid = u
	} else if d.UUID != "" {
		odd := strings.Clone(d.UUID)
		e.oddUUID = &odd
	}
	if r, ok, err := store.DecisionRange(d.Scope, d.Value); err == nil && ok {
		e.addr, e.bits = r.Start, rangeBits(r)
	}
	return e
}

// rangeBits returns the prefix length of r in the 16-byte form.
func rangeBits(r store.IPRange) uint8 {
	bits := 0
	for i := range 16 {
		x := r.Start[i] ^ r.End[i]
		if x != 0 {
			for x&0x80 == 0 {
				bits++
				x <<= 1
			}
			return uint8(bits)
		}
		bits += 8
	}
	return 128
}

// hasRange says whether the decision is about an address range (Ip/Range).
func (e *entry) hasRange() bool { return e.bits != noRange }

// single says whether the decision is about one address.
func (e *entry) single() bool { return e.bits == 128 }

// rng returns the address range of an Ip/Range decision.
func (e *entry) rng() store.IPRange {
	r := store.IPRange{Start: e.addr, End: e.addr}
	host := 128 - int(e.bits)
	for i := 15; i >= 0 && host > 0; i-- {
		n := min(host, 8)
		r.End[i] |= byte(1<<n - 1)
		host -= n
	}
	return r
}

// uuidString returns the decision's UUID as stored.
func (e *entry) uuidString() string {
	if e.oddUUID != nil {
		return *e.oddUUID
	}
	if e.uuid == ([16]byte{}) {
		return ""
	}
	return string(appendUUID(nil, e.uuid))
}

// appendTail appends the stream JSON of e after the duration's value:
// `","id":1,"origin":…,"uuid":"…","value":"…"}`.
func (e *entry) appendTail(b []byte) []byte {
	b = append(b, `","id":`...)
	b = strconv.AppendInt(b, e.id, 10)
	b = append(b, e.m.frag...)
	switch {
	case e.oddUUID != nil:
		b = append(b, `,"uuid":`...)
		b = appendJSONString(b, *e.oddUUID)
	case e.uuid != [16]byte{}:
		b = append(b, `,"uuid":"`...)
		b = appendUUID(b, e.uuid)
		b = append(b, '"')
	}
	b = append(b, `,"value":`...)
	b = appendJSONString(b, e.value)
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// parseUUID reads a canonical (lower-case, 8-4-4-4-12) UUID; ok is false
// for anything else, the all-zero UUID included.
func parseUUID(s string) (u [16]byte, ok bool) {
	if len(s) != 36 {
		return u, false
	}
	j := 0
	for i := 0; i < 36; i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if s[i] != '-' {
				return u, false
			}
			continue
		}
		hi := strings.IndexByte(hexDigits, s[i])
		lo := -1
		if i+1 < 36 {
			lo = strings.IndexByte(hexDigits, s[i+1])
		}
		if hi < 0 || lo < 0 {
			return u, false
		}
		u[j] = byte(hi<<4 | lo)
		j++
		i++
	}
	return u, u != [16]byte{}
}

func appendUUID(b []byte, u [16]byte) []byte {
	for i, x := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexDigits[x>>4], hexDigits[x&0xf])
	}
	return b
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
	byID    *table[int64, *entry]  // active entries by decision id
	byValue *table[string, *group] // groups (never empty) by value
	// dense holds every active entry (unordered, swap-removed): full walks
	// read it instead of iterating maps.
	dense  []*entry
	ranges map[int64]*entry // active entries spanning more than one address
	exp    expHeap
	log    []event
	// logFloor: changes with a version <= logFloor may be missing from log.
	logFloor uint64
	metas    map[metaKey]*decMeta // interned shared parts of decisions
	scratch  []byte               // encode buffer (under the write lock)
	counts   map[[2]string]int    // active, non-simulated: (origin, type) -> n
	// nextExp is the earliest until in exp (unix ns), read without the lock.
	nextExp atomic.Int64
	// view is the log as of the last change (see logView).
	view          atomic.Pointer[logView]
	deletedWindow time.Duration
	maxLog        int
}

func newIndex(deletedWindow time.Duration) *index {
	ix := &index{
		byID:          newTable(entryID, hashID),
		ranges:        make(map[int64]*entry),
		metas:         make(map[metaKey]*decMeta),
		counts:        make(map[[2]string]int),
		deletedWindow: deletedWindow,
		maxLog:        4 << 20,
		ver:           1, // versions recorded by pulls are never 0
	}
	seed := maphash.MakeSeed()
	ix.byValue = newTable(groupValue, func(v string) uint64 { return maphash.String(seed, v) })
	ix.nextExp.Store(1<<63 - 1)
	ix.publish()
	return ix
}

func entryID(e *entry) int64 { return e.id }

// groupValue is the value of a group's members (a group in the table has
// at least one).
func groupValue(g *group) string { return g.list()[0].value }

// hashID mixes a decision id (splitmix64's finalizer).
func hashID(id int64) uint64 {
	x := uint64(id)
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// publish makes the current log visible to lock-free readers. Called with
// the write lock held, after every change of the log.
func (ix *index) publish() {
	ix.view.Store(&logView{log: ix.log[:len(ix.log):len(ix.log)], floor: ix.logFloor, ver: ix.ver})
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
		if _, ok := ix.byID.get(d.ID); ok {
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
		old, known := ix.byID.get(d.ID)
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
			e.grp, _ = ix.byValue.get(e.value)
			ix.log = append(ix.log, event{ver: ix.ver, at: max(until, n-int64(time.Second)), e: e, gone: true})
		}
	}
	ix.updateNextExp()
	ix.trimLog(n)
	ix.publish()
}

func (ix *index) insert(e *entry, ver uint64) {
	e.addVer = ver
	ix.byID.put(e)
	g, known := ix.byValue.get(e.value)
	if !known {
		g = &group{}
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
	if !known {
		ix.byValue.put(g) // now that it has its member (the table's key)
	}
	e.grp = g
	e.pos = int32(len(ix.dense))
	ix.dense = append(ix.dense, e)
	if e.hasRange() && !e.single() {
		ix.ranges[e.id] = e
	}
	heap.Push(&ix.exp, e)
	if !e.m.simulated {
		ix.counts[[2]string{e.m.origin, e.m.typ}]++
	}
}

// remove takes e out of the active set and logs its end (until, at the
// latest now).
func (ix *index) remove(e *entry, until, now int64) {
	ix.byID.del(e.id)
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
		if cur, _ := ix.byValue.get(e.value); len(list) == 0 && cur == g {
			ix.byValue.del(e.value) // while g still has its member (the table's key)
		}
		g.members.Store(&list)
	}
	if !e.m.simulated {
		k := [2]string{e.m.origin, e.m.typ}
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
		if cur, _ := ix.byID.get(e.id); cur == e {
			ix.remove(e, e.until, e.until)
		}
	}
	ix.updateNextExp()
	ix.trimLog(n)
	ix.publish()
}

// current says whether e is the active entry of its decision.
func (ix *index) current(e *entry) bool {
	cur, ok := ix.byID.get(e.id)
	return ok && cur == e
}

func (ix *index) updateNextExp() {
	// Entries removed by apply stay in the heap until popped; skip them.
	for len(ix.exp) > 0 && !ix.current(ix.exp[0]) {
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
	m := e.m
	if m.simulated && !f.withSimulated {
		return false
	}
	if !f.scopeOK(m.scope) {
		return false
	}
	if f.typ != "" && m.typ != f.typ {
		return false
	}
	if len(f.origins) > 0 {
		ok := false
		for _, o := range f.origins {
			if m.origin == o {
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
			if strings.Contains(m.scenario, w) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, w := range f.notContaining {
		if strings.Contains(m.scenario, w) {
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
		if o == e || o.m.typ != e.m.typ || o.m.scope != e.m.scope {
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
		k := dkey{ev.e.value, ev.e.m.typ, ev.e.m.scope}
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
	g, ok := ix.byValue.get(k.value)
	if !ok {
		return false
	}
	for _, e := range g.list() {
		if e.m.typ == k.typ && e.m.scope == k.scope && f.match(e) {
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
		k := dkey{ev.e.value, ev.e.m.typ, ev.e.m.scope}
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
				if e.m.typ != k.typ || e.m.scope != k.scope || !f.match(e) {
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
			if !e.hasRange() {
				return
			}
			if q.contains && !e.rng().Contains(*q.rng) {
				return
			}
			if !q.contains && !q.rng.Contains(e.rng()) {
				return
			}
		}
		out = append(out, e)
	}
	switch {
	case q.value != "":
		if g, ok := ix.byValue.get(q.value); ok {
			for _, e := range g.list() {
				add(e)
			}
		}
	case q.rng != nil && q.contains:
		// single-address decisions are found by value, wider ones scanned
		if q.rng.Start == q.rng.End {
			a := netip.AddrFrom16(q.rng.Start).Unmap()
			if g, ok := ix.byValue.get(a.String()); ok {
				for _, e := range g.list() {
					if e.single() {
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
	_, ok := ix.byID.get(id)
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
	return ix.byID.len()
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
