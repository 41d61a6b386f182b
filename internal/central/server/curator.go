package server

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/phalanx-ids/phalanx/internal/central/centralstore"
	"github.com/phalanx-ids/phalanx/internal/central/curate"
	"github.com/phalanx-ids/phalanx/internal/models"
)

// curator feeds the stored signals through the curation engine and
// writes the list changes. Among replicas over one PostgreSQL database,
// only the holder of the curator lock runs it; the others take over when
// the lock frees (the new curator rebuilds its state from the database).
//
// Concurrency: run by one goroutine (run); poke may be called from any.
type curator struct {
	st    *centralstore.Store
	cfg   Config
	now   func() time.Time
	log   *slog.Logger
	check curate.HashChecker
	salt  []byte
	wake  chan struct{}
	after func() // called after changes are committed (the list refreshes)

	eng        *curate.Engine
	lastSignal int64
	// replayTo: signals up to this id were taken by an earlier curator
	// (their effects are stored): replayed without changing reputations.
	replayTo   int64
	savedTo    int64 // the curated signal id last written
	delists    []int64
	installsAt time.Time
	cfgVersion int64
	pruneAt    time.Time
}

func (c *curator) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// run waits for the curator lock, then curates until ctx ends or the
// lock is lost.
func (c *curator) run(ctx context.Context) {
	for ctx.Err() == nil {
		lock, ok, err := c.st.TryCuratorLock(ctx)
		if err != nil {
			c.log.Warn("central: curator lock", "err", err)
		}
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-time.After(c.cfg.Poll):
			}
			continue
		}
		if err := c.curate(ctx, lock); err != nil && ctx.Err() == nil {
			c.log.Error("central: curator stopped, retrying", "err", err)
			time.Sleep(c.cfg.Poll)
		}
		lock.Release()
	}
}

func (c *curator) curate(ctx context.Context, lock *centralstore.CuratorLock) error {
	if err := c.load(ctx); err != nil {
		return err
	}
	tick := time.NewTicker(c.cfg.Poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if !lock.Alive(ctx) {
				return fmt.Errorf("curator lock lost")
			}
		case <-c.wake:
		}
		if err := c.step(ctx); err != nil {
			return err
		}
	}
}

