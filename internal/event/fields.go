package event

import "unsafe"

// Part is one of the string maps of an event that a Schema slots:
// evt.Parsed, evt.Meta, evt.Enriched. Each has its own names.
type Part uint8

// The slotted parts of an event.
const (
	Parsed   Part = iota // evt.Parsed: grok captures, parsed: statics
	Meta                 // evt.Meta: meta: statics, SetMeta
	Enriched             // evt.Enriched: enrichment methods, enriched: statics
	numParts
)

// PartSet is a set of parts (bit 1<<p for part p).
type PartSet uint8

// AllParts holds every part.
const AllParts PartSet = 1<<numParts - 1

// Set returns the set holding p alone.
func (p Part) Set() PartSet { return 1 << p }

// Has reports whether s holds p.
func (s PartSet) Has(p Part) bool { return s&(1<<p) != 0 }

// String returns the part's name as expressions spell it ("Meta").
func (p Part) String() string {
	switch p {
	case Parsed:
		return "Parsed"
	case Meta:
		return "Meta"
	case Enriched:
		return "Enriched"
	}
	return "part?"
}

// Schema numbers the field names of evt.Parsed, evt.Meta and evt.Enriched
// that loaded content writes and reads: each name of a part gets a slot,
// and an event created by the schema (Schema.New) keeps those fields in
// slots instead of maps. Names outside the schema (written by an
// expression at run time, SetMeta with a computed key) go to a small
// overflow map, so any name works; the schema only makes the known ones
// cheap.
//
// Concurrency: until Freeze, Key interns names: the parsers' load, from
// one goroutine, before any event of the schema exists. After Freeze a
// Schema is read-only and safe for concurrent use: Key only looks names
// up (what loads later, scenarios, resolves its reads with it while
// events flow). The loaded content owns it (one per content.Runtime);
// there is no package-level schema.
type Schema struct {
	parts  [numParts]nameTable
	frozen bool
}

// nameTable numbers the names of one part.
type nameTable struct {
	slots map[string]int
	names []string
	// srcIP is 1 + the slot of Meta's source_ip (0: none), which
	// SourceIP and AppendIPSources read on every line without a lookup
	// by name.
	srcIP int
}

// sourceIPName is the Meta field holding a log event's source address.
const sourceIPName = "source_ip"

// Freeze ends interning: Key no longer adds names.
func (s *Schema) Freeze() { s.frozen = true }

// NewSchema returns an empty schema.
func NewSchema() *Schema {
	s := &Schema{}
	for i := range s.parts {
		s.parts[i].slots = map[string]int{}
	}
	return s
}

// Key returns the key of part p's field name, giving it a slot if it has
// none and s is not frozen (a name without slot gets a key that goes by
// name).
func (s *Schema) Key(p Part, name string) Key {
	t := &s.parts[p]
	i, ok := t.slots[name]
	if !ok {
		if s.frozen {
			return Key{p: p, slot: -1, name: name}
		}
		if len(t.names) > maxSlots {
			return Key{p: p, slot: -1, name: name} // goes by name
		}
		i = len(t.names)
		t.slots[name] = i
		t.names = append(t.names, name)
		if p == Meta && name == sourceIPName {
			t.srcIP = i + 1
		}
	}
	return Key{t: t, p: p, slot: int32(i), name: name}
}

// Len is the number of slots of part p.
func (s *Schema) Len(p Part) int {
	if s == nil {
		return 0
	}
	return len(s.parts[p].names)
}

// Names returns the slotted names of part p, by slot.
func (s *Schema) Names(p Part) []string { return append([]string(nil), s.parts[p].names...) }

