package capi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/phalanx-ids/phalanx/internal/capi/wire"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/textsafe"
	"github.com/phalanx-ids/phalanx/internal/usagemetrics"
)

// Usage metrics, as CrowdSec's LAPI forwards them (POST
// /v3/usage-metrics): what its components (agents, bouncers) sent to POST
// /v1/usage-metrics since the last report, per component, with the
// inventory of every machine and bouncer and the LAPI's own block
// (version, OS, start time, enabled console options). Every 30 min, the
// first 30 ± 15 min after start. Reports wait in the outbox (the store,
// kind store.OutboxUsage), so a restart or an outage loses none; a 422
// marks them sent (the central will never take them), as CrowdSec does.

// Usage bounds.
const (
	usageBatch = 500 // component reports per request
)

// usageRecord is one component's report as the outbox keeps it.
type usageRecord struct {
	Machine string                               `json:"machine,omitempty"` // a log processor's machine id
	Bouncer string                               `json:"bouncer,omitempty"` // a remediation component's name
	LP      *models.LogProcessorsMetrics         `json:"lp,omitempty"`
	RC      *models.RemediationComponentsMetrics `json:"rc,omitempty"`
}

// UsageReceived queues the usage metrics a component sent to the LAPI
// (machine: an agent's log processor block; bouncer: a bouncer's
// remediation component block; the LAPI checked the body) for the next
// report to the central. Nothing is queued when usage metrics are off.
// An error means nothing was queued. Safe for concurrent use; never waits
// on the network.
func (s *Service) UsageReceived(ctx context.Context, machine, bouncer string, m *models.AllMetrics) error {
	if !s.set.SendUsageMetrics || m == nil {
		return nil
	}
	now := s.now()
	var items []store.OutboxItem
	add := func(r usageRecord) error {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		items = append(items, store.OutboxItem{Kind: store.OutboxUsage, UUID: randomID(), Payload: b, CreatedAt: now})
		return nil
	}
	if machine != "" {
		for _, lp := range m.LogProcessors {
			if lp != nil {
				if err := add(usageRecord{Machine: machine, LP: lp}); err != nil {
					return fmt.Errorf("capi: usage metrics: %w", err)
				}
			}
		}
	}
	if bouncer != "" {
		for _, rc := range m.RemediationComponents {
			if rc != nil {
				if err := add(usageRecord{Bouncer: bouncer, RC: rc}); err != nil {
					return fmt.Errorf("capi: usage metrics: %w", err)
				}
			}
		}
	}
	if len(items) == 0 {
		return nil
	}
	if _, err := s.d.Store.OutboxAdd(ctx, items); err != nil {
		return fmt.Errorf("capi: usage metrics: %w", err)
	}
	return nil
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ConsoleOptions is the usage report's lapi.console_options as
// CrowdSec's LAPI builds it: one entry, the names of the consent flags
// that are on (custom, tainted, manual, context, in that order) joined by
// commas; "" when none is. The contract types it as a list of strings; a
// CrowdSec central reads this one joined entry.
func (c Consent) ConsoleOptions() []string {
	var on []string
	for _, o := range []struct {
		on   bool
		name string
	}{{c.ShareCustom, "custom"}, {c.ShareTainted, "tainted"}, {c.ShareManualDecisions, "manual"}, {c.ShareContext, "context"}} {
		if o.on {
			on = append(on, o.name)
		}
	}
	return []string{strings.Join(on, ",")}
}

// UsageMetrics builds the next usage report: every machine and bouncer
// of the LAPI (their version, OS and feature flags; a component's latest
// report overrides them and brings its hub items and datasources), each
// with the metric windows it reported since the last report, and the
// LAPI's own block. ids are the outbox items the report carries (mark
// them sent once the central has it).
func (s *Service) UsageMetrics(ctx context.Context) (m *models.AllMetrics, ids []int64, err error) {
	pending, err := s.d.Store.OutboxPending(ctx, store.OutboxUsage, usageBatch)
	if err != nil {
		return nil, nil, fmt.Errorf("capi: usage metrics: %w", err)
	}
	ms, err := s.d.Store.ListMachines(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("capi: usage metrics: %w", err)
	}
	bs, err := s.d.Store.ListBouncers(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("capi: usage metrics: %w", err)
	}
	lps := map[string][]*models.LogProcessorsMetrics{}
	rcs := map[string][]*models.RemediationComponentsMetrics{}
	for _, it := range pending {
		ids = append(ids, it.ID) // sent with the report, whatever it holds
		var r usageRecord
		if err := json.Unmarshal(it.Payload, &r); err != nil {
			s.log.Warn("capi: usage metrics: unreadable report dropped", "err", err)
			continue
		}
		switch {
		case r.Machine != "" && r.LP != nil:
			lps[r.Machine] = append(lps[r.Machine], r.LP)
		case r.Bouncer != "" && r.RC != nil:
			rcs[r.Bouncer] = append(rcs[r.Bouncer], r.RC)
		}
	}
	unix := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.UTC().Unix()
	}
	m = &models.AllMetrics{RemediationComponents: []*models.RemediationComponentsMetrics{}, LogProcessors: []*models.LogProcessorsMetrics{}}
	for _, b := range bs {
		rc := &models.RemediationComponentsMetrics{Type: b.Type, Name: b.Name, LastPull: unix(b.LastPull)}
		rc.BaseMetrics = inventoryBase(b.Version, b.OSName, b.OSVersion, b.FeatureFlags)
		mergeReports(&rc.BaseMetrics, rcs[b.Name], func(r *models.RemediationComponentsMetrics) *models.BaseMetrics { return &r.BaseMetrics },
			func(last *models.RemediationComponentsMetrics) {
				if last.Type != "" {
					rc.Type = last.Type
				}
			})
		m.RemediationComponents = append(m.RemediationComponents, rc)
	}
	for _, x := range ms {
		lp := &models.LogProcessorsMetrics{Name: x.ID, LastPush: unix(x.LastPush), LastUpdate: unix(x.UpdatedAt),
			HubItems: models.HubItems{}, Datasources: map[string]int64{}}
		lp.BaseMetrics = inventoryBase(x.Version, x.OSName, x.OSVersion, x.FeatureFlags)
		mergeReports(&lp.BaseMetrics, lps[x.ID], func(r *models.LogProcessorsMetrics) *models.BaseMetrics { return &r.BaseMetrics },
			func(last *models.LogProcessorsMetrics) {
				if last.HubItems != nil {
					lp.HubItems = last.HubItems
				}
				if last.Datasources != nil {
					lp.Datasources = last.Datasources
				}
			})
		m.LogProcessors = append(m.LogProcessors, lp)
	}
	m.Lapi = &models.LapiMetrics{ConsoleOptions: s.set.Consent.ConsoleOptions(),
		BaseMetrics: usagemetrics.NewIdentity(s.set.Version, time.Unix(s.started, 0)).Base(s.now(), s.set.UsageMetricsInterval, nil)}
	return m, ids, nil
}

