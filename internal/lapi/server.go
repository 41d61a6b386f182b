// Package lapi is Phalanx's Local API server: CrowdSec's v1 protocol
// (shared/contracts/lapi-swagger.yaml plus /health, /v1/heartbeat and
// /v1/refresh_token), so that CrowdSec agents, bouncers and cscli-like
// clients talk to it unchanged. See README.md.
//
// Decisions are served from an in-memory index rebuilt from the store at
// start and kept current by following the store's decision change
// sequence (every FollowInterval, and right after each local write), so
// that several servers on one PostgreSQL database serve the same
// decisions, and a bouncer pull never writes to the database: last-pull
// times are kept in memory and flushed in bulk.
package lapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/phalanx-ids/phalanx/internal/allowlist"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/netguard"
	"github.com/phalanx-ids/phalanx/internal/profile"
	"github.com/phalanx-ids/phalanx/internal/store"
)

// Decider turns an alert into decisions; *profile.Set implements it.
type Decider interface {
	Evaluate(alert *models.Alert) (*profile.Outcome, error)
}

// Deps are the server's runtime dependencies.
type Deps struct {
	// Store is required. The server does not close it.
	Store store.Store
	// Profiles decide alerts without decisions; nil: profile.Default.
	Profiles Decider
	// Allowlists is checked before any decision. nil: the server builds
	// its own set from the store's allowlists and re-reads them every
	// Config.AllowlistReload (while Run runs).
	Allowlists *allowlist.Set
	// Logger; nil: discard.
	Logger *slog.Logger
	// Registerer receives the server's metrics; nil: not registered.
	Registerer prometheus.Registerer
	// Clock; nil: time.Now.
	Clock func() time.Time
	// PasswordCost is the bcrypt cost of the hashes of registered
	// machines' passwords (and of the hash unknown ids are compared
	// against); 0: bcrypt.DefaultCost. Tests lower it: under the race
	// detector one hash at the default cost takes about a second of CPU.
	PasswordCost int
	// Getenv reads PHALANX_LAPI_SECRET; nil: os.Getenv.
	Getenv func(string) string
	// Notify receives the alerts that matched profiles with
	// notifications (called synchronously after the alert is stored; must
	// not block). nil: notifications are logged at debug level.
	Notify func(alert *models.Alert, notifications []string)
	// Share receives the alerts of each POST /v1/alerts once they are
	// stored (every alert has its uuid; a retried push delivers them
	// again), before the request is answered: the central API outbox
	// (internal/capi). An error answers 500, so the agent pushes again.
	// nil: nothing is shared.
	Share func(ctx context.Context, machine string, alerts []*models.Alert) error
	// Deleted receives the decisions an operator deletes (DELETE
	// /v1/decisions, DELETE /v1/decisions/{id}) that are active, before
	// they are expired: the central API's deletion sync (internal/capi),
	// which queues them in the store. An error answers 500 and nothing is
	// deleted (the operator deletes again; a queued uuid is sent once).
	// Must not wait on the network. nil: none.
	Deleted func(ctx context.Context, decisions []store.Decision) error
	// Usage receives the usage metrics a machine (one log processor
	// block) or a bouncer (one remediation component block) sent to POST
	// /v1/usage-metrics, checked, before the request is answered: the
	// central API's usage report (internal/capi). An error answers 500.
	// Must not wait on the network. nil: they are acknowledged only.
	Usage func(ctx context.Context, machine, bouncer string, m *models.AllMetrics) error
	// Extra are more routes served on the LAPI's listener (ServeMux
	// patterns, e.g. "GET /metrics"), behind the same connection limits
	// and request ids but outside the LAPI's authentication.
	Extra map[string]http.Handler
}

// Server is the Local API.
//
// Concurrency: every method is safe for concurrent use. Handler may serve
// any number of requests at once; Run may be called once. The decision
// index follows other replicas' changes only while Run runs; local writes
// are reflected before their request is answered either way.
type Server struct {
	cfg      *settings
	st       store.Store
	profiles atomic.Pointer[deciderBox]
	allow    *allowlist.Set
	ownAllow bool
	never    *neverBan
	log      *slog.Logger
	now      func() time.Time
	notify   func(*models.Alert, []string)
	share    func(context.Context, string, []*models.Alert) error
	deleted  func(context.Context, []store.Decision) error
	usage    func(context.Context, string, string, *models.AllMetrics) error
	met      *metrics
	idx      *index
	tlsConf  *tls.Config
	handler  http.Handler    // routes behind the guard's middleware
	routes   http.Handler    // routes alone (Run's guard adds the middleware)
	ng       *netguard.Guard // the HTTP server's hardening
	abuse    *abuseGuard

	syncMu sync.Mutex // serialises index catch-up; guards seq
	seq    int64

	auth *authCache

	stateMu    sync.Mutex // guards pulls, heartbeats, pullState
	pulls      map[string]time.Time
	heartbeats map[string]time.Time
	pullState  map[string]bouncerPull

	started atomic.Bool
	// bufs recycles stream answer buffers (*[]byte, at most 2*streamBuf).
	bufs sync.Pool
	// bg runs the request-spawned background work (auth refresh-ahead);
	// Run waits for it before returning.
	bg sync.WaitGroup
}

