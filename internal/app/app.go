// Package app is the Phalanx daemon as a value: the agent (live
// acquisition -> detection pipeline -> alerts pushed to a LAPI through a
// disk spool) and the Local API server (store, profiles, decisions, metrics)
// in one process, or either one alone. Tests start it in-process:
//
//	a, err := app.New(cfg)
//	go a.Run(ctx)          // until ctx ends: then drains and returns
//	a.Reload(newCfg)       // a bad config keeps the running one
//	a.Close()
//
// Lifecycle: New decodes nothing (Config is plain data) but provisions
// everything: it opens the store, binds the listeners, registers the local
// agent, compiles the content and the acquisition; a failure there is an
// error of New, never of Run. Run serves until its context ends, then
// drains in order: the datasources stop, the pipeline flushes the lines
// already read, the agent pushes the remaining alerts (to the local LAPI,
// still up), then the LAPI stops.
package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/phalanx-ids/phalanx/internal/acquire"
	"github.com/phalanx-ids/phalanx/internal/acquire/builtin"
	"github.com/phalanx-ids/phalanx/internal/agent"
	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/capi"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/exprenv"
	"github.com/phalanx-ids/phalanx/internal/lapi"
	"github.com/phalanx-ids/phalanx/internal/netguard"
	"github.com/phalanx-ids/phalanx/internal/notify"
	"github.com/phalanx-ids/phalanx/internal/profile"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/store/backends"
	"github.com/phalanx-ids/phalanx/internal/ui"
	"github.com/phalanx-ids/phalanx/internal/usagemetrics"
)

// Option injects a runtime dependency into New.
type Option func(*options)

type options struct {
	files        FilePolicy
	logger       *slog.Logger
	discoverRoot string
	lookPath     func(string) (string, error)
	userAgent    string
}

// WithLogger sets the logger (default: text on stderr at the config's
// log_level).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithDiscovery sets where Discover looks for logs ("/" by default) and
// how it finds journalctl (exec.LookPath by default; nil: never).
func WithDiscovery(root string, lookPath func(string) (string, error)) Option {
	return func(o *options) { o.discoverRoot, o.lookPath = root, lookPath }
}

// WithFilePolicy sets how credentials files that any local user can change
// are treated (default: refused; see FilePolicy).
func WithFilePolicy(p FilePolicy) Option { return func(o *options) { o.files = p } }

// WithUserAgent sets the agent's User-Agent (name/version; default
// phalanx/dev).
func WithUserAgent(ua string) Option { return func(o *options) { o.userAgent = ua } }

// App is the daemon.
//
// Concurrency: Run is called once. Reload may be called from any goroutine
// while Run runs (calls are serialised); Close after Run returned (or
// instead of Run). The accessors (LAPIURL, Watching, Registry...) are safe
// at any time.
type App struct {
	opts options
	log  *slog.Logger
	reg  *prometheus.Registry

	acqReg     *acquire.Registry
	acqMetrics *acquire.Metrics
	pipeMet    *pipelineCollector
	latMet     *latencyMetrics

	st           store.Store
	srv          *lapi.Server
	ln           net.Listener
	metricsLn    net.Listener
	metricsGuard *netguard.Guard
	lapiURL      string
	client       *apiclient.Client
	agent        *agent.Agent
	notifier     *notify.Dispatcher
	capi         *capi.Service   // nil unless registered with a central
	community    *capi.Community // what the LAPI pulled; nil without LAPI
	dash         *ui.UI
	uiLn         net.Listener
	uiGuard      *netguard.Guard
	uiURL        string

	reloadMu sync.Mutex // serialises Reload
	mu       sync.Mutex // guards the fields below
	cfg      *resolved
	pipe     *pipeline // running (or to run) generation
	pending  *pipeline // built by Reload, waiting to replace pipe
	stopPipe context.CancelFunc
	ran      bool
	closed   bool

	wroteRunState bool // set by New, cleared by Close (runstate.go)
}

