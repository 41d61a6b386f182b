package cli

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/phalanx-ids/phalanx/internal/central/centralstore"
	"github.com/phalanx-ids/phalanx/internal/central/curate"
	"github.com/phalanx-ids/phalanx/internal/central/server"
	"github.com/phalanx-ids/phalanx/internal/central/sim"
	"github.com/phalanx-ids/phalanx/internal/duration"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/textsafe"
)

// centralFlags are the database flags every `central` command shares.
type centralFlags struct {
	config  string
	dataDir string
	db      string
	output  string
}

func (f *centralFlags) register(c *cobra.Command) {
	c.PersistentFlags().StringVarP(&f.config, "config", "c", "", "central configuration file (YAML)")
	c.PersistentFlags().StringVar(&f.dataDir, "data-dir", "", "directory of central.db (SQLite)")
	c.PersistentFlags().StringVar(&f.db, "db", "", "PostgreSQL DSN (instead of SQLite)")
	c.PersistentFlags().StringVarP(&f.output, "output", "o", "human", "output: human, json, raw")
}

func (f *centralFlags) load() (server.Config, error) {
	var cfg server.Config
	if f.config != "" {
		var err error
		if cfg, err = server.LoadConfig(f.config); err != nil {
			return cfg, err
		}
	}
	if f.dataDir != "" {
		cfg.DataDir = f.dataDir
	}
	if f.db != "" {
		cfg.DB = f.db
	}
	if cfg.DB == "" && cfg.DataDir == "" {
		return cfg, &usageError{fmt.Errorf("--data-dir or --db is required")}
	}
	return cfg, nil
}

func (f *centralFlags) store(cmd *cobra.Command, fn func(ctx context.Context, st *centralstore.Store) error) error {
	cfg, err := f.load()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	st, err := server.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(ctx, st)
}

func newCentralCmd(a *app) *cobra.Command {
	f := &centralFlags{}
	c := &cobra.Command{
		Use:   "central [action]",
		Short: "Run and operate a crowd's central service (CAPI-compatible)",
		Args:  cobra.ArbitraryArgs,
		RunE:  nounRun,
	}
	f.register(c)
	c.AddCommand(newCentralRunCmd(a, f), newCentralOrgsCmd(a, f), newCentralCanariesCmd(a, f), newCentralAllowlistCmd(a, f),
		newCentralDelistCmd(a, f), newCentralIPCmd(a, f), newCentralInstallsCmd(a, f), newCentralSimulateCmd(a))
	return c
}

