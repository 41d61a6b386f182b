package event

import "math/bits"

// Schema numbers the field names of evt.Parsed that loaded content writes
// and reads: each name gets a slot, and an event created by the schema
// (Schema.New) keeps those fields in a slice indexed by slot instead of a
// map. Names outside the schema (written by an expression at run time,
// SetParsed with a computed key) go to a small overflow map, so any name
// works; the schema only makes the known ones cheap.
//
// Concurrency: Key interns names and is called at load time only, from one
// goroutine, before any event of the schema exists; afterwards a Schema is
// read-only and safe for concurrent use. The loaded content owns it (one
// per content.Runtime); there is no package-level schema.
type Schema struct {
	slots map[string]int
	names []string
}

// NewSchema returns an empty schema.
func NewSchema() *Schema { return &Schema{slots: map[string]int{}} }

// Key returns the key of name, giving it a slot if it has none (load time
// only).
func (s *Schema) Key(name string) Key {
	i, ok := s.slots[name]
	if !ok {
		i = len(s.names)
		s.slots[name] = i
		s.names = append(s.names, name)
	}
	return Key{s: s, slot: i, name: name}
}

// Len is the number of slots.
func (s *Schema) Len() int {
	if s == nil {
		return 0
	}
	return len(s.names)
}

// Names returns the slotted names, by slot.
func (s *Schema) Names() []string { return append([]string(nil), s.names...) }

// New returns a log event for l whose Parsed fields are slotted by s.
func (s *Schema) New(l Line) *Event {
	e := New(l)
	if s != nil {
		e.parsed.s, e.ParsedView = s, nil // the view is built on demand
	}
	return e
}

// Key is a field name resolved against a Schema at load time. Reading or
// writing an event through a Key indexes the event's slots when the event
// belongs to the key's schema, and falls back to the name otherwise (an
// event built by hand, by another schema, an overflow), so a Key is always
// correct and fast in the common case.
type Key struct {
	s    *Schema
	slot int
	name string
}

// Name returns the field name.
func (k Key) Name() string { return k.name }

// fields is a set of named string fields: a value per schema slot (with a
// presence bit: a field set to "" differs from an absent one, as a map key
// does for expr's `in`), plus an overflow map for other names.
type fields struct {
	s     *Schema
	vals  []string
	set   []uint64
	n     int // fields present in vals
	extra map[string]string
}

func (f *fields) has(i int) bool {
	w := i >> 6
	return w < len(f.set) && f.set[w]&(1<<(uint(i)&63)) != 0
}

func (f *fields) getSlot(i int) (string, bool) {
	if !f.has(i) {
		return "", false
	}
	return f.vals[i], true
}

func (f *fields) putSlot(i int, v string) {
	if i >= len(f.vals) {
		n := max(f.s.Len(), i+1)
		vals := make([]string, n)
		copy(vals, f.vals)
		f.vals = vals
		set := make([]uint64, (n+63)>>6)
		copy(set, f.set)
		f.set = set
	}
	w, b := i>>6, uint64(1)<<(uint(i)&63)
	if f.set[w]&b == 0 {
		f.set[w] |= b
		f.n++
	}
	f.vals[i] = v
}

func (f *fields) key(k Key) (string, bool) {
	if k.s == f.s && k.s != nil {
		return f.getSlot(k.slot)
	}
	return f.name(k.name)
}

func (f *fields) putKey(k Key, v string) {
	if k.s == f.s && k.s != nil {
		f.putSlot(k.slot, v)
		return
	}
	f.putName(k.name, v)
}

func (f *fields) name(name string) (string, bool) {
	if f.s != nil {
		if i, ok := f.s.slots[name]; ok {
			return f.getSlot(i)
		}
	}
	v, ok := f.extra[name]
	return v, ok
}

func (f *fields) putName(name, v string) {
	if f.s != nil {
		if i, ok := f.s.slots[name]; ok {
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

// each calls fn for every field present: slotted ones by slot, then the
// others in map order.
func (f *fields) each(fn func(name, v string)) {
	for w, word := range f.set {
		for word != 0 {
			i := w<<6 + bits.TrailingZeros64(word)
			word &= word - 1
			fn(f.s.names[i], f.vals[i])
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

// reset empties f, keeping its storage.
func (f *fields) reset() {
	clear(f.vals)
	clear(f.set)
	clear(f.extra)
	f.n = 0
}

// clone returns a copy sharing nothing with f.
func (f *fields) clone() fields {
	c := fields{s: f.s, n: f.n}
	if f.vals != nil {
		c.vals = append([]string(nil), f.vals...)
		c.set = append([]uint64(nil), f.set...)
	}
	if len(f.extra) > 0 {
		c.extra = make(map[string]string, len(f.extra))
		for k, v := range f.extra {
			c.extra[k] = v
		}
	}
	return c
}
