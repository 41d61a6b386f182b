// Package netguard hardens the HTTP servers Phalanx runs against hostile
// clients: header size and read/write/idle deadlines on the *http.Server,
// connection limits (global and per address) on the listener, a per-address
// request rate limit, and a middleware that gives every request an id,
// recovers panics and keeps internal errors out of answers. It also holds
// the building blocks servers use for their own throttles (Limiter,
// Backoff); client-supplied strings are logged through internal/textsafe.
// See README.md.
package netguard

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phalanx-ids/phalanx/internal/textsafe"
)

// Deps are a Guard's runtime dependencies.
type Deps struct {
	// Name names the server in metrics (label server) and logs ("lapi").
	Name string
	// Logger; nil: discard.
	Logger *slog.Logger
	// Registerer receives the metrics; nil: not registered.
	Registerer prometheus.Registerer
	// Render writes the guard's own answers (429, and 500 after a panic);
	// nil: JSON {"message": msg}.
	Render func(w http.ResponseWriter, r *http.Request, status int, msg string)
	// ClientAddr is the address the request rate limit counts a request
	// under; nil: the TCP peer (PeerAddr). A server behind trusted proxies
	// plugs its resolution of X-Forwarded-For here.
	ClientAddr func(r *http.Request) netip.Addr
	// Clock; nil: time.Now.
	Clock func() time.Time
}

// Guard is the hardening of one server: build it with New, then serve with
// Serve (or take its pieces: Server, Listener, Handler).
//
// Concurrency: every method is safe for concurrent use; a Guard may serve
// several listeners at once (they share the connection counts).
type Guard struct {
	name   string
	lim    limits
	log    *slog.Logger
	met    *metrics
	render func(w http.ResponseWriter, r *http.Request, status int, msg string)
	client func(r *http.Request) netip.Addr
	now    func() time.Time
	conns  *connLimiter
	rate   *Limiter[netip.Prefix]
}

// New compiles cfg (zero fields take Defaults) into a Guard.
func New(cfg Config, deps Deps) (*Guard, error) {
	name := deps.Name
	if name == "" {
		name = "http"
	}
	lim, err := cfg.compile(nofile())
	if err != nil {
		return nil, fmt.Errorf("netguard: %s: config: %w", name, err)
	}
	g := &Guard{name: name, lim: lim, log: deps.Logger, render: deps.Render, client: deps.ClientAddr,
		now: deps.Clock}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.render == nil {
		g.render = RenderJSON
	}
	if g.client == nil {
		g.client = PeerAddr
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.met, err = newMetrics(name, deps.Registerer); err != nil {
		return nil, fmt.Errorf("netguard: %s: metrics: %w", name, err)
	}
	g.conns = &connLimiter{g: g, per: map[netip.Prefix]int{}}
	if lim.rateOn {
		g.rate = NewLimiter[netip.Prefix](lim.rate, lim.burst, lim.maxAddrs)
	}
	return g, nil
}

// nofile is the process's soft RLIMIT_NOFILE (0: unknown).
func nofile() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return rl.Cur
}

// WriteTimeout is the server's write timeout (what ExtendWrites should
// extend by).
func (g *Guard) WriteTimeout() time.Duration { return g.lim.write }

// IdleTimeout is how long a connection may stay silent (a listener that
// is not HTTP applies it to its reads).
func (g *Guard) IdleTimeout() time.Duration { return g.lim.idle }

// MaxConns is the global connection limit in force (0: none).
func (g *Guard) MaxConns() int { return g.lim.maxConns }

// OpenConns is how many connections the guard's listeners hold now.
func (g *Guard) OpenConns() int { return g.conns.open() }

// Listen opens the listener of a guarded server (network "tcp" or "unix").
// TCP keep-alive is off: the guard's deadlines find dead peers, and every
// accepted connection, refused ones included, then costs four setsockopt
// calls less (most of what a flood of refused connections costs is the
// accept path).
func Listen(ctx context.Context, network, addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	return lc.Listen(ctx, network, addr)
}

// Listener wraps ln with the connection limits. Wrap the plain listener
// (TLS goes around it) so that refused connections cost no handshake.
func (g *Guard) Listener(ln net.Listener) net.Listener {
	return g.newLimitListener(ln, false)
}

// Server returns an *http.Server with the guard's header limit and
// timeouts, serving h behind Handler. Its ErrorLog writes to the logger at
// debug level (clients can make the server write there at will).
func (g *Guard) Server(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           g.Handler(h),
		MaxHeaderBytes:    g.lim.maxHeaderBytes,
		ReadHeaderTimeout: g.lim.readHeader,
		ReadTimeout:       g.lim.read,
		WriteTimeout:      g.lim.write,
		IdleTimeout:       g.lim.idle,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
	}
}

// ServeOptions are Serve's per-call settings.
type ServeOptions struct {
	// TLS serves HTTPS with this configuration; nil: plain HTTP.
	TLS *tls.Config
	// Grace bounds the wait for requests in flight at shutdown; 0: 10s.
	Grace time.Duration
}

