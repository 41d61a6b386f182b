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
// (encodeDelta), all in one buffer that a push appends to and shifts, so
// that a full queue allocates nothing more. The events of a bucket share
// nearly everything (the same source, the same keys, the same parser's
// statics, most of the log line): a queued nginx line costs the few bytes
// its request, time and size differ by, not its line, record and item.
// The overflow decodes the queue back into items (items), newest first,
// each from its successor; what a delta cannot express exactly (a whole
// event, other keys, another line origin, a time of another zone) stays
// an item.
//
// A bucket of any other scenario queues its items as they are. A queue is
// owned by its worker.
type queue struct {
	// its is every entry (a queue that does not pack), or the entries kept
	// as items, the newest last (one that packs).
	its []*item
	// older is, in a queue that packs, the entries before the newest,
	// oldest first: uvarint(len(delta)+1) then the delta, or 0 for the next
	// item of its.
	older []byte
}

// len returns the number of queued events.
func (q *queue) len() int {
	if len(q.its) == 0 {
		return 0
	}
	n := len(q.its)
	for s := q.older; len(s) > 0; {
		l, w := binary.Uvarint(s)
		s = s[w:]
		if l > 0 {
			s = s[l-1:]
			n++
		}
	}
	return n
}

// push queues it, keeping at most qs older entries (qs < 0: all of them);
// pack says whether the previous newest entry becomes a delta against it.
// scratch is a buffer of the caller's, reused.
func (q *queue) push(it *item, qs int, pack bool, scratch *[]byte) {
	if !pack {
		if qs >= 0 && len(q.its) > qs {
			n := copy(q.its, q.its[len(q.its)-qs:])
			clear(q.its[n:])
			q.its = q.its[:n]
		}
		if q.its == nil && qs > 0 {
			// Room for the whole queue at once (cache_size is small when
			// set), but no more than a few entries for a large one.
			q.its = make([]*item, 0, min(qs+1, 8))
		}
		q.its = append(q.its, it)
		return
	}
	n := len(q.its)
	switch {
	case n == 0:
		q.its = append(q.its, it)
		return
	case qs == 0:
		q.its[n-1] = it
		return
	}
	if d, ok := encodeDelta(q.its[n-1], it, scratch); ok {
		q.older = binary.AppendUvarint(q.older, uint64(len(d))+1)
		q.older = append(q.older, d...)
		q.its[n-1] = it
	} else {
		q.older = append(q.older, 0)
		q.its = append(q.its, it)
	}
	if qs > 0 {
		q.trim(qs)
	}
}

// trim drops the oldest entries of older past the newest qs.
func (q *queue) trim(qs int) {
	n := 0
	for s := q.older; len(s) > 0; n++ {
		l, w := binary.Uvarint(s)
		s = s[w:]
		if l > 0 {
			s = s[l-1:]
		}
	}
	off, items := 0, 0
	for ; n > qs; n-- {
		l, w := binary.Uvarint(q.older[off:])
		off += w
		if l > 0 {
			off += int(l) - 1
		} else {
			items++
		}
	}
	if off > 0 {
		q.older = q.older[:copy(q.older, q.older[off:])]
	}
	if items > 0 {
		k := copy(q.its, q.its[items:])
		clear(q.its[k:])
		q.its = q.its[:k]
	}
}

// at returns the i-th entry of a queue that does not pack.
func (q *queue) at(i int) *item { return q.its[i] }

// items returns the queued events as items, oldest first: the deltas
// decoded into items of their own (a queue that does not pack gives its
// own slice).
func (q *queue) items() []*item {
	if len(q.older) == 0 {
		return q.its
	}
	var ents []string // per older entry: its delta, "" for an item
	for s := q.older; len(s) > 0; {
		l, w := binary.Uvarint(s)
		s = s[w:]
		var d string
		if l > 0 {
			d, s = string(s[:l-1]), s[l-1:]
		}
		ents = append(ents, d)
	}
	out := make([]*item, len(ents)+1)
	next := q.its[len(q.its)-1]
	out[len(ents)] = next
	k := len(q.its) - 2 // the last item entry not yet placed
	for i := len(ents) - 1; i >= 0; i-- {
		if ents[i] == "" {
			next = q.its[k]
			k--
		} else {
			next = decodeDelta(ents[i], next)
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
