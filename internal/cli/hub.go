package cli

// `phalanx hub` and the hub-related wiring every item noun shares: where
// the install is (--data-dir, or data_dir of the daemon's config) and
// where the hub is (--hub-url, or hub.url, or CrowdSec's public hub).

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	daemon "github.com/phalanx-ids/phalanx/internal/app"
	"github.com/phalanx-ids/phalanx/internal/hub"
	"github.com/phalanx-ids/phalanx/internal/hub/install"
	"github.com/phalanx-ids/phalanx/internal/hub/source"
	"github.com/phalanx-ids/phalanx/internal/textsafe"
	"github.com/phalanx-ids/phalanx/internal/version"
)

// DefaultConfigPath is the daemon's config file as the packages install it;
// the hub commands read it when -c is not given and it exists.
const DefaultConfigPath = "/etc/phalanx/phalanx.yaml"

// hubFlags are the flags of every hub command (persistent on the noun).
type hubFlags struct {
	config  string
	dataDir string
	hubURL  string
	output  string
}

func (f *hubFlags) register(c *cobra.Command) {
	p := c.PersistentFlags()
	p.StringVarP(&f.config, "config", "c", "", "daemon config file, for data_dir and hub.url (default "+DefaultConfigPath+" when it exists)")
	p.StringVar(&f.dataDir, "data-dir", "", "data directory of the install (default /var/lib/phalanx as root, else $XDG_DATA_HOME/phalanx)")
	p.StringVar(&f.hubURL, "hub-url", "", "hub to fetch from: CrowdSec's public hub (default), or a mirror (http(s) URL or directory laid out like the hub repository)")
	p.StringVarP(&f.output, "output", "o", "human", "output format: human, json, raw")
}

// hubEnv is the resolved install and hub source.
type hubEnv struct {
	DataDir string
	HubURL  string
	Output  string
}

func (f *hubFlags) resolve() (hubEnv, error) {
	switch f.output {
	case "human", "json", "raw":
	default:
		return hubEnv{}, &usageError{fmt.Errorf("output format %q: want human, json or raw", f.output)}
	}
	var cfg daemon.Config
	path := f.config
	if path == "" {
		if _, err := os.Stat(DefaultConfigPath); err == nil {
			path = DefaultConfigPath
		}
	}
	if path != "" {
		var err error
		if cfg, err = daemon.LoadConfig(path); err != nil {
			return hubEnv{}, err
		}
	}
	return hubEnv{
		DataDir: pick(f.dataDir, cfg.DataDir, daemon.DefaultDataDir()),
		HubURL:  pick(f.hubURL, cfg.Hub.URL, source.DefaultURL),
		Output:  f.output,
	}, nil
}

// install opens the install, with its hub source.
func (e hubEnv) install() (*install.Install, error) {
	src, err := source.New(e.HubURL, source.WithUserAgent(version.UserAgent()))
	if err != nil {
		return nil, err
	}
	return install.New(e.DataDir, src), nil
}

func newHubCmd(a *app) *cobra.Command {
	f := &hubFlags{}
	c := &cobra.Command{
		Use:   "hub [action]",
		Short: "Manage the hub: its index, and every installed item at once",
		Long: `The hub is CrowdSec's catalogue of parsers, scenarios, postoverflows, alert
contexts and the collections that group them. Phalanx installs hub items in
its data dir in CrowdSec's layout (parsers/<stage>/, scenarios/, ...: links
into hub/, the downloaded files), checks every download against the index's
sha256, and the daemon runs what is installed (the embedded defaults when
nothing is). Reload the daemon after a change (systemctl reload phalanx, or
SIGHUP).`,
		Args: cobra.ArbitraryArgs,
		RunE: nounRun,
	}
	f.register(c)
	c.AddCommand(newHubUpdateCmd(a, f), newHubListCmd(a, f), newHubUpgradeCmd(a, f))
	return c
}

func newHubUpdateCmd(a *app, f *hubFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "update",
		Short: "Fetch the hub index (and the grok patterns hub parsers use)",
		Example: `  phalanx hub update
  phalanx hub update --hub-url http://mirror.example/hub`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := f.resolve()
			if err != nil {
				return err
			}
			in, err := e.install()
			if err != nil {
				return err
			}
			res, err := in.Update(cmd.Context())
			if err != nil {
				return err
			}
			switch e.Output {
			case "json":
				return writeJSON(a.out, map[string]any{"url": e.HubURL, "items": res.Items, "changed": res.Changed, "patterns_fetched": res.Patterns})
			case "raw":
				return writeCSV(a.out, []string{"url", "items", "changed", "patterns_fetched"},
					[][]string{{e.HubURL, fmt.Sprint(res.Items), fmt.Sprint(res.Changed), fmt.Sprint(res.Patterns)}})
			}
			what := "already up to date"
			if res.Changed {
				what = "updated"
			}
			fmt.Fprintf(a.out, "Hub index %s: %d items from %s\n", what, res.Items, textsafe.Terminal(e.HubURL))
			return nil
		},
	}
}

