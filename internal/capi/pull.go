package capi

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/phalanx-ids/phalanx/internal/capi/wire"
	"github.com/phalanx-ids/phalanx/internal/duration"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/textsafe"
)

// CommunityScope is the source scope of the alert that carries the pulled
// community decisions (CrowdSec's).
const CommunityScope = "crowdsecurity/community-blocklist"

// PullResult says what one pull changed.
type PullResult struct {
	Added, Deleted, Refused int
	Lists                   map[string]int // blocklist name -> decisions added
	Allowlists              map[string]int // allowlist link name -> items (fetched ones)
	// Interval is the pull interval now in force.
	Interval time.Duration
}

func (s *Service) pullInterval() time.Duration {
	switch {
	case s.set.PullInterval > 0:
		return s.set.PullInterval
	case s.interval > 0:
		return s.interval
	}
	return DefaultPullInterval
}

// pullLoop pulls at start (the whole list: startup=true), then every
// interval; a failed pull is retried with back-off (never later than the
// interval).
func (s *Service) pullLoop(ctx context.Context) {
	if err := s.refreshCommunity(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("capi: load community list", "err", err)
	}
	bo := s.set.PushRetry.Backoff()
	startup := true
	for {
		res, err := s.PullNow(ctx, startup)
		if ctx.Err() != nil {
			return
		}
		var wait time.Duration
		if err != nil {
			wait = min(bo.Next(RetryAfter(err)), s.pullIntervalLocked())
			s.log.Warn("capi: pull failed", "err", err, "retry_in", wait)
		} else {
			if bo.Failures() > 0 {
				select { // the central is back: the pusher need not wait out its back-off
				case s.back <- struct{}{}:
				default:
				}
			}
			bo.Reset()
			startup = false
			wait = res.Interval
			if res.Added+res.Deleted > 0 || len(res.Lists) > 0 || len(res.Allowlists) > 0 {
				s.log.Info("capi: community list pulled", "added", res.Added, "deleted", res.Deleted,
					"refused", res.Refused, "lists", len(res.Lists), "allowlists", len(res.Allowlists), "next_in", wait)
			}
		}
		if s.sleep(ctx, wait) != nil {
			return
		}
	}
}

func (s *Service) pullIntervalLocked() time.Duration {
	s.pullMu.Lock()
	defer s.pullMu.Unlock()
	return s.pullInterval()
}

// PullNow pulls the stream once and applies it: deleted entries expire,
// new ones become decisions of origin CAPI (replacing older ones on the
// same values; with startup, CAPI decisions missing from the full list
// expire too), linked blocklists are fetched into decisions of origin
// lists. Local allowlists and the never-ban guard drop what they cover.
func (s *Service) PullNow(ctx context.Context, startup bool) (PullResult, error) {
	s.pullMu.Lock()
	defer s.pullMu.Unlock()
	st, info, err := s.cl.PullStream(ctx, startup, s.set.PullCommunity, s.set.PullBlocklists)
	if err != nil {
		s.met.pulls.WithLabelValues("error").Inc()
		return PullResult{}, err
	}
	s.met.pulls.WithLabelValues("ok").Inc()
	if info.Interval > 0 {
		s.interval = info.Interval
	}
	res := PullResult{Lists: map[string]int{}, Allowlists: map[string]int{}}
	// Allowlist links first: what they cover is not stored from this
	// pull's lists, and goes from what is in force (as CrowdSec).
	if st.Links != nil {
		for _, l := range st.Links.Allowlists {
			n, err := s.applyAllowlist(ctx, l)
			if err != nil {
				s.log.Warn("capi: allowlist link", "list", textsafe.Log(l.Name), "err", err)
				continue
			}
			if n >= 0 {
				res.Allowlists[l.Name] = n
			}
		}
	}
	if s.set.PullCommunity {
		if err := s.applyCommunity(ctx, st, startup, &res); err != nil {
			return res, err
		}
	}
	if s.set.PullBlocklists && st.Links != nil {
		for _, l := range st.Links.Blocklists {
			n, err := s.applyBlocklist(ctx, l)
			if err != nil {
				s.log.Warn("capi: blocklist", "list", l.Name, "err", err)
				continue
			}
			if n >= 0 {
				res.Lists[l.Name] = n
			}
		}
	}
	if s.d.Synced != nil {
		if err := s.d.Synced(ctx); err != nil {
			s.log.Warn("capi: decision index sync", "err", err)
		}
	}
	if err := s.refreshCommunity(ctx); err != nil {
		s.log.Warn("capi: load community list", "err", err)
	}
	res.Interval = s.pullInterval()
	return res, nil
}

