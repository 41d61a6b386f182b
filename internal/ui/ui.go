// Package ui is the dashboard built into the daemon: server-rendered HTML
// pages (html/template), every asset embedded, plots as server-rendered
// SVG, a small script for the live feed (server-sent events) and a few
// interactions; no inline script, a strict Content-Security-Policy.
//
// It answers: what is attacking me (overview, alerts), what is blocked and
// why (decisions, "why is this IP blocked?"), and lets an admin undo or add
// a ban, validate or delete machines, add or delete bouncers. Users are
// stored in the store (bcrypt hashes, role admin or viewer); sessions live
// in memory (a restart logs everyone out).
//
// The UI serves under Prefix ("/ui/"); the daemon mounts Handler on the
// LAPI's listener when that listener is on loopback, or serves it on its
// own listener (see internal/app).
package ui

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phalanx-ids/phalanx/internal/explain"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/netguard"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/textsafe"
)

// Prefix is the path every page and asset of the dashboard lives under.
const Prefix = "/ui/"

// ContentSecurityPolicy is sent with every answer: scripts and styles from
// the dashboard's own embedded files only, nothing inline, no plugins, no
// framing.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Admin makes the changes that must go through the Local API (its
// decision guard and its decision index); *lapi.Server implements it.
//
// Concurrency: methods are called from any number of request goroutines.
type Admin interface {
	// AddAlert stores an alert carrying decisions; by names who asked.
	AddAlert(ctx context.Context, by string, a *models.Alert) (int64, error)
	// ExpireDecisions expires the decisions with these ids and says how
	// many were active.
	ExpireDecisions(ctx context.Context, ids []int64) (int64, error)
	// ActiveDecisionsByOrigin counts the active, non-simulated decisions
	// per origin (sorted by origin), cheaply: the overview asks it instead
	// of counting them in the store.
	ActiveDecisionsByOrigin(ctx context.Context) ([]store.Count, error)
}

// ScenarioInfo is what the alert page shows of the scenario that fired.
type ScenarioInfo struct {
	Name, File, Description        string
	Type, Filter, GroupBy          string
	Capacity                       int
	LeakSpeed, Duration, Blackhole string
	Version, Hash                  string
	// Tainted: the installed file differs from the hub's version.
	Tainted bool
}

// Deps are the dashboard's runtime dependencies.
type Deps struct {
	// Store is required; the UI does not close it.
	Store store.Store
	// Admin is required for changes to decisions.
	Admin Admin
	// Gatherer is the daemon's metrics registry (nil: no metrics page data).
	Gatherer prometheus.Gatherer
	// Scenarios describes a scenario by name (nil or false: unknown).
	Scenarios func(name string) (ScenarioInfo, bool)
	// Explain traces raw log lines through the running parsers (the
	// alert page's parser trace); nil: the lines are shown without trace.
	Explain func(ctx context.Context, lines []*models.RawLine) ([]explain.Result, error)
	// Hub describes the detection content and the installed hub items for
	// the status page (nil: not shown).
	Hub func(ctx context.Context) (HubStatus, error)
	// Logger; nil: discard.
	Logger *slog.Logger
	// Clock; nil: time.Now.
	Clock func() time.Time
	// WriteTimeout is the server's write timeout, which the live feed
	// extends per write (0: not extended).
	WriteTimeout time.Duration
	// PasswordCost is the bcrypt cost of the hash an unknown user's
	// password is compared against; 0: bcrypt.DefaultCost (that of
	// AddUser). Tests lower it: under the race detector one hash at the
	// default cost takes about a second of CPU.
	PasswordCost int
}

// Settings tune the dashboard; the zero value is the default.
type Settings struct {
	// SecureCookies marks cookies Secure (serving over TLS).
	SecureCookies bool
	// SessionIdle and SessionMax bound a session: it ends after
	// SessionIdle without a request (default 1h) and SessionMax after login
	// (default 12h).
	SessionIdle, SessionMax time.Duration
	// FeedPoll is how often the live feed looks for new alerts (default 2s).
	FeedPoll time.Duration
	// SampleEvery is how often Run samples the metrics for the metrics
	// page's plots (default 15s); 240 samples are kept.
	SampleEvery time.Duration
	// MaxSessions bounds the sessions kept (default 10000; the oldest goes).
	MaxSessions int
}

// UI is the dashboard.
//
// Concurrency: Handler serves any number of requests at once; Run is
// called at most once.
type UI struct {
	set     Settings
	st      store.Store
	admin   Admin
	gather  prometheus.Gatherer
	scens   func(string) (ScenarioInfo, bool)
	explain func(context.Context, []*models.RawLine) ([]explain.Result, error)
	hub     hubFunc
	log     *slog.Logger
	now     func() time.Time
	writeTO time.Duration
	pages   map[string]*template.Template
	handler http.Handler

	sessions *sessions
	login    *loginGuard
	feeds    atomic.Int64 // live feed streams open

	samplesMu sync.Mutex
	samples   *sampler
}

