package scenario

import (
	"encoding/binary"
	"hash/maphash"
	"slices"
	"strings"
	"unsafe"

	"github.com/phalanx-ids/phalanx/internal/event"
)

// record is what a queued item keeps of an event's Meta, Enriched and
// MarshaledTime, packed: the keys are a keySet shared by every record with
// the same keys (the parsers write the same names for every line of a
// kind), and the values are one string of bytes with no pointer in it.
//
// A bucket keeps up to capacity (or cache_size) items for as long as it
// lives, and in live mode a burst of a million lines keeps every source's
// bucket alive: 50,000 buckets of the nginx crawl scenario hold 250,000
// items. Keeping the event's own maps cost ~1 KB per item (a Meta map
// sized for any parser, an Enriched map, the line); a record is the bytes
// of its values, and a value that is part of the log line the item keeps
// (grok captures are) is a span of it, not a copy. Few pointers also make
// the garbage collector's marking cheap.
//
// Records are immutable once built and safe to read from any goroutine.
type record struct {
	keys *keySet
	data string // per value: uvarint(len<<2|kind), then the bytes (kind literal), a uvarint offset in raw (span), a uvarint value index (same) or nothing (usual)
	raw  string // the log line, when the item keeps it
}

// The kinds of a packed value.
const (
	valLiteral = iota // the bytes follow
	valSpan           // raw[off:off+len]
	valSame           // equal to an earlier value of the record
	valUsual          // the key set's usual value (keySet.usual)
)

// keySet is the sorted Meta and Enriched keys of records; noMeta marks
// the records of events without a Meta map (not even an empty one).
//
// usual holds, per Meta and Enriched key, the value of the event that made
// the set, when short: what a parser's statics write (the log type, the
// service, the data source) is the same for every line of a kind, and a
// record then stores it as one byte.
type keySet struct {
	meta, enriched []string
	usual          []string
	noMeta         bool
}

// maxUsual is the longest value a key set keeps as usual.
const maxUsual = 64

// count is the number of values a record of ks holds: Meta, Enriched, then
// MarshaledTime.
func (ks *keySet) count() int { return len(ks.meta) + len(ks.enriched) + 1 }

// keySets interns keySets: the owner of a keySets (a worker) is its only
// user. It forgets everything past maxKeySets sets (events whose keys are
// chosen at run time could otherwise grow it without bound); records keep
// their sets.
//
// The events of a stream have the same keys, written in the same order
// (one parser's captures and statics), so record first compares the keys
// of an event, in the order the event gives them, with those of the
// previous one: when they are the same, so are the set and the order of
// its sorted keys (perm), and the event's values go to the record without
// a sort, a hash or a lookup by name.
type keySets struct {
	seed maphash.Seed
	sets map[uint64][]*keySet
	n    int

	// The previous event's keys in its order (Meta, then Enriched: lastNM
	// of them Meta), its set, and perm: for each key of the set, in the
	// set's order, its index in that order.
	last      *keySet
	lastNames []string
	lastNM    int
	perm      []int

	names, vals, sorted []string // scratch
}

const maxKeySets = 1024

func newKeySets() *keySets {
	return &keySets{seed: maphash.MakeSeed(), sets: map[uint64][]*keySet{}}
}

// record packs e's Meta, Enriched and MarshaledTime under the set of its
// keys. raw is the log line the record keeps ("" for none): values inside
// it are stored as spans. scratch (nil: none) is a buffer of the caller's,
// reused: the record's data is then one allocation of its exact size.
func (k *keySets) record(e *event.Event, raw string, scratch *[]byte) record {
	noMeta := !e.HasMeta()
	names, vals := k.names[:0], k.vals[:0]
	e.Each(event.Meta, func(key, v string) {
		names = append(names, key)
		vals = append(vals, v)
	})
	nm := len(names)
	e.Each(event.Enriched, func(key, v string) {
		names = append(names, key)
		vals = append(vals, v)
	})
	k.names, k.vals = names, vals
	if k.last == nil || k.last.noMeta != noMeta || k.lastNM != nm || !slices.Equal(k.lastNames, names) {
		k.learn(names, vals, nm, noMeta)
	}
	sorted := k.sorted[:0]
	for _, i := range k.perm {
		sorted = append(sorted, vals[i])
	}
	sorted = append(sorted, e.MarshaledTime)
	k.sorted = sorted
	return packValues(k.last, sorted, raw, scratch)
}

