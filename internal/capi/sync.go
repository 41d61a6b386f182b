package capi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/phalanx-ids/phalanx/internal/capi/wire"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/textsafe"
)

// What the LAPI tells the central besides signals, as CrowdSec does:
// decision deletions (POST /v3/decisions/delete, only with
// share_manual_decisions) and its inventory (POST /v3/metrics/).

// deleteBatch is how many uuids a deletion request carries (CrowdSec's).
const deleteBatch = 50

// Deleted is the LAPI's hook for decisions an operator deleted (DELETE
// /v1/decisions[/{id}]): with share_manual_decisions (and sharing on),
// their uuids are queued in the outbox (the store, kind
// store.OutboxDeletion) for the central; decisions the central or a
// blocklist gave (origins CAPI, lists) are not sent back. Unlike
// CrowdSec's in-memory queue, nothing is lost when the LAPI stops before
// the sync: the queue is in the database, a uuid is queued once (a
// repeated delete sends it once), and it is sent after a restart. An
// error means nothing was queued. Safe for concurrent use; never waits
// on the network.
func (s *Service) Deleted(ctx context.Context, decs []store.Decision) error {
	if !s.set.Sharing || !s.set.Consent.ShareManualDecisions {
		return nil
	}
	now := s.now()
	var items []store.OutboxItem
	for _, d := range decs {
		if d.UUID == "" || d.Origin == OriginCAPI || d.Origin == OriginLists {
			continue
		}
		p, _ := json.Marshal(d.UUID)
		items = append(items, store.OutboxItem{Kind: store.OutboxDeletion, UUID: d.UUID, Payload: p, CreatedAt: now})
	}
	if len(items) == 0 {
		return nil
	}
	if _, err := s.d.Store.OutboxAdd(ctx, items); err != nil {
		return fmt.Errorf("capi: queue decision deletions: %w", err)
	}
	return nil
}

// deleteLoop sends the queued deletions every DeleteSyncInterval, in
// batches of 50; a batch that failed for a reason a later try may
// overcome (transport, 408, 429, 5xx) stays queued and is retried with
// PushRetry's back-off (a Retry-After honoured up to its cap); one the
// central refused (other 4xx) is set aside (marked refused, purged with
// the sent ones).
func (s *Service) deleteLoop(ctx context.Context) {
	bo := s.set.PushRetry.Backoff()
	wait := s.set.DeleteSyncInterval
	for {
		if s.sleep(ctx, wait) != nil {
			return
		}
		wait = s.set.DeleteSyncInterval
		for {
			items, err := s.d.Store.OutboxPending(ctx, store.OutboxDeletion, deleteBatch)
			if err != nil || len(items) == 0 {
				if err != nil && ctx.Err() == nil {
					s.log.Warn("capi: decision deletions: read the outbox", "err", err)
				}
				break
			}
			ids := make([]int64, len(items))
			uuids := make([]string, len(items))
			for i, it := range items {
				ids[i], uuids[i] = it.ID, it.UUID
			}
			err = s.cl.DeleteDecisions(ctx, uuids)
			if ctx.Err() != nil {
				return
			}
			if err != nil && Retryable(err) {
				wait = bo.Next(RetryAfter(err))
				s.log.Warn("capi: decision deletions not sent; kept in the outbox", "err", err, "retry_in", wait)
				break
			}
			bo.Reset()
			if err != nil {
				// 400, 404 (a central without the route), 403 after a
				// new login...: sending them again would not help.
				s.log.Warn("capi: the central refused decision deletions; set aside", "count", len(items), "err", textsafe.Log(err.Error()))
				var merr error
				for _, id := range ids {
					if merr = s.d.Store.OutboxMarkRefused(ctx, id, err.Error(), s.now()); merr != nil {
						break
					}
				}
				if merr != nil {
					s.log.Warn("capi: decision deletions", "err", merr)
					break // tried again at the next sync
				}
				continue
			}
			// The central has them; should this write fail, they are sent
			// again (the central counts a uuid once).
			if merr := s.d.Store.OutboxMarkSent(ctx, ids, s.now()); merr != nil {
				s.log.Warn("capi: decision deletions", "err", merr)
				break
			}
			s.log.Debug("capi: decision deletions sent", "count", len(items))
		}
	}
}

// Metrics returns what POST /v3/metrics/ carries: every machine and
// bouncer of the LAPI (times in RFC 3339; CrowdSec prints Go's default
// format, which the central does not read).
func (s *Service) Metrics(ctx context.Context) (wire.Metrics, error) {
	ms, err := s.d.Store.ListMachines(ctx)
	if err != nil {
		return wire.Metrics{}, fmt.Errorf("capi: metrics: %w", err)
	}
	bs, err := s.d.Store.ListBouncers(ctx)
	if err != nil {
		return wire.Metrics{}, fmt.Errorf("capi: metrics: %w", err)
	}
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	m := wire.Metrics{ApilVersion: s.set.Version, Bouncers: []wire.MetricsBouncer{}, Machines: []wire.MetricsMachine{}}
	for _, b := range bs {
		m.Bouncers = append(m.Bouncers, wire.MetricsBouncer{Name: b.Type, CustomName: b.Name, Version: b.Version, LastPull: ts(b.LastPull)})
	}
	for _, x := range ms {
		m.Machines = append(m.Machines, wire.MetricsMachine{Name: x.ID, Version: x.Version, LastUpdate: ts(x.UpdatedAt), LastPush: ts(x.LastPush)})
	}
	return m, nil
}

func machineIDs(m wire.Metrics) string {
	ids := make([]string, len(m.Machines))
	for i, x := range m.Machines {
		ids[i] = x.Name
	}
	slices.Sort(ids)
	return strings.Join(ids, "\n")
}

// metricsLoop sends the metrics at start, then every MetricsInterval,
// and at once when the set of machines changes (checked every 20 s or
// the interval, whichever is shorter: MetricsCheck). A failure is retried with
// back-off (never later than the interval).
func (s *Service) metricsLoop(ctx context.Context) {
	bo := s.set.PushRetry.Backoff()
	check := min(s.set.MetricsCheck, s.set.MetricsInterval)
	next := s.now() // at start
	sent := ""
	for {
		m, err := s.Metrics(ctx)
		if err == nil && (!s.now().Before(next) || machineIDs(m) != sent) {
			err = s.cl.PushMetrics(ctx, m)
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				bo.Reset()
				sent = machineIDs(m)
				next = s.now().Add(s.set.MetricsInterval)
				s.log.Debug("capi: metrics sent", "machines", len(m.Machines), "bouncers", len(m.Bouncers))
			} else {
				wait := s.set.MetricsInterval // refused (4xx): at the next interval
				if Retryable(err) {
					wait = min(bo.Next(RetryAfter(err)), wait)
				}
				next = s.now().Add(wait)
				sent = machineIDs(m) // no resend at every check while the central fails
			}
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			s.log.Warn("capi: metrics", "err", err)
		}
		if s.sleep(ctx, min(check, max(time.Millisecond, next.Sub(s.now())))) != nil {
			return
		}
	}
}