// Serve serves h on ln (limited, TLS when set) until ctx ends, then shuts
// down gracefully: no new connection, requests in flight get o.Grace to
// finish, then the remaining connections are closed. It returns nil after
// a shutdown, or the error that stopped serving. Request contexts are not
// cancelled by ctx (shutdown lets them finish). Serve closes ln.
func (g *Guard) Serve(ctx context.Context, ln net.Listener, h http.Handler, o ServeOptions) error {
	srv := g.Server(h)
	srv.BaseContext = func(net.Listener) context.Context { return context.WithoutCancel(ctx) }
	l := g.Listener(ln)
	if o.TLS != nil {
		l = tls.NewListener(l, o.TLS)
	}
	if o.Grace <= 0 {
		o.Grace = 10 * time.Second
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		_ = srv.Close()
		if err != nil {
			return fmt.Errorf("netguard: %s: serve: %w", g.name, err)
		}
		return nil
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.Grace)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		g.log.Warn("netguard: shutdown: closing the remaining connections", "server", g.name, "err", serr)
		_ = srv.Close()
	}
	if err = <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("netguard: %s: serve: %w", g.name, err)
	}
	return nil
}

type idKey struct{}

// newID is a request id: 16 random hex digits.
func newID() string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], rand.Uint64())
	return hex.EncodeToString(b[:])
}

// RequestID is the id the guard gave the request of ctx ("" outside a
// guarded request). The answer carries it in X-Request-Id.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(idKey{}).(string)
	return id
}

// InternalErrorMessage is what a guarded server answers instead of an
// internal error's text: generic, with the request id to find the real
// error in the log (which the server logs with "request_id").
func InternalErrorMessage(ctx context.Context) string {
	if id := RequestID(ctx); id != "" {
		return "internal server error (request id " + id + ")"
	}
	return "internal server error"
}

// Handler wraps h: every request gets an id (context and X-Request-Id),
// the per-address request rate applies (429 with Retry-After beyond it),
// and a panic is recovered, logged with the id and the stack, and answered
// 500 with InternalErrorMessage (or the connection is cut when the answer
// had started).
func (g *Guard) Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		id := newID()
		rw.Header().Set("X-Request-Id", id)
		r = r.WithContext(context.WithValue(r.Context(), idKey{}, id))
		if g.rate != nil {
			a := g.client(r)
			if a.IsValid() && !Contains(g.lim.exempt, a) {
				if ok, wait := g.rate.Allow(AddrKey(a), g.now()); !ok {
					g.met.limited.Inc()
					rw.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
					g.render(rw, r, http.StatusTooManyRequests, "too many requests")
					return
				}
			}
		}
		w := &trackWriter{ResponseWriter: rw}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			g.met.panics.Inc()
			g.log.Error("netguard: handler panic", "server", g.name, "request_id", id, "method", r.Method,
				"path", textsafe.Log(r.URL.Path), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if w.started {
				panic(http.ErrAbortHandler) // cut the connection: the answer is broken
			}
			g.render(rw, r, http.StatusInternalServerError, InternalErrorMessage(r.Context()))
		}()
		h.ServeHTTP(w, r)
	})
}

// trackWriter records whether the answer has started.
type trackWriter struct {
	http.ResponseWriter
	started bool
}

func (w *trackWriter) WriteHeader(code int) {
	if code >= 200 {
		w.started = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *trackWriter) Write(b []byte) (int, error) {
	w.started = true
	return w.ResponseWriter.Write(b)
}

func (w *trackWriter) Flush() {
	w.started = true
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *trackWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// RenderJSON writes {"message": msg} with status (the LAPI's
// ErrorResponse shape); the default of Deps.Render.
func RenderJSON(w http.ResponseWriter, _ *http.Request, status int, msg string) {
	b, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{msg})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// RenderText writes msg as text/plain with status.
func RenderText(w http.ResponseWriter, _ *http.Request, status int, msg string) {
	http.Error(w, msg, status)
}

// ExtendWrites returns w such that every Write first moves the
// connection's write deadline to now+d: an answer may take as long as it
// needs while the client keeps reading (each write must complete within
// d). For routes with long answers (a decision stream of a million
// entries, server-sent events); pass Guard.WriteTimeout.
func ExtendWrites(w http.ResponseWriter, d time.Duration) http.ResponseWriter {
	return &extendWriter{ResponseWriter: w, rc: http.NewResponseController(w), d: d}
}

type extendWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (w *extendWriter) Write(b []byte) (int, error) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.d))
	return w.ResponseWriter.Write(b)
}

func (w *extendWriter) Flush() {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.d))
	_ = w.rc.Flush()
}

func (w *extendWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// AllowFrom serves h only to clients whose TCP peer address is in ps;
// others get 403 (text). For endpoints that must not be public (/metrics
// lists machine ids).
func AllowFrom(ps []netip.Prefix, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !Contains(ps, PeerAddr(r)) {
			http.Error(w, "forbidden: this endpoint is served to configured addresses only", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}
