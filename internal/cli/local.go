package cli

// The wiring of the LAPI-side nouns (machines, bouncers, decisions, alerts,
// allowlists, simulation, metrics) to the local install: where the data dir,
// the database, the machine credentials, simulation.yaml and the metrics
// endpoint are. Everything about the daemon's layout is in this one file:
// -c reads the daemon's config (internal/app, strictly), and the flags
// --data-dir, --db, --lapi-url and --credentials override it.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/phalanx-ids/phalanx/internal/apiclient"
	daemon "github.com/phalanx-ids/phalanx/internal/app"
	"github.com/phalanx-ids/phalanx/internal/capi"
	"github.com/phalanx-ids/phalanx/internal/lapi"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/store/backends"
	"github.com/phalanx-ids/phalanx/internal/version"
)

// File names inside the data dir (the daemon's defaults).
const (
	dbFileName         = "phalanx.db"
	simulationFileName = "simulation.yaml"
	defaultLAPIURL     = "http://" + lapi.DefaultListen + "/"
)

// localFlags are the flags every LAPI-side noun takes (persistent on the noun).
type localFlags struct {
	config      string
	dataDir     string
	db          string
	lapiURL     string
	credentials string
	output      string
	// allowWorldWritable reads config and credentials files that any
	// local user can change (refused by default: daemon.FilePolicy).
	allowWorldWritable bool
}

func (f *localFlags) register(c *cobra.Command) {
	p := c.PersistentFlags()
	p.StringVarP(&f.config, "config", "c", "", "daemon config file (phalanx run -c)")
	p.StringVar(&f.dataDir, "data-dir", "", "data directory (default /var/lib/phalanx as root, else $XDG_DATA_HOME/phalanx)")
	p.StringVar(&f.db, "db", "", "database: a SQLite file path or a postgres:// DSN (default DATA_DIR/"+dbFileName+")")
	p.StringVar(&f.lapiURL, "lapi-url", "", "Local API URL (default: the url of the credentials file)")
	p.StringVar(&f.credentials, "credentials", "", "machine credentials file (url, login, password; default DATA_DIR/"+daemon.CredentialsFile+")")
	p.StringVarP(&f.output, "output", "o", "human", "output format: human, json, raw")
	p.BoolVar(&f.allowWorldWritable, "allow-world-writable", false, "read config and credentials files that any local user can change")
}

// localEnv is the resolved install: plain data.
type localEnv struct {
	DataDir     string
	DB          backends.Config // --db, else the config file's lapi.database
	LAPIURL     string          // "" = the url of the credentials file (see lapiURL)
	Credentials string
	Simulation  string
	MetricsURL  string
	// CAPI is the daemon's capi section, resolved (credentials and console paths).
	CAPI   capi.Resolved
	Output string
	Files  daemon.FilePolicy
}

