package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/phalanx-ids/phalanx/internal/setup"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/store/backends"
	"github.com/phalanx-ids/phalanx/internal/textsafe"
	"github.com/phalanx-ids/phalanx/internal/version"
	"github.com/phalanx-ids/phalanx/packaging"
)

type setupFlags struct {
	yes, dryRun, noFirewall, force bool
	output, root, hubURL           string
	rules                          []string
}

func newSetupCmd(a *app) *cobra.Command {
	f := &setupFlags{}
	c := &cobra.Command{
		Use:   "setup",
		Short: "Detect the services of this machine and set up Phalanx to protect them",
		Long: `Setup looks at the machine (systemd units, running processes, listening
ports, configuration and log files; journald when logs are only there) for
the services it knows (sshd, nginx, apache2, caddy, traefik, haproxy, mysql,
mariadb, postgresql, postfix, dovecot, vsftpd, proftpd: see --rules), then
proposes a plan and, once you agree, carries it out:

  - the binary in /usr/local/bin/phalanx (unless phalanx is in /usr/bin or
    /usr/local/bin already) and /etc/phalanx/phalanx.yaml (if missing);
  - the hub collections that cover each service, in the data dir;
  - one acquisition file per service in /etc/phalanx/acquis.d/;
  - the firewall bouncer: its API key registered in the Local API's
    database, its config in /etc/phalanx/bouncers/firewall.yaml;
  - the systemd units phalanx.service and phalanx-firewall-bouncer.service,
    enabled and started.

It is idempotent: a second run changes nothing; a file you changed is left
alone (--force replaces it). With --root DIR it works on the machine whose
root is DIR (an image, a container's tree): files are written under DIR and
units enabled with wants/ links, without running systemctl; live processes
and ports are read only when the root is /.`,
		Example: `  sudo phalanx setup
  sudo phalanx setup --yes
  phalanx setup --dry-run
  phalanx setup -o yaml                  # what was detected, as data
  phalanx setup --root /mnt/image --yes --hub-url http://mirror/hub`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runSetup(cmd.Context(), a, f) },
	}
	c.Flags().BoolVarP(&f.yes, "yes", "y", false, "apply the plan without asking")
	c.Flags().BoolVar(&f.dryRun, "dry-run", false, "print the plan, change nothing")
	c.Flags().StringVarP(&f.output, "output", "o", "human", "human; yaml or json print what was detected, as data, and change nothing")
	c.Flags().StringVar(&f.root, "root", "/", "root directory of the machine to set up")
	c.Flags().StringVar(&f.hubURL, "hub-url", "", "hub to fetch collections from (default: hub.url of the config, else CrowdSec's public hub)")
	c.Flags().StringArrayVar(&f.rules, "rules", nil, "detection rules file extending the built-in ones (repeatable; format: `phalanx setup rules`)")
	c.Flags().BoolVar(&f.noFirewall, "no-firewall-bouncer", false, "do not set up the firewall bouncer")
	c.Flags().BoolVar(&f.force, "force", false, "replace files that differ from what setup writes")
	c.AddCommand(&cobra.Command{
		Use:   "rules",
		Short: "Print the built-in detection rules (the format of --rules files)",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			_, err := a.out.Write(setup.DefaultRulesYAML())
			return err
		},
	})
	return c
}

func runSetup(ctx context.Context, a *app, f *setupFlags) error {
	switch f.output {
	case "human", "yaml", "json":
	default:
		return &usageError{fmt.Errorf("output format %q: want human, yaml or json", f.output)}
	}
	root, err := filepath.Abs(f.root)
	if err != nil {
		return err
	}
	if st, err := os.Stat(root); err != nil || !st.IsDir() {
		return &usageError{fmt.Errorf("--root %s: not a directory", root)}
	}
	rules, err := setup.LoadRules(f.rules...)
	if err != nil {
		return err
	}
	m := setup.NewMachine(root)
	if f.output != "human" {
		d := setup.Detect(m, rules)
		if f.output == "json" {
			return writeJSON(a.out, d)
		}
		_, err := a.out.Write(d.YAML())
		return err
	}
	exe, _ := os.Executable()
	p, err := setup.NewPlan(ctx, setup.Options{
		Machine: m, Rules: rules, HubURL: f.hubURL, Firewall: !f.noFirewall, Force: f.force,
		Executable: exe, Bouncers: func(db setup.DB) setup.Registrar { return storeRegistrar{db} },
		UserAgent: version.UserAgent(),
	})
	if err != nil {
		return err
	}
	printDetection(a, p.Detection)
	if p.Empty() {
		for _, n := range p.Notes {
			fmt.Fprintln(a.out, textsafe.Terminal("note: "+n))
		}
		fmt.Fprintln(a.out, "\nNothing to do: this machine is set up.")
		printProtected(a, p)
		return nil
	}
	printPlan(a, p)
	if f.dryRun {
		fmt.Fprintln(a.out, "\nDry run: nothing was changed.")
		return nil
	}
	if !f.yes && !confirm(a, "\nApply this plan?") {
		return errors.New("setup: not confirmed: nothing was changed (--yes applies without asking)")
	}
	res, err := p.Apply(ctx)
	if res != nil {
		fmt.Fprintln(a.out)
		for _, d := range res.Done {
			fmt.Fprintln(a.out, textsafe.Terminal("done: "+d))
		}
		for _, w := range res.Warnings {
			fmt.Fprintln(a.out, textsafe.Terminal("warning: "+w))
		}
	}
	if err != nil {
		return err
	}
	printProtected(a, p)
	return nil
}

