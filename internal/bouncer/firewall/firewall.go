// Package firewall is Phalanx's firewall bouncer: it keeps the kernel's
// packet filter in step with the LAPI's decisions, through nftables
// (netlink, google/nftables) or, on hosts without it, iptables + ipset.
package firewall

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phalanx-ids/phalanx/internal/bouncer"
)

// Firewall is a running firewall bouncer: a bouncer.Stream feeding a
// Backend.
//
// Behaviour: Run creates the table (fail-closed rule included when
// fail_mode is closed), applies the first snapshot in batches of
// BatchSize operations (one transaction each), then each delta. The
// kernel drops elements at their timeouts by itself; a range nested in a
// larger one is installed when the larger one ends. Every ResyncInterval
// the kernel is read back: a missing table or rule is recreated, missing
// or extra elements are repaired (counted as drift). While the LAPI is
// unreachable nothing is removed but what expires. On exit the table is
// removed unless KeepOnExit.
//
// Loopback and the LAPI's addresses (api_url's host, resolved at start and
// again at each resync) are never dropped: see protect.go.
//
// Concurrency: Run may be called once; Stats is safe for concurrent use.
type Firewall struct {
	cfg    Config
	be     Backend
	stream *bouncer.Stream
	log    *slog.Logger
	now    func() time.Time
	met    *metrics
	types  map[string]bool

	lapiHost string
	lookup   resolver
	lapi     []netip.Addr            // the LAPI's addresses, last resolved
	holes    []hole                  // what the sets never cover
	reported map[netip.Prefix]string // decisions (prefixes) already logged as protected

	installed   map[netip.Prefix]time.Time // what the kernel holds, with its end
	applied     chan struct{}              // closed once the first snapshot is in the kernel
	nextUncover time.Time                  // when an installed range covering another ends
}

// Option injects a runtime dependency into New.
type Option func(*deps)

type deps struct {
	log     *slog.Logger
	reg     prometheus.Registerer
	now     func() time.Time
	backend Backend
	bopts   []bouncer.Option
	lookup  resolver
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(d *deps) { d.log = l } }

// WithRegisterer registers the metrics (default: not registered).
func WithRegisterer(r prometheus.Registerer) Option { return func(d *deps) { d.reg = r } }

// WithBouncerOptions passes options to the bouncer.Stream.
func WithBouncerOptions(o ...bouncer.Option) Option {
	return func(d *deps) { d.bopts = append(d.bopts, o...) }
}

// NewBackend opens the backend cfg names (auto: nftables, else iptables).
// It changes nothing in the kernel.
func NewBackend(cfg Config, log *slog.Logger) (Backend, error) {
	bc := cfg.backendConfig()
	switch cfg.Backend {
	case BackendNftables:
		return newNftables(bc)
	case BackendIptables:
		return newIptables(bc)
	}
	nb, err := newNftables(bc)
	if err == nil {
		return nb, nil
	}
	log.Warn("firewall: nftables unavailable, falling back to iptables + ipset", "err", err)
	ib, err2 := newIptables(bc)
	if err2 != nil {
		return nil, errors.Join(err, err2)
	}
	return ib, nil
}

