package netguard

import (
	"math"
	"sync"
	"time"
)

// Limiter is a token bucket per key (a client address, a machine id):
// each key may do burst events at once and rate events per second after
// that. It remembers at most max keys; the least recently seen are
// forgotten first (a forgotten key starts again with a full bucket), so an
// attacker with many addresses cannot grow it.
//
// Concurrency: safe for concurrent use.
type Limiter[K comparable] struct {
	mu    sync.Mutex
	rate  float64 // tokens per second
	burst float64
	epoch time.Time
	t     *lru[K, bucket]
}

type bucket struct {
	tokens float64
	last   time.Duration // since epoch
}

// NewLimiter returns a Limiter of rate events per second (> 0) with the
// given burst (>= 1) over at most max keys (>= 1).
func NewLimiter[K comparable](rate float64, burst, max int) *Limiter[K] {
	return &Limiter[K]{rate: rate, burst: float64(max1(burst)), epoch: time.Now(), t: newLRU[K, bucket](max1(max))}
}

func max1(n int) int { return max(n, 1) }

// Allow takes a token of key at now. When none is left it returns false
// and how long until the next one.
func (l *Limiter[K]) Allow(key K, now time.Time) (ok bool, retryAfter time.Duration) {
	at := now.Sub(l.epoch)
	l.mu.Lock()
	defer l.mu.Unlock()
	b, fresh := l.t.put(key)
	if fresh {
		b.tokens, b.last = l.burst, at
	} else if at > b.last {
		b.tokens = math.Min(l.burst, b.tokens+(at-b.last).Seconds()*l.rate)
		b.last = at
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return false, max(wait, time.Millisecond)
}

// Len is how many keys are remembered.
func (l *Limiter[K]) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.t.len()
}

// BackoffPolicy is how a Backoff answers failures.
type BackoffPolicy struct {
	// Free failures are allowed without waiting.
	Free int
	// Base is the wait after the first failure beyond Free; each further
	// failure doubles it, up to Max.
	Base, Max time.Duration
	// Forget: a key without failure for this long starts again from zero.
	// Default 2*Max.
	Forget time.Duration
	// Keys bounds the keys remembered (least recently failed forgotten
	// first). Default 65536.
	Keys int
}

// Backoff throttles a key (a client address, a login id) that keeps
// failing: after Free failures, the key must wait Base, then twice as
// long after each further failure, up to Max, before it is allowed again.
//
// Concurrency: safe for concurrent use.
type Backoff[K comparable] struct {
	mu    sync.Mutex
	p     BackoffPolicy
	epoch time.Time
	t     *lru[K, failures]
}

type failures struct {
	n     int
	last  time.Duration // since epoch
	until time.Duration // refused before this
}

// NewBackoff returns a Backoff with policy p (Base and Max > 0).
func NewBackoff[K comparable](p BackoffPolicy) *Backoff[K] {
	if p.Forget <= 0 {
		p.Forget = 2 * p.Max
	}
	if p.Keys <= 0 {
		p.Keys = 65536
	}
	return &Backoff[K]{p: p, epoch: time.Now(), t: newLRU[K, failures](p.Keys)}
}

// Wait returns how long key must still wait at now (0: allowed).
func (b *Backoff[K]) Wait(key K, now time.Time) time.Duration {
	at := now.Sub(b.epoch)
	b.mu.Lock()
	defer b.mu.Unlock()
	f := b.t.get(key)
	if f == nil {
		return 0
	}
	if at-f.last > b.p.Forget {
		b.t.remove(key)
		return 0
	}
	if f.n > b.p.Free && at < f.until {
		return f.until - at
	}
	return 0
}

// Fail records a failure of key at now and returns the wait it imposes
// from now (0 while the key has free failures left).
func (b *Backoff[K]) Fail(key K, now time.Time) time.Duration {
	at := now.Sub(b.epoch)
	b.mu.Lock()
	defer b.mu.Unlock()
	f, fresh := b.t.put(key)
	if !fresh && at-f.last > b.p.Forget {
		*f = failures{}
	}
	f.n++
	f.last = at
	if f.n <= b.p.Free {
		return 0
	}
	wait := b.p.Base
	for i := b.p.Free + 1; i < f.n && wait < b.p.Max; i++ {
		wait *= 2
	}
	wait = min(wait, b.p.Max)
	f.until = at + wait
	return wait
}

// Reset forgets key's failures (after a success).
func (b *Backoff[K]) Reset(key K) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.t.remove(key)
}

// Len is how many keys are remembered.
func (b *Backoff[K]) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.t.len()
}