// New returns a log event for l whose fields are slotted by s.
func (s *Schema) New(l Line) *Event {
	if s == nil {
		return New(l)
	}
	e := newEvent(l) // no views: built on demand
	// The parts' indexes and entries are carved out of two allocations
	// (three-index slices: a part that outgrows its entries reallocates
	// them alone).
	// The strings of the values that are not spans of the line (strs)
	// are a third.
	npos, nent, nstr := 0, 0, 0
	for i := range s.parts {
		npos += len(s.parts[i].names)
		nent += entryHint(Part(i), len(s.parts[i].names))
		nstr += strHint(Part(i), len(s.parts[i].names))
	}
	pos := make([]uint8, npos)
	ent := make([]entry, 0, nent)
	strs := make([]string, 0, nstr)
	for i := range e.fs {
		n, c, sc := len(s.parts[i].names), entryHint(Part(i), len(s.parts[i].names)), strHint(Part(i), len(s.parts[i].names))
		e.fs[i] = fields{t: &s.parts[i], pos: pos[:n:n], ent: ent[:0:c], strs: strs[:0:sc]}
		e.fs[i].setBase(l.Raw)
		pos, ent, strs = pos[n:], ent[c:c], strs[sc:sc]
	}
	return e
}

// entryHint is the number of entries an event reserves for part p, of n
// names: what a line of the busiest log types writes (an nginx access line
// sets ~20 parsed fields and ~12 meta ones, its enrichers a few), so that
// a fresh event grows no slice.
func entryHint(p Part, n int) int {
	switch p {
	case Parsed:
		return min(n, 24)
	case Meta:
		return min(n, 16)
	}
	return min(n, 8)
}

// strHint is the number of values that are no span of the line (see
// fields) an event reserves room for in part p, of n names: grok captures
// (most of Parsed, and the Meta fields copied from them) are spans; the
// parsers' constant statics (Meta's log type, service), the enrichers'
// results (Enriched) are not.
func strHint(p Part, n int) int {
	switch p {
	case Parsed:
		return min(n, 4)
	}
	return min(n, 8)
}

// Key is a field name of a part resolved against a Schema at load time.
// Reading or writing an event through a Key indexes the event's slots when
// the event belongs to the key's schema, and falls back to the name
// otherwise (an event built by hand, by another schema, an overflow), so a
// Key is always correct and fast in the common case.
//
// A Key is 32 bytes, four fields: the compiler keeps a value of that size
// in registers (SSA), where a 40-byte one (an int slot) was spilled to the
// stack at each Get and Set and read back from there.
type Key struct {
	t    *nameTable
	name string
	slot int32 // -1: no slot (by name)
	p    Part
}

// maxSlots bounds a part's slots (a Key's int32); names beyond it go by
// name.
const maxSlots = 1<<31 - 2

// Name returns the field name.
func (k Key) Name() string { return k.name }

// Part returns the part the field belongs to.
func (k Key) Part() Part { return k.p }

// fields is a set of named string fields. The values of slotted names
// are entries in write order, found through a byte index by slot (pos:
// 1 + the entry's index); other names, and any beyond the 255 entries a
// byte indexes, go to an overflow map. An event uses a few of the
// schema's names (nginx's ~20 of ~60): the index costs a byte per name
// and holds no pointers, the entries only what was written.
//
// The index is a sparse set: slot i is present when pos[i] = p, p-1 <
// len(ent) and ent[p-1].slot == i (has), so an index byte left over from
// an earlier line is no entry, and reset truncates the entries without
// clearing the index or the entries (what every line's Reset would
// otherwise clear, with a write barrier per string while the collector
// marks). An absent field differs from one set to "", as a map key does
// for expr's `in`.
//
// An entry holds no pointer, so that the collector does not scan the
// entries of the thousands of events in flight, and writing one needs no
// write barrier: a value that lies inside the event's line (base: the
// bytes of Line.Raw when the event was made or Reset; grok captures, and
// the fields copied from them, do) is its offset and length there (a
// span), any other value a string of strs. Reading a span makes a string
// of the line's bytes (no copy): the same string, pointer included, that
// was written. base is the fields' own pointer, not Line.Raw read again,
// so a span stays right if the event's line changes.
type fields struct {
	t     *nameTable
	pos   []uint8 // by slot
	ent   []entry
	strs  []string       // the values that are no span, by entry.off
	base  unsafe.Pointer // the line's bytes (nil: none)
	blen  uintptr        // their length
	extra map[string]string
}

// entry is a slotted field: its value is base[off:off+n] (span), or
// strs[off].
type entry struct {
	slot int32
	off  uint32
	n    uint32
	span bool
}