// mergeReports folds a component's queued reports (oldest first) into
// its inventory block: every metric window they carry, in order, and what
// the last one says of itself (version, OS, flags, start time, and the
// kind's own fields, which last takes) over the inventory's. Metrics is
// never null.
func mergeReports[R any](dst *models.BaseMetrics, reps []*R, base func(*R) *models.BaseMetrics, last func(*R)) {
	for _, r := range reps {
		dst.Metrics = append(dst.Metrics, base(r).Metrics...)
	}
	if n := len(reps); n > 0 {
		overrideBase(dst, base(reps[n-1]))
		last(reps[n-1])
	}
	if dst.Metrics == nil {
		dst.Metrics = []*models.DetailedMetrics{}
	}
}

// inventoryBase is a component's base block from the LAPI's inventory.
func inventoryBase(version, osName, osVersion, flags string) models.BaseMetrics {
	b := models.BaseMetrics{Version: &version, Os: &models.OSversion{Name: &osName, Version: &osVersion}, FeatureFlags: []string{}}
	for _, f := range strings.Split(flags, ",") {
		if f = strings.TrimSpace(f); f != "" {
			b.FeatureFlags = append(b.FeatureFlags, f)
		}
	}
	return b
}

// overrideBase takes what a component's own report says over the
// inventory's.
func overrideBase(dst, rep *models.BaseMetrics) {
	if rep.Version != nil && *rep.Version != "" {
		dst.Version = rep.Version
	}
	if rep.Os != nil && rep.Os.Name != nil && *rep.Os.Name != "" {
		dst.Os = rep.Os
	}
	if len(rep.FeatureFlags) > 0 {
		dst.FeatureFlags = rep.FeatureFlags
	}
	if rep.UtcStartupTimestamp != nil {
		dst.UtcStartupTimestamp = rep.UtcStartupTimestamp
	}
}

// usageLoop sends a usage report UsageMetricsFirst after start, then
// every UsageMetricsInterval (CrowdSec's schedule). A report the central
// took (or refused with 422: it never will) marks its components'
// reports sent; a failure a later try may overcome is retried with the
// push back-off, never later than the interval; another refusal keeps
// them for the next interval.
func (s *Service) usageLoop(ctx context.Context) {
	bo := s.set.PushRetry.Backoff()
	wait := s.set.UsageMetricsFirst
	for {
		if s.sleep(ctx, wait) != nil {
			return
		}
		wait = s.set.UsageMetricsInterval
		m, ids, err := s.UsageMetrics(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("capi: usage metrics", "err", err)
			}
			continue
		}
		err = s.cl.PushUsageMetrics(ctx, m)
		if ctx.Err() != nil {
			return
		}
		var e *Error
		if err != nil && !(errors.As(err, &e) && e.Status == 422) {
			if Retryable(err) {
				wait = min(bo.Next(RetryAfter(err)), s.set.UsageMetricsInterval)
			}
			s.log.Warn("capi: usage metrics not sent; kept", "err", textsafe.Log(err.Error()), "retry_in", wait)
			continue
		}
		bo.Reset()
		if err != nil {
			s.log.Warn("capi: the central refused the usage metrics (422); marked sent", "err", textsafe.Log(err.Error()))
		}
		if err := s.d.Store.OutboxMarkSent(ctx, ids, s.now()); err != nil && ctx.Err() == nil {
			s.log.Warn("capi: usage metrics", "err", err)
		}
		if !s.set.Sharing { // else the push loop purges
			if _, err := s.d.Store.OutboxPurge(ctx, s.now().Add(-s.set.SentRetention)); err != nil && ctx.Err() == nil {
				s.log.Warn("capi: purge outbox", "err", err)
			}
		}
		s.log.Debug("capi: usage metrics sent", "reports", len(ids))
	}
}

// usageFirst is CrowdSec's first delay: the interval ± half of it.
func usageFirst(interval time.Duration) time.Duration {
	half := int64(interval / 2)
	if half <= 0 {
		return interval
	}
	n, err := rand.Int(rand.Reader, big.NewInt(2*half+1))
	if err != nil {
		return interval
	}
	return interval - time.Duration(half) + time.Duration(n.Int64())
}

// PushUsageMetrics sends a usage report (POST /v3/usage-metrics).
func (c *Client) PushUsageMetrics(ctx context.Context, m *wire.UsageMetrics) error {
	_, err := c.authed(ctx, "push usage metrics", "POST", "v3/usage-metrics", m, nil)
	return err
}
