package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/duration"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
)

// decisions: through the LAPI with the install's machine credentials, as
// cscli does (list is GET /v1/alerts, add and import are POST /v1/alerts).
func newDecisionsCmd(a *app) *cobra.Command {
	f := &localFlags{}
	c := &cobra.Command{
		Use:     "decisions [action]",
		Aliases: []string{"decision"},
		Short:   "Manage decisions (through the Local API)",
		Args:    cobra.ArbitraryArgs,
		RunE:    nounRun,
	}
	f.register(c)
	c.AddCommand(newDecisionsListCmd(a, f), newDecisionsAddCmd(a, f), newDecisionsDeleteCmd(a, f), newDecisionsImportCmd(a, f))
	return c
}

// durationFlag checks a --since/--until value (days allowed) and returns it
// in Go syntax for the LAPI.
func durationFlag(name, v string) (string, error) {
	if v == "" {
		return "", nil
	}
	d, err := duration.Positive(v)
	if err != nil {
		return "", &usageError{fmt.Errorf("invalid argument %q for --%s: %w", v, name, err)}
	}
	return d.String(), nil
}

// selection is the filter flags shared by decisions/alerts list and delete.
type selection struct {
	ip, rng, scope, value, typ, origin, scenario string
	since, until                                 string
	contained                                    bool
}

func (s *selection) registerTarget(c *cobra.Command) {
	c.Flags().StringVarP(&s.ip, "ip", "i", "", "source IP (shorthand for --scope ip --value IP)")
	c.Flags().StringVarP(&s.rng, "range", "r", "", "range (shorthand for --scope range --value RANGE)")
	c.Flags().StringVar(&s.scope, "scope", "", "scope (ip, range, country, as, or other)")
	c.Flags().StringVarP(&s.value, "value", "v", "", "value of the scope")
	c.Flags().StringVarP(&s.scenario, "scenario", "s", "", "scenario (reason)")
	c.Flags().BoolVar(&s.contained, "contained", false, "with --ip/--range: match what is contained in them rather than what contains them")
}

func (s *selection) empty() bool {
	return s.ip == "" && s.rng == "" && s.scope == "" && s.value == "" && s.typ == "" && s.origin == "" &&
		s.scenario == "" && s.since == "" && s.until == ""
}

func (s *selection) contains() *bool {
	if !s.contained {
		return nil
	}
	no := false
	return &no
}

func (s *selection) alertFilter() (apiclient.AlertFilter, error) {
	since, err := durationFlag("since", s.since)
	if err != nil {
		return apiclient.AlertFilter{}, err
	}
	until, err := durationFlag("until", s.until)
	if err != nil {
		return apiclient.AlertFilter{}, err
	}
	return apiclient.AlertFilter{
		IP: s.ip, Range: s.rng, Scope: models.NormalizeScope(s.scope), Value: s.value, Scenario: s.scenario,
		DecisionType: s.typ, Origin: s.origin, Since: since, Until: until, Contains: s.contains(),
	}, nil
}

// decisionActive says whether a decision served by the LAPI is in force at now.
func decisionActive(d *models.Decision, now time.Time) bool {
	if d.Until != "" {
		if t, err := time.Parse(time.RFC3339Nano, d.Until); err == nil {
			return t.After(now)
		}
	}
	return !strings.HasPrefix(deref(d.Duration), "-")
}

// activeOnly keeps the active decisions of each alert, and the alerts that have one.
func activeOnly(alerts []*models.Alert, now time.Time) []*models.Alert {
	out := make([]*models.Alert, 0, len(alerts))
	for _, al := range alerts {
		var ds []*models.Decision
		for _, d := range al.Decisions {
			if d != nil && decisionActive(d, now) {
				ds = append(ds, d)
			}
		}
		if len(ds) == 0 {
			continue
		}
		cp := *al
		cp.Decisions = ds
		out = append(out, &cp)
	}
	return out
}

