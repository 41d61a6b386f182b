// Package server is the Phalanx central (`phalanx central run`): the CAPI
// v3 subset stock CrowdSec LAPIs use (register, login, enroll, signals,
// decisions stream, decisions delete, metrics, usage-metrics) over the
// curation engine (internal/central/curate) and its storage
// (internal/central/centralstore), behind internal/netguard.
//
// Native extensions: every stream answer carries PullIntervalHeader
// (Config.PullInterval, default 10s), the interval a Phalanx install pulls
// at (CrowdSec installs ignore it and keep their 2 h); and
// GET /v3/decisions/stream?wait=30s long-polls: when
// nothing changed since the install's last pull, the answer waits until
// the list changes (or the wait ends), so a Phalanx LAPI pulling in a
// loop sees a new listing within about a second.
//
// Joining: an unknown machine_id registers at its first login
// (Config.RegisterOnLogin), so a stock CrowdSec LAPI joins by changing
// only its credentials' url. With Config.PublishAllowlist, stream answers
// link the central's allowlist (links.allowlists, a signed URL served at
// /v3/allowlists/central, built on Config.PublicURL or the listening
// address, never on a request's Host header). Metrics, usage metrics and
// decision deletions (each uuid once) are kept as per-install counts
// (centralstore.Report, centralstore.Usage).
package server

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/phalanx-ids/phalanx/internal/central/centralstore"
	"github.com/phalanx-ids/phalanx/internal/central/curate"
	"github.com/phalanx-ids/phalanx/internal/hub"
	"github.com/phalanx-ids/phalanx/internal/netguard"
)

// Deps are the central's runtime dependencies.
type Deps struct {
	Logger *slog.Logger
	// Clock; nil: time.Now (tests drive expiry with a virtual clock).
	Clock func() time.Time
	// PasswordCost is the bcrypt cost of install passwords; 0:
	// bcrypt.DefaultCost. Tests lower it: under the race detector one
	// hash at the default cost takes about a second of CPU.
	PasswordCost int
}

// Server is a running central: New, then Run.
//
// Concurrency: Run once; Addr and Store are safe for concurrent use.
type Server struct {
	cfg       Config
	cost      int    // bcrypt cost of new password hashes
	dummyHash []byte // compared against for unknown ids
	log       *slog.Logger
	now       func() time.Time
	st        *centralstore.Store
	list      *list
	cur       *curator
	guard     *netguard.Guard
	trusted   []netip.Prefix
	secret    []byte
	salt      []byte

	work      *netguard.Work
	regRate   *netguard.Limiter[netip.Prefix]
	loginAddr *netguard.Backoff[netip.Prefix]
	sigRate   *netguard.Limiter[string]
	pullRate  *netguard.Limiter[string]

	allow allowCache // the allowlist links serve
	base  string     // what links are built on (publicBase)

	cursorMu sync.Mutex
	cursors  map[string]int64 // pull cursors to persist

	ln   net.Listener
	tlsc *tls.Config
}

// HashIndexChecker loads a hub index file and returns the check of
// scenario hashes against it.
func HashIndexChecker(path string) (curate.HashChecker, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("central: hub index: %w", err)
	}
	idx, err := hub.ParseIndex(raw)
	if err != nil {
		return nil, fmt.Errorf("central: hub index %s: %w", path, err)
	}
	return func(scenario, version, hash string) bool {
		it, ok := idx.Get("scenarios", scenario)
		if !ok {
			return false
		}
		v, ok := it.Versions[version]
		return ok && v.Digest != "" && equalFold(v.Digest, hash)
	}, nil
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i]|0x20, b[i]|0x20
		if x != y {
			return false
		}
	}
	return true
}

// OpenStore opens the configured database (PostgreSQL DSN, or
// DataDir/central.db).
func OpenStore(ctx context.Context, cfg Config) (*centralstore.Store, error) {
	if cfg.DB != "" {
		return centralstore.Open(ctx, cfg.DB)
	}
	if cfg.DataDir == "" {
		return nil, errors.New("central: data dir or db required")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("central: data dir: %w", err)
	}
	return centralstore.Open(ctx, filepath.Join(cfg.DataDir, "central.db"))
}

