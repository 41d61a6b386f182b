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
	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/apiclient"
	daemon "github.com/phalanx-ids/phalanx/internal/app"
	"github.com/phalanx-ids/phalanx/internal/lapi"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/store/postgres"
	"github.com/phalanx-ids/phalanx/internal/store/sqlite"
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
}

func (f *localFlags) register(c *cobra.Command) {
	p := c.PersistentFlags()
	p.StringVarP(&f.config, "config", "c", "", "daemon config file (phalanx run -c)")
	p.StringVar(&f.dataDir, "data-dir", "", "data directory (default /var/lib/phalanx as root, else $XDG_DATA_HOME/phalanx)")
	p.StringVar(&f.db, "db", "", "database: a SQLite file path or a postgres:// DSN (default DATA_DIR/"+dbFileName+")")
	p.StringVar(&f.lapiURL, "lapi-url", "", "Local API URL (default: the url of the credentials file)")
	p.StringVar(&f.credentials, "credentials", "", "machine credentials file (url, login, password; default DATA_DIR/"+daemon.CredentialsFile+")")
	p.StringVarP(&f.output, "output", "o", "human", "output format: human, json, raw")
}

// localEnv is the resolved install: plain data.
type localEnv struct {
	DataDir     string
	DB          string // SQLite path or postgres DSN
	LAPIURL     string // "" = the url of the credentials file
	Credentials string
	Simulation  string
	MetricsURL  string
	Output      string
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
	scheme, listen, metricsListen := "http", lapi.DefaultListen, ""
	if f.config != "" {
		cfg, err := daemon.LoadConfig(f.config)
		if err != nil {
			return localEnv{}, err
		}
		file.DataDir = cfg.DataDir
		switch db := cfg.LAPI.Database; db.Type {
		case "postgres", "postgresql", "pgx":
			file.DB = db.DSN
		default:
			file.DB = db.DBPath
		}
		if cfg.LAPI.TLS.Enabled() {
			scheme = "https"
		}
		if cfg.LAPI.ListenURI != "" {
			listen = cfg.LAPI.ListenURI
			file.LAPIURL = httpURL(scheme, listen, "/")
		}
		file.Credentials = cfg.Agent.CredentialsPath
		file.Simulation = cfg.LAPI.SimulationPath
		metricsListen = cfg.Metrics.ListenAddr
	}
	e := localEnv{Output: f.output}
	e.DataDir = pick(f.dataDir, file.DataDir, daemon.DefaultDataDir())
	e.DB = pick(f.db, file.DB, filepath.Join(e.DataDir, dbFileName))
	e.LAPIURL = pick(f.lapiURL, file.LAPIURL)
	e.Credentials = pick(f.credentials, file.Credentials, filepath.Join(e.DataDir, daemon.CredentialsFile))
	e.Simulation = pick(file.Simulation, filepath.Join(e.DataDir, simulationFileName))
	switch {
	case metricsListen != "":
		e.MetricsURL = httpURL("http", metricsListen, "/metrics")
	case f.config != "":
		e.MetricsURL = httpURL(scheme, listen, "/metrics")
	default:
		// The daemon serves /metrics on the LAPI listener by default, and
		// keeps that listener's URL in its credentials file.
		e.MetricsURL = httpURL(scheme, listen, "/metrics")
		if cr, err := readCredentials(e.Credentials); err == nil && cr.URL != "" {
			e.MetricsURL = strings.TrimSuffix(cr.URL, "/") + "/metrics"
		}
	}
	return e, nil
}

func isPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// openStore opens the local database. A missing SQLite file is an error
// (the CLI does not create a database the daemon has never opened).
func (e localEnv) openStore(ctx context.Context) (store.Store, error) {
	if isPostgres(e.DB) {
		return postgres.Open(ctx, postgres.Config{DSN: e.DB, MaxConns: 2})
	}
	if _, err := os.Stat(e.DB); err != nil {
		return nil, fmt.Errorf("database %s: %w (start the daemon once, or give --data-dir/--db)", e.DB, err)
	}
	return sqlite.Open(ctx, sqlite.Config{Path: e.DB, MaxReaders: 1})
}

// credentials is the machine credentials file (CrowdSec's local_api_credentials.yaml).
type credentials struct {
	URL      string `yaml:"url" json:"url"`
	Login    string `yaml:"login" json:"login"`
	Password string `yaml:"password" json:"password"`
}

func readCredentials(path string) (credentials, error) {
	var c credentials
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("credentials: %w", err)
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("credentials %s: %w", path, err)
	}
	if c.Login == "" || c.Password == "" {
		return c, fmt.Errorf("credentials %s: login and password are required", path)
	}
	return c, nil
}

// client builds a LAPI client with the machine credentials of the install.
func (e localEnv) client(a *app) (*apiclient.Client, credentials, error) {
	c, err := readCredentials(e.Credentials)
	if err != nil {
		return nil, c, err
	}
	if e.LAPIURL != "" {
		c.URL = e.LAPIURL
	}
	if c.URL == "" {
		c.URL = defaultLAPIURL
	}
	cl, err := apiclient.New(apiclient.Config{
		URL: c.URL, MachineID: c.Login, Password: apiclient.Secret(c.Password),
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
	return []*cobra.Command{newMachinesCmd(a), newBouncersCmd(a), newDecisionsCmd(a), newAlertsCmd(a),
		newAllowlistsCmd(a), newSimulationCmd(a), newMetricsCmd(a)}
}