// New validates cfg, opens the backend and builds the stream. Nothing is
// changed in the kernel before Run.
func New(cfg Config, opts ...Option) (*Firewall, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := deps{log: slog.New(slog.DiscardHandler), now: time.Now, lookup: defaultResolver}
	for _, o := range opts {
		o(&d)
	}
	host, err := lapiHost(cfg.APIURL)
	if err != nil {
		return nil, err
	}
	var f *Firewall // its counters, for the stream's usage reports (read after New)
	usage := bouncer.WithUsage(func() []bouncer.UsageCounter { return f.usageCounters() })
	st, err := bouncer.NewStream(cfg.Config, append([]bouncer.Option{bouncer.WithLogger(d.log), bouncer.WithClock(d.now), usage}, d.bopts...)...)
	if err != nil {
		return nil, fmt.Errorf("firewall: %w", err)
	}
	be := d.backend
	if be == nil {
		if be, err = NewBackend(cfg, d.log); err != nil {
			return nil, err
		}
	}
	f = &Firewall{cfg: cfg, be: be, stream: st, log: d.log, now: d.now, types: map[string]bool{},
		installed: map[netip.Prefix]time.Time{}, applied: make(chan struct{}),
		lapiHost: host, lookup: d.lookup, holes: holes(nil), reported: map[netip.Prefix]string{}}
	for _, t := range cfg.SupportedDecisionsTypes {
		f.types[t] = true
	}
	f.met = newMetrics(f)
	if d.reg != nil {
		if err := d.reg.Register(f.met); err != nil {
			_ = be.Close(false)
			return nil, fmt.Errorf("firewall: metrics: %w", err)
		}
	}
	return f, nil
}

// Backend returns the backend's name.
func (f *Firewall) Backend() string { return f.be.Name() }

// Applied is closed once the first snapshot from the LAPI has been
// written to the kernel (and the fail-closed rule, if any, lifted).
func (f *Firewall) Applied() <-chan struct{} { return f.applied }

// Stream returns the decision stream (its Set is what is enforced).
func (f *Firewall) Stream() *bouncer.Stream { return f.stream }

// Run enforces until ctx ends. It returns an error when the table cannot
// be created or the LAPI refuses the credentials at the first pull.
func (f *Firewall) Run(ctx context.Context) (err error) {
	failClosed := f.cfg.FailMode == "closed"
	f.refreshLAPI(ctx)
	if err := f.be.Init(failClosed); err != nil {
		_ = f.be.Close(false)
		return err
	}
	f.log.Info("firewall: table created", "backend", f.be.Name(), "table", f.cfg.Table,
		"chains", f.cfg.Chains, "action", f.cfg.DenyAction, "fail_mode", f.cfg.FailMode)
	defer func() {
		if e := f.be.Close(!f.cfg.KeepOnExit); e != nil && err == nil {
			err = e
		}
	}()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	updates := make(chan bouncer.Update, 64)
	streamErr := make(chan error, 1)
	go func() { streamErr <- f.stream.Run(sctx, updates) }()

	resync := time.NewTicker(f.cfg.ResyncInterval)
	defer resync.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	ready := false
	for {
		select {
		case <-ctx.Done():
			cancel()
			<-streamErr
			f.log.Info("firewall: stopping", "keep_on_exit", f.cfg.KeepOnExit)
			return nil
		case err := <-streamErr:
			if err != nil {
				return fmt.Errorf("firewall: %w", err)
			}
			return nil
		case <-updates:
			// The stream has applied this update (and any queued) to its
			// Set: drain the queue and reconcile once.
			for drained := false; !drained; {
				select {
				case <-updates:
				default:
					drained = true
				}
			}
			ok := f.reconcile()
			if !ready && ok {
				ready = true
				if failClosed {
					if err := f.be.SetFailClosed(false); err != nil {
						f.log.Error("firewall: cannot lift the fail-closed rule", "err", err)
					}
				}
				close(f.applied)
			}
		case <-tick.C:
			if !f.nextUncover.IsZero() && !f.now().Before(f.nextUncover) {
				f.reconcile()
			}
			f.readCounters()
		case <-resync.C:
			f.refreshLAPI(ctx)
			f.resync(failClosed && !ready)
		}
	}
}

// lapiLookupTimeout bounds one resolution of the LAPI's host name.
const lapiLookupTimeout = 5 * time.Second