func pick(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// httpURL is a URL on a listen address (a wildcard host becomes loopback).
func httpURL(scheme, listen, path string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return scheme + "://" + listen + path
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + path
}

// resolve applies, by precedence, the flags, the daemon config file (-c)
// and the daemon's defaults.
func (f *localFlags) resolve() (localEnv, error) {
	switch f.output {
	case "human", "json", "raw":
	default:
		return localEnv{}, &usageError{fmt.Errorf("output format %q: want human, json or raw", f.output)}
	}
	var file localEnv
	var capiCfg capi.Config
	files := daemon.FilePolicy{AllowWorldWritable: f.allowWorldWritable}
	scheme, listen, metricsListen := "http", lapi.DefaultListen, ""
	if f.config != "" {
		cfg, err := daemon.LoadConfig(f.config, files)
		if err != nil {
			return localEnv{}, err
		}
		file.DataDir = cfg.DataDir
		file.DB = cfg.LAPI.Database
		if cfg.LAPI.TLS.Enabled() {
			scheme = "https"
		}
		if cfg.LAPI.ListenURI != "" {
			listen = cfg.LAPI.ListenURI
			file.LAPIURL = httpURL(scheme, listen, "/")
		}
		file.Credentials = cfg.Agent.CredentialsPath
		capiCfg = cfg.CAPI
		file.Simulation = cfg.LAPI.SimulationPath
		metricsListen = cfg.Metrics.ListenAddr
	}
	e := localEnv{Output: f.output, Files: files}
	e.DataDir = pick(f.dataDir, file.DataDir, daemon.DefaultDataDir())
	e.DB = file.DB
	if f.db != "" {
		e.DB = backends.FromTarget(f.db)
	}
	if k, _ := e.DB.Kind(); k == backends.SQLite {
		e.DB.DBPath = pick(e.DB.DBPath, filepath.Join(e.DataDir, dbFileName))
	}
	e.Credentials = pick(f.credentials, file.Credentials, filepath.Join(e.DataDir, daemon.CredentialsFile))
	e.Simulation = pick(file.Simulation, filepath.Join(e.DataDir, simulationFileName))
	var err error
	if e.CAPI, err = capiCfg.Resolve(e.DataDir); err != nil {
		return localEnv{}, err
	}
	// A daemon running on the data dir says where it serves (phalanx run
	// --listen ...): that beats the config's guess, but not a flag, nor the
	// url of a credentials file given explicitly (another LAPI's).
	run, running := daemon.ReadRunState(e.DataDir)
	switch {
	case f.lapiURL != "":
		e.LAPIURL = f.lapiURL
	case running && run.LAPIURL != "" && f.credentials == "":
		e.LAPIURL = run.LAPIURL
	default:
		e.LAPIURL = file.LAPIURL
	}
	switch {
	case running && run.MetricsURL != "":
		e.MetricsURL = run.MetricsURL
	case metricsListen != "":
		e.MetricsURL = httpURL("http", metricsListen, "/metrics")
	case f.config != "":
		e.MetricsURL = httpURL(scheme, listen, "/metrics")
	default:
		// The daemon serves /metrics on the LAPI listener by default.
		e.MetricsURL = strings.TrimSuffix(e.lapiURL(), "/") + "/metrics"
	}
	return e, nil
}

// openStore opens the local database (--db: a postgres:// URL or a SQLite
// file, internal/store/backends's rules; else the config's lapi.database). A missing SQLite file is an error
// (the CLI does not create a database the daemon has never opened).
func (e localEnv) openStore(ctx context.Context) (store.Store, error) {
	c := e.DB
	c.MaxOpenConns = 2
	if k, _ := c.Kind(); k == backends.SQLite {
		c.MaxOpenConns = 1
		if _, err := os.Stat(c.DBPath); err != nil {
			return nil, fmt.Errorf("database %s: %w (start the daemon once, or give --data-dir/--db)", c.DBPath, err)
		}
	}
	return backends.Open(ctx, c)
}

// credentials reads the install's machine credentials (login and
// password required).
func (e localEnv) credentials() (daemon.Credentials, error) {
	c, err := daemon.ReadCredentials(e.Credentials, e.Files)
	if err != nil {
		return c, err
	}
	if c.Login == "" || c.Password == "" {
		return c, fmt.Errorf("credentials %s: login and password are required", e.Credentials)
	}
	return c, nil
}

// lapiURL is the Local API's URL: --lapi-url, else the running daemon's,
// else the config's, else the url of the credentials file, else the
// default.
func (e localEnv) lapiURL() string {
	cr, _ := daemon.ReadCredentials(e.Credentials, e.Files)
	return pick(e.LAPIURL, cr.URL, defaultLAPIURL)
}

// client builds a LAPI client with the machine credentials of the install.
func (e localEnv) client(a *app) (*apiclient.Client, daemon.Credentials, error) {
	c, err := e.credentials()
	if err != nil {
		return nil, c, err
	}
	cl, err := apiclient.New(apiclient.Config{
		URL: pick(e.LAPIURL, c.URL, defaultLAPIURL), MachineID: c.Login, Password: apiclient.Secret(c.Password),
		UserAgent: "phalanx-cli/" + version.Get().Version, Retry: apiclient.RetryConfig{MaxAttempts: 2},
	}, apiclient.WithLogger(a.logger()))
	if err != nil {
		return nil, c, err
	}
	return cl, c, nil
}

// withStore resolves the install, opens its database, and runs fn.
func withStore(cmd *cobra.Command, f *localFlags, fn func(ctx context.Context, e localEnv, st store.Store) error) error {
	e, err := f.resolve()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	st, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(ctx, e, st)
}

// withClient resolves the install, builds the LAPI client, and runs fn.
func withClient(cmd *cobra.Command, a *app, f *localFlags, fn func(ctx context.Context, e localEnv, cl *apiclient.Client, login string) error) error {
	e, err := f.resolve()
	if err != nil {
		return err
	}
	cl, cr, err := e.client(a)
	if err != nil {
		return err
	}
	defer cl.Close()
	return fn(cmd.Context(), e, cl, cr.Login)
}

// notFound reports whether err means "no such object" (store or LAPI).
func notFound(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, apiclient.ErrNotFound)
}

// lapiNouns are the commands about the Local API's state.
func lapiNouns(a *app) []*cobra.Command {
	return []*cobra.Command{newMachinesCmd(a), newBouncersCmd(a), newBouncerCmd(a), newDecisionsCmd(a), newAlertsCmd(a),
		newAllowlistsCmd(a), newSimulationCmd(a), newMetricsCmd(a), newCAPICmd(a), newConsoleCmd(a), newDashboardCmd(a)}
}