// New opens the database, loads the hub index and binds the listener.
func New(ctx context.Context, cfg Config, deps Deps) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: deps.Logger, now: deps.Clock, cursors: map[string]int64{}, cost: deps.PasswordCost}
	if s.cost == 0 {
		s.cost = bcrypt.DefaultCost
	}
	// Unknown ids are compared against this hash: they take the time of
	// a wrong password.
	dummy, err := bcrypt.GenerateFromPassword([]byte("phalanx-central-dummy-password"), s.cost)
	if err != nil {
		return nil, fmt.Errorf("central: %w", err)
	}
	s.dummyHash = dummy
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.trusted, err = netguard.ParsePrefixes(cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("central: trusted_proxies: %w", err)
	}
	var check curate.HashChecker
	if cfg.HubIndex != "" {
		if check, err = HashIndexChecker(cfg.HubIndex); err != nil {
			return nil, err
		}
	} else {
		s.log.Warn("central: no hub index: every signal labelled certified counts")
	}
	g, err := netguard.New(cfg.Limits.Or(netguard.Config{RequestRate: 20, RequestBurst: 100}), netguard.Deps{Name: "central",
		Logger: s.log, Clock: s.now, ClientAddr: func(r *http.Request) netip.Addr { return clientAddr(s.trusted, r) }})
	if err != nil {
		return nil, err
	}
	s.guard = g
	if s.st, err = OpenStore(ctx, cfg); err != nil {
		return nil, err
	}
	fail := func(err error) (*Server, error) {
		_ = s.st.Close()
		return nil, err
	}
	sec, err := s.st.Secret(ctx, "jwt_secret", 32)
	if err != nil {
		return fail(err)
	}
	salt, err := s.st.Secret(ctx, "egress_salt", 16)
	if err != nil {
		return fail(err)
	}
	s.secret, s.salt = []byte(sec), []byte(salt)
	s.work = netguard.NewWork(cfg.MaxConcurrentHashes)
	s.regRate = netguard.NewLimiter[netip.Prefix](float64(cfg.RegistrationRate), cfg.RegistrationBurst, 65536)
	s.loginAddr = netguard.NewBackoff[netip.Prefix](netguard.BackoffPolicy{Free: 5, Base: time.Second, Max: 5 * time.Minute})
	s.sigRate = netguard.NewLimiter[string](float64(cfg.SignalRate), cfg.SignalBurst, 200000)
	s.pullRate = netguard.NewLimiter[string](float64(cfg.PullRate), cfg.PullBurst, 200000)
	s.list = newList(s.st)
	s.cur = &curator{st: s.st, cfg: cfg, now: s.now, log: s.log, check: check, salt: s.salt, wake: make(chan struct{}, 1),
		after: func() { _ = s.list.refresh(context.Background()) }}
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return fail(fmt.Errorf("central: tls: %w", err))
		}
		s.tlsc = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if s.ln, err = netguard.Listen(ctx, "tcp", cfg.Listen); err != nil {
		return fail(fmt.Errorf("central: listen: %w", err))
	}
	s.base = publicBase(cfg, s.ln.Addr())
	return s, nil
}

// Addr is the listening address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Store is the server's database.
func (s *Server) Store() *centralstore.Store { return s.st }

// Run serves until ctx ends, then closes the database.
func (s *Server) Run(ctx context.Context) error {
	defer s.st.Close()
	if err := s.list.refresh(ctx); err != nil {
		return fmt.Errorf("central: load list: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.cur.run(ctx) }()
	go func() { defer wg.Done(); s.follow(ctx) }()
	err := s.guard.Serve(ctx, s.ln, s.routes(), netguard.ServeOptions{TLS: s.tlsc, Grace: 5 * time.Second})
	cancel()
	wg.Wait()
	s.flushCursors(context.Background())
	return err
}

// follow keeps the list in step with the database and persists pull
// cursors.
func (s *Server) follow(ctx context.Context) {
	t := time.NewTicker(min(s.cfg.Poll, 250*time.Millisecond))
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.list.refresh(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("central: list refresh", "err", err)
		}
		if time.Since(last) >= time.Second {
			last = time.Now()
			s.flushCursors(ctx)
		}
	}
}

func (s *Server) flushCursors(ctx context.Context) {
	s.cursorMu.Lock()
	cs := s.cursors
	s.cursors = map[string]int64{}
	s.cursorMu.Unlock()
	if err := s.st.SetPullCursors(ctx, cs); err != nil {
		s.log.Warn("central: pull cursors", "err", err)
	}
}

// KeyHash is how attachment keys are stored.
func KeyHash(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}
