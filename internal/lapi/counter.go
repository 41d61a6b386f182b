package lapi

import (
	"context"
	"time"

	"github.com/phalanx-ids/phalanx/internal/exprenv"
	"github.com/phalanx-ids/phalanx/internal/store"
)

var _ exprenv.Decisions = (*DecisionCounter)(nil)

// DecisionCounter answers the profile expression helpers
// (GetDecisionsCount, GetActiveDecisionsCount...) from the store; it
// implements exprenv.Decisions, for profile.Options.Env.
//
// Concurrency: safe for concurrent use (the store is).
type DecisionCounter struct {
	Store store.Store
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Timeout bounds each store read; 0: 5s.
	Timeout time.Duration
}

func (c *DecisionCounter) list(f store.DecisionFilter) ([]*store.Decision, error) {
	t := c.Timeout
	if t <= 0 {
		t = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), t)
	defer cancel()
	return c.Store.ListDecisions(ctx, f)
}

func (c *DecisionCounter) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// CountDecisions counts every decision (active or not) on value.
func (c *DecisionCounter) CountDecisions(value string) (int, error) {
	ds, err := c.list(store.DecisionFilter{Value: value})
	return len(ds), err
}

// CountDecisionsSince counts the decisions on value created since since.
func (c *DecisionCounter) CountDecisionsSince(value string, since time.Time) (int, error) {
	ds, err := c.list(store.DecisionFilter{Value: value})
	n := 0
	for _, d := range ds {
		if !d.CreatedAt.Before(since) {
			n++
		}
	}
	return n, err
}

// ActiveDecisionsCount counts the active decisions on value.
func (c *DecisionCounter) ActiveDecisionsCount(value string) (int, error) {
	ds, err := c.list(store.DecisionFilter{Value: value, ActiveAt: c.now()})
	return len(ds), err
}

// ActiveDecisionsTimeLeft returns the longest time left of the active
// decisions on value (0 when none).
func (c *DecisionCounter) ActiveDecisionsTimeLeft(value string) (time.Duration, error) {
	now := c.now()
	ds, err := c.list(store.DecisionFilter{Value: value, ActiveAt: now})
	var left time.Duration
	for _, d := range ds {
		left = max(left, d.Until.Sub(now))
	}
	return left, err
}
