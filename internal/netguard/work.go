package netguard

import "errors"

// ErrBusy is returned by Work.Do when every slot is taken: answer 429
// with a short Retry-After.
var ErrBusy = errors.New("too much work in progress, retry later")

// Work bounds the CPU-heavy work (bcrypt hashes and compares) that
// unauthenticated requests make a server do: at most n at once, plus one
// slot reserved for callers the server trusts more (a login from a
// machine's own last address), so that a flood of tries from elsewhere
// cannot lock installed clients out. Excess work is refused at once
// rather than queued: a queue would only make every client wait.
//
// Concurrency: safe for concurrent use.
type Work struct {
	slots    chan struct{}
	reserved chan struct{}
}

// NewWork returns a Work of n (>= 1) shared slots and one reserved slot.
func NewWork(n int) *Work {
	return &Work{slots: make(chan struct{}, max1(n)), reserved: make(chan struct{}, 1)}
}

// Do runs fn in a free slot (a shared one, or the reserved one when
// reserved is set and the shared ones are taken), or returns ErrBusy at
// once.
func (w *Work) Do(reserved bool, fn func()) error {
	slot := w.slots
	select {
	case w.slots <- struct{}{}:
	default:
		if !reserved {
			return ErrBusy
		}
		select {
		case w.reserved <- struct{}{}:
			slot = w.reserved
		default:
			return ErrBusy
		}
	}
	defer func() { <-slot }()
	fn()
	return nil
}

// Hold takes every shared slot (and the reserved one with reserved)
// until release is called: tests use it to play a server saturated by
// other clients.
func (w *Work) Hold(reserved bool) (release func()) {
	n := cap(w.slots)
	for range n {
		w.slots <- struct{}{}
	}
	if reserved {
		w.reserved <- struct{}{}
	}
	return func() {
		for range n {
			<-w.slots
		}
		if reserved {
			<-w.reserved
		}
	}
}