// New provisions the daemon described by cfg. Nothing runs until Run.
func New(cfg Config, opts ...Option) (_ *App, err error) {
	o := options{discoverRoot: "/", lookPath: exec.LookPath, userAgent: "phalanx/dev"}
	for _, f := range opts {
		f(&o)
	}
	r, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	a := &App{opts: o, cfg: r, reg: prometheus.NewRegistry(), acqReg: builtin.NewRegistry(), pipeMet: newPipelineCollector()}
	a.log = o.logger
	if a.log == nil {
		a.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level(r.LogLevel)}))
	}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if err := os.MkdirAll(r.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("app: data dir: %w", err)
	}
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), a.pipeMet)
	a.latMet = newLatencyMetrics(a.reg)
	if a.acqMetrics, err = acquire.NewMetrics(a.reg, a.acqReg); err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	ctx := context.Background()
	if r.lapiOn {
		if err := a.startLAPI(ctx, r); err != nil {
			return nil, err
		}
	}
	if r.metricsOn && r.Metrics.ListenAddr != "" {
		if a.metricsGuard, err = netguard.New(r.Metrics.Limits, netguard.Deps{Name: "metrics", Logger: a.log,
			Registerer: a.reg, Render: netguard.RenderText}); err != nil {
			return nil, fmt.Errorf("app: metrics: %w", err)
		}
		if a.metricsLn, err = netguard.Listen(ctx, "tcp", r.Metrics.ListenAddr); err != nil {
			return nil, fmt.Errorf("app: metrics: listen: %w", err)
		}
	}
	if r.agentOn {
		if err := a.startAgent(ctx, r); err != nil {
			return nil, err
		}
		if a.pipe, err = a.buildPipeline(r); err != nil {
			return nil, err
		}
	}
	if err := a.writeRunState(); err != nil {
		return nil, err
	}
	return a, nil
}

