package apiclient

import (
	"context"

	"github.com/phalanx-ids/phalanx/internal/retry"
)

// policy is the client's retry policy (package retry) from its config.
func (c *Client) policy() retry.Policy {
	return retry.Policy{Base: c.cfg.Retry.BaseDelay, Max: c.cfg.Retry.MaxDelay, Jitter: c.jitter}
}

type singleAttemptKey struct{}

// SingleAttempt returns a context under which Client calls are sent once,
// whatever Config.Retry says: for a caller that runs its own retry loop
// (the agent's spool), so that two retry loops never nest. A failure still
// says whether it is worth retrying (IsRetryable); a 401 still causes one
// fresh login and one more try.
func SingleAttempt(ctx context.Context) context.Context {
	return context.WithValue(ctx, singleAttemptKey{}, true)
}

// maxAttempts is the attempt budget of a call under ctx.
func (c *Client) maxAttempts(ctx context.Context) int {
	if ctx.Value(singleAttemptKey{}) != nil {
		return 1
	}
	return c.cfg.Retry.MaxAttempts
}
