// Package retry is Phalanx's one retry policy: exponential backoff with
// jitter, honouring a server's Retry-After. Every loop that retries a
// failed call uses it: the LAPI client's calls (apiclient), the agent's
// spool pushes (agent) and the bouncers' decision pulls (bouncer). Each
// loop owns its policy values and documents them next to its constructor.
package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy says how long to wait between tries: before the n-th retry,
// Base·2^(n-1), capped at Max, jittered into [d/2, d]; a Retry-After
// asked by the server wins when it is longer, up to Max. A Retry-After
// beyond Max is jittered like the cap it meets: clients told "come back
// in an hour" at the same instant do not all return at the same second.
// The zero value retries at once (Base 0).
type Policy struct {
	Base, Max time.Duration
	// Jitter maps the computed wait to the one used; nil: HalfJitter.
	// Tests pass the identity.
	Jitter func(time.Duration) time.Duration
}

// Delay returns the wait before retry n (1 = the first retry).
func (p Policy) Delay(n int, retryAfter time.Duration) time.Duration {
	maxD := max(p.Max, p.Base)
	d := p.Base
	for i := 1; i < n && d < maxD; i++ {
		d *= 2
	}
	d = min(d, maxD)
	jitter := p.Jitter
	if jitter == nil {
		jitter = HalfJitter
	}
	if retryAfter > maxD {
		return jitter(maxD)
	}
	return max(jitter(d), retryAfter)
}

// Backoff counts the consecutive failures of one loop and gives the wait
// after each. Concurrency: owned by one goroutine (the loop's).
type Backoff struct {
	p Policy
	n int
}

// Backoff returns a fresh Backoff under p.
func (p Policy) Backoff() *Backoff { return &Backoff{p: p} }

// Next records a failure and returns how long to wait before trying again.
func (b *Backoff) Next(retryAfter time.Duration) time.Duration {
	b.n++
	return b.p.Delay(b.n, retryAfter)
}

// Reset records a success: the next failure waits Base again.
func (b *Backoff) Reset() { b.n = 0 }

// Failures returns the failures recorded since the last Reset.
func (b *Backoff) Failures() int { return b.n }

// HalfJitter returns a random duration in [d/2, d].
func HalfJitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// Sleeper waits d or until ctx ends (then it returns ctx.Err()). Loops
// that wait take one, nil meaning Sleep, so that tests drive them on a
// virtual clock (minutes of back-off in milliseconds).
type Sleeper func(ctx context.Context, d time.Duration) error

// Or returns s, or Sleep when s is nil.
func (s Sleeper) Or() Sleeper {
	if s == nil {
		return Sleep
	}
	return s
}

// Sleep waits d or until ctx ends (then it returns ctx.Err()).
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
