// Package backoff computes the waits between retries: exponential from a
// base, capped, with jitter so that many clients failing together do not
// retry together.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Policy is an exponential back-off: Base before the first retry, doubling
// each time, never more than Max.
type Policy struct {
	Base time.Duration
	Max  time.Duration
}

// Delay returns the wait before retry number n (1 = the first retry):
// Base·2^(n-1) capped at Max, then jittered by jitter (nil: HalfJitter).
func (p Policy) Delay(n int, jitter func(time.Duration) time.Duration) time.Duration {
	d := p.Base
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	if p.Max > 0 && d > p.Max {
		d = p.Max
	}
	if jitter == nil {
		jitter = HalfJitter
	}
	return jitter(d)
}

// HalfJitter returns a random duration in [d/2, d].
func HalfJitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}
