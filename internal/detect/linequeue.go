package detect

import (
	"context"
	"sync"

	"github.com/phalanx-ids/phalanx/internal/event"
)

// lineQueue passes lines from a source to the batcher of live input
// (readIdle): the source appends each line to the open slice under a lock,
// the batcher takes the whole slice at once and leaves an empty one in its
// place. A channel of lines cost a channel operation a line on each side
// and, with the queue full in a burst, a wake-up of the blocked source for
// every line the batcher received; here the two goroutines meet once a
// batch.
//
// Concurrency: one goroutine pushes, another takes; close is called by the
// pushing one once it is done.
type lineQueue struct {
	mu     sync.Mutex
	lines  []event.Line // the open slice, at most max lines
	max    int
	closed bool
	ready  chan struct{} // a token: lines became non-empty, or the queue was closed
	room   chan struct{} // a token: lines were taken
}

// newLineQueue returns a queue of at most size lines, buf (empty) its first
// slice.
func newLineQueue(buf []event.Line, size int) *lineQueue {
	return &lineQueue{lines: buf, max: size, ready: make(chan struct{}, 1), room: make(chan struct{}, 1)}
}

// signal leaves a token in c unless one is there.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// push appends l, waiting while the queue is full; it returns ctx's error
// if ctx ends first.
func (q *lineQueue) push(ctx context.Context, l event.Line) error {
	for {
		q.mu.Lock()
		if len(q.lines) < q.max {
			q.lines = append(q.lines, l)
			first := len(q.lines) == 1
			q.mu.Unlock()
			if first {
				signal(q.ready)
			}
			return nil
		}
		q.mu.Unlock()
		select {
		case <-q.room:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// close says no line will be pushed any more.
func (q *lineQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	signal(q.ready)
}

// take waits until lines are queued and returns them all, next (empty)
// becoming the open slice; it returns nil once the queue is closed and
// empty.
func (q *lineQueue) take(next []event.Line) []event.Line {
	for {
		q.mu.Lock()
		if len(q.lines) > 0 {
			got := q.lines
			q.lines = next
			q.mu.Unlock()
			signal(q.room)
			return got
		}
		if q.closed {
			q.mu.Unlock()
			return nil
		}
		q.mu.Unlock()
		<-q.ready
	}
}
