package capi_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/capi"
	"github.com/phalanx-ids/phalanx/internal/capi/capitest"
	"github.com/phalanx-ids/phalanx/internal/capi/wire"
	"github.com/phalanx-ids/phalanx/internal/lapi"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/retry"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/store/postgres"
	"github.com/phalanx-ids/phalanx/internal/store/postgres/pgtest"
	"github.com/phalanx-ids/phalanx/internal/store/sqlite"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

const (
	agentID  = "agent-1"
	agentPW  = "agent-password-0123456789"
	bouncKey = "bouncer-key-0123456789abcdef"
)

// install is a real LAPI (SQLite file, loopback HTTP) with the CAPI
// service wired as the daemon wires it. restart() stops it and starts a
// new one on the same database file.
type install struct {
	t     *testing.T
	dir   string
	creds capi.Credentials
	set   capi.Settings
	pgDSN string // non-empty: the store is this PostgreSQL database
	// deps, if set, adjusts the service's dependencies at every start
	// (a virtual clock).
	deps func(*capi.Deps)

	st     store.Store
	srv    *lapi.Server
	svc    *capi.Service
	comm   *capi.Community
	url    string
	cancel context.CancelFunc
	done   chan struct{}
}

// newInstall registers an install at central and starts it (the service
// runs unless run is false: tests then call PushNow / PullNow).
func newInstall(t *testing.T, central *capitest.Server, run bool, tweak func(*capi.Settings)) *install {
	t.Helper()
	return newInstallOn(t, central, run, "", tweak)
}

// newInstallOn is newInstall on a PostgreSQL database (dsn) or, with "",
// a SQLite file.
func newInstallOn(t *testing.T, central *capitest.Server, run bool, dsn string, tweak func(*capi.Settings)) *install {
	t.Helper()
	return newInstallAt(t, central.URL(), run, dsn, tweak, nil)
}

// newInstallAt registers an install at the central at url (a capitest
// server, or a real central) and starts it; deps adjusts the service's
// dependencies.
func newInstallAt(t *testing.T, url string, run bool, dsn string, tweak func(*capi.Settings), deps func(*capi.Deps)) *install {
	t.Helper()
	dir := t.TempDir()
	creds, err := capi.Register(context.Background(), url, filepath.Join(dir, capi.CredentialsFile), false, capi.ClientOptions{})
	require.NoError(t, err)
	in := &install{t: t, dir: dir, creds: creds, pgDSN: dsn, deps: deps}
	in.set = capi.Settings{Credentials: creds, Consent: capi.DefaultConsent(), Sharing: true, PullCommunity: true,
		PullBlocklists: true, PushRetry: retry.Policy{Base: 50 * time.Millisecond, Max: 300 * time.Millisecond}}
	if tweak != nil {
		tweak(&in.set)
	}
	in.start(run)
	return in
}

func (in *install) start(run bool) {
	t := in.t
	ctx := context.Background()
	var st store.Store
	var err error
	if in.pgDSN != "" {
		st, err = postgres.Open(ctx, postgres.Config{DSN: in.pgDSN})
	} else {
		st, err = sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(in.dir, "phalanx.db")})
	}
	require.NoError(t, err)
	in.st = st
	if _, err := st.GetMachine(ctx, agentID); err != nil {
		h, err := bcrypt.GenerateFromPassword([]byte(agentPW), bcrypt.MinCost)
		require.NoError(t, err)
		require.NoError(t, st.CreateMachine(ctx, &store.Machine{ID: agentID, PasswordHash: string(h), IsValidated: true, AuthType: "password"}))
		require.NoError(t, st.CreateBouncer(ctx, &store.Bouncer{Name: "fw", KeyHash: store.HashAPIKey(bouncKey), AuthType: "api-key"}))
	}
	in.comm = capi.NewCommunity(nil)
	var svc *capi.Service
	share := func(ctx context.Context, m string, a []*models.Alert) error { return svc.Share(ctx, m, a) }
	deleted := func(ctx context.Context, ds []store.Decision) error { return svc.Deleted(ctx, ds) }
	usage := func(ctx context.Context, m, b string, u *models.AllMetrics) error {
		return svc.UsageReceived(ctx, m, b, u)
	}
	in.srv, err = lapi.New(lapi.Config{}, lapi.Deps{Store: st, Share: share, Deleted: deleted, Usage: usage})
	require.NoError(t, err)
	d := capi.Deps{Store: st, Allowlists: in.srv.Allowlists(), Refused: in.srv.Refused,
		Synced: in.srv.Sync, Community: in.comm, Scenarios: func() []string { return []string{"crowdsecurity/ssh-bf"} }}
	if in.deps != nil {
		in.deps(&d)
	}
	svc, err = capi.New(in.set, d)
	require.NoError(t, err)
	in.svc = svc
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	in.url = "http://" + ln.Addr().String() + "/"
	rctx, cancel := context.WithCancel(ctx)
	in.cancel, in.done = cancel, make(chan struct{})
	srv := in.srv
	go func() {
		defer close(in.done)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = srv.Run(rctx, ln)
		}()
		if run {
			_ = svc.Run(rctx)
		}
		wg.Wait()
	}()
	t.Cleanup(in.stop)
}

func (in *install) stop() {
	if in.cancel == nil {
		return
	}
	in.cancel()
	testutil.Recv(in.t, in.done, "the install stops")
	in.cancel = nil
	require.NoError(in.t, in.st.Close())
}

func (in *install) restart(run bool) {
	in.stop()
	in.start(run)
}

func (in *install) agent() *apiclient.Client {
	c, err := apiclient.New(apiclient.Config{URL: in.url, UserAgent: "crowdsec/v1.7.5", MachineID: agentID,
		Password: apiclient.Secret(agentPW), Retry: apiclient.RetryConfig{MaxAttempts: 1}})
	require.NoError(in.t, err)
	in.t.Cleanup(c.Close)
	return c
}

func (in *install) bouncer() *apiclient.Client {
	c, err := apiclient.New(apiclient.Config{URL: in.url, UserAgent: "cs-firewall-bouncer/v0.0.31",
		APIKey: apiclient.Secret(bouncKey), Retry: apiclient.RetryConfig{MaxAttempts: 1}})
	require.NoError(in.t, err)
	in.t.Cleanup(c.Close)
	return c
}

func sp(s string) *string { return &s }

// pg is the package run's PostgreSQL server (PHALANX_TEST_PG_DSN, or one
// started by scripts/pg.sh on first use, stopped by TestMain).
var pg pgtest.Server

func TestMain(m *testing.M) {
	code := m.Run()
	if err := pg.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// alert is an agent's alert on ip (hub scenario with hash and version).
func alert(uuid, ip, scenario string) *models.Alert {
	now := time.Now().UTC().Format(time.RFC3339)
	n, f := int32(5), false
	return &models.Alert{UUID: uuid, Scenario: sp(scenario), ScenarioHash: sp("abc123"), ScenarioVersion: sp("0.3"),
		Message: sp("Ip " + ip + " performed " + scenario), EventsCount: &n, StartAt: &now, StopAt: &now,
		Capacity: &n, Leakspeed: sp("10s"), Simulated: &f, Events: []*models.Event{}, Remediation: true,
		Source: &models.Source{Scope: sp("Ip"), Value: sp(ip), IP: ip}, Kind: "crowdsec"}
}

func uuids(sigs []wire.Signal) map[string]int {
	m := map[string]int{}
	for _, s := range sigs {
		m[s.UUID]++
	}
	return m
}

func ipN(i int) string { return fmt.Sprintf("198.51.%d.%d", 100+i/250, 1+i%250) }