type deciderBox struct{ d Decider }

// bouncerPull is what the server remembers of a bouncer's last stream pull.
type bouncerPull struct {
	ver uint64
	at  time.Time
}

// New validates cfg, loads TLS material, and builds the decision index
// from the store (reading every active decision).
func New(cfg Config, deps Deps) (*Server, error) {
	if deps.Store == nil {
		return nil, errors.New("lapi: new: no store")
	}
	getenv := deps.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	set, err := cfg.compile(getenv)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: set, st: deps.Store, allow: deps.Allowlists, log: deps.Logger, now: deps.Clock,
		notify: deps.Notify, share: deps.Share, deleted: deps.Deleted, usage: deps.Usage, pulls: map[string]time.Time{}, heartbeats: map[string]time.Time{},
		pullState: map[string]bouncerPull{},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.auth = newAuthCache(set.AuthCacheTTL, s.now)
	prof := deps.Profiles
	if prof == nil {
		p, err := profile.Default(profile.Options{Logger: s.log})
		if err != nil {
			return nil, fmt.Errorf("lapi: new: default profiles: %w", err)
		}
		prof = p
	}
	s.profiles.Store(&deciderBox{prof})
	ctx := context.Background()
	if s.allow == nil {
		s.allow, _ = allowlist.New()
		s.ownAllow = true
		if err := s.reloadAllowlists(ctx); err != nil {
			return nil, fmt.Errorf("lapi: new: %w", err)
		}
	}
	if set.TLS.Enabled() {
		if s.tlsConf, err = buildTLS(set.TLS); err != nil {
			return nil, err
		}
	}
	s.never = &neverBan{}
	s.never.addListen(set.ListenURI)
	s.idx = newIndex(set.DeletedWindow)
	if err := s.rebuild(ctx); err != nil {
		return nil, err
	}
	s.met = newMetrics(s.idx)
	if deps.Registerer != nil {
		if err := s.met.register(deps.Registerer); err != nil {
			return nil, fmt.Errorf("lapi: new: metrics: %w", err)
		}
	}
	if s.ng, err = netguard.New(set.Limits, netguard.Deps{Name: "lapi", Logger: s.log,
		Registerer: deps.Registerer}); err != nil {
		return nil, fmt.Errorf("lapi: new: %w", err)
	}
	cost := deps.PasswordCost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	s.abuse = newAbuseGuard(set, cost)
	s.routes = s.mux(deps.Extra)
	s.handler = s.ng.Handler(s.routes)
	return s, nil
}

// SetProfiles swaps the profiles used for new alerts (config reload).
func (s *Server) SetProfiles(d Decider) {
	if d != nil {
		s.profiles.Store(&deciderBox{d})
	}
}

// Allowlists returns the allowlist set the server checks.
func (s *Server) Allowlists() *allowlist.Set { return s.allow }

// Handler returns the HTTP handler of every route (with request ids, panic
// recovery and the per-address request rate; the connection limits and
// deadlines come with Run).
func (s *Server) Handler() http.Handler { return s.handler }

// rebuild loads every active decision, then catches up with the changes
// committed meanwhile.
func (s *Server) rebuild(ctx context.Context) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	seq, err := s.st.DecisionSeq(ctx)
	if err != nil {
		return fmt.Errorf("lapi: build decision index: %w", err)
	}
	now := s.now()
	batch := make([]*store.Decision, 0, 4096)
	err = s.st.ListActiveDecisions(ctx, now, func(d *store.Decision) error {
		batch = append(batch, d)
		if len(batch) == cap(batch) {
			s.idx.load(batch, now)
			batch = batch[:0]
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("lapi: build decision index: %w", err)
	}
	s.idx.load(batch, now)
	s.seq = seq
	return s.catchUpLocked(ctx)
}

// Sync brings the decision index up to date with the store now. Run calls
// it every FollowInterval; handlers call it after their writes.
func (s *Server) Sync(ctx context.Context) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	return s.catchUpLocked(ctx)
}

const changePage = 10000

func (s *Server) catchUpLocked(ctx context.Context) error {
	for {
		ds, err := s.st.DecisionsChangedSince(ctx, s.seq, changePage)
		if err != nil {
			return fmt.Errorf("lapi: follow decisions: %w", err)
		}
		if len(ds) == 0 {
			return nil
		}
		s.idx.apply(ds, s.now())
		s.seq = ds[len(ds)-1].Seq
		if len(ds) < changePage {
			return nil
		}
	}
}

func (s *Server) reloadAllowlists(ctx context.Context) error {
	ls, err := s.st.ListAllowlists(ctx, true)
	if err != nil {
		return fmt.Errorf("load allowlists: %w", err)
	}
	lists := make([]allowlist.List, 0, len(ls))
	for _, l := range ls {
		al := allowlist.List{Name: l.Name, ID: fmt.Sprint(l.ID), Description: l.Description,
			CreatedAt: l.CreatedAt, UpdatedAt: l.UpdatedAt}
		for _, it := range l.Items {
			al.Items = append(al.Items, allowlist.Item{Value: it.Value, Comment: it.Comment,
				CreatedAt: it.CreatedAt, Expiration: it.Expiration})
		}
		lists = append(lists, al)
	}
	if err := s.allow.Replace(lists); err != nil {
		return fmt.Errorf("load allowlists: %w", err)
	}
	return nil
}