// refreshLAPI resolves the LAPI's host and, when its addresses changed,
// hands them to the backend and to desired. A failed lookup keeps the last
// addresses.
func (f *Firewall) refreshLAPI(ctx context.Context) {
	if f.lapiHost == "" || (f.lapi != nil && isAddr(f.lapiHost)) {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, lapiLookupTimeout)
	defer cancel()
	addrs, err := resolveLAPI(lctx, f.lookup, f.lapiHost)
	if err != nil {
		f.log.Warn("firewall: cannot resolve the LAPI's address: its established traffic is not exempted until it resolves",
			"err", err, "known", f.lapi)
		return
	}
	if slices.Equal(addrs, f.lapi) {
		return
	}
	f.lapi, f.holes = addrs, holes(addrs)
	f.log.Info("firewall: the LAPI's addresses are never dropped", "lapi", addrs)
	if err := f.be.SetLAPI(addrs); err != nil {
		f.log.Warn("firewall: updating the LAPI addresses failed", "err", err)
	}
}

func isAddr(host string) bool {
	_, err := netip.ParseAddr(host)
	return err == nil
}

// desired computes what the kernel should hold from the stream's set:
// every address, and the outermost networks (nested networks are added
// when the one around them ends), minus the protected holes.
func (f *Firewall) desired(now time.Time) map[netip.Prefix]time.Time {
	snap := f.stream.Set().Snapshot()
	want := make(map[netip.Prefix]time.Time, len(snap))
	var nets []*bouncer.Decision
	for _, d := range snap {
		if !f.types[d.Type] || !d.Until.After(now) || (f.cfg.DisableIPv6 && d.Prefix.Addr().Is6()) {
			continue
		}
		if d.IsRange() {
			nets = append(nets, d)
			continue
		}
		if u, ok := want[d.Prefix]; !ok || d.Until.After(u) {
			want[d.Prefix] = d.Until
		}
	}
	// Outermost networks first; a network inside a chosen one is covered.
	slices.SortFunc(nets, func(a, b *bouncer.Decision) int { return a.Prefix.Bits() - b.Prefix.Bits() })
	chosen := map[netip.Prefix]time.Time{}
	f.nextUncover = time.Time{}
	for _, d := range nets {
		if u, ok := chosen[d.Prefix]; ok {
			if d.Until.After(u) {
				chosen[d.Prefix] = d.Until
				want[d.Prefix] = d.Until
			}
			continue
		}
		covered := false
		for bits := d.Prefix.Bits() - 1; bits >= 0; bits-- {
			anc, _ := d.Prefix.Addr().Prefix(bits)
			if u, ok := chosen[anc]; ok {
				covered = true
				if f.nextUncover.IsZero() || u.Before(f.nextUncover) {
					f.nextUncover = u
				}
				break
			}
		}
		if !covered {
			chosen[d.Prefix] = d.Until
			want[d.Prefix] = d.Until
		}
	}
	return f.protect(want)
}

// protect takes the holes out of want: prefixes overlapping one are
// replaced by the pieces around it (none for an address in a hole). Each
// decision prefix affected is logged and counted once, until it leaves
// the set.
func (f *Firewall) protect(want map[netip.Prefix]time.Time) map[netip.Prefix]time.Time {
	var hit map[netip.Prefix]string
	var pieces []netip.Prefix
	for p, u := range want {
		reason := overlapping(p, f.holes)
		if reason == "" {
			continue
		}
		if hit == nil {
			hit = map[netip.Prefix]string{}
		}
		hit[p] = reason
		delete(want, p)
		pieces = carve(pieces[:0], p, f.holes)
		for _, q := range pieces {
			if cur, ok := want[q]; !ok || u.After(cur) {
				want[q] = u
			}
		}
		if _, seen := f.reported[p]; !seen {
			f.met.protected.WithLabelValues(reason).Inc()
			f.log.Warn("firewall: a decision covers a protected address: the sets leave it out",
				"decision", p, "reason", reason, "installed_as", slices.Clone(pieces))
		}
	}
	f.reported = hit
	if f.reported == nil {
		f.reported = map[netip.Prefix]string{}
	}
	return want
}

// reconcile brings the kernel to the desired state, in batches. It
// reports whether the kernel is now in step.
func (f *Firewall) reconcile() bool { return f.reconcileOnce(true) }