// setBase makes raw the line whose bytes values may be spans of.
func (f *fields) setBase(raw string) {
	if uint64(len(raw)) > 1<<32-1 {
		f.base, f.blen = nil, 0 // beyond an entry's offsets: no span
		return
	}
	f.base, f.blen = unsafe.Pointer(unsafe.StringData(raw)), uintptr(len(raw))
}

// value returns the value of en, an entry of f.
func (f *fields) value(en *entry) string {
	if en.span {
		return unsafe.String((*byte)(unsafe.Add(f.base, en.off)), en.n)
	}
	return f.strs[en.off]
}

// span returns v's offset in the line, ok false when v does not lie in
// it.
func (f *fields) span(v string) (off uintptr, ok bool) {
	d := uintptr(unsafe.Pointer(unsafe.StringData(v))) - uintptr(f.base)
	return d, d < f.blen && uintptr(len(v)) <= f.blen-d
}

// putSpan makes base[off:off+n] the value of slot (< len(f.pos)) in
// place; false when the slot has no entry and the entries no room for one
// (the caller falls back to Set).
func (f *fields) putSpan(slot int32, off, n uint32) bool {
	p := int(f.pos[slot]) - 1
	if uint(p) >= uint(len(f.ent)) || f.ent[p].slot != slot {
		p = len(f.ent)
		if p == cap(f.ent) {
			return false
		}
		f.ent = f.ent[:p+1]
		f.pos[slot] = uint8(p + 1)
	}
	f.ent[p] = entry{slot: slot, off: off, n: n, span: true}
	return true
}

// set makes en, an entry of f, hold v: a span when v lies in the line,
// else a string of strs (setStr).
func (f *fields) set(en *entry, v string) {
	if d, ok := f.span(v); ok {
		en.off, en.n, en.span = uint32(d), uint32(len(v)), true
		return
	}
	f.setStr(en, v)
}

// setStr is set for a value that is not in the line: its own string in
// strs (en's if it has one), or an empty span for "".
func (f *fields) setStr(en *entry, v string) {
	switch {
	case len(v) == 0:
		en.off, en.n, en.span = 0, 0, true
	case !en.span && en.n == noSpan:
		f.strs[en.off] = v
	default:
		en.off, en.n, en.span = uint32(len(f.strs)), noSpan, false
		f.strs = append(f.strs, v)
	}
}

// noSpan is the n of an entry whose value is a string of strs: an entry
// that add has just made (n 0, span false) has none yet.
const noSpan = 1<<32 - 1

// maxEntries is the number of entries pos can index.
const maxEntries = 255

// has returns the index in ent of slot i's entry (i < len(f.pos)), -1
// when it has none.
func (f *fields) has(i int) int {
	if p := int(f.pos[i]) - 1; uint(p) < uint(len(f.ent)) && int(f.ent[p].slot) == i {
		return p
	}
	return -1
}

func (f *fields) getSlot(i int) (string, bool) {
	if i < len(f.pos) {
		if p := f.has(i); p >= 0 {
			return f.value(&f.ent[p]), true
		}
	}
	return f.getSlow(i)
}

// getSlow is getSlot for a slot without entry: absent, unless the entries
// overflowed to the map.
func (f *fields) getSlow(i int) (string, bool) {
	if len(f.ent) == maxEntries {
		v, ok := f.extra[f.t.names[i]]
		return v, ok
	}
	return "", false
}

// add appends the entry of slot i, absent, at n = len(f.ent) < cap(f.ent)
// (which is at most maxEntries: see grow).
func (f *fields) add(n int, i int32, v string) {
	f.ent = f.ent[:n+1]
	f.pos[i] = uint8(n + 1)
	if d, ok := f.span(v); ok {
		f.ent[n] = entry{slot: i, off: uint32(d), n: uint32(len(v)), span: true}
		return
	}
	f.ent[n] = entry{slot: i}
	f.setStr(&f.ent[n], v)
}