func newHubListCmd(a *app, f *hubFlags) *cobra.Command {
	var all bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List the installed items of every type (-a: every item of the index)",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return listItems(a, f, hub.Types, nil, all)
		},
	}
	c.Flags().BoolVarP(&all, "all", "a", false, "list every item of the index, installed or not")
	return c
}

func newHubUpgradeCmd(a *app, f *hubFlags) *cobra.Command {
	var o changeOpts
	c := &cobra.Command{
		Use:   "upgrade",
		Short: "Upgrade every installed item to the index's version, and refresh data files",
		Long: `Upgrade brings every installed hub item to the version of the cached index
(run "phalanx hub update" first), installs what upgraded collections now list,
and refreshes the data files (GeoIP databases, lists) with conditional
requests. Tainted items (edited locally) are left as they are unless --force.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return changeItems(cmd.Context(), a, f, o, func(in *install.Install, st *install.State) (*install.Plan, error) {
				return in.PlanUpgrade(st, installedRefs(st, ""), o.force)
			})
		},
	}
	o.register(c, false)
	return c
}

// changeOpts are the flags of install, remove and upgrade.
type changeOpts struct {
	force, dryRun, all bool
}

func (o *changeOpts) register(c *cobra.Command, withAll bool) {
	c.Flags().BoolVar(&o.force, "force", false, "overwrite tainted items, replace local files, remove items a collection needs")
	c.Flags().BoolVar(&o.dryRun, "dry-run", false, "print the plan, change nothing")
	if withAll {
		c.Flags().BoolVar(&o.all, "all", false, "every installed item of the type")
	}
}

// changeItems plans with plan, prints the plan, and applies it unless
// --dry-run.
func changeItems(ctx context.Context, a *app, f *hubFlags, o changeOpts, plan func(*install.Install, *install.State) (*install.Plan, error)) error {
	e, err := f.resolve()
	if err != nil {
		return err
	}
	in, err := e.install()
	if err != nil {
		return err
	}
	st, err := in.PlanningState(ctx, o.dryRun)
	if err != nil {
		return err
	}
	p, err := plan(in, st)
	if err != nil {
		return err
	}
	res := &install.Result{}
	if !o.dryRun {
		if res, err = in.Apply(ctx, p); err != nil {
			return err
		}
	}
	if err := printChange(a, e.Output, o.dryRun, p, res); err != nil {
		return err
	}
	if len(res.DataErrors) > 0 {
		return fmt.Errorf("hub: %d data file(s) could not be fetched (the items are installed; run the command again to retry): %s",
			len(res.DataErrors), strings.Join(res.DataErrors, "; "))
	}
	return nil
}

var actionWords = map[string]string{install.Download: "downloading", install.Enable: "enabling", install.Disable: "disabling"}

func printChange(a *app, output string, dryRun bool, p *install.Plan, res *install.Result) error {
	actions := p.Actions
	if !dryRun {
		actions = res.Actions
	}
	switch output {
	case "json":
		return writeJSON(a.out, map[string]any{"dry_run": dryRun, "actions": nonNil(actions), "notes": nonNil(p.Notes),
			"data": nonNil(res.Data), "data_errors": nonNil(res.DataErrors)})
	case "raw":
		rows := make([][]string, 0, len(actions))
		for _, x := range actions {
			rows = append(rows, []string{x.Kind, x.Type, x.Name, x.Version})
		}
		return writeCSV(a.out, []string{"action", "type", "name", "version"}, rows)
	}
	if dryRun {
		fmt.Fprintln(a.out, "Dry run: nothing is changed. The plan:")
	}
	for _, x := range actions {
		line := actionWords[x.Kind] + " " + x.Type + ":" + x.Name
		if x.Version != "" && x.Kind != install.Disable {
			line += " (" + x.Version + ")"
		}
		fmt.Fprintln(a.out, textsafe.Terminal(line))
	}
	for _, d := range res.Data {
		if d.Status != install.DataPresent {
			fmt.Fprintln(a.out, textsafe.Terminal("data file "+d.File+": "+d.Status+" ("+d.URL+")"))
		}
	}
	for _, n := range p.Notes {
		fmt.Fprintln(a.out, textsafe.Terminal("note: "+n))
	}
	switch {
	case len(actions) == 0 && len(p.Notes) == 0 && !dataChanged(res):
		fmt.Fprintln(a.out, "Nothing to do.")
	case !dryRun && (len(actions) > 0 || dataChanged(res)):
		fmt.Fprintln(a.out, "Reload the daemon to apply: systemctl reload phalanx (or send it SIGHUP).")
	}
	return nil
}

func dataChanged(res *install.Result) bool {
	for _, d := range res.Data {
		if d.Status == install.DataFetched {
			return true
		}
	}
	return false
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// scanInstall resolves the install and reads its state (no network).
func scanInstall(f *hubFlags) (hubEnv, *install.State, error) {
	e, err := f.resolve()
	if err != nil {
		return e, nil, err
	}
	st, err := install.New(e.DataDir, nil).Scan()
	if err != nil {
		return e, nil, err
	}
	return e, st, nil
}