// learn sets last, lastNames, lastNM and perm for an event whose keys are
// names (nm of them Meta) and values vals, in the event's order.
func (k *keySets) learn(names, vals []string, nm int, noMeta bool) {
	perm := k.perm[:0]
	for i := range names {
		perm = append(perm, i)
	}
	byName := func(a, b int) int { return strings.Compare(names[a], names[b]) }
	slices.SortFunc(perm[:nm], byName)
	slices.SortFunc(perm[nm:], byName)
	k.perm = perm
	k.last = k.set(names, vals, perm, nm, noMeta)
	k.lastNames = append(k.lastNames[:0], names...)
	k.lastNM = nm
}

// set returns the interned set of the keys names[perm[i]] (the first nm
// Meta, sorted, then Enriched, sorted), making it from vals if it is new.
func (k *keySets) set(names, vals []string, perm []int, nm int, noMeta bool) *keySet {
	var h maphash.Hash
	h.SetSeed(k.seed)
	if noMeta {
		h.WriteByte(2)
	}
	for i, j := range perm {
		if i == nm {
			h.WriteByte(1)
		}
		h.WriteString(names[j])
		h.WriteByte(0)
	}
	sum := h.Sum64()
	same := func(keys []string, perm []int) bool {
		if len(keys) != len(perm) {
			return false
		}
		for i, j := range perm {
			if keys[i] != names[j] {
				return false
			}
		}
		return true
	}
	for _, ks := range k.sets[sum] {
		if ks.noMeta == noMeta && same(ks.meta, perm[:nm]) && same(ks.enriched, perm[nm:]) {
			return ks
		}
	}
	if k.n >= maxKeySets {
		clear(k.sets)
		k.n = 0
	}
	n := len(perm)
	own := make([]string, 2*n)
	for i, j := range perm {
		own[i] = strings.Clone(names[j])
		if v := vals[j]; len(v) <= maxUsual {
			own[n+i] = strings.Clone(v)
		}
	}
	ks := &keySet{meta: own[:nm:nm], enriched: own[nm:n:n], usual: own[n:], noMeta: noMeta}
	k.sets[sum] = append(k.sets[sum], ks)
	k.n++
	return ks
}

// packValues packs vals (ks's values in order: Meta by sorted key,
// Enriched by sorted key, MarshaledTime) as keySets.record does.
func packValues(ks *keySet, vals []string, raw string, scratch *[]byte) record {
	var rawStart, rawEnd uintptr
	if raw != "" {
		rawStart = uintptr(unsafe.Pointer(unsafe.StringData(raw)))
		rawEnd = rawStart + uintptr(len(raw))
	}
	var buf []byte
	if scratch != nil {
		buf = (*scratch)[:0]
	}
	for i, v := range vals {
		if len(v) == 0 {
			buf = append(buf, valLiteral) // uvarint(0<<2|valLiteral)
			continue
		}
		if i < len(ks.usual) && v == ks.usual[i] {
			buf = append(buf, valUsual)
			continue
		}
		// A span first: one pointer test, where a value equal to an
		// earlier one costs a scan of them.
		if raw != "" {
			p := uintptr(unsafe.Pointer(unsafe.StringData(v)))
			if p >= rawStart && p+uintptr(len(v)) <= rawEnd {
				buf = binary.AppendUvarint(buf, uint64(len(v))<<2|valSpan)
				buf = binary.AppendUvarint(buf, uint64(p-rawStart))
				continue
			}
		}
		if j := indexOf(vals[:i], v); j >= 0 {
			buf = binary.AppendUvarint(buf, uint64(len(v))<<2|valSame)
			buf = binary.AppendUvarint(buf, uint64(j))
			continue
		}
		buf = binary.AppendUvarint(buf, uint64(len(v))<<2|valLiteral)
		buf = append(buf, v...)
	}
	if scratch != nil {
		*scratch = buf
	}
	return record{keys: ks, data: string(buf), raw: raw}
}