func (f *fields) putSlot(i int, v string) {
	if i < len(f.pos) {
		if p := f.has(i); p >= 0 {
			f.set(&f.ent[p], v)
			return
		}
		if n := len(f.ent); n < maxEntries {
			if n == cap(f.ent) {
				f.grow()
			}
			f.add(n, int32(i), v)
			return
		}
	}
	f.putSlow(i, v)
}

// grow doubles the room of f.ent, to maxEntries at most: the entries'
// capacity never exceeds what pos can index, so that Set's fast path
// needs no test of maxEntries.
func (f *fields) grow() {
	ent := make([]entry, len(f.ent), min(max(2*cap(f.ent), 4), maxEntries))
	copy(ent, f.ent)
	f.ent = ent
}

// putSlow adds slot i: it sizes pos and ent on first use (or when the
// schema grew after the event was made), and sends the entries a byte
// cannot index to the overflow map.
func (f *fields) putSlow(i int, v string) {
	if i >= len(f.pos) {
		pos := make([]uint8, max(len(f.t.names), i+1))
		copy(pos, f.pos)
		f.pos = pos
		if f.ent == nil {
			f.ent = make([]entry, 0, min(16, len(pos), maxEntries))
		}
		f.putSlot(i, v)
		return
	}
	if f.extra == nil {
		f.extra = make(map[string]string, 2)
	}
	f.extra[f.t.names[i]] = v
}

func (f *fields) key(k Key) (string, bool) {
	if k.t != f.t || k.t == nil {
		return f.name(k.name)
	}
	return f.getSlot(int(k.slot))
}

func (f *fields) putKey(k Key, v string) {
	if k.t == f.t && k.t != nil {
		f.putSlot(int(k.slot), v)
		return
	}
	f.putName(k.name, v)
}

func (f *fields) name(name string) (string, bool) {
	if f.t != nil {
		if i, ok := f.t.slots[name]; ok {
			return f.getSlot(i)
		}
	}
	v, ok := f.extra[name]
	return v, ok
}

func (f *fields) putName(name, v string) {
	if f.t != nil {
		if i, ok := f.t.slots[name]; ok {
			f.putSlot(i, v)
			return
		}
	}
	if f.extra == nil {
		f.extra = make(map[string]string, 2)
	}
	f.extra[name] = v
}

// len is the number of fields present.
func (f *fields) len() int { return len(f.ent) + len(f.extra) }

// each calls fn for every field present: slotted ones in write order, then
// the others in map order.
func (f *fields) each(fn func(name, v string)) {
	for i := range f.ent {
		en := &f.ent[i]
		fn(f.t.names[en.slot], f.value(en))
	}
	for k, v := range f.extra {
		fn(k, v)
	}
}

// fill writes every field into m.
func (f *fields) fill(m map[string]string) {
	f.each(func(k, v string) { m[k] = v })
}

// reset empties f, keeping its storage: the entries and strings are
// truncated (the index is a sparse set: see fields), the overflow map
// cleared only when it holds something. The truncated strings stay in
// strs's array until the next lines overwrite them (the collector scans
// it to its capacity anyway); raw is the new line (setBase).
func (f *fields) reset(raw string) {
	f.ent = f.ent[:0]
	f.strs = f.strs[:0]
	f.setBase(raw)
	if len(f.extra) > 0 {
		clear(f.extra)
	}
}

// clone returns a copy sharing nothing with f.
func (f *fields) clone() fields { return f.copyOf(cap(f.ent)) }

// exactClone is clone sized to what f holds (no room kept for writes):
// for a copy that is only read.
func (f *fields) exactClone() fields { return f.copyOf(len(f.ent)) }

// copyOf is a copy of f whose entries have room for n.
func (f *fields) copyOf(n int) fields {
	c := fields{t: f.t, base: f.base, blen: f.blen}
	if f.pos != nil {
		c.pos = append([]uint8(nil), f.pos...)
		c.ent = append(make([]entry, 0, min(n, maxEntries)), f.ent...)
	}
	if len(f.strs) > 0 {
		c.strs = append([]string(nil), f.strs...)
	}
	if len(f.extra) > 0 {
		c.extra = make(map[string]string, len(f.extra))
		for k, v := range f.extra {
			c.extra[k] = v
		}
	}
	return c
}