func newCentralSimulateCmd(a *app) *cobra.Command {
	var cfg sim.Config
	var shares []float64
	var strategies []string
	var parallel int
	var httpMode, trace bool
	var hcfg sim.HTTPConfig
	c := &cobra.Command{
		Use:   "simulate",
		Short: "Simulate a crowd (seeded, virtual clock) against the curation engine and a naive baseline",
		Long: `simulate drives the real curation engine in-process with honest installs, seeds,
canaries, correlated honest false positives and poisoners, and prints per strategy and share:
recall of attackers seen by 3 independent honest networks, p50/p99 latency from the third such
report to the listing, benign IPs listed (and per 30 days), detections (upheld appeals and canary
hits), the longest a benign listing stayed after the first detection that followed it and how
many stayed over an hour, honest installs quarantined, list size and changes per hour, and the
naive ">= 3 installs" baseline's recall and benign IPs.

With --http it instead runs a real central on loopback and --installs (default 100) installs
speaking CAPI to it with the real client, and prints the latency from a third independent report
to every install's pulled stream (wall clock).`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if httpMode {
				if cmd.Flags().Changed("installs") {
					hcfg.Installs = cfg.Installs
				}
				hcfg.Seed = cfg.Seed
				dir, err := os.MkdirTemp("", "phalanx-sim-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				hcfg.DataDir = dir
				r, err := sim.RunHTTP(cmd.Context(), hcfg)
				if err != nil {
					return err
				}
				sim.PrintHTTP(a.out, r)
				return nil
			}
			var cfgs []sim.Config
			for _, st := range strategies {
				if !slices.Contains(sim.Strategies(), sim.Strategy(st)) {
					return fmt.Errorf("central: simulate: unknown strategy \"%s\" (want one of %v)", textsafe.Terminal(st), sim.Strategies())
				}
				for _, sh := range shares {
					if sh < 0 || sh > 1 {
						return fmt.Errorf("central: simulate: share %v: want 0 to 1", sh)
					}
					c := cfg
					c.Strategy, c.PoisonShare = sim.Strategy(st), sh
					cfgs = append(cfgs, c)
				}
			}
			if trace {
				for i := range cfgs {
					cfgs[i].Trace = a.err // the simulator's own values only
				}
				parallel = 1
			}
			sim.Print(a.out, sim.RunAll(cfgs, parallel))
			return nil
		},
	}
	c.Flags().Uint64Var(&cfg.Seed, "seed", 1, "random seed")
	c.Flags().IntVar(&cfg.Installs, "installs", 1000, "installs (--http: default 100)")
	c.Flags().IntVar(&cfg.WarmupDays, "warmup-days", 30, "simulated days before measuring")
	c.Flags().IntVar(&cfg.Days, "days", 7, "measured days")
	c.Flags().IntVar(&cfg.AttackersPerDay, "attackers-per-day", 5000, "new attacker IPs per day")
	c.Flags().IntVar(&cfg.Benign, "benign", 20000, "benign IPs")
	c.Flags().DurationVar(&cfg.AppealAfter, "appeal-after", 2*time.Hour, "appeal (and uphold) every benign listing this long after it (0: no appeals)")
	c.Flags().Float64SliceVar(&shares, "shares", []float64{0, 0.01, 0.05, 0.10, 0.20, 0.30}, "poisoner shares")
	c.Flags().StringSliceVar(&strategies, "strategies", []string{"naive", "coordinated", "sybil-farm", "spread", "sleeper", "mixed", "spoof-framer"}, "strategies")
	c.Flags().IntVar(&parallel, "parallel", runtime.NumCPU(), "runs at once")
	c.Flags().BoolVar(&trace, "trace", false, "print each benign listing and its reporters to stderr, and each measured day the networks linked by co-reports (runs one at a time)")
	c.Flags().Float64Var(&cfg.Curation.WideShare, "wide-share", 0.5, "curation.wide_share: two /16s sharing at least this share of what each reported (no seed saw) are one cluster (negative: off)")
	c.Flags().BoolVar(&httpMode, "http", false, "end-to-end latency over loopback HTTP instead (wall clock)")
	c.Flags().IntVar(&hcfg.Attackers, "http-attackers", 200, "--http: attacker IPs, each pushed by 3 installs")
	c.Flags().Float64Var(&hcfg.Rate, "http-rate", 10, "--http: attackers per second")
	c.Flags().IntVar(&hcfg.Seeds, "http-seeds", 5, "--http: seed installs")
	return c
}

func newCentralRunCmd(a *app, f *centralFlags) *cobra.Command {
	var listen, hubIndex, pullInterval, publicURL string
	var proxies []string
	var publishAllow bool
	c := &cobra.Command{
		Use:   "run",
		Short: "Serve the central API until interrupted",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load()
			if err != nil {
				return err
			}
			if listen != "" {
				cfg.Listen = listen
			}
			if cfg.Listen == "" {
				cfg.Listen = "127.0.0.1:8090"
			}
			if hubIndex != "" {
				cfg.HubIndex = hubIndex
			}
			cfg.TrustedProxies = append(cfg.TrustedProxies, proxies...)
			if publishAllow {
				cfg.PublishAllowlist = true
			}
			if publicURL != "" {
				cfg.PublicURL = publicURL
			}
			if pullInterval != "" {
				d, err := duration.Positive(pullInterval)
				if err != nil {
					return fmt.Errorf("central: --pull-interval: %w", err)
				}
				cfg.PullInterval = d
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			s, err := server.New(ctx, cfg, server.Deps{Logger: a.logger()})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.err, "central: listening on %s\n", s.Addr())
			return s.Run(ctx)
		},
	}
	c.Flags().StringVar(&listen, "listen", "", "address to listen on (default 127.0.0.1:8090)")
	c.Flags().StringVar(&hubIndex, "hub-index", "", "hub index.json whose scenario hashes count")
	c.Flags().StringVar(&pullInterval, "pull-interval", "", "interval Phalanx installs are asked to pull at (default 10s)")
	c.Flags().StringArrayVar(&proxies, "trusted-proxy", nil, "CIDR of a reverse proxy whose X-Forwarded-For is trusted (repeatable)")
	c.Flags().BoolVar(&publishAllow, "publish-allowlist", false, "link the central's allowlist in stream answers: installs apply it locally")
	c.Flags().StringVar(&publicURL, "public-url", "", "the central's URL as installs reach it (links are built on it; default: derived from --listen when it names one host)")
	return c
}

const keyAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func attachmentKey() string {
	b := make([]byte, 32)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(keyAlphabet))))
		b[i] = keyAlphabet[n.Int64()]
	}
	return string(b)
}

func newCentralOrgsCmd(a *app, f *centralFlags) *cobra.Command {
	c := &cobra.Command{Use: "orgs [action]", Short: "Organisations (attachment keys)", Args: cobra.ArbitraryArgs, RunE: nounRun}
	var seed bool
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Create an organisation and print its attachment key (shown once)",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.store(cmd, func(ctx context.Context, st *centralstore.Store) error {
				key := attachmentKey()
				if _, err := st.AddOrg(ctx, args[0], seed, server.KeyHash(key)); err != nil {
					return err
				}
				switch f.output {
				case "raw":
					fmt.Fprintln(a.out, key)
				case "json":
					return writeJSON(a.out, map[string]any{"name": args[0], "seed": seed, "attachment_key": key})
				default:
					fmt.Fprintf(a.out, "organisation %s created; attachment key (enrol with `cscli console enroll KEY`):\n%s\n", textsafe.Terminal(args[0]), key)
				}
				return nil
			})
		},
	}
	add.Flags().BoolVar(&seed, "seed", false, "installs of this organisation are trusted from day one (the operator's own sensors)")
	list := &cobra.Command{
		Use: "list", Short: "List the organisations", Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.store(cmd, func(ctx context.Context, st *centralstore.Store) error {
				os, err := st.Orgs(ctx)
				if err != nil {
					return err
				}
				if f.output == "json" {
					type o struct {
						ID        int64   `json:"id"`
						Name      string  `json:"name"`
						Seed      bool    `json:"seed"`
						CreatedAt *string `json:"created_at"`
					}
					out := []o{}
					for _, x := range os {
						out = append(out, o{x.ID, x.Name, x.Seed, jsonTime(x.CreatedAt)})
					}
					return writeJSON(a.out, out)
				}
				t := &table{header: []string{"ID", "Name", "Seed", "Created"}}
				for _, x := range os {
					t.add(fmt.Sprint(x.ID), x.Name, yesNo(x.Seed), fmtTime(x.CreatedAt))
				}
				t.render(a.out)
				return nil
			})
		},
	}
	c.AddCommand(add, list)
	return c
}

func newCentralCanariesCmd(a *app, f *centralFlags) *cobra.Command {
	c := &cobra.Command{Use: "canaries [action]", Short: "Canary addresses (known-good: reporting one refutes the reporter)", Args: cobra.ArbitraryArgs, RunE: nounRun}
	c.AddCommand(&cobra.Command{
		Use: "add IP...", Short: "Add canary addresses", Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.store(cmd, func(ctx context.Context, st *centralstore.Store) error {
				for _, s := range args {
					ip, err := models.ParseIP(s)
					if err != nil {
						return &usageError{fmt.Errorf("canary %q: %w", s, err)}
					}
					if err := st.AddCanary(ctx, ip.String()); err != nil {
						return err
					}
				}
				fmt.Fprintf(a.err, "%d canaries added\n", len(args))
				return nil
			})
		},
	})
	return c
}

