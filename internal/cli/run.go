package cli

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	daemon "github.com/phalanx-ids/phalanx/internal/app"
	"github.com/phalanx-ids/phalanx/internal/gcpolicy"
	"github.com/phalanx-ids/phalanx/internal/version"
)

type runFlags struct {
	config  string
	dataDir string
	listen  string
	noAgent bool
	noLAPI  bool
	// allowWorldWritable reads config and credentials files that any
	// local user can change (refused by default: daemon.FilePolicy).
	allowWorldWritable bool
}

func (f *runFlags) files() daemon.FilePolicy {
	return daemon.FilePolicy{AllowWorldWritable: f.allowWorldWritable}
}

func newRunCmd(a *app) *cobra.Command {
	f := &runFlags{}
	c := &cobra.Command{
		Use:   "run",
		Short: "Run the daemon: the agent (live detection) and the Local API",
		Long: `Run starts the daemon: the agent, which follows logs live and pushes the
alerts it raises, and the Local API, which stores alerts, decides, and serves
decisions to bouncers (CrowdSec's v1 protocol). With no config file it keeps
its data in /var/lib/phalanx (root) or $XDG_DATA_HOME/phalanx, uses SQLite and
the embedded content, and watches the logs of the services it recognises.

SIGHUP reloads the config file and the content (a bad config is refused and
the running one kept); SIGTERM or SIGINT stops it cleanly.

The daemon records where it serves in DATA_DIR/` + daemon.RunStateFile + ` while it runs,
so that the other commands, given the same data dir, reach it wherever it
listens. It refuses a config or credentials file that any local user can change
(world-writable, or in a world-writable folder without the sticky bit) unless
--allow-world-writable is given.`,
		Example: `  phalanx run
  phalanx run -c /etc/phalanx/phalanx.yaml
  phalanx run --data-dir /tmp/p2 --listen 127.0.0.1:8081
  phalanx run --no-lapi -c agent.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDaemon(cmd, a, f)
		},
	}
	c.Flags().StringVarP(&f.config, "config", "c", "", "config file (YAML); default: built-in defaults")
	c.Flags().StringVar(&f.dataDir, "data-dir", "", "data directory (overrides data_dir)")
	c.Flags().StringVar(&f.listen, "listen", "", "LAPI listen address host:port (overrides lapi.listen_uri)")
	c.Flags().BoolVar(&f.noAgent, "no-agent", false, "run the Local API only")
	c.Flags().BoolVar(&f.noLAPI, "no-lapi", false, "run the agent only, pushing to the LAPI of agent.lapi")
	c.Flags().BoolVar(&f.allowWorldWritable, "allow-world-writable", false, "read config and credentials files that any local user can change")
	return c
}

func (f *runFlags) load() (daemon.Config, error) {
	var cfg daemon.Config
	if f.config != "" {
		var err error
		if cfg, err = daemon.LoadConfig(f.config, f.files()); err != nil {
			return cfg, err
		}
	}
	daemon.Overrides{DataDir: f.dataDir, Listen: f.listen, NoAgent: f.noAgent, NoLAPI: f.noLAPI}.Apply(&cfg)
	return cfg, nil
}

func runDaemon(cmd *cobra.Command, a *app, f *runFlags) error {
	if f.noAgent && f.noLAPI {
		return &usageError{fmt.Errorf("--no-agent and --no-lapi together leave nothing to run")}
	}
	cfg, err := f.load()
	if err != nil {
		return err
	}
	defer gcpolicy.Apply(cfg.GCPolicy())()
	var log *slog.Logger
	if cmd.Flags().Changed("log-level") || cmd.Root().PersistentFlags().Changed("log-level") {
		log = a.logger()
	} else {
		lvl := slog.LevelInfo
		_ = lvl.UnmarshalText([]byte(cfg.LogLevel))
		log = slog.New(slog.NewTextHandler(a.err, &slog.HandlerOptions{Level: lvl}))
	}
	d, err := daemon.New(cfg, daemon.WithLogger(log), daemon.WithUserAgent(version.UserAgent()), daemon.WithFilePolicy(f.files()))
	if err != nil {
		return err
	}
	defer d.Close()
	if u := d.LAPIURL(); u != "" {
		fmt.Fprintf(a.out, "Local API listening on %s\n", u)
	}
	if u := d.MetricsURL(); u != "" {
		fmt.Fprintf(a.out, "Metrics on %s\n", u)
	}
	if u := d.DashboardURL(); u != "" {
		fmt.Fprintf(a.out, "Dashboard on %s\n", u)
		if us, err := d.Store().ListDashboardUsers(cmd.Context()); err == nil && len(us) == 0 {
			fmt.Fprintln(a.out, "No dashboard user yet: create one with `phalanx dashboard users add NAME --role admin`")
		}
	}
	if !f.noAgent && (cfg.Agent.Enabled == nil || *cfg.Agent.Enabled) {
		ws := d.Watching()
		if len(ws) == 0 {
			fmt.Fprintln(a.out, "Watching nothing: no acquisition configured and no known log found")
		}
		for _, w := range ws {
			fmt.Fprintf(a.out, "Watching %s\n", w)
		}
	}

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				ncfg, err := f.load()
				if err == nil {
					err = d.Reload(ncfg)
				}
				if err != nil {
					log.Error("reload refused, keeping the running configuration", "err", err)
					continue
				}
				log.Info("reloaded", "watching", d.Watching())
			}
		}
	}()
	if err := d.Run(ctx); err != nil {
		return err
	}
	return d.Close()
}