func level(s string) slog.Level {
	switch s {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// startLAPI opens the store, builds the server and binds its listener.
func (a *App) startLAPI(ctx context.Context, r *resolved) error {
	var err error
	a.st, err = backends.Open(ctx, r.LAPI.Database)
	if err != nil {
		return fmt.Errorf("app: store: %w", err)
	}
	a.community = capi.NewCommunity(nil)
	prof, err := loadProfiles(r, a.log, a.st, a.community)
	if err != nil {
		return err
	}
	if err := a.startNotify(r, prof); err != nil {
		return err
	}
	capiSet, err := prepareCAPI(r, a.opts.userAgent)
	if err != nil {
		return err
	}
	deps := lapi.Deps{Store: a.st, Profiles: prof, Logger: a.log, Registerer: a.reg, Notify: a.notify, Share: a.share, Usage: a.usage,
		Extra: map[string]http.Handler{}}
	if capiSet != nil && capiSet.Sharing && capiSet.Consent.ShareManualDecisions {
		deps.Deleted = a.deleted // the LAPI lists what a delete expires only for this
	}
	if r.metricsOn && r.Metrics.ListenAddr == "" && !r.LAPI.TLS.Enabled() {
		deps.Extra["GET /metrics"] = a.metricsHandler(r)
		a.addPprof(r, deps.Extra)
	}
	if r.uiOnLAPI {
		// a.dash is set below, before anything serves.
		deps.Extra[ui.Prefix] = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { a.dash.Handler().ServeHTTP(w, req) })
	}
	if a.srv, err = lapi.New(r.LAPI.Config, deps); err != nil {
		return fmt.Errorf("app: %w", err)
	}
	if capiSet != nil {
		if err := a.startCAPI(capiSet); err != nil {
			return err
		}
	} else {
		a.log.Debug("capi: no central API credentials; not sharing", "path", r.capi.CredentialsPath)
	}
	if a.ln, err = netguard.Listen(ctx, "tcp", r.LAPI.ListenURI); err != nil {
		return fmt.Errorf("app: lapi: listen: %w", err)
	}
	scheme := "http"
	if r.LAPI.TLS.Enabled() {
		scheme = "https"
	}
	a.lapiURL = scheme + "://" + dialable(a.ln.Addr()) + "/"
	if r.uiOn {
		return a.startUI(ctx, r)
	}
	return nil
}

// startUI builds the dashboard and, with ui.listen, binds its listener.
func (a *App) startUI(ctx context.Context, r *resolved) error {
	set := ui.Settings{SessionIdle: r.UI.SessionIdle, SessionMax: r.UI.SessionMax, SecureCookies: r.uiOnLAPI && r.LAPI.TLS.Enabled()}
	var err error
	if a.dash, err = ui.New(set, ui.Deps{Store: a.st, Admin: a.srv, Gatherer: a.reg, Logger: a.log,
		Scenarios: a.scenarioInfo, Explain: a.explainLines, Hub: a.hubStatus, WriteTimeout: 30 * time.Second}); err != nil {
		return fmt.Errorf("app: %w", err)
	}
	switch {
	case r.uiOnLAPI:
		a.uiURL = a.lapiURL + strings.TrimPrefix(ui.Prefix, "/")
	case r.UI.Listen != "":
		if a.uiGuard, err = netguard.New(r.UI.Limits, netguard.Deps{Name: "ui", Logger: a.log, Registerer: a.reg,
			Render: netguard.RenderText}); err != nil {
			return fmt.Errorf("app: ui: %w", err)
		}
		if a.uiLn, err = netguard.Listen(ctx, "tcp", r.UI.Listen); err != nil {
			return fmt.Errorf("app: ui: listen: %w", err)
		}
		a.uiURL = "http://" + dialable(a.uiLn.Addr()) + ui.Prefix
	default:
		a.log.Warn("app: dashboard not served: the LAPI listens beyond loopback; set ui.listen to a loopback address", "lapi", r.LAPI.ListenURI)
	}
	return nil
}

// DashboardURL is where the dashboard is served ("" when it is not).
func (a *App) DashboardURL() string { return a.uiURL }

// dialable turns a listening address into one a local client can dial
// (0.0.0.0 and :: become loopback).
func dialable(addr net.Addr) string {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return addr.String()
	}
	ip := ta.IP
	if ip == nil || ip.IsUnspecified() {
		if ip.To4() == nil && ip != nil {
			ip = net.IPv6loopback
		} else {
			ip = net.IPv4(127, 0, 0, 1)
		}
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(ta.Port))
}

// SimulationFile is the name, in the data dir, of the simulation.yaml read
// when simulation_path is empty (`phalanx simulation enable` writes it).
const SimulationFile = "simulation.yaml"

// readSimulation reads r's simulation.yaml: simulation_path, else
// <data_dir>/simulation.yaml when it exists; no file: no simulation.
func readSimulation(r *resolved) (profile.Simulation, error) {
	p, must := r.LAPI.SimulationPath, true
	if p == "" {
		p, must = filepath.Join(r.DataDir, SimulationFile), false
	}
	b, err := os.ReadFile(p)
	if err != nil {
		if !must && errors.Is(err, fs.ErrNotExist) {
			return profile.Simulation{}, nil
		}
		return profile.Simulation{}, fmt.Errorf("app: simulation: %w", err)
	}
	sim, err := profile.ParseSimulation(p, b)
	if err != nil {
		return profile.Simulation{}, fmt.Errorf("app: %w", err)
	}
	return sim, nil
}