func newCentralAllowlistCmd(a *app, f *centralFlags) *cobra.Command {
	c := &cobra.Command{Use: "allowlist [action]", Short: "Networks never listed", Args: cobra.ArbitraryArgs, RunE: nounRun}
	var reason string
	add := &cobra.Command{
		Use: "add CIDR...", Short: "Allowlist addresses or networks", Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			var es []centralstore.AllowEntry
			for _, s := range args {
				p, err := models.ParseIPOrRange(s)
				if err != nil {
					return &usageError{fmt.Errorf("allowlist %q: %w", s, err)}
				}
				es = append(es, centralstore.AllowEntry{CIDR: p.String(), Reason: reason})
			}
			return f.store(cmd, func(ctx context.Context, st *centralstore.Store) error { return st.AddAllow(ctx, es) })
		},
	}
	add.Flags().StringVar(&reason, "reason", "", "why (shown in listings)")
	var ireason string
	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "Import a provider list: one CIDR per line, or a JSON range file (Google/Bing style: prefixes[].ipv4Prefix/ipv6Prefix)",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			fh, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer fh.Close()
			ps, err := parseRangeList(io.LimitReader(fh, 64<<20))
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			r := ireason
			if r == "" {
				r = "imported from " + args[0]
			}
			es := make([]centralstore.AllowEntry, 0, len(ps))
			for _, p := range ps {
				es = append(es, centralstore.AllowEntry{CIDR: p.String(), Reason: r})
			}
			return f.store(cmd, func(ctx context.Context, st *centralstore.Store) error {
				if err := st.AddAllow(ctx, es); err != nil {
					return err
				}
				fmt.Fprintf(a.err, "%d networks allowlisted\n", len(es))
				return nil
			})
		},
	}
	imp.Flags().StringVar(&ireason, "reason", "", "why (default: the file name)")
	list := &cobra.Command{
		Use: "list", Short: "List the allowlist", Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.store(cmd, func(ctx context.Context, st *centralstore.Store) error {
				es, err := st.Allowlist(ctx)
				if err != nil {
					return err
				}
				if f.output == "json" {
					out := []map[string]any{}
					for _, e := range es {
						out = append(out, map[string]any{"cidr": e.CIDR, "reason": e.Reason, "created_at": jsonTime(e.CreatedAt)})
					}
					return writeJSON(a.out, out)
				}
				t := &table{header: []string{"CIDR", "Reason", "Created"}}
				for _, e := range es {
					t.add(e.CIDR, e.Reason, fmtTime(e.CreatedAt))
				}
				t.render(a.out)
				return nil
			})
		},
	}
	c.AddCommand(add, imp, list)
	return c
}