// reconcileOnce is reconcile; after a failed batch it resyncs from the
// kernel when mayResync (once: the resync does not resync again).
func (f *Firewall) reconcileOnce(mayResync bool) bool {
	start := f.now()
	now := start
	want := f.desired(now)
	var ops []op
	for p, u := range want {
		inst, ok := f.installed[p]
		switch {
		case !ok || !inst.After(now):
			ops = append(ops, op{p: p, until: u, add: true})
		case absDur(inst.Sub(u)) > 2*time.Second:
			ops = append(ops, op{p: p, del: true}, op{p: p, until: u, add: true})
		}
	}
	for p, inst := range f.installed {
		if _, ok := want[p]; ok {
			continue
		}
		if inst.After(now) {
			ops = append(ops, op{p: p, del: true})
		} else {
			delete(f.installed, p) // the kernel dropped it at its timeout
		}
	}
	if len(ops) == 0 {
		return true
	}
	if err := f.apply(ops, now); err != nil {
		f.met.applyErrors.Inc()
		f.log.Warn("firewall: applying changes failed", "err", err, "resync", mayResync)
		return mayResync && f.resync(false)
	}
	f.met.applySeconds.Observe(f.now().Sub(start).Seconds())
	f.log.Debug("firewall: applied", "ops", len(ops), "elapsed", f.now().Sub(start))
	return true
}

type op struct {
	p     netip.Prefix
	until time.Time
	add   bool
	del   bool
}

func (f *Firewall) apply(ops []op, now time.Time) error {
	for i := 0; i < len(ops); i += f.cfg.BatchSize {
		chunk := ops[i:min(i+f.cfg.BatchSize, len(ops))]
		var b Batch
		for _, o := range chunk {
			if o.del {
				b.Del = append(b.Del, o.p)
			} else {
				b.Add = append(b.Add, Elem{Prefix: o.p, Timeout: o.until.Sub(now)})
			}
		}
		if err := f.be.Apply(b); err != nil {
			return err
		}
		f.met.batches.Inc()
		for _, o := range chunk {
			if o.del {
				delete(f.installed, o.p)
			} else {
				f.installed[o.p] = o.until
			}
		}
	}
	return nil
}

// resync reads the kernel back, repairs the scaffolding if needed and
// reconciles the elements against what is really there.
func (f *Firewall) resync(failClosed bool) bool {
	st, err := f.be.Read()
	if err != nil {
		f.log.Warn("firewall: reading the kernel state failed", "err", err)
		return false
	}
	if !st.Intact {
		f.met.drift.WithLabelValues("table").Inc()
		f.log.Warn("firewall: table or rules missing or changed, recreating them")
		if err := f.be.Init(failClosed); err != nil {
			f.log.Error("firewall: recreating the table failed", "err", err)
			return false
		}
		clear(f.installed)
		return f.reconcileOnce(false)
	}
	now := f.now()
	missing, extra := 0, 0
	for p, u := range f.installed {
		if _, ok := st.Elems[p]; !ok && u.After(now.Add(time.Second)) {
			missing++
			delete(f.installed, p)
		}
	}
	for p := range st.Elems {
		if _, ok := f.installed[p]; !ok {
			extra++
			// Unknown to us: mark it installed for ever so reconcile
			// deletes it unless it is wanted (then it is replaced).
			f.installed[p] = now.Add(100 * 365 * 24 * time.Hour)
		}
	}
	if missing+extra > 0 {
		f.met.drift.WithLabelValues("missing").Add(float64(missing))
		f.met.drift.WithLabelValues("extra").Add(float64(extra))
		f.log.Warn("firewall: drift repaired", "missing", missing, "extra", extra)
	}
	return f.reconcileOnce(false)
}

func (f *Firewall) readCounters() {
	c, err := f.be.Counters()
	if err != nil {
		f.log.Debug("firewall: counters", "err", err)
		return
	}
	f.met.packets.Store(c.Packets)
	f.met.bytes.Store(c.Bytes)
	f.met.installed.Store(int64(len(f.installed)))
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