// loadProfiles compiles the profiles with the simulation and an expression
// env whose decision helpers (GetDecisionsCount...) read st and whose
// IsInCommunityList reads comm.
func loadProfiles(r *resolved, log *slog.Logger, st store.Store, comm *capi.Community) (*profile.Set, error) {
	sim, err := readSimulation(r)
	if err != nil {
		return nil, err
	}
	env := exprenv.New(exprenv.Deps{Decisions: &lapi.DecisionCounter{Store: st}, Community: comm, Logger: log})
	opts := profile.Options{Simulation: sim, Logger: log, Env: env}
	var set *profile.Set
	if p := r.LAPI.ProfilesPath; p != "" {
		set, err = profile.LoadFile(p, opts)
	} else {
		set, err = profile.Default(opts)
	}
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	return set, nil
}

// startAgent sets up the LAPI client (registering the local machine when
// the LAPI runs here) and the agent with its spool.
func (a *App) startAgent(ctx context.Context, r *resolved) error {
	cc := r.Agent.LAPI
	if r.Agent.CredentialsPath != "" {
		file, err := readCredentials(r.Agent.CredentialsPath, a.opts.files)
		if err != nil {
			return err
		}
		cc = mergeCredentials(cc, file)
	}
	if cc.URL == "" {
		creds, err := ensureLocalMachine(ctx, a.st, r.DataDir, a.lapiURL, a.opts.files)
		if err != nil {
			return err
		}
		cc = mergeCredentials(cc, creds)
	}
	if cc.UserAgent == "" {
		cc.UserAgent = a.opts.userAgent
	}
	var err error
	if a.client, err = apiclient.New(cc, apiclient.WithLogger(a.log)); err != nil {
		return fmt.Errorf("app: agent: %w", err)
	}
	a.agent, err = agent.New(agent.Config{
		BatchSize: r.Agent.BatchSize, FlushInterval: r.Agent.FlushInterval, PushesInFlight: r.Agent.PushesInFlight,
		HeartbeatInterval: r.Agent.HeartbeatInterval, RetryMax: r.Agent.RetryMaxInterval,
		RetryMin: min(time.Second, max(r.Agent.RetryMaxInterval, 0)),
		SpoolDir: r.Agent.SpoolDir, SpoolMaxBytes: r.Agent.SpoolMaxBytes,
	}, agent.Deps{Client: a.client, Logger: a.log, Registerer: a.reg})
	if err != nil {
		return fmt.Errorf("app: %w", err)
	}
	return nil
}

// onAlert hands the alerts of one overflow to the agent (detect goroutine).
func (a *App) onAlert(ev *event.Event) {
	a.latMet.alerted(ev.MarshaledTime)
	for i := range ev.Overflow.APIAlerts {
		al := ev.Overflow.APIAlerts[i]
		a.pipeMet.countAlert(al.GetScenario())
		a.agent.Add(&al)
	}
}

// LAPIURL is the URL local clients reach the LAPI at ("" without LAPI).
func (a *App) LAPIURL() string { return a.lapiURL }

// LAPIAddr is the LAPI listener's address (nil without LAPI).
func (a *App) LAPIAddr() net.Addr {
	if a.ln == nil {
		return nil
	}
	return a.ln.Addr()
}

// MetricsURL is where /metrics is served ("" when it is not).
func (a *App) MetricsURL() string {
	a.mu.Lock()
	r := a.cfg
	a.mu.Unlock()
	switch {
	case !r.metricsOn:
		return ""
	case a.metricsLn != nil:
		return "http://" + dialable(a.metricsLn.Addr()) + "/metrics"
	case a.ln != nil && !r.LAPI.TLS.Enabled():
		return a.lapiURL + "metrics"
	}
	return ""
}

// Watching describes the datasources of the running pipeline (empty
// without agent or when nothing is watched).
func (a *App) Watching() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.pipe
	if a.pending != nil {
		p = a.pending
	}
	if p == nil {
		return nil
	}
	return append([]string(nil), p.watches...)
}

// Registry is the App's Prometheus registry.
func (a *App) Registry() *prometheus.Registry { return a.reg }