// parseRangeList reads a provider range list: JSON ({"prefixes":
// [{"ipv4Prefix": ...} | {"ipv6Prefix": ...}]}, as Google and Bing
// publish) or text, one address or CIDR per line (# comments).
func parseRangeList(r io.Reader) ([]netip.Prefix, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	if t := strings.TrimSpace(string(raw)); strings.HasPrefix(t, "{") {
		var doc struct {
			Prefixes []struct {
				V4 string `json:"ipv4Prefix"`
				V6 string `json:"ipv6Prefix"`
			} `json:"prefixes"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			return nil, fmt.Errorf("decode JSON range file: %w", err)
		}
		for i, p := range doc.Prefixes {
			s := p.V4 + p.V6
			pp, err := models.ParseIPOrRange(s)
			if err != nil {
				return nil, fmt.Errorf("prefixes[%d]: %q: %w", i, s, err)
			}
			out = append(out, pp)
		}
		return out, nil
	}
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		p, err := models.ParseIPOrRange(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %q: %w", n, line, err)
		}
		out = append(out, p)
	}
	return out, sc.Err()
}

func newCentralDelistCmd(a *app, f *centralFlags) *cobra.Command {
	var reason string
	c := &cobra.Command{
		Use:   "delist IP",
		Short: "Delist an address at once (an upheld appeal: its reporters are refuted)",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if reason == "" {
				return &usageError{fmt.Errorf("--reason is required")}
			}
			ip, err := models.ParseIP(args[0])
			if err != nil {
				return &usageError{fmt.Errorf("%q: %w", args[0], err)}
			}
			return f.store(cmd, func(ctx context.Context, st *centralstore.Store) error {
				if err := st.AddDelist(ctx, ip.String(), reason); err != nil {
					return err
				}
				fmt.Fprintf(a.err, "%s: delisting queued (the running central applies it within a second)\n", ip)
				return nil
			})
		},
	}
	c.Flags().StringVar(&reason, "reason", "", "why (required)")
	return c
}

// ipReport is `central ip -o json`: why an address is or is not listed,
// never who reported it.
type ipReport struct {
	IP        string   `json:"ip"`
	Listed    bool     `json:"listed"`
	Tier      string   `json:"tier"`
	Reports   int      `json:"reports"`
	Clusters  int      `json:"clusters"`
	Scenarios []string `json:"scenarios"`
	FirstSeen *string  `json:"first_seen"`
	LastSeen  *string  `json:"last_seen"`
	ExpiresAt *string  `json:"expires_at"`
	Refused   string   `json:"refused,omitempty"`
	// HeldUntil: kept off the list until then unless a seed reports it
	// (an upheld appeal, Appealed, or a clique burn).
	HeldUntil *string `json:"held_until,omitempty"`
	Appealed  bool    `json:"appealed,omitempty"`
}

func newCentralIPCmd(a *app, f *centralFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "ip IP",
		Short: "Say why an address is or is not listed",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ip, err := models.ParseIP(args[0])
			if err != nil {
				return &usageError{fmt.Errorf("%q: %w", args[0], err)}
			}
			return f.store(cmd, func(ctx context.Context, st *centralstore.Store) error {
				rep, err := explainIP(ctx, st, ip)
				if err != nil {
					return err
				}
				if f.output == "json" {
					return writeJSON(a.out, rep)
				}
				rows := [][]string{{"ip", rep.IP}, {"listed", yesNo(rep.Listed)}, {"tier", rep.Tier}, {"reports", fmt.Sprint(rep.Reports)},
					{"clusters", fmt.Sprint(rep.Clusters)}, {"scenarios", strings.Join(rep.Scenarios, ", ")},
					{"first_seen", deref(rep.FirstSeen)}, {"last_seen", deref(rep.LastSeen)}, {"expires_at", deref(rep.ExpiresAt)}}
				if rep.Refused != "" {
					rows = append(rows, []string{"refused", rep.Refused})
				}
				if rep.HeldUntil != nil {
					rows = append(rows, []string{"held_until", *rep.HeldUntil}, []string{"appealed", yesNo(rep.Appealed)})
				}
				return printInspect(a, f.output, "IP "+rep.IP, rows, rep)
			})
		},
	}
}

// explainIP builds the report from the database with the engine's own
// clustering over the signals of the curation window.
func explainIP(ctx context.Context, st *centralstore.Store, ip netip.Addr) (ipReport, error) {
	rep := ipReport{IP: ip.String(), Scenarios: []string{}}
	cfg := curate.Defaults()
	now := time.Now()
	sigs, err := st.SignalsOf(ctx, ip.String(), now.Add(-cfg.Window))
	if err != nil {
		return rep, err
	}
	eng := curate.New(cfg, func() time.Time { return now }, nil)
	ins, err := st.Installs(ctx, time.Time{})
	if err != nil {
		return rep, err
	}
	for _, in := range ins {
		ci := curate.Install{ID: in.MachineID, Seed: in.Seed, Alpha: in.Alpha, Beta: in.Beta, Confirmed: in.Confirmed,
			QuarantinedUntil: in.QuarantinedUntil, ForgotAt: in.ForgotAt}
		if in.OrgID != 0 {
			ci.Org = fmt.Sprint(in.OrgID)
		}
		if p, err := netip.ParsePrefix(in.Net); err == nil {
			ci.Net = p
		}
		eng.UpsertInstall(ci, true)
	}
	eng.SetReplay(true)
	for _, s := range sigs {
		v := eng.Ingest(curate.Signal{Install: s.MachineID, IP: ip, Scenario: s.Scenario, Version: s.ScenarioVersion, Hash: s.ScenarioHash,
			Trust: s.ScenarioTrust, At: s.ReceivedAt})
		if v == curate.NonGlobal {
			rep.Refused = "not a global address"
		}
		if rep.FirstSeen == nil {
			rep.FirstSeen = jsonTime(s.ReceivedAt)
		}
		rep.LastSeen = jsonTime(s.ReceivedAt)
	}
	ex := eng.Explain(ip)
	rep.Reports, rep.Clusters = len(sigs), ex.Clusters
	switch h, err := st.GetHold(ctx, ip.String(), now); {
	case err == nil:
		rep.HeldUntil, rep.Appealed = jsonTime(h.Until), h.Appealed
	case !errors.Is(err, centralstore.ErrNotFound):
		return rep, err
	}
	if l, err := st.GetListing(ctx, ip.String()); err == nil {
		rep.Listed, rep.Tier, rep.ExpiresAt = true, l.Tier, jsonTime(l.ExpiresAt)
		rep.Scenarios = slices.Clone(l.Scenarios)
	} else if err != centralstore.ErrNotFound {
		return rep, err
	} else {
		seen := map[string]bool{}
		for _, s := range sigs {
			if !seen[s.Scenario] {
				seen[s.Scenario] = true
				rep.Scenarios = append(rep.Scenarios, s.Scenario)
			}
		}
		slices.Sort(rep.Scenarios)
	}
	return rep, nil
}

func newCentralInstallsCmd(a *app, f *centralFlags) *cobra.Command {
	c := &cobra.Command{Use: "installs [action]", Short: "Registered installs", Args: cobra.ArbitraryArgs, RunE: nounRun}
	c.AddCommand(&cobra.Command{
		Use: "list", Short: "List installs: trust, cluster, organisation, quarantine", Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.store(cmd, func(ctx context.Context, st *centralstore.Store) error {
				ins, err := st.Installs(ctx, time.Time{})
				if err != nil {
					return err
				}
				reps, err := st.Reports(ctx)
				if err != nil {
					return err
				}
				usages, err := st.Usages(ctx)
				if err != nil {
					return err
				}
				type row struct {
					MachineID        string  `json:"machine_id"`
					Org              string  `json:"org"`
					Seed             bool    `json:"seed"`
					Trust            float64 `json:"trust"`
					Confirmed        int     `json:"confirmed"`
					Cluster          string  `json:"cluster"`
					QuarantinedUntil *string `json:"quarantined_until"`
					LastSeen         *string `json:"last_seen"`
					// From the install's metrics and deletion reports.
					Version   string `json:"version"`
					Machines  int    `json:"machines"`
					Bouncers  int    `json:"bouncers"`
					Deletions int64  `json:"decision_deletions"`
					// From its usage metrics: reports received, the last one's
					// time and the consent flags the install has on.
					UsageReports   int64    `json:"usage_reports"`
					UsageAt        *string  `json:"usage_at"`
					ConsoleOptions []string `json:"console_options"`
				}
				var rows []row
				for _, in := range ins {
					al, be := in.Alpha, in.Beta
					if al == 0 && be == 0 {
						al, be = curate.PriorAlpha, curate.PriorBeta
					}
					tr := al / (al + be)
					if in.Seed {
						tr = 1
					}
					q := in.QuarantinedUntil
					if q.Before(time.Now()) {
						q = time.Time{}
					}
					rp, us := reps[in.MachineID], usages[in.MachineID]
					if us.ConsoleOptions == nil {
						us.ConsoleOptions = []string{}
					}
					rows = append(rows, row{in.MachineID, in.OrgName, in.Seed, tr, in.Confirmed, in.Net, jsonTime(q), jsonTime(in.LastSeen),
						rp.Version, rp.Machines, rp.Bouncers, rp.Deletions, us.Reports, jsonTime(us.At), us.ConsoleOptions})
				}
				if f.output == "json" {
					if rows == nil {
						rows = []row{}
					}
					return writeJSON(a.out, rows)
				}
				t := &table{header: []string{"Machine", "Org", "Seed", "Trust", "Confirmed", "Cluster", "Quarantined until", "Last seen", "Version", "Bouncers"}}
				for _, r := range rows {
					t.add(r.MachineID, r.Org, yesNo(r.Seed), fmt.Sprintf("%.2f", r.Trust), fmt.Sprint(r.Confirmed), r.Cluster, deref(r.QuarantinedUntil), deref(r.LastSeen),
						r.Version, fmt.Sprint(r.Bouncers))
				}
				t.render(a.out)
				return nil
			})
		},
	})
	return c
}