// Run serves HTTP (HTTPS when TLS is configured) on ln and runs the
// background work (following other replicas, flushing last-pull times and
// heartbeats, retention, allowlist reloads) until ctx ends; then it stops
// accepting, waits up to ShutdownTimeout for requests in flight, flushes
// what is kept in memory, and returns nil (or the first serve error).
// Run closes ln. It may be called once.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("lapi: run: already running")
	}
	s.never.addListen(ln.Addr().String())
	bgCtx, stopBG := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.background(bgCtx)
	}()
	s.log.Info("lapi: serving", "addr", ln.Addr().String(), "tls", s.tlsConf != nil)
	err := s.ng.Serve(ctx, ln, s.routes, netguard.ServeOptions{TLS: s.tlsConf, Grace: s.cfg.ShutdownTimeout})
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	stopBG()
	wg.Wait()
	s.bg.Wait()
	s.flushState(sctx)
	return err
}

func (s *Server) background(ctx context.Context) {
	follow := time.NewTicker(s.cfg.FollowInterval)
	defer follow.Stop()
	pulls := time.NewTicker(s.cfg.PullFlushInterval)
	defer pulls.Stop()
	allow := time.NewTicker(s.cfg.AllowlistReload)
	defer allow.Stop()
	var flushC <-chan time.Time
	if s.cfg.Flush.Interval > 0 {
		t := time.NewTicker(s.cfg.Flush.Interval)
		defer t.Stop()
		flushC = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-follow.C:
			if err := s.Sync(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("lapi: follow decisions", "err", err)
			}
			s.idx.sweep(s.now())
		case <-pulls.C:
			s.flushState(ctx)
		case <-allow.C:
			s.never.refresh()
			if s.ownAllow {
				if err := s.reloadAllowlists(ctx); err != nil && ctx.Err() == nil {
					s.log.Warn("lapi: reload allowlists; keeping the previous ones", "err", err)
				}
			}
		case <-flushC:
			res, err := s.st.Flush(ctx, s.now(), s.cfg.flushPolicy)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("lapi: flush", "err", err)
				}
				continue
			}
			if res.Alerts+res.Decisions+res.AllowlistItems > 0 {
				s.log.Info("lapi: flush", "alerts", res.Alerts, "decisions", res.Decisions, "allowlist_items", res.AllowlistItems)
			}
		}
	}
}

// flushState writes the last-pull times and heartbeats kept in memory.
func (s *Server) flushState(ctx context.Context) {
	s.stateMu.Lock()
	pulls, hbs := s.pulls, s.heartbeats
	s.pulls, s.heartbeats = map[string]time.Time{}, map[string]time.Time{}
	s.stateMu.Unlock()
	if len(pulls) > 0 {
		if err := s.st.TouchBouncers(ctx, pulls); err != nil {
			s.log.Warn("lapi: record bouncer pulls", "err", err, "bouncers", len(pulls))
			s.requeue(pulls, nil)
		}
	}
	if len(hbs) > 0 {
		if err := s.st.TouchMachines(ctx, hbs); err != nil {
			s.log.Warn("lapi: record heartbeats", "err", err, "machines", len(hbs))
			s.requeue(nil, hbs)
		}
	}
}

func (s *Server) requeue(pulls, hbs map[string]time.Time) {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	for k, v := range pulls {
		if v.After(s.pulls[k]) {
			s.pulls[k] = v
		}
	}
	for k, v := range hbs {
		if v.After(s.heartbeats[k]) {
			s.heartbeats[k] = v
		}
	}
}

func buildTLS(c TLSConfig) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("lapi: tls: load certificate: %w", err)
	}
	auth, _ := clientAuth(c)
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, ClientAuth: auth}
	if c.ClientCAFile != "" {
		pem, err := os.ReadFile(c.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("lapi: tls: client ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("lapi: tls: client ca %s: no certificate found", c.ClientCAFile)
		}
		tc.ClientCAs = pool
	}
	return tc, nil
}

func clientAuth(c TLSConfig) (tls.ClientAuthType, error) {
	switch c.ClientVerification {
	case "":
		if c.ClientCAFile != "" {
			return tls.VerifyClientCertIfGiven, nil
		}
		return tls.NoClientCert, nil
	case "NoClientCert":
		return tls.NoClientCert, nil
	case "RequestClientCert":
		return tls.RequestClientCert, nil
	case "RequireAnyClientCert":
		return tls.RequireAnyClientCert, nil
	case "VerifyClientCertIfGiven":
		return tls.VerifyClientCertIfGiven, nil
	case "RequireAndVerifyClientCert":
		return tls.RequireAndVerifyClientCert, nil
	}
	return 0, fmt.Errorf("lapi: config: tls.client_verification: unknown value %q", c.ClientVerification)
}