// Store is the LAPI's store (nil without LAPI). The App owns it.
func (a *App) Store() store.Store { return a.st }

// AgentStats reports the agent's buffer and spool (zero without agent).
func (a *App) AgentStats() agent.Stats {
	if a.agent == nil {
		return agent.Stats{}
	}
	return a.agent.Stats()
}

// Run runs the daemon until ctx ends, then drains (see the package doc)
// and returns. It returns early with an error when a component fails for
// good (the LAPI listener dies).
func (a *App) Run(ctx context.Context) error {
	a.mu.Lock()
	if a.ran || a.closed {
		a.mu.Unlock()
		return errors.New("app: run: already run or closed")
	}
	a.ran = true
	r := a.cfg
	a.mu.Unlock()

	fatal := make(chan error, 4)
	lapiCtx, stopLAPI := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLAPI()
	var lapiWG sync.WaitGroup
	if a.srv != nil {
		lapiWG.Add(1)
		go func() {
			defer lapiWG.Done()
			if err := a.srv.Run(lapiCtx, a.ln); err != nil {
				fatal <- err
			}
		}()
	}
	if a.dash != nil {
		lapiWG.Add(1)
		go func() {
			defer lapiWG.Done()
			a.dash.Run(lapiCtx)
		}()
	}
	if a.uiLn != nil {
		mux := http.NewServeMux()
		mux.Handle(ui.Prefix, a.dash.Handler())
		mux.Handle("GET /{$}", http.RedirectHandler(ui.Prefix, http.StatusSeeOther))
		lapiWG.Add(1)
		go func() {
			defer lapiWG.Done()
			if err := a.uiGuard.Serve(lapiCtx, a.uiLn, mux, netguard.ServeOptions{Grace: time.Second}); err != nil {
				fatal <- fmt.Errorf("app: ui: %w", err)
			}
		}()
	}
	if a.metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", a.metricsHandler(r))
		routes := map[string]http.Handler{}
		a.addPprof(r, routes)
		for p, h := range routes {
			mux.Handle(p, h)
		}
		lapiWG.Add(1)
		go func() {
			defer lapiWG.Done()
			if err := a.metricsGuard.Serve(lapiCtx, a.metricsLn, mux, netguard.ServeOptions{Grace: time.Second}); err != nil {
				fatal <- fmt.Errorf("app: metrics: %w", err)
			}
		}()
	}

	capiCtx, stopCAPI := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCAPI()
	var capiWG sync.WaitGroup
	if a.capi != nil {
		capiWG.Add(1)
		go func() {
			defer capiWG.Done()
			_ = a.capi.Run(capiCtx)
		}()
	}

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	var agentWG sync.WaitGroup
	agentCtx, stopAgent := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAgent()
	if a.agent != nil {
		agentWG.Add(1)
		go func() {
			defer agentWG.Done()
			if err := a.agent.Run(agentCtx); err != nil {
				a.log.Error("app: agent", "err", err)
			}
		}()
		if every := usageInterval(r.Agent.UsageMetricsInterval); every > 0 {
			lp := newLPUsage(a, time.Now())
			agentWG.Add(1)
			go func() {
				defer agentWG.Done()
				usagemetrics.Run(agentCtx, a.client, usagemetrics.Schedule{Interval: every}, lp.build, nil, a.log)
			}()
		}
	}
	pipeDone := make(chan struct{})
	go func() {
		defer close(pipeDone)
		a.pipelines(runCtx)
	}()

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-fatal:
		a.log.Error("app: stopping", "err", runErr)
	}
	// Drain, in data-flow order.
	stopRun()
	<-pipeDone
	stopAgent()
	agentWG.Wait()
	stopCAPI() // what it did not push waits in the outbox
	capiWG.Wait()
	stopLAPI()
	lapiWG.Wait()
	a.closeNotify()
	return runErr
}

