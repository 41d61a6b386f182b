package bouncer

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/phalanx-ids/phalanx/internal/apiclient"
)

// Live asks the LAPI about each address (GET /v1/decisions?ip=) and caches
// the answer, a decision or none, for CacheExpiration; at most CacheSize
// addresses are cached.
//
// Failure policy: when the query fails, the last answer cached for the
// address is returned however old it is (without error); with none cached
// Check returns the error and the caller applies its fail mode. A cached
// decision past its Until counts as none.
//
// Concurrency: Check is safe for concurrent use; concurrent misses on the
// same address may each query the LAPI. Close releases connections.
type Live struct {
	cfg    Config
	client *apiclient.Client
	d      deps

	mu    sync.Mutex
	cache map[netip.Addr]liveEntry
}

type liveEntry struct {
	d       *Decision // nil: no decision
	fetched time.Time
}

// NewLive validates cfg and builds a Live checker. It does no I/O.
func NewLive(cfg Config, opts ...Option) (*Live, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := newDeps(opts)
	c, err := newClient(cfg, d)
	if err != nil {
		return nil, err
	}
	return &Live{cfg: cfg, client: c, d: d, cache: map[netip.Addr]liveEntry{}}, nil
}

// Close releases idle connections.
func (l *Live) Close() { l.client.Close() }

// Check implements Checker.
func (l *Live) Check(ctx context.Context, addr netip.Addr) (*Decision, error) {
	addr = addr.Unmap().WithZone("")
	now := l.d.now()
	l.mu.Lock()
	e, cached := l.cache[addr]
	l.mu.Unlock()
	if cached && now.Sub(e.fetched) < l.cfg.CacheExpiration {
		return e.active(now), nil
	}
	ms, err := l.client.Decisions(ctx, apiclient.DecisionFilter{
		IP:                     addr.String(),
		Origins:                l.cfg.Origins,
		ScenariosContaining:    l.cfg.ScenariosContaining,
		ScenariosNotContaining: l.cfg.ScenariosNotContaining,
	})
	if err != nil {
		if cached {
			l.d.logger.Warn("bouncer: live query failed, serving the cached answer", "addr", addr, "err", err)
			return e.active(now), nil
		}
		return nil, fmt.Errorf("bouncer: live query %s: %w", addr, err)
	}
	var best *Decision
	for _, m := range ms {
		d, err := FromModel(m, now)
		if err != nil || !d.Prefix.Contains(addr) || !d.Until.After(now) {
			continue
		}
		if better(d, best) {
			best = d
		}
	}
	l.store(addr, liveEntry{d: best, fetched: now})
	return best, nil
}

func (e liveEntry) active(now time.Time) *Decision {
	if e.d == nil || !e.d.Until.After(now) {
		return nil
	}
	return e.d
}

func (l *Live) store(addr netip.Addr, e liveEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.cache[addr]; !ok && len(l.cache) >= l.cfg.CacheSize {
		// Evict a tenth of the cache, stale entries first.
		target := l.cfg.CacheSize - max(1, l.cfg.CacheSize/10)
		for a, old := range l.cache {
			if e.fetched.Sub(old.fetched) >= l.cfg.CacheExpiration {
				delete(l.cache, a)
			}
		}
		for a := range l.cache {
			if len(l.cache) <= target {
				break
			}
			delete(l.cache, a)
		}
	}
	l.cache[addr] = e
}

// New returns the Checker cfg.Mode asks for: a *Stream (run it with Run)
// or a *Live.
func New(cfg Config, opts ...Option) (Checker, error) {
	if cfg.WithDefaults().Mode == ModeLive {
		return NewLive(cfg, opts...)
	}
	return NewStream(cfg, opts...)
}
