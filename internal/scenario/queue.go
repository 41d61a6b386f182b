package scenario

import (
	"encoding/binary"
	"math"
	"time"
	"unsafe"
)

// queue is a bucket's queued events, oldest first.
//
// In a live burst nearly every bucket is one that nothing reads before it
// overflows: no condition, no bayesian condition, no expression reading
// whole events (scen.packs). Such a bucket keeps its newest event as an
// item (shared with the other buckets the event went to) and every older
// one as a delta: the bytes by which it differs from the next newer one
// (encodeDelta). The events of a bucket share nearly everything (the same
// source, the same keys, the same parser's statics, most of the log line):
// a queued nginx line costs the few bytes its request, time and size
// differ by, not its line, record and item. The overflow decodes the queue
// back into items (items), newest first, each from its successor; what a
// delta cannot express exactly (a whole event, other keys, another line
// origin, a time of another zone) stays an item.
//
// A bucket of any other scenario queues its items as they are. A queue is
// owned by its worker.
type queue struct {
	ents []qent
}

// qent is one queued event: the item, or its delta against the next
// entry.
type qent struct {
	it *item  // nil: d holds the entry
	d  string // the delta (encodeDelta)
}

func (q *queue) len() int { return len(q.ents) }

// push queues it, keeping at most qs older entries (qs < 0: all of them);
// pack says whether the previous newest entry becomes a delta against it.
// scratch is a buffer of the caller's, reused.
func (q *queue) push(it *item, qs int, pack bool, scratch *[]byte) {
	if qs >= 0 && len(q.ents) > qs {
		n := copy(q.ents, q.ents[len(q.ents)-qs:])
		clear(q.ents[n:])
		q.ents = q.ents[:n]
	}
	if n := len(q.ents); pack && n > 0 && q.ents[n-1].it != nil {
		if d, ok := encodeDelta(q.ents[n-1].it, it, scratch); ok {
			q.ents[n-1] = qent{d: d}
		}
	}
	if q.ents == nil && qs > 0 {
		// Room for the whole queue at once (cache_size is small when set),
		// but no more than a few entries for an unbounded or large one.
		q.ents = make([]qent, 0, min(qs+1, 8))
	}
	q.ents = append(q.ents, qent{it: it})
}

// at returns the i-th entry's item, which must be one (queues of scenarios
// that do not pack hold only items).
func (q *queue) at(i int) *item { return q.ents[i].it }

// items returns the queued events as items, oldest first: the deltas
// decoded into items of their own.
func (q *queue) items() []*item {
	out := make([]*item, len(q.ents))
	var next *item
	for i := len(q.ents) - 1; i >= 0; i-- {
		if e := q.ents[i]; e.it != nil {
			next = e.it
		} else {
			next = decodeDelta(e.d, next)
		}
		out[i] = next
	}
	return out
}

// The kinds of a value in a delta; valLiteral, valSpan (in the entry's own
// line) and valSame are those of a record.
const (
	valNext     = 3 // equal to the next entry's value
	valNextEdit = 4 // the next entry's value with its middle replaced
	deltaKinds  = 3 // bits of the kind in a value's header
)