// load rebuilds the engine from the database: installs, allowlist,
// canaries, the current list, the holds, and the signals of the curation
// window: those an earlier curator took are replayed without changing
// reputations, the later ones (stored while no curator ran, or after the
// last step a crashed one wrote) are taken as new.
func (c *curator) load(ctx context.Context) error {
	c.eng = curate.New(c.cfg.Curation, c.now, c.check)
	c.eng.SetSalt(c.salt)
	c.installsAt, c.cfgVersion = time.Time{}, -1
	if err := c.syncInstalls(ctx, true); err != nil {
		return err
	}
	if err := c.reloadConfig(ctx); err != nil {
		return err
	}
	ls, err := c.st.Listings(ctx)
	if err != nil {
		return err
	}
	for _, l := range ls {
		ip, err := netip.ParseAddr(l.IP)
		if err != nil {
			continue
		}
		c.eng.RestoreListing(curate.Listing{IP: ip, Tier: l.Tier, Scenarios: l.Scenarios, ListedAt: l.ListedAt,
			ExpiresAt: l.ExpiresAt, Level: l.Level, LastEscalation: l.LastEscalation})
	}
	hs, err := c.st.Holds(ctx, c.now())
	if err != nil {
		return err
	}
	for _, h := range hs {
		if ip, err := netip.ParseAddr(h.IP); err == nil {
			c.eng.RestoreHold(curate.Hold{IP: ip, Since: h.Since, Until: h.Until, Appealed: h.Appealed})
		}
	}
	from, err := c.st.FirstSignalSince(ctx, c.now().Add(-c.cfg.Curation.Window))
	if err != nil {
		return err
	}
	if c.replayTo, err = c.st.CuratedSignal(ctx); err != nil {
		return err
	}
	c.lastSignal, c.savedTo = from, c.replayTo
	for {
		n, err := c.ingest(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	c.eng.SetReplay(false)
	return c.flush(ctx)
}

// step does one round: new installs and config, delistings, signals,
// expiry, then writes the changes.
func (c *curator) step(ctx context.Context) error {
	if err := c.reloadConfig(ctx); err != nil {
		return err
	}
	if err := c.syncInstalls(ctx, false); err != nil {
		return err
	}
	ds, err := c.st.PendingDelists(ctx)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if ip, err := models.ParseIP(d.IP); err == nil {
			c.eng.Delist(ip)
		}
		c.delists = append(c.delists, d.ID)
	}
	for {
		n, err := c.ingest(ctx)
		if err != nil {
			return err
		}
		if n < signalBatch {
			break
		}
	}
	c.eng.Tick()
	if err := c.flush(ctx); err != nil {
		return err
	}
	if now := c.now(); now.After(c.pruneAt) {
		c.pruneAt = now.Add(time.Hour)
		if err := c.st.Prune(ctx, now.Add(-c.cfg.FeedRetention), now.Add(-c.cfg.SignalRetention)); err != nil {
			c.log.Warn("central: prune", "err", err)
		}
	}
	return nil
}

const signalBatch = 5000

func (c *curator) ingest(ctx context.Context) (int, error) {
	sigs, err := c.st.SignalsAfter(ctx, c.lastSignal, signalBatch)
	if err != nil {
		return 0, err
	}
	// Installs are read again after the signals: an enrollment committed
	// before a signal was stored (an install enrolling, then reporting)
	// is seen with it. Read before, in the same step, a signal stored
	// between the two reads was judged with its install's identity of
	// before the enrollment: the installs of one organisation enrolled
	// just before reporting counted as independent clusters.
	if len(sigs) > 0 {
		if err := c.syncInstalls(ctx, false); err != nil {
			return 0, err
		}
	}
	for _, s := range sigs {
		c.lastSignal = s.ID
		c.eng.SetReplay(s.ID <= c.replayTo)
		ip, err := models.ParseIP(s.IP)
		if err != nil {
			continue
		}
		if _, ok := c.eng.Install(s.MachineID); !ok {
			if err := c.syncInstalls(ctx, false); err != nil {
				return 0, err
			}
		}
		c.eng.Ingest(curate.Signal{Install: s.MachineID, IP: ip, Scenario: s.Scenario, Version: s.ScenarioVersion,
			Hash: s.ScenarioHash, Trust: s.ScenarioTrust, At: s.ReceivedAt})
	}
	c.eng.SetReplay(false)
	return len(sigs), nil
}

// flush writes the engine's changes, reputations and holds, the
// delistings applied and the signals taken, in one transaction.
func (c *curator) flush(ctx context.Context) error {
	changes := c.eng.Changes()
	dirty := c.eng.DirtyInstalls()
	held := c.eng.DirtyHolds()
	curated := int64(0)
	if c.lastSignal > c.savedTo {
		curated = c.lastSignal
	}
	if len(changes) == 0 && len(dirty) == 0 && len(held) == 0 && len(c.delists) == 0 && curated == 0 {
		return nil
	}
	var ls []centralstore.Listing
	var evs []centralstore.FeedEvent
	for _, ch := range changes {
		ip := ch.IP.String()
		evs = append(evs, centralstore.FeedEvent{Op: string(ch.Op), IP: ip, Tier: ch.Tier, Scenarios: ch.Scenarios,
			ExpiresAt: ch.ExpiresAt, Reason: ch.Reason, At: ch.At})
		if l, ok := c.eng.Listed(ch.IP); ok && ch.Op == curate.Add {
			ls = append(ls, centralstore.Listing{IP: ip, Tier: l.Tier, Scenarios: l.Scenarios, ListedAt: l.ListedAt,
				ExpiresAt: l.ExpiresAt, Level: l.Level, LastEscalation: l.LastEscalation})
		}
	}
	var reps []centralstore.Reputation
	for _, in := range dirty {
		reps = append(reps, centralstore.Reputation{MachineID: in.ID, Alpha: in.Alpha, Beta: in.Beta, Confirmed: in.Confirmed,
			QuarantinedUntil: in.QuarantinedUntil, ForgotAt: in.ForgotAt})
	}
	var hs []centralstore.Hold
	for _, h := range held {
		hs = append(hs, centralstore.Hold{IP: h.IP.String(), Since: h.Since, Until: h.Until, Appealed: h.Appealed})
	}
	if err := c.st.ApplyChanges(ctx, centralstore.Changes{Listings: ls, Events: evs, Reputations: reps, Holds: hs,
		Delists: c.delists, Curated: curated}); err != nil {
		return err
	}
	c.delists = nil
	if curated > 0 {
		c.savedTo = curated
	}
	if len(evs) > 0 && c.after != nil {
		c.after()
	}
	return nil
}

// syncInstalls loads the installs registered or changed since the last
// sync (identity only: the curator owns the reputations).
func (c *curator) syncInstalls(ctx context.Context, restore bool) error {
	ins, err := c.st.Installs(ctx, c.installsAt)
	if err != nil {
		return err
	}
	for _, in := range ins {
		c.eng.UpsertInstall(engineInstall(in), restore)
		if in.UpdatedAt.After(c.installsAt) {
			// Rows updated in the same millisecond are read again next
			// time (>=): harmless.
			c.installsAt = in.UpdatedAt
		}
	}
	return nil
}

func engineInstall(in centralstore.Install) curate.Install {
	out := curate.Install{ID: in.MachineID, Seed: in.Seed, Alpha: in.Alpha, Beta: in.Beta, Confirmed: in.Confirmed,
		QuarantinedUntil: in.QuarantinedUntil, ForgotAt: in.ForgotAt}
	if in.OrgID != 0 {
		out.Org = fmt.Sprint(in.OrgID)
	}
	if p, err := netip.ParsePrefix(in.Net); err == nil {
		out.Net = p
	}
	if b, err := hex.DecodeString(in.EgressHash); err == nil && len(b) == len(curate.EgressKey{}) {
		var k curate.EgressKey
		copy(k[:], b)
		out.Egress = []curate.EgressKey{k}
	}
	return out
}

// reloadConfig reloads the allowlist, canaries and organisations' seed
// flags when an operator command changed them.
func (c *curator) reloadConfig(ctx context.Context) error {
	v, err := c.st.ConfigVersion(ctx)
	if err != nil {
		return err
	}
	if v == c.cfgVersion {
		return nil
	}
	c.cfgVersion = v
	al, err := c.st.Allowlist(ctx)
	if err != nil {
		return err
	}
	var ps []netip.Prefix
	for _, e := range al {
		if p, err := models.ParseIPOrRange(e.CIDR); err == nil {
			ps = append(ps, p)
		}
	}
	cs, err := c.st.Canaries(ctx)
	if err != nil {
		return err
	}
	var ips []netip.Addr
	for _, s := range cs {
		if a, err := models.ParseIP(s); err == nil {
			ips = append(ips, a)
		}
	}
	c.eng.SetAllowlist(ps)
	c.eng.SetCanaries(ips)
	// A new seed organisation changes its installs' identity: reload all.
	c.installsAt = time.Time{}
	ins, err := c.st.Installs(ctx, time.Time{})
	if err != nil {
		return err
	}
	for _, in := range ins {
		c.eng.UpsertInstall(engineInstall(in), false)
		if in.UpdatedAt.After(c.installsAt) {
			c.installsAt = in.UpdatedAt
		}
	}
	return nil
}
