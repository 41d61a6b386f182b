package natexpr

import (
	"regexp"
	"strconv"
	"time"
)

// Queue is the event queue of a bucket as a condition reads it, oldest
// first: the fields a compiled condition reads, one at a time, so that a
// queue whose items keep their events packed (scenario's records) answers
// without building an event for each.
type Queue interface {
	Len() int
	// Meta returns the i-th event's Meta[key] ("" when it has none).
	Meta(i int, key string) string
	// Time returns the i-th event's Time.
	Time(i int) time.Time
}

// QueueCond is a compiled condition over a bucket's queue. Safe for
// concurrent use.
type QueueCond func(q Queue) (bool, error)

var medianCondRe = regexp.MustCompile(`^let ([A-Za-z_]\w*) = filter\(queue\.Queue, \.Meta\.([A-Za-z_]\w*) == ("(?:[^"\\]|\\.)*")\); ` +
	`len\(([A-Za-z_]\w*)\) >= (\d+) && MedianInterval\(map\(([A-Za-z_]\w*)\[-(\d+):\], \.Time\)\) > duration\(("(?:[^"\\]|\\.)*")\)$`)

// Condition compiles a conditional scenario's condition (which runs on
// every pour over the whole queue: the hub's time-based brute-force
// scenarios spend most of an sshd replay there), or returns nil. The shape
// compiled is
//
//	let V = filter(queue.Queue, {#.Meta.K == 'L'});
//	len(V) >= N && MedianInterval(map(V[-M:], {#.Time})) > duration('D')
//
// with N >= M >= 2 (so the slice and MedianInterval cannot fail). It scans
// the queue from its end and stops once it has seen N matches, instead of
// filtering the whole queue. The printed AST is matched, so spacing,
// quoting and the `#.` shorthand do not matter. MedianInterval is the
// helper's own function (Helpers); without helpers, nil.
func (c *Compiler) Condition(src string) QueueCond {
	if c.h == nil {
		return nil
	}
	n, ok := parse(src)
	if !ok {
		return nil
	}
	m := medianCondRe.FindStringSubmatch(n.String())
	if m == nil || m[1] != m[4] || m[1] != m[6] || c.shadowed("MedianInterval") {
		return nil
	}
	key := m[2]
	val, err1 := strconv.Unquote(m[3])
	want, err2 := strconv.Atoi(m[5])
	k, err3 := strconv.Atoi(m[7])
	ds, err4 := strconv.Unquote(m[8])
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || k < 2 || want < k {
		return nil
	}
	limit, err := time.ParseDuration(ds)
	if err != nil {
		return nil
	}
	median := c.h.MedianInterval
	return func(q Queue) (bool, error) {
		var buf [8]time.Time
		last := buf[:0] // the last k matches, newest first
		count := 0
		for i := q.Len() - 1; i >= 0 && count < want; i-- {
			if q.Meta(i, key) != val {
				continue
			}
			count++
			if len(last) < k {
				last = append(last, q.Time(i))
			}
		}
		if count < want {
			return false, nil
		}
		d, err := median(last)
		if err != nil {
			return false, err
		}
		return d > limit, nil
	}
}