// onTarget keeps, with --ip or --range, the decisions whose range contains
// the target (with --contained: lies in it), and the alerts that have one:
// the LAPI answers the alerts having such a decision with all their
// decisions (an import's alert can carry thousands).
func (s *selection) onTarget(alerts []*models.Alert) []*models.Alert {
	target := s.ip
	if target == "" {
		target = s.rng
	}
	if target == "" {
		return alerts
	}
	tr, err := store.ParseIPRange(target)
	if err != nil {
		return alerts // the LAPI refused it already
	}
	out := alerts[:0]
	for _, al := range alerts {
		var ds []*models.Decision
		for _, d := range al.Decisions {
			r, ok, err := store.DecisionRange(deref(d.Scope), deref(d.Value))
			if err != nil || !ok {
				continue
			}
			if (!s.contained && r.Contains(tr)) || (s.contained && tr.Contains(r)) {
				ds = append(ds, d)
			}
		}
		if len(ds) > 0 {
			cp := *al
			cp.Decisions = ds
			out = append(out, &cp)
		}
	}
	return out
}

func sourceAS(s *models.Source) string {
	if s == nil || s.AsNumber == "" {
		return ""
	}
	return strings.TrimSpace(s.AsNumber + " " + s.AsName)
}

func sourceCountry(s *models.Source) string {
	if s == nil {
		return ""
	}
	return s.Cn
}