// appendValues appends r's values to dst, in order (values).
func (r *record) appendValues(dst []string) []string {
	r.values(func(_ int, v string) bool {
		dst = append(dst, v)
		return true
	})
	return dst
}

// values calls fn with each value of r in order (Meta by sorted key,
// Enriched by sorted key, MarshaledTime) until fn returns false. The
// values are substrings of r's data or line: no copy.
func (r *record) values(fn func(i int, v string) bool) {
	if r.keys == nil {
		return
	}
	n := r.keys.count()
	var stack [24]string
	var seen []string
	if n <= len(stack) {
		seen = stack[:n]
	} else {
		seen = make([]string, n)
	}
	d := r.data
	for i := 0; i < n; i++ {
		h, w := uvarint(d)
		d = d[w:]
		l := int(h >> 2)
		var v string
		switch h & 3 {
		case valLiteral:
			v, d = d[:l], d[l:]
		case valSpan:
			off, w := uvarint(d)
			d = d[w:]
			v = r.raw[off : int(off)+l]
		case valSame:
			j, w := uvarint(d)
			d = d[w:]
			v = seen[j]
		case valUsual:
			v = r.keys.usual[i]
		}
		seen[i] = v
		if !fn(i, v) {
			return
		}
	}
}

// uvarint decodes the uvarint at the start of s (written by packValues,
// so well formed) and returns it and its length.
func uvarint(s string) (uint64, int) {
	var x uint64
	for i := 0; i < len(s); i++ {
		b := s[i]
		x |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			return x, i + 1
		}
	}
	return x, len(s)
}

// value returns the i-th value of r.
func (r *record) value(i int) string {
	var out string
	r.values(func(j int, v string) bool {
		if j == i {
			out = v
			return false
		}
		return true
	})
	return out
}

// meta returns r's Meta[key].
func (r *record) meta(key string) (string, bool) {
	if r.keys == nil {
		return "", false
	}
	i, ok := slices.BinarySearch(r.keys.meta, key)
	if !ok {
		return "", false
	}
	return r.value(i), true
}

// enriched returns r's Enriched[key].
func (r *record) enriched(key string) (string, bool) {
	if r.keys == nil {
		return "", false
	}
	i, ok := slices.BinarySearch(r.keys.enriched, key)
	if !ok {
		return "", false
	}
	return r.value(len(r.keys.meta) + i), true
}

// marshaledTime returns r's MarshaledTime.
func (r *record) marshaledTime() string {
	if r.keys == nil {
		return ""
	}
	return r.value(r.keys.count() - 1)
}

// event unpacks r's Meta and Enriched into a view event (event.FromMaps:
// maps of its own, sized to their content) with its MarshaledTime.
func (r *record) event() *event.Event {
	meta, enriched, mt := r.maps()
	e := event.FromMaps(meta, enriched)
	e.MarshaledTime = mt
	return e
}

// maps unpacks r's Meta and Enriched into maps of their own (sized to
// their content) and returns MarshaledTime.
func (r *record) maps() (meta, enriched map[string]string, mt string) {
	if r.keys == nil {
		return nil, nil, ""
	}
	nm, ne := len(r.keys.meta), len(r.keys.enriched)
	if !r.keys.noMeta {
		meta = make(map[string]string, nm)
	}
	enriched = make(map[string]string, ne)
	r.values(func(i int, v string) bool {
		switch {
		case i < nm:
			meta[r.keys.meta[i]] = v
		case i < nm+ne:
			enriched[r.keys.enriched[i-nm]] = v
		default:
			mt = v
		}
		return true
	})
	return meta, enriched, mt
}
