package scenario

import (
	"encoding/binary"
	"math"
	"strings"
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
		q.grow(binary.MaxVarintLen64 + len(d))
		q.older = binary.AppendUvarint(q.older, uint64(len(d))+1)
		q.older = append(q.older, d...)
		q.its[n-1] = it
	} else {
		q.grow(1)
		q.older = append(q.older, 0)
		q.its = append(q.its, it)
	}
	if qs > 0 {
		q.trim(qs)
	}
}

// grow makes room for n more bytes in older: a quarter more than needed
// (a full queue's deltas take about as much room from one push to the
// next, and append would double it).
func (q *queue) grow(n int) {
	if need := len(q.older) + n; need > cap(q.older) {
		b := make([]byte, len(q.older), need+need/4)
		copy(b, q.older)
		q.older = b
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

// The kinds of a value in a delta that is not the next entry's (those are
// marked in a bit mask); valLiteral, valSpan (in the entry's own line) and
// valSame are those of a record.
const (
	valNextEdit = 3 // the next entry's value with its middle replaced
	deltaKinds  = 2 // bits of the kind in a value's header
)

// encodeDelta encodes o against n, the item queued right after it, into
// scratch (valid until the next call): its time and its line's time as
// differences, its line as the prefix and suffix it shares with n's and a
// middle (midDelta), a bit mask of the values equal to n's, and each other
// value as an earlier one of its own, a span of its line, n's with another
// middle, or its bytes. ok is false when o cannot be encoded so that
// decodeDelta gives it back exactly.
func encodeDelta(o, n *item, scratch *[]byte) ([]byte, bool) {
	ks := o.rec.keys
	if o.full != nil || ks == nil || n.full != nil || n.rec.keys != ks || o.line != n.line {
		return nil, false
	}
	var dt int64 // o's time as a difference to n's; zero times are a case of their own
	if !o.etime.IsZero() {
		dt = o.etime.UnixNano() - n.etime.UnixNano()
		if dt == zeroTime || time.Unix(0, n.etime.UnixNano()+dt).In(n.etime.Location()) != o.etime {
			return nil, false // a monotonic reading, another zone, out of UnixNano's range
		}
	} else if o.etime != (time.Time{}) {
		return nil, false // a zero time in a zone
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
	buf = appendMid(buf, oraw[p:len(oraw)-s], nraw[p:len(nraw)-s])

	var ostack, nstack [24]string
	ov := o.rec.appendValues(ostack[:0])
	nv := n.rec.appendValues(nstack[:0])
	mask := len(buf)
	for range (len(ov) + 7) / 8 {
		buf = append(buf, 0)
	}
	var rawStart, rawEnd uintptr
	if oraw != "" {
		rawStart = uintptr(unsafe.Pointer(unsafe.StringData(oraw)))
		rawEnd = rawStart + uintptr(len(oraw))
	}
	for i, v := range ov {
		if v == nv[i] {
			buf[mask+i/8] |= 1 << (i % 8)
			continue
		}
		if j := indexOf(ov[:i], v); j >= 0 && len(v) > 0 {
			buf = append(buf, valSame)
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
	return buf, true
}

// appendMid appends the middle of a line, om, that differs from the next
// entry's, nm: uvarint(len(om)<<1), then its bytes; or, when both are
// words separated by the same number of spaces and that is shorter,
// uvarint(len(om)<<1|1), a bit mask of the words equal to nm's, and each
// other word as uvarint(len) and its bytes (the fields of a log line
// differ one by one: "GET /a HTTP/1.1" 200 12" against "GET /bc HTTP/1.1"
// 404 0" keeps the path, the status and the size).
func appendMid(buf []byte, om, nm string) []byte {
	words := strings.Count(om, " ") + 1
	if len(om) < 8 || words > 64 || strings.Count(nm, " ")+1 != words {
		buf = binary.AppendUvarint(buf, uint64(len(om))<<1)
		return append(buf, om...)
	}
	start := len(buf)
	buf = binary.AppendUvarint(buf, uint64(len(om))<<1|1)
	mask := len(buf)
	for range (words + 7) / 8 {
		buf = append(buf, 0)
	}
	for i, o, n := 0, om, nm; ; i++ {
		ow, orest, more := strings.Cut(o, " ")
		nw, nrest, _ := strings.Cut(n, " ")
		if ow == nw {
			buf[mask+i/8] |= 1 << (i % 8)
		} else {
			buf = binary.AppendUvarint(buf, uint64(len(ow)))
			buf = append(buf, ow...)
		}
		if !more {
			break
		}
		o, n = orest, nrest
	}
	if len(buf)-start >= len(om)+uvarintLen(uint64(len(om))<<1) {
		buf = binary.AppendUvarint(buf[:start], uint64(len(om))<<1)
		buf = append(buf, om...)
	}
	return buf
}

// uvarintLen is the length of x as a uvarint.
func uvarintLen(x uint64) int {
	n := 1
	for ; x >= 0x80; x >>= 7 {
		n++
	}
	return n
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
	nraw := n.rec.raw
	h, w := uvarint(d)
	d = d[w:]
	ml := h >> 1
	var raw string
	if p+s+ml > 0 {
		b := make([]byte, 0, p+s+ml)
		b = append(b, nraw[:p]...)
		if h&1 == 0 {
			b = append(b, d[:ml]...)
			d = d[ml:]
		} else {
			b, d = appendWords(b, d, nraw[p:len(nraw)-int(s)])
		}
		b = append(b, nraw[len(nraw)-int(s):]...)
		raw = unsafe.String(unsafe.SliceData(b), len(b))
	}

	ks := n.rec.keys
	var nstack, vstack [24]string
	nv := n.rec.appendValues(nstack[:0])
	mask := d[:(len(nv)+7)/8]
	d = d[len(mask):]
	vals := vstack[:0]
	for i := range nv {
		if mask[i/8]&(1<<(i%8)) != 0 {
			vals = append(vals, nv[i])
			continue
		}
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

// appendWords appends the middle that appendMid encoded word by word
// against nm, and returns what follows it in d.
func appendWords(b []byte, d, nm string) ([]byte, string) {
	words := strings.Count(nm, " ") + 1
	mask := d[:(words+7)/8]
	d = d[len(mask):]
	for i := range words {
		nw, rest, _ := strings.Cut(nm, " ")
		nm = rest
		if i > 0 {
			b = append(b, ' ')
		}
		if mask[i/8]&(1<<(i%8)) != 0 {
			b = append(b, nw...)
			continue
		}
		l, w := uvarint(d)
		b = append(b, d[w:w+int(l)]...)
		d = d[w+int(l):]
	}
	return b, d
}

// commonEnds returns the lengths of the longest common prefix and then of
// the longest common suffix of what remains of a and b. It compares eight
// bytes at a time first: two lines of one source share most of their
// bytes, and this is most of what a delta costs (encodeDelta).
func commonEnds(a, b string) (p, s int) {
	m := min(len(a), len(b))
	ab := unsafe.Slice(unsafe.StringData(a), len(a))
	bb := unsafe.Slice(unsafe.StringData(b), len(b))
	for p+8 <= m && binary.LittleEndian.Uint64(ab[p:]) == binary.LittleEndian.Uint64(bb[p:]) {
		p += 8
	}
	for p < m && a[p] == b[p] {
		p++
	}
	for s+8 <= m-p && binary.LittleEndian.Uint64(ab[len(a)-s-8:]) == binary.LittleEndian.Uint64(bb[len(b)-s-8:]) {
		s += 8
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