// maxFeeds bounds the live feed streams open at once.
const maxFeeds = 32

// New builds the dashboard.
func New(set Settings, deps Deps) (*UI, error) {
	if deps.Store == nil || deps.Admin == nil {
		return nil, errors.New("ui: new: store and admin are required")
	}
	if set.SessionIdle <= 0 {
		set.SessionIdle = time.Hour
	}
	if set.SessionMax <= 0 {
		set.SessionMax = 12 * time.Hour
	}
	if set.FeedPoll <= 0 {
		set.FeedPoll = 2 * time.Second
	}
	if set.SampleEvery <= 0 {
		set.SampleEvery = 15 * time.Second
	}
	if set.MaxSessions <= 0 {
		set.MaxSessions = 10000
	}
	u := &UI{set: set, st: deps.Store, admin: deps.Admin, gather: deps.Gatherer, scens: deps.Scenarios, explain: deps.Explain, hub: deps.Hub,
		log: deps.Logger, now: deps.Clock, writeTO: deps.WriteTimeout, samples: newSampler(240)}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	if u.now == nil {
		u.now = time.Now
	}
	u.sessions = newSessions(set.MaxSessions)
	u.login = newLoginGuard(max(1, runtime.NumCPU()/2), deps.PasswordCost)
	var err error
	if u.pages, err = parsePages(); err != nil {
		return nil, fmt.Errorf("ui: new: %w", err)
	}
	u.handler = u.routes()
	return u, nil
}

// Handler serves every page and asset under Prefix.
func (u *UI) Handler() http.Handler { return u.handler }

// Run samples the metrics for the metrics page until ctx ends.
func (u *UI) Run(ctx context.Context) {
	if u.gather == nil {
		return
	}
	t := time.NewTicker(u.set.SampleEvery)
	defer t.Stop()
	u.sample()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			u.sample()
		}
	}
}

// parsePages parses each page template with the layout.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		base := n[len("templates/") : len(n)-len(".html")]
		if base == "layout" || strings.HasPrefix(base, "_") {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/_*.html", n)
		if err != nil {
			return nil, err
		}
		out[base] = t
	}
	return out, nil
}

func (u *UI) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	fileServer := http.StripPrefix(Prefix+"static/", http.FileServerFS(static))
	mux.Handle("GET "+Prefix+"static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		fileServer.ServeHTTP(w, r)
	}))
	mux.HandleFunc("GET "+Prefix+"login", u.loginPage)
	mux.HandleFunc("POST "+Prefix+"login", u.loginPost)

	view := func(pattern string, fn pageFunc) { mux.Handle(pattern, u.authed(false, fn)) }
	change := func(pattern string, fn pageFunc) { mux.Handle(pattern, u.authed(true, fn)) }
	view("GET "+Prefix+"{$}", u.overview)
	view("GET "+Prefix+"alerts", u.alerts)
	view("GET "+Prefix+"alerts/{id}", u.alert)
	view("GET "+Prefix+"why", u.why)
	view("GET "+Prefix+"decisions", u.decisions)
	view("GET "+Prefix+"machines", u.machines)
	view("GET "+Prefix+"bouncers", u.bouncers)
	view("GET "+Prefix+"metrics", u.metricsPage)
	view("GET "+Prefix+"status", u.status)
	view("GET "+Prefix+"events", u.events)
	change("POST "+Prefix+"logout", u.logout)
	change("POST "+Prefix+"decisions", u.addDecision)
	change("POST "+Prefix+"decisions/delete", u.deleteDecisions)
	change("POST "+Prefix+"machines/validate", u.validateMachine)
	change("POST "+Prefix+"machines/delete", u.deleteMachine)
	change("POST "+Prefix+"bouncers", u.addBouncer)
	change("POST "+Prefix+"bouncers/delete", u.deleteBouncer)
	mux.Handle(Prefix, u.authed(false, func(w http.ResponseWriter, r *http.Request, _ *session) error {
		return errNotFound
	}))
	return headers(mux)
}

// headers sets the security headers of every answer.
func headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", ContentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// internalError answers 500 without the cause, which is logged.
func (u *UI) internalError(w http.ResponseWriter, r *http.Request, err error) {
	u.log.Error("ui: request failed", "path", textsafe.Log(r.URL.Path), "err", err, "request_id", netguard.RequestID(r.Context()))
	http.Error(w, netguard.InternalErrorMessage(r.Context()), http.StatusInternalServerError)
}
