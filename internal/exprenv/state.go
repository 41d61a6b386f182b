package exprenv

import (
	"time"

	"github.com/phalanx-ids/phalanx/internal/duration"
)

// stateHelpers: the stash and the DB-backed decision counts. Without a
// Stash or Decisions dependency they answer "" / 0, never panic.
func (e *Env) stateHelpers() []helper {
	return []helper{
		{"GetFromStash", e.getFromStash, []any{new(func(string, string) (string, error))}},
		{"SetInStash", e.setInStash, []any{
			new(func(string, string, string) error),
			new(func(string, string, string, time.Duration) error),
			new(func(string, string, string, *time.Duration) error),
		}},
		{"GetDecisionsCount", e.getDecisionsCount, []any{new(func(string) int)}},
		{"GetDecisionsSinceCount", e.getDecisionsSinceCount, []any{new(func(string, string) int)}},
		{"GetActiveDecisionsCount", e.getActiveDecisionsCount, []any{new(func(string) int)}},
		{"GetActiveDecisionsTimeLeft", e.getActiveDecisionsTimeLeft, []any{new(func(string) time.Duration)}},
	}
}

// GetFromStash(cache, key) string: "" when the key is absent, expired or
// the cache unknown.
func (e *Env) getFromStash(p ...any) (any, error) {
	if e.d.Stash == nil {
		return "", nil
	}
	v, _ := e.d.Stash.Get(argStr(p, 0), argStr(p, 1))
	return v, nil
}

// SetInStash(cache, key, value[, ttl]) stores a value (with the cache's TTL
// unless ttl is given). An unknown cache is ignored, as upstream.
func (e *Env) setInStash(p ...any) (any, error) {
	if e.d.Stash == nil {
		return nil, nil
	}
	name, key, val := argStr(p, 0), argStr(p, 1), argStr(p, 2)
	var err error
	switch ttl := argOr(p, 3).(type) {
	case time.Duration:
		err = e.d.Stash.SetTTL(name, key, val, ttl)
	case *time.Duration:
		if ttl != nil {
			err = e.d.Stash.SetTTL(name, key, val, *ttl)
		} else {
			err = e.d.Stash.Set(name, key, val)
		}
	default:
		err = e.d.Stash.Set(name, key, val)
	}
	if err != nil {
		e.log.Debug("SetInStash", "err", err)
	}
	return nil, nil
}

func argOr(p []any, i int) any {
	if i < len(p) {
		return p[i]
	}
	return nil
}

func (e *Env) getDecisionsCount(p ...any) (any, error) {
	if e.d.Decisions == nil {
		return 0, nil
	}
	n, err := e.d.Decisions.CountDecisions(argStr(p, 0))
	if err != nil {
		e.log.Debug("GetDecisionsCount", "err", err)
		return 0, nil
	}
	return n, nil
}

// GetDecisionsSinceCount(value, "1h" | "2d") int: decisions for value
// created since now minus the duration (days allowed).
func (e *Env) getDecisionsSinceCount(p ...any) (any, error) {
	if e.d.Decisions == nil {
		return 0, nil
	}
	d, err := duration.Parse(argStr(p, 1))
	if err != nil {
		e.log.Debug("GetDecisionsSinceCount: bad duration", "err", err)
		return 0, nil
	}
	n, err := e.d.Decisions.CountDecisionsSince(argStr(p, 0), e.now().UTC().Add(-d))
	if err != nil {
		e.log.Debug("GetDecisionsSinceCount", "err", err)
		return 0, nil
	}
	return n, nil
}

// GetActiveDecisionsCount(value) int. A DB error is returned, as upstream.
func (e *Env) getActiveDecisionsCount(p ...any) (any, error) {
	if e.d.Decisions == nil {
		return 0, nil
	}
	return e.d.Decisions.ActiveDecisionsCount(argStr(p, 0))
}

// GetActiveDecisionsTimeLeft(value) time.Duration. A DB error is returned,
// as upstream.
func (e *Env) getActiveDecisionsTimeLeft(p ...any) (any, error) {
	if e.d.Decisions == nil {
		return time.Duration(0), nil
	}
	return e.d.Decisions.ActiveDecisionsTimeLeft(argStr(p, 0))
}
