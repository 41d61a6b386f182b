// Package bouncertest runs a real Phalanx LAPI (internal/app, LAPI only,
// SQLite in a temp dir, loopback port) for bouncer tests, with helpers to
// create bouncer keys and add or delete decisions over the LAPI protocol
// as cscli does, and a Flaky proxy in front of it that can answer errors,
// answer slowly or drop connections.
package bouncertest

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/app"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
)

// LAPI is a running Phalanx LAPI.
//
// Concurrency: its methods may be called from several goroutines.
type LAPI struct {
	// URL is the LAPI's base URL, e.g. http://127.0.0.1:41234/.
	URL     string
	App     *app.App
	machine *apiclient.Client
}

// StartLAPI starts `phalanx run` with only the LAPI, stopped at the end of
// the test. listen is the address ("127.0.0.1:0" when empty).
func StartLAPI(t testing.TB, listen string) *LAPI {
	t.Helper()
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	var cfg app.Config
	off := false
	cfg.DataDir = t.TempDir()
	cfg.Agent.Enabled = &off
	cfg.LAPI.ListenURI = listen
	cfg.LAPI.DisableNeverBan = true // bouncer tests ban loopback clients
	a, err := app.New(cfg, app.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("bouncertest: LAPI did not stop within 30s")
		}
		_ = a.Close()
	})
	l := &LAPI{URL: a.LAPIURL(), App: a}
	hash, err := bcrypt.GenerateFromPassword([]byte("bouncertest-password"), bcrypt.MinCost)
	require.NoError(t, err)
	require.NoError(t, a.Store().CreateMachine(context.Background(), &store.Machine{
		ID: "bouncertest", PasswordHash: string(hash), IsValidated: true, AuthType: "password",
	}))
	l.machine, err = apiclient.New(apiclient.Config{
		URL: l.URL, UserAgent: "bouncertest/1.0", MachineID: "bouncertest", Password: "bouncertest-password",
		Retry: apiclient.RetryConfig{MaxAttempts: 1},
	})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return l.machine.Health(context.Background()) == nil },
		10*time.Second, 20*time.Millisecond, "bouncertest: LAPI not healthy")
	return l
}

// BouncerKey creates a bouncer named name and returns its API key.
func (l *LAPI) BouncerKey(t testing.TB, name string) string {
	t.Helper()
	key := "bouncertest-" + name + "-0123456789abcdef0123"
	require.NoError(t, l.App.Store().CreateBouncer(context.Background(),
		&store.Bouncer{Name: name, KeyHash: store.HashAPIKey(key), AuthType: "api-key"}))
	return key
}

// Add adds decisions as `cscli decisions add` does (one manual alert per
// call): scope Ip or Range, value, type (ban...) and duration ("4h").
func (l *LAPI) Add(t testing.TB, scope, value, typ, duration string) {
	t.Helper()
	l.AddMany(t, []Dec{{Scope: scope, Value: value, Type: typ, Duration: duration}})
}

// Dec is one decision for AddMany.
type Dec struct{ Scope, Value, Type, Duration string }

// AddMany adds decisions in one alert.
func (l *LAPI) AddMany(t testing.TB, decs []Dec) {
	t.Helper()
	now := time.Now().UTC().Format(time.RFC3339)
	scenario := "manual 'ban' from 'bouncertest'"
	first := decs[0]
	a := &models.Alert{
		Scenario: &scenario, ScenarioHash: sp(""), ScenarioVersion: sp(""), Message: &scenario,
		EventsCount: i32(1), StartAt: &now, StopAt: &now, Capacity: i32(0), Leakspeed: sp("0"),
		Simulated: bp(false), Remediation: true, Kind: "cscli",
		Source: &models.Source{Scope: sp(first.Scope), Value: sp(first.Value)},
		Events: []*models.Event{},
	}
	for _, d := range decs {
		if d.Type == "" {
			d.Type = "ban"
		}
		if d.Duration == "" {
			d.Duration = "4h"
		}
		a.Decisions = append(a.Decisions, &models.Decision{
			Origin: sp("cscli"), Type: sp(d.Type), Scope: sp(d.Scope), Value: sp(d.Value),
			Duration: sp(d.Duration), Scenario: &scenario,
		})
	}
	_, err := l.machine.PushAlerts(context.Background(), []*models.Alert{a})
	require.NoError(t, err)
}

// Delete expires every decision on value (`cscli decisions delete`).
func (l *LAPI) Delete(t testing.TB, value string) {
	t.Helper()
	f := apiclient.DecisionFilter{Value: value}
	if strings.Contains(value, "/") {
		f.Scope = "Range"
	} else {
		f.Scope = "Ip"
	}
	n, err := l.machine.DeleteDecisions(context.Background(), f)
	require.NoError(t, err)
	require.Positive(t, n, "bouncertest: no decision deleted for %s", value)
}

func sp(s string) *string { return &s }
func i32(i int32) *int32  { return &i }
func bp(b bool) *bool     { return &b }

// Flaky modes.
const (
	FlakyOK    int32 = iota // forward to the LAPI
	FlakyError              // answer 503
	FlakySlow               // wait Delay, then forward
	FlakyDown               // close the connection without an answer
)

// Flaky is an HTTP proxy in front of a LAPI whose behaviour the test
// switches at run time with SetMode.
type Flaky struct {
	URL   string
	Delay time.Duration
	mode  atomic.Int32
	hits  atomic.Int64
}

// StartFlaky proxies to target on a loopback port until the test ends.
func StartFlaky(t testing.TB, target string) *Flaky {
	t.Helper()
	u, err := url.Parse(target)
	require.NoError(t, err)
	f := &Flaky{Delay: 5 * time.Second}
	rp := httputil.NewSingleHostReverseProxy(u)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		switch f.mode.Load() {
		case FlakyError:
			http.Error(w, `{"message":"flaky: unavailable"}`, http.StatusServiceUnavailable)
			return
		case FlakySlow:
			select {
			case <-time.After(f.Delay):
			case <-r.Context().Done():
				return
			}
		case FlakyDown:
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					_ = c.Close()
				}
			}
			return
		}
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	f.URL = "http://" + ln.Addr().String() + "/"
	return f
}

// SetMode switches the proxy's behaviour.
func (f *Flaky) SetMode(m int32) { f.mode.Store(m) }

// Hits counts the requests the proxy received.
func (f *Flaky) Hits() int64 { return f.hits.Load() }