// encodeDelta encodes o against n, the item queued right after it: its
// time and its line's time as differences, its line as the prefix and
// suffix it shares with n's and the middle, and each value as n's, an
// earlier one of its own, a span of its line, n's with another middle, or
// its bytes. ok is false when o cannot be encoded so that decodeDelta
// gives it back exactly.
func encodeDelta(o, n *item, scratch *[]byte) (string, bool) {
	ks := o.rec.keys
	if o.full != nil || ks == nil || n.full != nil || n.rec.keys != ks || o.line != n.line {
		return "", false
	}
	var dt int64 // o's time as a difference to n's; zero times are a case of their own
	if !o.etime.IsZero() {
		dt = o.etime.UnixNano() - n.etime.UnixNano()
		if dt == zeroTime || time.Unix(0, n.etime.UnixNano()+dt).In(n.etime.Location()) != o.etime {
			return "", false // a monotonic reading, another zone, out of UnixNano's range
		}
	} else if o.etime != (time.Time{}) {
		return "", false // a zero time in a zone
	} else {
		dt = zeroTime
	}
	buf := (*scratch)[:0]
	buf = binary.AppendVarint(buf, dt)
	buf = binary.AppendVarint(buf, o.lineT-n.lineT)
	oraw, nraw := o.rec.raw, n.rec.raw
	p, s := commonEnds(oraw, nraw)
	buf = binary.AppendUvarint(buf, uint64(p))
	buf = binary.AppendUvarint(buf, uint64(s))
	buf = binary.AppendUvarint(buf, uint64(len(oraw)-p-s))
	buf = append(buf, oraw[p:len(oraw)-s]...)

	var ostack, nstack [24]string
	ov := o.rec.appendValues(ostack[:0])
	nv := n.rec.appendValues(nstack[:0])
	var rawStart, rawEnd uintptr
	if oraw != "" {
		rawStart = uintptr(unsafe.Pointer(unsafe.StringData(oraw)))
		rawEnd = rawStart + uintptr(len(oraw))
	}
	for i, v := range ov {
		if v == nv[i] {
			buf = binary.AppendUvarint(buf, valNext)
			continue
		}
		if j := indexOf(ov[:i], v); j >= 0 && len(v) > 0 {
			buf = binary.AppendUvarint(buf, uint64(len(v))<<deltaKinds|valSame)
			buf = binary.AppendUvarint(buf, uint64(j))
			continue
		}
		if len(v) > 0 && oraw != "" {
			if ptr := uintptr(unsafe.Pointer(unsafe.StringData(v))); ptr >= rawStart && ptr+uintptr(len(v)) <= rawEnd {
				buf = binary.AppendUvarint(buf, uint64(len(v))<<deltaKinds|valSpan)
				buf = binary.AppendUvarint(buf, uint64(ptr-rawStart))
				continue
			}
		}
		if p, s := commonEnds(v, nv[i]); p+s >= 4 {
			mid := v[p : len(v)-s]
			buf = binary.AppendUvarint(buf, uint64(len(mid))<<deltaKinds|valNextEdit)
			buf = binary.AppendUvarint(buf, uint64(p))
			buf = binary.AppendUvarint(buf, uint64(s))
			buf = append(buf, mid...)
			continue
		}
		buf = binary.AppendUvarint(buf, uint64(len(v))<<deltaKinds|valLiteral)
		buf = append(buf, v...)
	}
	*scratch = buf
	return string(buf), true
}

// zeroTime is the time difference that stands for the zero time.
const zeroTime = math.MinInt64

// decodeDelta rebuilds the item that d encodes against n (encodeDelta).
func decodeDelta(d string, n *item) *item {
	dt, w := varint(d)
	d = d[w:]
	dl, w := varint(d)
	d = d[w:]
	p, w := uvarint(d)
	d = d[w:]
	s, w := uvarint(d)
	d = d[w:]
	ml, w := uvarint(d)
	d = d[w:]
	nraw := n.rec.raw
	var raw string
	if p+s+ml > 0 {
		b := make([]byte, 0, p+s+ml)
		b = append(b, nraw[:p]...)
		b = append(b, d[:ml]...)
		b = append(b, nraw[len(nraw)-int(s):]...)
		raw = unsafe.String(unsafe.SliceData(b), len(b))
	}
	d = d[ml:]

	ks := n.rec.keys
	var nstack, vstack [24]string
	nv := n.rec.appendValues(nstack[:0])
	vals := vstack[:0]
	for i := range ks.count() {
		h, w := uvarint(d)
		d = d[w:]
		l := int(h >> deltaKinds)
		var v string
		switch h & (1<<deltaKinds - 1) {
		case valLiteral:
			v, d = d[:l], d[l:]
		case valSpan:
			off, w := uvarint(d)
			d = d[w:]
			v = raw[off : int(off)+l]
		case valSame:
			j, w := uvarint(d)
			d = d[w:]
			v = vals[j]
		case valNext:
			v = nv[i]
		case valNextEdit:
			p, w := uvarint(d)
			d = d[w:]
			s, w := uvarint(d)
			d = d[w:]
			nx := nv[i]
			v = nx[:p] + d[:l] + nx[len(nx)-int(s):]
			d = d[l:]
		}
		vals = append(vals, v)
	}
	it := &item{line: n.line, lineT: n.lineT + dl}
	if dt != zeroTime {
		it.etime = time.Unix(0, n.etime.UnixNano()+dt).In(n.etime.Location())
	}
	it.rec = packValues(ks, vals, raw, nil)
	return it
}

// commonEnds returns the lengths of the longest common prefix and then of
// the longest common suffix of what remains of a and b.
func commonEnds(a, b string) (p, s int) {
	m := min(len(a), len(b))
	for p < m && a[p] == b[p] {
		p++
	}
	for s < m-p && a[len(a)-1-s] == b[len(b)-1-s] {
		s++
	}
	return p, s
}

// indexOf is slices.Index for the few values of a record.
func indexOf(vals []string, v string) int {
	for i, x := range vals {
		if x == v {
			return i
		}
	}
	return -1
}

// varint decodes the varint at the start of s (written by encodeDelta).
func varint(s string) (int64, int) {
	ux, n := uvarint(s)
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x, n
}
