package lapi

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
)

// ErrRefused is returned (wrapped, with the reasons) by AddAlert when
// every decision the alert carried was refused by the decision guard
// (allowlist, never-ban list, prefix too wide).
var ErrRefused = errors.New("decision refused")

// ErrBadAlert is returned (wrapped, with the reason) by AddAlert for an
// alert that POST /v1/alerts would answer 422.
var ErrBadAlert = errors.New("invalid alert")

// AddAlert stores an alert with explicit decisions made in this process
// (the dashboard's "add a ban"), as POST /v1/alerts stores one: validated,
// its decisions passed through the decision guard, stored with no machine,
// and the decision index brought up to date before it returns, so that
// bouncers get the decisions at their next pull. by names who asked, for
// the guard's log lines. It returns the alert's id.
func (s *Server) AddAlert(ctx context.Context, by string, a *models.Alert) (int64, error) {
	now := s.now()
	if len(a.Decisions) == 0 {
		return 0, fmt.Errorf("%w: no decision", ErrBadAlert)
	}
	if err := s.validateAlert(0, a, now); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrBadAlert, err)
	}
	var why []string
	a.Decisions, why = s.guardDecisions(a, &caller{machine: by}, now)
	if len(a.Decisions) == 0 {
		return 0, fmt.Errorf("%w: %s", ErrRefused, joinCapped(why, 5))
	}
	ids, err := s.st.CreateAlerts(ctx, "", []*models.Alert{a})
	if err != nil {
		if errors.Is(err, store.ErrInvalid) {
			return 0, fmt.Errorf("%w: %v", ErrBadAlert, err)
		}
		return 0, fmt.Errorf("lapi: add alert: %w", err)
	}
	if err := s.Sync(ctx); err != nil {
		s.log.Warn("lapi: index sync after alerts", "err", err)
	}
	return ids[0], nil
}

// ExpireDecisions expires the decisions with these ids that are active now
// (as DELETE /v1/decisions/{id} does), brings the index up to date, and
// says how many were active.
func (s *Server) ExpireDecisions(ctx context.Context, ids []int64) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	n, err := s.st.ExpireDecisions(ctx, s.now(), store.DecisionFilter{IDs: ids})
	if err != nil {
		return 0, fmt.Errorf("lapi: expire decisions: %w", err)
	}
	if err := s.Sync(ctx); err != nil {
		s.log.Warn("lapi: index sync after delete", "err", err)
	}
	return n, nil
}

// Now is the server's clock (tests inject one).
func (s *Server) Now() time.Time { return s.now() }

// ActiveDecisionsByOrigin counts the active decisions, simulated ones
// excepted, per origin, from the server's in-memory decision index
// (brought up to date with the store first): what bouncers enforce, at
// the cost of a map copy, where counting them in the store reads every
// active decision. Sorted by origin.
func (s *Server) ActiveDecisionsByOrigin(ctx context.Context) ([]store.Count, error) {
	if err := s.Sync(ctx); err != nil {
		return nil, err
	}
	s.idx.sweep(s.now())
	by := map[string]int64{}
	for k, n := range s.idx.countsSnapshot() {
		by[k[0]] += int64(n)
	}
	out := make([]store.Count, 0, len(by))
	for o, n := range by {
		out = append(out, store.Count{Key: o, Count: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}