func newDecisionsListCmd(a *app, f *localFlags) *cobra.Command {
	var sel selection
	var all, noSimu, machine bool
	limit := 100
	c := &cobra.Command{
		Use:   "list",
		Short: "List the active decisions",
		Example: `  phalanx decisions list
  phalanx decisions list -i 1.2.3.4
  phalanx decisions list -r 1.2.3.0/24 --contained -o json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			af, err := sel.alertFilter()
			if err != nil {
				return err
			}
			yes, simu := true, !noSimu
			af.HasActiveDecision = &yes
			// Asking for the central's origins (--origin CAPI|lists) includes them.
			withCAPI := all || strings.EqualFold(sel.origin, "CAPI") || sel.origin == "lists"
			af.IncludeCAPI = &withCAPI
			af.Simulated = &simu
			af.Limit = &limit
			return withClient(cmd, a, f, func(ctx context.Context, e localEnv, cl *apiclient.Client, _ string) error {
				alerts, err := cl.ListAlerts(ctx, af)
				if err != nil {
					return fmt.Errorf("decisions list: %w", err)
				}
				alerts = sel.onTarget(activeOnly(alerts, time.Now()))
				return printDecisions(a, e.Output, alerts, machine)
			})
		},
	}
	sel.registerTarget(c)
	c.Flags().StringVarP(&sel.typ, "type", "t", "", "decision type (ban, captcha...)")
	c.Flags().StringVar(&sel.origin, "origin", "", "decision origin (crowdsec, cscli, cscli-import, lists, CAPI...)")
	c.Flags().StringVar(&sel.since, "since", "", "alerts started since this long ago (4h, 2d)")
	c.Flags().StringVar(&sel.until, "until", "", "alerts started until this long ago (4h, 2d)")
	c.Flags().BoolVarP(&all, "all", "a", false, "include decisions from the central API and blocklists")
	c.Flags().IntVarP(&limit, "limit", "l", 100, "number of alerts to get (0: all)")
	c.Flags().BoolVar(&noSimu, "no-simu", false, "leave out decisions in simulation mode")
	c.Flags().BoolVarP(&machine, "machine", "m", false, "show the machine that made the decision")
	return c
}

func printDecisions(a *app, output string, alerts []*models.Alert, machine bool) error {
	if output == "json" {
		return writeJSON(a.out, alerts)
	}
	header := []string{"ID", "Source", "Scope:Value", "Reason", "Action", "Country", "AS", "Events", "expiration", "Alert ID"}
	rawHeader := []string{"id", "source", "ip", "reason", "action", "country", "as", "events_count", "expiration", "simulated", "alert_id"}
	if machine {
		header = append(header, "Machine")
		rawHeader = append(rawHeader, "machine")
	}
	var rows, raws [][]string
	for _, al := range alerts {
		for _, d := range al.Decisions {
			action := deref(d.Type)
			sim := d.Simulated != nil && *d.Simulated
			if sim {
				action = "(simul)" + action
			}
			id, alertID := strconv.FormatInt(d.ID, 10), strconv.FormatInt(al.ID, 10)
			sv := deref(d.Scope) + ":" + deref(d.Value)
			events := strconv.Itoa(int(al.GetEventsCount()))
			row := []string{id, deref(d.Origin), sv, deref(d.Scenario), action, sourceCountry(al.Source), sourceAS(al.Source), events, deref(d.Duration), alertID}
			raw := []string{id, deref(d.Origin), sv, deref(d.Scenario), deref(d.Type), sourceCountry(al.Source), sourceAS(al.Source), events, deref(d.Duration), strconv.FormatBool(sim), alertID}
			if machine {
				row, raw = append(row, al.MachineID), append(raw, al.MachineID)
			}
			rows, raws = append(rows, row), append(raws, raw)
		}
	}
	if output == "raw" {
		return writeCSV(a.out, rawHeader, raws)
	}
	if len(rows) == 0 {
		fmt.Fprintln(a.out, "No active decisions")
		return nil
	}
	t := &table{header: header, rows: rows}
	t.render(a.out)
	return nil
}

// target is what a new decision is about.
type target struct{ scope, value string }

func (s *selection) target() (target, error) {
	switch {
	case s.ip != "":
		return target{"Ip", s.ip}, nil
	case s.rng != "":
		return target{"Range", s.rng}, nil
	case s.value != "":
		scope := models.NormalizeScope(s.scope)
		if scope == "" {
			scope = "Ip"
		}
		return target{scope, s.value}, nil
	}
	return target{}, &usageError{errors.New("missing arguments, a value is required (--ip, --range or --scope and --value)")}
}

// checkTargets asks the LAPI which of the Ip/Range targets are allowlisted;
// it returns the reasons by value.
func checkTargets(ctx context.Context, cl *apiclient.Client, ts []target) (map[string][]string, error) {
	var values []string
	for _, t := range ts {
		if t.scope == "Ip" || t.scope == "Range" {
			values = append(values, t.value)
		}
	}
	out := map[string][]string{}
	if len(values) == 0 {
		return out, nil
	}
	res, err := cl.CheckAllowlists(ctx, values)
	if err != nil {
		return nil, fmt.Errorf("check allowlists: %w", err)
	}
	for _, r := range res.Results {
		if r != nil && r.Target != nil && len(r.Allowlists) > 0 {
			out[*r.Target] = r.Allowlists
		}
	}
	return out, nil
}

// manualAlert is the alert that carries decisions made by hand (add, import).
func manualAlert(login, scenario string, src target, ds []*models.Decision, now time.Time) *models.Alert {
	ts := now.UTC().Format(time.RFC3339)
	p := func(s string) *string { return &s }
	zero, one, no := int32(0), int32(len(ds)), false
	al := &models.Alert{
		MachineID: login, Scenario: p(scenario), ScenarioHash: p(""), ScenarioVersion: p(""), Message: p(scenario),
		EventsCount: &one, StartAt: p(ts), StopAt: p(ts), Capacity: &zero, Leakspeed: p("0"), Simulated: &no,
		Events: []*models.Event{}, Remediation: true, Decisions: ds,
		Source: &models.Source{Scope: p(src.scope), Value: p(src.value)},
	}
	switch src.scope {
	case "Ip":
		al.Source.IP = src.value
	case "Range":
		al.Source.Range = src.value
	}
	return al
}

func newDecisionsAddCmd(a *app, f *localFlags) *cobra.Command {
	var sel selection
	var dur, reason, typ string
	var bypass bool
	c := &cobra.Command{
		Use:   "add",
		Short: "Add a decision (a ban for 4h by default)",
		Example: `  phalanx decisions add -i 1.2.3.4
  phalanx decisions add -r 1.2.3.0/24 -d 24h -R "web scanner"
  phalanx decisions add --scope country --value RU -t captcha`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			tg, err := sel.target()
			if err != nil {
				return err
			}
			if _, err := duration.Positive(dur); err != nil {
				return &usageError{fmt.Errorf("invalid argument %q for --duration: %w", dur, err)}
			}
			if typ == "" {
				return &usageError{errors.New("--type cannot be empty")}
			}
			return withClient(cmd, a, f, func(ctx context.Context, _ localEnv, cl *apiclient.Client, login string) error {
				if !bypass {
					hits, err := checkTargets(ctx, cl, []target{tg})
					if err != nil {
						return fmt.Errorf("decisions add: %w", err)
					}
					if r := hits[tg.value]; len(r) > 0 {
						return fmt.Errorf("%s is allowlisted by item %s, use --bypass-allowlist to add the decision anyway", tg.value, r[0])
					}
				}
				why := reason
				if why == "" {
					why = fmt.Sprintf("manual '%s' from '%s'", typ, login)
				}
				origin := "cscli"
				d := &models.Decision{Origin: &origin, Type: &typ, Scope: &tg.scope, Value: &tg.value, Duration: &dur, Scenario: &why}
				if _, err := cl.PushAlerts(ctx, []*models.Alert{manualAlert(login, why, tg, []*models.Decision{d}, time.Now())}); err != nil {
					return fmt.Errorf("decisions add: %w", err)
				}
				fmt.Fprintln(a.err, "Decision successfully added")
				return nil
			})
		},
	}
	c.Flags().StringVarP(&sel.ip, "ip", "i", "", "source IP (shorthand for --scope ip --value IP)")
	c.Flags().StringVarP(&sel.rng, "range", "r", "", "range (shorthand for --scope range --value RANGE)")
	c.Flags().StringVar(&sel.scope, "scope", "ip", "scope of the decision")
	c.Flags().StringVarP(&sel.value, "value", "v", "", "value of the scope")
	c.Flags().StringVarP(&dur, "duration", "d", "4h", "decision duration (4h, 1d12h)")
	c.Flags().StringVarP(&typ, "type", "t", "ban", "decision type (ban, captcha, throttle...)")
	c.Flags().StringVarP(&reason, "reason", "R", "", "decision reason (default: manual 'TYPE' from 'LOGIN')")
	c.Flags().BoolVar(&bypass, "bypass-allowlist", false, "skip the CLI's allowlist check (the LAPI still refuses decisions on allowlisted values)")
	return c
}

func newDecisionsDeleteCmd(a *app, f *localFlags) *cobra.Command {
	var sel selection
	var id int64
	var all bool
	c := &cobra.Command{
		Use:   "delete",
		Short: "Delete (expire) decisions",
		Example: `  phalanx decisions delete -i 1.2.3.4
  phalanx decisions delete --id 42
  phalanx decisions delete --origin cscli-import
  phalanx decisions delete --all`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			idSet := cmd.Flags().Changed("id")
			switch {
			case idSet && (all || !sel.empty()):
				return &usageError{errors.New("--id cannot be combined with other filters or --all")}
			case all && !sel.empty():
				return &usageError{errors.New("--all cannot be combined with filters")}
			case !idSet && !all && sel.empty():
				return &usageError{errors.New("at least one filter or --all must be specified")}
			}
			return withClient(cmd, a, f, func(ctx context.Context, e localEnv, cl *apiclient.Client, _ string) error {
				var n int
				var err error
				if idSet {
					n, err = cl.DeleteDecision(ctx, id)
					if notFound(err) {
						return fmt.Errorf("decision %d not found", id)
					}
				} else {
					n, err = cl.DeleteDecisions(ctx, apiclient.DecisionFilter{
						IP: sel.ip, Range: sel.rng, Scope: models.NormalizeScope(sel.scope), Value: sel.value, Type: sel.typ,
						Scenario: sel.scenario, Origin: sel.origin, Contains: sel.contains(), All: all,
					})
				}
				if err != nil {
					return fmt.Errorf("decisions delete: %w", err)
				}
				if e.Output == "json" {
					return writeJSON(a.out, map[string]int{"nbDeleted": n})
				}
				fmt.Fprintf(a.err, "%d decision(s) deleted\n", n)
				return nil
			})
		},
	}
	sel.registerTarget(c)
	c.Flags().StringVarP(&sel.typ, "type", "t", "", "decision type")
	c.Flags().StringVar(&sel.origin, "origin", "", "decision origin")
	c.Flags().Int64Var(&id, "id", 0, "decision id")
	c.Flags().BoolVarP(&all, "all", "a", false, "delete every decision")
	return c
}