func printDetection(a *app, d *setup.Detection) {
	live := "processes and ports: not read under --root"
	if d.Live {
		live = "processes and ports: read"
	}
	fmt.Fprintf(a.out, "Detected on %s (%s; journald: %s):\n", textsafe.Terminal(d.Root), live, yesNo(d.Journald))
	t := &table{header: []string{"Service", "Evidence", "Collections"}}
	for _, s := range d.Services {
		t.add(s.Name, strings.Join(s.Evidence, ", "), strings.Join(s.Collections, ", "))
	}
	t.render(a.out)
	for _, s := range d.Services {
		for _, w := range s.Warnings {
			fmt.Fprintln(a.out, textsafe.Terminal("warning: "+s.Name+": "+w))
		}
	}
}

func printPlan(a *app, p *setup.Plan) {
	fmt.Fprintln(a.out, "\nThe plan:")
	step := func(format string, args ...any) {
		fmt.Fprintln(a.out, textsafe.Terminal("  - "+fmt.Sprintf(format, args...)))
	}
	if p.CopyBinary {
		step("install this binary as %s", p.Binary)
	}
	for _, f := range p.Files {
		verb := "write"
		if f.Replace {
			verb = "replace"
		}
		step("%s %s (%s)", verb, f.Path, f.What)
	}
	if !p.Hub.Empty() {
		n := 0
		for _, x := range p.Hub.Actions {
			if x.Kind == "enable" {
				n++
			}
		}
		step("install the hub collections %s (%d items) in %s", strings.Join(p.Collections, ", "), n, p.DataDir)
	}
	if b := p.Bouncer; b != nil {
		if b.Key != "" {
			step("register the firewall bouncer %s with the key of %s", b.Name, b.Config)
		} else {
			step("register the firewall bouncer %s with a new API key, written to %s", b.Name, b.Config)
		}
	}
	for _, s := range []struct {
		word  string
		units []string
	}{{"enable", p.Enable}, {"start", p.Start}, {"reload", p.Reload}, {"restart", p.Restart}} {
		if len(s.units) > 0 {
			step("%s %s", s.word, strings.Join(s.units, ", "))
		}
	}
	for _, n := range append(append([]string{}, p.Hub.Notes...), p.Notes...) {
		fmt.Fprintln(a.out, textsafe.Terminal("  note: "+n))
	}
}

func printProtected(a *app, p *setup.Plan) {
	fmt.Fprintln(a.out, "\nProtected now:")
	for _, l := range p.Protected() {
		fmt.Fprintln(a.out, textsafe.Terminal("  "+l))
	}
	fmt.Fprintf(a.out, `
Check it:
  systemctl status phalanx phalanx-firewall-bouncer
  phalanx metrics -c %[1]s          # lines read and parsed, alerts, decisions
  phalanx decisions list -c %[1]s   # who is banned
  phalanx hub list -c %[1]s         # the installed hub items
`, packaging.ConfigPath)
}

// storeRegistrar registers bouncers in the LAPI's database (SQLite file or
// PostgreSQL), as `phalanx bouncers add` does.
type storeRegistrar struct{ db setup.DB }

func (r storeRegistrar) open(ctx context.Context) (store.Store, error) {
	c := r.db
	c.MaxOpenConns = 2
	if r.sqlite() {
		c.MaxOpenConns = 1
		if err := os.MkdirAll(filepath.Dir(c.DBPath), 0o700); err != nil {
			return nil, err
		}
	}
	return backends.Open(ctx, c)
}

func (r storeRegistrar) sqlite() bool {
	k, _ := r.db.Kind()
	return k == backends.SQLite
}

func (r storeRegistrar) Has(ctx context.Context, name string) (bool, error) {
	if r.sqlite() {
		if _, err := os.Stat(r.db.DBPath); errors.Is(err, os.ErrNotExist) {
			return false, nil // no database yet: nothing registered
		}
	}
	st, err := r.open(ctx)
	if err != nil {
		return false, err
	}
	defer st.Close()
	_, err = st.GetBouncer(ctx, name)
	if notFound(err) {
		return false, nil
	}
	return err == nil, err
}

func (r storeRegistrar) Add(ctx context.Context, name, key string) (string, error) {
	st, err := r.open(ctx)
	if err != nil {
		return "", err
	}
	defer st.Close()
	if err := st.DeleteBouncer(ctx, name); err != nil && !notFound(err) {
		return "", err
	}
	if key == "" {
		key = randomString(32)
	}
	return key, addBouncer(ctx, st, name, key)
}