// pipelines runs the current pipeline, swapping in the one a Reload built,
// until ctx ends.
func (a *App) pipelines(ctx context.Context) {
	for {
		a.mu.Lock()
		if a.pending != nil {
			a.pipe, a.pending = a.pending, nil
		}
		p := a.pipe
		pctx, stop := context.WithCancel(ctx)
		a.stopPipe = stop
		a.mu.Unlock()
		if p == nil {
			<-ctx.Done()
			stop()
			return
		}
		a.pipeMet.setCurrent(p)
		if err := p.run(pctx); err != nil && ctx.Err() == nil {
			a.log.Error("app: pipeline", "err", err)
		}
		stop()
		a.pipeMet.absorb(p)
		a.mu.Lock()
		if a.pending != nil || ctx.Err() != nil {
			// Replaced (or stopping): release the old content.
			if err := p.close(); err != nil {
				a.log.Warn("app: release content", "err", err)
			}
			if a.pipe == p && a.pending != nil {
				a.pipe = nil
			}
		}
		a.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
	}
}

// addPprof adds Go's profiles under /debug/pprof/ to routes when
// metrics.pprof is on, for metrics.allowed_ips only.
func (a *App) addPprof(r *resolved, routes map[string]http.Handler) {
	if !r.Metrics.Pprof {
		return
	}
	allow := func(h http.HandlerFunc) http.Handler { return netguard.AllowFrom(r.metricsAllowed, h) }
	routes["GET /debug/pprof/"] = allow(pprof.Index) // heap, goroutine, allocs... by name
	routes["GET /debug/pprof/profile"] = allow(pprof.Profile)
	routes["GET /debug/pprof/trace"] = allow(pprof.Trace)
}

// metricsHandler serves the registry to metrics.allowed_ips only (it names
// machines and bouncers).
func (a *App) metricsHandler(r *resolved) http.Handler {
	return netguard.AllowFrom(r.metricsAllowed, promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{Registry: a.reg}))
}

// Reload applies cfg to the running daemon: content, acquisition, profiles
// and simulation. Everything is built first; on any error the running
// configuration stays and the error says why. Settings that need a restart
// (data dir, listen addresses, database, agent/LAPI on or off, the agent's
// LAPI) are reported in the log and ignored.
func (a *App) Reload(cfg Config) error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	r, err := cfg.resolve()
	if err != nil {
		return fmt.Errorf("app: reload: %w", err)
	}
	a.mu.Lock()
	old := a.cfg
	closed := a.closed
	a.mu.Unlock()
	if closed {
		return errors.New("app: reload: closed")
	}
	for _, d := range restartNeeded(old, r) {
		a.log.Warn("app: reload: setting changed, restart to apply", "setting", d)
	}
	// Keep what cannot change live.
	r.DataDir, r.lapiOn, r.agentOn = old.DataDir, old.lapiOn, old.agentOn
	r.LAPI.ListenURI, r.LAPI.Database, r.Metrics = old.LAPI.ListenURI, old.LAPI.Database, old.Metrics
	r.Agent.LAPI, r.Agent.CredentialsPath, r.Agent.SpoolDir = old.Agent.LAPI, old.Agent.CredentialsPath, old.Agent.SpoolDir
	r.metricsOn, r.metricsAllowed = old.metricsOn, old.metricsAllowed
	r.UI, r.uiOn, r.uiOnLAPI = old.UI, old.uiOn, old.uiOnLAPI

	var prof *profile.Set
	var notif *notify.Update
	if r.lapiOn {
		if prof, err = loadProfiles(r, a.log, a.st, a.community); err != nil {
			return fmt.Errorf("app: reload: %w", err)
		}
		if notif, err = a.prepareNotify(r, prof); err != nil {
			return fmt.Errorf("app: reload: %w", err)
		}
		defer notif.Discard() // no-op once committed
	}
	var np *pipeline
	if r.agentOn {
		if np, err = a.buildPipeline(r); err != nil {
			return fmt.Errorf("app: reload: %w", err)
		}
	}
	if prof != nil {
		notif.Commit()
		a.srv.SetProfiles(prof)
	}
	a.mu.Lock()
	a.cfg = r
	if np != nil {
		if a.pending != nil {
			_ = a.pending.close()
		}
		a.pending = np
		if !a.ran {
			// Not running yet: replace directly.
			if a.pipe != nil {
				_ = a.pipe.close()
			}
			a.pipe, a.pending = np, nil
		} else if a.stopPipe != nil {
			a.stopPipe()
		}
	}
	a.mu.Unlock()
	a.log.Info("app: configuration reloaded", "watching", len(a.Watching()))
	return nil
}

