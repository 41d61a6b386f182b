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
	// The parts' values are carved out of one allocation (three-index
	// slices: a part that the schema outgrows reallocates its own), the
	// strings of the values that are not spans of the line (strs) out of
	// a second.
	nval, nstr := 0, 0
	for i := range s.parts {
		nval += len(s.parts[i].names)
		nstr += strHint(Part(i), len(s.parts[i].names))
	}
	val := make([]uint64, nval)
	strs := make([]string, 0, nstr)
	for i := range e.fs {
		n, sc := len(s.parts[i].names), strHint(Part(i), len(s.parts[i].names))
		e.fs[i] = fields{t: &s.parts[i], val: val[:n:n], strs: strs[:0:sc]}
		e.fs[i].setBase(l.Raw)
		val, strs = val[n:], strs[sc:sc]
	}
	return e
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

// fields is a set of named string fields. The value of a slotted name is
// a word of val, indexed by slot (0: absent); other names go to an
// overflow map. A read or a write by Key is an index into val, no search;
// reset clears val (memclr: a part of nginx's ~60 names is 480 bytes)
// when something was written.
//
// A word holds no pointer, so that the collector does not scan the values
// of the thousands of events in flight, and writing one needs no write
// barrier: a value that lies inside the event's line (base: the bytes of
// Line.Raw when the event was made or Reset; grok captures, and the
// fields copied from them, do) is its offset and length there (a span),
// any other value a string of strs, by index. Reading a span makes a
// string of the line's bytes (no copy): the same string, pointer
// included, that was written. base is the fields' own pointer, not
// Line.Raw read again, so a span stays right if the event's line changes.
// An absent field differs from one set to "" (an empty span), as a map
// key does for expr's `in`.
type fields struct {
	t     *nameTable
	val   []uint64 // by slot: the value's word (0: absent)
	n     int      // the slots present
	strs  []string // the values that are no span, by index
	base  unsafe.Pointer
	blen  uintptr // base's length, at most maxSpan (else no span)
	extra map[string]string
}

// A value's word: present, isStr (the low 32 bits index strs) or not (a
// span: the length in bits 32 to 61, the offset in the low 32 bits).
const (
	present  = 1 << 63
	isStr    = 1 << 62
	maxSpan  = 1<<30 - 1
	lenShift = 32
)

// spanWord is the word of the span base[off:off+n].
func spanWord(off, n uintptr) uint64 { return present | uint64(n)<<lenShift | uint64(off) }

// setBase makes raw the line whose bytes values may be spans of.
func (f *fields) setBase(raw string) {
	if len(raw) > maxSpan {
		f.base, f.blen = nil, 0 // beyond a word's lengths: no span
		return
	}
	f.base, f.blen = unsafe.Pointer(unsafe.StringData(raw)), uintptr(len(raw))
}

// value returns the value of w, a word of f present.
func (f *fields) value(w uint64) string {
	if w&isStr != 0 {
		return f.strs[uint32(w)]
	}
	return unsafe.String((*byte)(unsafe.Add(f.base, uint32(w))), int(w>>lenShift&maxSpan))
}

// span returns v's offset in the line, ok false when v does not lie in
// it.
func (f *fields) span(v string) (off uintptr, ok bool) {
	d := uintptr(unsafe.Pointer(unsafe.StringData(v))) - uintptr(f.base)
	return d, d < f.blen && uintptr(len(v)) <= f.blen-d
}

// putWord makes w the word of slot i (< len(f.val)).
func (f *fields) putWord(i int32, w uint64) {
	p := &f.val[i]
	if *p == 0 {
		f.n++
	}
	*p = w
}

// setStr sets slot i (< len(f.val)) to v, a value that is not in the
// line: its own string in strs (the slot's if it has one), or an empty
// span for "".
func (f *fields) setStr(i int32, v string) {
	p := &f.val[i]
	switch {
	case len(v) == 0:
		if *p == 0 {
			f.n++
		}
		*p = present
	case *p&isStr != 0:
		f.strs[uint32(*p)] = v
	default:
		if *p == 0 {
			f.n++
		}
		*p = present | isStr | uint64(len(f.strs))
		f.strs = append(f.strs, v)
	}
}

// set sets slot i (< len(f.val)) to v: a span when v lies in the line,
// else a string of strs.
func (f *fields) set(i int32, v string) {
	if d, ok := f.span(v); ok {
		f.putWord(i, spanWord(d, uintptr(len(v))))
		return
	}
	f.setStr(i, v)
}

func (f *fields) getSlot(i int) (string, bool) {
	if uint(i) < uint(len(f.val)) {
		if w := f.val[i]; w != 0 {
			return f.value(w), true
		}
	}
	return "", false
}

func (f *fields) putSlot(i int, v string) {
	if i >= len(f.val) {
		// the schema grew after the event was made
		val := make([]uint64, max(len(f.t.names), i+1))
		copy(val, f.val)
		f.val = val
	}
	f.set(int32(i), v)
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
func (f *fields) len() int { return f.n + len(f.extra) }

// each calls fn for every field present: slotted ones in slot order, then
// the others in map order.
func (f *fields) each(fn func(name, v string)) {
	if f.n > 0 {
		names := f.t.names[:len(f.val)]
		for i, w := range f.val {
			if w != 0 {
				fn(names[i], f.value(w))
			}
		}
	}
	for k, v := range f.extra {
		fn(k, v)
	}
}

// fill writes every field into m.
func (f *fields) fill(m map[string]string) {
	f.each(func(k, v string) { m[k] = v })
}

// reset empties f, keeping its storage: the words cleared (when some
// are set), the strings truncated, the overflow map cleared only when it
// holds something. The truncated strings stay in strs's array until the
// next lines overwrite them (the collector scans it to its capacity
// anyway); raw is the new line (setBase).
func (f *fields) reset(raw string) {
	if f.n > 0 {
		clear(f.val)
		f.n = 0
	}
	f.strs = f.strs[:0]
	f.setBase(raw)
	if len(f.extra) > 0 {
		clear(f.extra)
	}
}

// clone returns a copy sharing nothing with f.
func (f *fields) clone() fields {
	c := fields{t: f.t, n: f.n, base: f.base, blen: f.blen}
	if f.val != nil {
		c.val = append([]uint64(nil), f.val...)
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
