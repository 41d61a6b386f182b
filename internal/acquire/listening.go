package acquire

import (
	"context"
	"errors"
)

// Listening tells the callers of a server datasource's address method
// (syslog's Addrs, http's Addr) when Run has bound its sockets, or that
// Run ended before it did: a wait on it ends either way, with Run's
// error in the second case, never only by the caller's ctx.
//
// Concurrency: Run calls Bound at most once, after its sockets are bound,
// and Ended exactly once, when it returns (a deferred call); Wait may be
// called from any goroutine, any number of times.
type Listening struct {
	bound chan struct{}
	ended chan struct{}
	err   error // Run's error; written before ended is closed
}

// NewListening returns a Listening whose Run has not started.
func NewListening() *Listening {
	return &Listening{bound: make(chan struct{}), ended: make(chan struct{})}
}

// Bound records that Run's sockets are bound.
func (l *Listening) Bound() { close(l.bound) }

// Ended records that Run returned err.
func (l *Listening) Ended(err error) {
	l.err = err
	close(l.ended)
}

// Wait returns nil once Run has bound its sockets; Run's error (never
// nil) when Run ended before binding; ctx's error when ctx ends first.
func (l *Listening) Wait(ctx context.Context) error {
	select {
	case <-l.bound:
		return nil
	case <-l.ended:
		select {
		case <-l.bound: // bound, then ended: the addresses are known
			return nil
		default:
		}
		if l.err == nil {
			return errors.New("acquire: the datasource stopped before its sockets were bound")
		}
		return l.err
	case <-ctx.Done():
		return ctx.Err()
	}
}