// normalize returns the canonical scope and value of a pulled entry.
func normalize(scope, value string) (string, string, error) {
	sc := models.NormalizeScope(scope)
	switch sc {
	case "Ip":
		a, err := models.ParseIP(strings.TrimSpace(value))
		if err != nil {
			return "", "", fmt.Errorf("%q is not an IP address", value)
		}
		return sc, a.String(), nil
	case "Range":
		p, err := models.ParseRange(strings.TrimSpace(value))
		if err != nil {
			return "", "", fmt.Errorf("%q is not a range", value)
		}
		return sc, p.String(), nil
	}
	if value == "" {
		return "", "", fmt.Errorf("empty value")
	}
	return sc, value, nil
}

type pulled struct {
	scope, value, scenario, typ string
	until                       time.Time
}

// keep applies the local allowlists and the guard to one entry.
func (s *Service) keep(p pulled, origin string, now time.Time) bool {
	if (p.scope == "Ip" || p.scope == "Range") && s.d.Allowlists != nil {
		if m, ok := s.d.Allowlists.Check(p.value, now); ok {
			s.log.Debug("capi: pulled decision dropped: allowlisted", "value", p.value, "allowlist", m.List)
			return false
		}
	}
	if s.d.Refused != nil {
		dur := p.until.Sub(now).String()
		d := &models.Decision{Origin: &origin, Type: &p.typ, Scope: &p.scope, Value: &p.value, Scenario: &p.scenario, Duration: &dur}
		if why := s.d.Refused(d); why != "" {
			s.log.Debug("capi: pulled decision refused", "value", p.value, "reason", why)
			return false
		}
	}
	return true
}

func (s *Service) applyCommunity(ctx context.Context, st *wire.Stream, startup bool, res *PullResult) error {
	now := s.now()
	active, err := s.d.Store.ListDecisions(ctx, store.DecisionFilter{Origins: []string{OriginCAPI}, ActiveAt: now})
	if err != nil {
		return fmt.Errorf("capi: pull: %w", err)
	}
	byValue := map[string][]int64{}
	for _, d := range active {
		byValue[d.Scope+"|"+d.Value] = append(byValue[d.Scope+"|"+d.Value], d.ID)
	}
	var expire []int64
	for _, g := range st.Deleted {
		for _, v := range g.Decisions {
			sc, val, err := normalize(g.Scope, v)
			if err != nil {
				continue
			}
			if ids, ok := byValue[sc+"|"+val]; ok {
				expire = append(expire, ids...)
				delete(byValue, sc+"|"+val)
				res.Deleted++
			}
		}
	}
	entries := map[string]pulled{}
	var order []string
	for _, g := range st.New {
		for _, d := range g.Decisions {
			sc, val, err := normalize(g.Scope, d.Value)
			if err != nil {
				res.Refused++
				s.log.Debug("capi: pulled entry refused", "err", err)
				continue
			}
			dur, err := duration.Positive(d.Duration)
			if err != nil {
				res.Refused++
				s.log.Debug("capi: pulled entry refused: duration", "value", val, "err", err)
				continue
			}
			p := pulled{scope: sc, value: val, scenario: g.Scenario, typ: "ban", until: now.Add(dur)}
			if !s.keep(p, OriginCAPI, now) {
				res.Refused++
				continue
			}
			k := sc + "|" + val
			if _, dup := entries[k]; !dup {
				order = append(order, k)
			}
			entries[k] = p
		}
	}
	// Replace: older CAPI decisions on the new values go once the new ones are in.
	for k := range entries {
		expire = append(expire, byValue[k]...)
		delete(byValue, k)
	}
	if startup {
		// The full list: what it no longer holds is over.
		for _, ids := range byValue {
			expire = append(expire, ids...)
			res.Deleted++
		}
	}
	if len(entries) > 0 {
		decs := make([]*models.Decision, 0, len(entries))
		for _, k := range order {
			decs = append(decs, decision(entries[k], OriginCAPI, now))
		}
		scen := fmt.Sprintf("update : +%d/-%d IPs", len(decs), res.Deleted)
		if _, err := s.d.Store.CreateAlerts(ctx, "", []*models.Alert{pullAlert(scen, CommunityScope, "capi", decs, now)}); err != nil {
			return fmt.Errorf("capi: pull: store decisions: %w", err)
		}
		res.Added = len(decs)
	}
	if len(expire) > 0 {
		if err := s.expire(ctx, now, expire); err != nil {
			return fmt.Errorf("capi: pull: expire decisions: %w", err)
		}
	}
	return nil
}

func decision(p pulled, origin string, now time.Time) *models.Decision {
	dur := p.until.Sub(now).Round(time.Second).String()
	sim := false
	o, t, sc, v, scen := origin, p.typ, p.scope, p.value, p.scenario
	return &models.Decision{UUID: models.NewUUID(), Origin: &o, Type: &t, Scope: &sc, Value: &v, Scenario: &scen,
		Duration: &dur, Until: p.until.UTC().Format(time.RFC3339Nano), Simulated: &sim}
}

