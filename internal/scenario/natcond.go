package scenario

import (
	"errors"
	"regexp"
	"strconv"
	"time"

	"github.com/expr-lang/expr/parser"

	"github.com/phalanx-ids/phalanx/internal/exprenv"
	"github.com/phalanx-ids/phalanx/internal/natexpr"
)

// Native conditions. A conditional scenario's condition runs on every pour
// over the whole queue (capacity -1 keeps every event), in the VM: the
// hub's time-based brute-force scenarios spend most of an sshd replay there.
// The shape they use is compiled to Go:
//
//	let V = filter(queue.Queue, {#.Meta.K == 'L'});
//	len(V) >= N && MedianInterval(map(V[-M:], {#.Time})) > duration('D')
//
// with N >= M >= 2 (so the slice and MedianInterval cannot fail). It scans
// the queue from its end and stops once it has seen N matches, instead of
// filtering the whole queue. The printed AST is matched, so spacing,
// quoting and the `#.` shorthand do not matter. TestNativeConditionMatchesVM
// checks it against the VM.

// ncond is a compiled condition over a bucket's queue (oldest first).
type ncond func(q []*item) (bool, error)

var medianCondRe = regexp.MustCompile(`^let ([A-Za-z_]\w*) = filter\(queue\.Queue, \.Meta\.([A-Za-z_]\w*) == ("(?:[^"\\]|\\.)*")\); ` +
	`len\(([A-Za-z_]\w*)\) >= (\d+) && MedianInterval\(map\(([A-Za-z_]\w*)\[-(\d+):\], \.Time\)\) > duration\(("(?:[^"\\]|\\.)*")\)$`)

// compileCondition returns the native form of a condition, or nil. Only
// with exprenv's helpers (data != nil: the compiler is exprenv's, so
// MedianInterval is exprenv.MedianInterval).
func compileCondition(src string, data natexpr.Helpers) ncond {
	if data == nil {
		return nil
	}
	tree, err := parser.Parse(src)
	if err != nil {
		return nil
	}
	m := medianCondRe.FindStringSubmatch(tree.Node.String())
	if m == nil || m[1] != m[4] || m[1] != m[6] {
		return nil
	}
	key := m[2]
	val, err1 := strconv.Unquote(m[3])
	n, err2 := strconv.Atoi(m[5])
	k, err3 := strconv.Atoi(m[7])
	ds, err4 := strconv.Unquote(m[8])
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || k < 2 || n < k {
		return nil
	}
	limit, err := time.ParseDuration(ds)
	if err != nil {
		return nil
	}
	return func(q []*item) (bool, error) {
		var last []time.Time // the last k matches, newest first
		count := 0
		for i := len(q) - 1; i >= 0 && count < n; i-- {
			e := q[i].full
			if e == nil {
				return false, errNilQueued
			}
			if e.Meta[key] != val {
				continue
			}
			count++
			if len(last) < k {
				last = append(last, e.Time)
			}
		}
		if count < n {
			return false, nil
		}
		d, err := exprenv.MedianInterval(last)
		if err != nil {
			return false, err
		}
		return d > limit, nil
	}
}

// errNilQueued: an item without its event (the VM fails on it too).
// Scenarios whose condition reads the queue keep whole events (needFull),
// so it does not happen; the scan stops before older items either way.
var errNilQueued = errors.New("scenario: condition: queued event not kept")