func restartNeeded(o, n *resolved) []string {
	var out []string
	chk := func(name string, changed bool) {
		if changed {
			out = append(out, name)
		}
	}
	chk("data_dir", o.DataDir != n.DataDir)
	chk("lapi.enabled", o.lapiOn != n.lapiOn)
	chk("agent.enabled", o.agentOn != n.agentOn)
	chk("lapi.listen_uri", o.LAPI.ListenURI != n.LAPI.ListenURI)
	chk("lapi.database", o.LAPI.Database != n.LAPI.Database)
	chk("ui", !reflect.DeepEqual(o.UI, n.UI))
	chk("metrics", o.Metrics.ListenAddr != n.Metrics.ListenAddr || o.metricsOn != n.metricsOn || o.Metrics.Pprof != n.Metrics.Pprof ||
		!slices.Equal(o.metricsAllowed, n.metricsAllowed) || !reflect.DeepEqual(o.Metrics.Limits, n.Metrics.Limits))
	// The server's own settings (limits, registration, login, tls,
	// trusted_ips...) are compiled when it starts.
	ol, nl := o.LAPI.Config, n.LAPI.Config
	ol.ListenURI, nl.ListenURI = "", ""
	chk("lapi (server settings)", !reflect.DeepEqual(ol, nl))
	chk("agent.lapi", o.Agent.LAPI.URL != n.Agent.LAPI.URL || o.Agent.LAPI.MachineID != n.Agent.LAPI.MachineID ||
		o.Agent.LAPI.Password != n.Agent.LAPI.Password || o.Agent.CredentialsPath != n.Agent.CredentialsPath)
	chk("agent.spool_dir", o.Agent.SpoolDir != n.Agent.SpoolDir)
	chk("agent.usage_metrics_interval", o.Agent.UsageMetricsInterval != n.Agent.UsageMetricsInterval)
	chk("capi", o.capi != n.capi)
	return out
}

// Close releases everything New opened: the agent's memory buffer goes to
// the spool, the store and listeners are closed. Idempotent.
func (a *App) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	a.removeRunState()
	pipe, pending := a.pipe, a.pending
	a.pipe, a.pending = nil, nil
	ran := a.ran
	a.mu.Unlock()
	var errs []error
	for _, p := range []*pipeline{pipe, pending} {
		if p != nil && (!ran || !p.finished()) {
			errs = append(errs, p.close())
		}
	}
	if a.agent != nil {
		errs = append(errs, a.agent.Close())
	}
	if !ran {
		a.closeNotify()
	}
	if a.client != nil {
		a.client.Close()
	}
	if !ran {
		for _, l := range []net.Listener{a.ln, a.metricsLn, a.uiLn} {
			if l != nil {
				_ = l.Close()
			}
		}
	}
	if a.st != nil {
		errs = append(errs, a.st.Close())
	}
	return errors.Join(errs...)
}

// LinesRead is how many lines the running pipeline has read since it
// started (or was last reloaded).
func (a *App) LinesRead() int64 {
	a.mu.Lock()
	p := a.pipe
	a.mu.Unlock()
	if p == nil {
		return 0
	}
	return p.linesRead()
}