// pullAlert is the alert that carries pulled decisions (CrowdSec stores
// them the same way: one alert per pull, per list).
func pullAlert(scenario, scope, kind string, decs []*models.Decision, now time.Time) *models.Alert {
	ts := now.UTC().Format(time.RFC3339Nano)
	empty, zero, sim, leak := "", int32(0), false, "0"
	msg := scenario
	sc, val := scope, kind
	return &models.Alert{UUID: models.NewUUID(), Scenario: &scenario, ScenarioHash: &empty, ScenarioVersion: &empty,
		Message: &msg, EventsCount: &zero, StartAt: &ts, StopAt: &ts, Capacity: &zero, Leakspeed: &leak,
		Simulated: &sim, Source: &models.Source{Scope: &sc, Value: &val}, Decisions: decs, Kind: kind}
}

// applyBlocklist fetches a linked list (conditionally) and replaces its
// decisions of origin lists; -1 when it was not modified and its
// decisions last beyond the next pull (+15 min, as CrowdSec).
func (s *Service) applyBlocklist(ctx context.Context, l wire.BlocklistLink) (int, error) {
	now := s.now()
	if l.Name == "" {
		return 0, fmt.Errorf("link without a name")
	}
	scope := l.Scope
	if scope == "" {
		scope = "Ip"
	}
	typ := l.Remediation
	if typ == "" {
		typ = "ban"
	}
	dur, err := duration.Positive(l.Duration)
	if err != nil {
		return 0, fmt.Errorf("duration: %w", err)
	}
	active, err := s.d.Store.ListDecisions(ctx, store.DecisionFilter{Origins: []string{OriginLists}, Scenario: l.Name, ActiveAt: now})
	if err != nil {
		return 0, err
	}
	since := s.listMod[l.Name]
	soonest := time.Time{}
	for _, d := range active {
		if soonest.IsZero() || d.Until.Before(soonest) {
			soonest = d.Until
		}
	}
	if len(active) == 0 || soonest.Before(now.Add(s.pullInterval()+15*time.Minute)) {
		since = time.Time{} // expiring: fetch it whole again
	}
	values, mod, notModified, err := s.cl.FetchList(ctx, l.URL, since)
	if err != nil {
		return 0, err
	}
	if notModified {
		return -1, nil
	}
	entries := map[string]pulled{}
	var order []string
	for _, v := range values {
		sc, val, err := normalize(scope, v)
		if err != nil {
			continue
		}
		p := pulled{scope: sc, value: val, scenario: l.Name, typ: typ, until: now.Add(dur)}
		if !s.keep(p, OriginLists, now) {
			continue
		}
		if _, dup := entries[sc+"|"+val]; !dup {
			order = append(order, sc+"|"+val)
		}
		entries[sc+"|"+val] = p
	}
	if len(entries) > 0 {
		decs := make([]*models.Decision, 0, len(entries))
		for _, k := range order {
			decs = append(decs, decision(entries[k], OriginLists, now))
		}
		if _, err := s.d.Store.CreateAlerts(ctx, "", []*models.Alert{pullAlert(l.Name, "lists:"+l.Name, "lists", decs, now)}); err != nil {
			return 0, fmt.Errorf("store decisions: %w", err)
		}
	}
	// The list replaces its previous content.
	ids := make([]int64, 0, len(active))
	for _, d := range active {
		ids = append(ids, d.ID)
	}
	if len(ids) > 0 {
		if err := s.expire(ctx, now, ids); err != nil {
			return 0, fmt.Errorf("expire decisions: %w", err)
		}
	}
	if !mod.IsZero() {
		s.listMod[l.Name] = mod
	}
	return len(entries), nil
}

// refreshCommunity reloads the community list detection reads.
func (s *Service) refreshCommunity(ctx context.Context) error {
	if s.d.Community == nil {
		return nil
	}
	ds, err := s.d.Store.ListDecisions(ctx, store.DecisionFilter{Origins: []string{OriginCAPI, OriginLists}, ActiveAt: s.now()})
	if err != nil {
		return err
	}
	s.d.Community.Replace(ds)
	return nil
}

// expireChunk bounds the ids of one ExpireDecisions call: SQLite's driver
// binds numbered parameters in quadratic time (a 15,000-id call took 5x
// the whole insert of the list).
const expireChunk = 500

// expire expires decisions by id, in chunks.
func (s *Service) expire(ctx context.Context, now time.Time, ids []int64) error {
	for start := 0; start < len(ids); start += expireChunk {
		chunk := ids[start:min(start+expireChunk, len(ids))]
		if _, err := s.d.Store.ExpireDecisions(ctx, now, store.DecisionFilter{IDs: chunk}); err != nil {
			return err
		}
	}
	return nil
}
