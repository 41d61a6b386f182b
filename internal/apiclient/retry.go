package apiclient

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff returns how long to wait before attempt number next (2 = first
// retry): BaseDelay·2^(next-2) capped at MaxDelay, jittered into [d/2, d]. A
// server's Retry-After wins when it is longer and still within MaxDelay.
func backoff(rc RetryConfig, next int, retryAfter time.Duration, jitter func(time.Duration) time.Duration) time.Duration {
	d := rc.BaseDelay
	for i := 2; i < next && d < rc.MaxDelay; i++ {
		d *= 2
	}
	if d > rc.MaxDelay {
		d = rc.MaxDelay
	}
	d = jitter(d)
	if retryAfter > d {
		d = min(retryAfter, rc.MaxDelay)
	}
	return d
}

// halfJitter returns a random duration in [d/2, d].
func halfJitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
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
