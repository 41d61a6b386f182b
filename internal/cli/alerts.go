package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/duration"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/textsafe"
)

// alerts: through the LAPI with the install's machine credentials, as cscli.
func newAlertsCmd(a *app) *cobra.Command {
	f := &localFlags{}
	c := &cobra.Command{
		Use:     "alerts [action]",
		Aliases: []string{"alert"},
		Short:   "Manage alerts (through the Local API)",
		Args:    cobra.ArbitraryArgs,
		RunE:    nounRun,
	}
	f.register(c)
	c.AddCommand(newAlertsListCmd(a, f), newAlertsInspectCmd(a, f), newAlertsDeleteCmd(a, f), newAlertsFlushCmd(a, f))
	return c
}

// decisionsSummary counts an alert's decisions by type: "ban:2 captcha:1".
func decisionsSummary(ds []*models.Decision) string {
	n := map[string]int{}
	for _, d := range ds {
		if d != nil {
			n[deref(d.Type)]++
		}
	}
	keys := make([]string, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ":" + strconv.Itoa(n[k])
	}
	return strings.Join(parts, " ")
}

func alertScopeValue(al *models.Alert) string {
	if al.GetScope() == "" && al.GetValue() == "" {
		return ""
	}
	return al.GetScope() + ":" + al.GetValue()
}

func newAlertsListCmd(a *app, f *localFlags) *cobra.Command {
	var sel selection
	var all, machine bool
	limit := 50
	c := &cobra.Command{
		Use:   "list",
		Short: "List alerts",
		Example: `  phalanx alerts list
  phalanx alerts list -i 1.2.3.4 --since 4h
  phalanx alerts list -s crowdsecurity/ssh-bf -o json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			af, err := sel.alertFilter()
			if err != nil {
				return err
			}
			yes := true
			af.IncludeCAPI = &all
			af.Simulated = &yes
			af.Limit = &limit
			return withClient(cmd, a, f, func(ctx context.Context, e localEnv, cl *apiclient.Client, _ string) error {
				alerts, err := cl.ListAlerts(ctx, af)
				if err != nil {
					return fmt.Errorf("alerts list: %w", err)
				}
				if alerts == nil {
					alerts = []*models.Alert{}
				}
				return printAlerts(a, e.Output, alerts, machine)
			})
		},
	}
	sel.registerTarget(c)
	c.Flags().StringVar(&sel.typ, "type", "", "alerts with a decision of this type")
	c.Flags().StringVar(&sel.origin, "origin", "", "alerts with a decision of this origin")
	c.Flags().StringVar(&sel.since, "since", "", "alerts started since this long ago (4h, 2d)")
	c.Flags().StringVar(&sel.until, "until", "", "alerts started until this long ago (4h, 2d)")
	c.Flags().BoolVarP(&all, "all", "a", false, "include alerts from the central API and blocklists")
	c.Flags().IntVarP(&limit, "limit", "l", 50, "number of alerts to get (0: all)")
	c.Flags().BoolVarP(&machine, "machine", "m", false, "show the machine that sent the alert")
	return c
}

func printAlerts(a *app, output string, alerts []*models.Alert, machine bool) error {
	if output == "json" {
		return writeJSON(a.out, alerts)
	}
	header := []string{"ID", "value", "reason", "country", "as", "decisions", "created_at"}
	rawHeader := []string{"id", "scope", "value", "reason", "country", "as", "decisions", "created_at"}
	if machine {
		header = append(header, "machine")
		rawHeader = append(rawHeader, "machine")
	}
	var rows, raws [][]string
	for _, al := range alerts {
		id := strconv.FormatInt(al.ID, 10)
		row := []string{id, alertScopeValue(al), al.GetScenario(), sourceCountry(al.Source), sourceAS(al.Source), decisionsSummary(al.Decisions), al.CreatedAt}
		raw := []string{id, al.GetScope(), al.GetValue(), al.GetScenario(), sourceCountry(al.Source), sourceAS(al.Source), decisionsSummary(al.Decisions), al.CreatedAt}
		if machine {
			row, raw = append(row, al.MachineID), append(raw, al.MachineID)
		}
		rows, raws = append(rows, row), append(raws, raw)
	}
	if output == "raw" {
		return writeCSV(a.out, rawHeader, raws)
	}
	if len(rows) == 0 {
		fmt.Fprintln(a.out, "No active alerts")
		return nil
	}
	(&table{header: header, rows: rows}).render(a.out)
	return nil
}

func newAlertsInspectCmd(a *app, f *localFlags) *cobra.Command {
	var details bool
	c := &cobra.Command{
		Use:   "inspect ID...",
		Short: "Show alerts in detail",
		Args:  usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids := make([]int64, len(args))
			for i, s := range args {
				id, err := strconv.ParseInt(s, 10, 64)
				if err != nil || id <= 0 {
					return &usageError{fmt.Errorf("alerts inspect: bad alert id %q", s)}
				}
				ids[i] = id
			}
			return withClient(cmd, a, f, func(ctx context.Context, e localEnv, cl *apiclient.Client, _ string) error {
				var got []*models.Alert
				for _, id := range ids {
					al, err := cl.GetAlert(ctx, id)
					if notFound(err) {
						return fmt.Errorf("alert %d not found", id)
					}
					if err != nil {
						return fmt.Errorf("alerts inspect: %w", err)
					}
					got = append(got, al)
				}
				switch e.Output {
				case "json":
					if len(got) == 1 {
						return writeJSON(a.out, got[0])
					}
					return writeJSON(a.out, got)
				case "raw":
					return printAlerts(a, "raw", got, true)
				}
				for _, al := range got {
					printAlertDetails(a, al, details)
				}
				return nil
			})
		},
	}
	c.Flags().BoolVarP(&details, "details", "d", false, "show the events of the alert")
	return c
}

func printAlertDetails(a *app, al *models.Alert, details bool) {
	w := a.out
	b := func(p *bool) string { return strconv.FormatBool(p != nil && *p) }
	fmt.Fprintln(w, strings.Repeat("#", 96))
	fmt.Fprintln(w)
	for _, kv := range [][2]string{
		{"ID", strconv.FormatInt(al.ID, 10)},
		{"Date", al.CreatedAt},
		{"Machine", al.MachineID},
		{"Simulation", b(al.Simulated)},
		{"Remediation", strconv.FormatBool(al.Remediation)},
		{"Reason", al.GetScenario()},
		{"Events Count", strconv.Itoa(int(al.GetEventsCount()))},
		{"Scope:Value", alertScopeValue(al)},
		{"Country", sourceCountry(al.Source)},
		{"AS", sourceAS(al.Source)},
		{"Begin", deref(al.StartAt)},
		{"End", deref(al.StopAt)},
		{"UUID", al.UUID},
	} {
		fmt.Fprintf(w, " - %-13s: %s\n", kv[0], textsafe.Terminal(kv[1]))
	}
	if len(al.Meta) > 0 {
		fmt.Fprintln(w)
		t := &table{header: []string{"Key", "Value"}}
		for _, m := range al.Meta {
			if m != nil {
				t.add(m.Key, m.Value)
			}
		}
		t.render(w)
	}
	fmt.Fprintln(w)
	now := time.Now()
	t := &table{title: "Active Decisions", header: []string{"ID", "scope:value", "action", "expiration", "until"}}
	for _, d := range al.Decisions {
		if d != nil && decisionActive(d, now) {
			t.add(strconv.FormatInt(d.ID, 10), deref(d.Scope)+":"+deref(d.Value), deref(d.Type), deref(d.Duration), d.Until)
		}
	}
	t.render(w)
	if details {
		fmt.Fprintln(w)
		fmt.Fprintln(w, " - Events  :")
		for _, ev := range al.Events {
			if ev == nil {
				continue
			}
			t := &table{title: "Date: " + deref(ev.Timestamp), header: []string{"Key", "Value"}}
			for _, m := range ev.Meta {
				if m != nil {
					t.add(m.Key, m.Value)
				}
			}
			t.render(w)
		}
	}
	fmt.Fprintln(w)
}

func newAlertsDeleteCmd(a *app, f *localFlags) *cobra.Command {
	var sel selection
	var id int64
	var all bool
	c := &cobra.Command{
		Use:   "delete",
		Short: "Delete alerts (their active decisions are expired)",
		Example: `  phalanx alerts delete -i 1.2.3.4
  phalanx alerts delete -s crowdsecurity/ssh-bf
  phalanx alerts delete --id 12
  phalanx alerts delete --all`,
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
			af, err := sel.alertFilter()
			if err != nil {
				return err
			}
			return withClient(cmd, a, f, func(ctx context.Context, e localEnv, cl *apiclient.Client, _ string) error {
				var n int
				if idSet {
					n, err = cl.DeleteAlert(ctx, id)
					if notFound(err) {
						return fmt.Errorf("alert %d not found", id)
					}
				} else {
					n, err = cl.DeleteAlerts(ctx, af)
				}
				if err != nil {
					return fmt.Errorf("alerts delete: %w", err)
				}
				if e.Output == "json" {
					return writeJSON(a.out, map[string]int{"nbDeleted": n})
				}
				fmt.Fprintf(a.err, "%d alert(s) deleted\n", n)
				return nil
			})
		},
	}
	sel.registerTarget(c)
	c.Flags().Int64Var(&id, "id", 0, "alert id")
	c.Flags().BoolVarP(&all, "all", "a", false, "delete every alert")
	return c
}

// newAlertsFlushCmd applies the alert retention policy to the local
// database, as cscli does (alerts with an active decision are kept).
func newAlertsFlushCmd(a *app, f *localFlags) *cobra.Command {
	var maxItems int
	var maxAge string
	c := &cobra.Command{
		Use:   "flush",
		Short: "Delete old alerts: keep at most --max-items, none older than --max-age (local database)",
		Example: `  phalanx alerts flush
  phalanx alerts flush --max-items 1000 --max-age 2d`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if maxItems < 0 {
				return &usageError{fmt.Errorf("alerts flush: --max-items: %d is negative", maxItems)}
			}
			var age time.Duration
			if maxAge != "" {
				d, err := duration.Positive(maxAge)
				if err != nil {
					return &usageError{fmt.Errorf("alerts flush: --max-age: %w", err)}
				}
				age = d
			}
			return withStore(cmd, f, func(ctx context.Context, _ localEnv, st store.Store) error {
				fmt.Fprintln(a.err, "Flushing alerts. !! This may take a long time !!")
				res, err := st.Flush(ctx, time.Now().UTC(), store.FlushPolicy{AlertsMaxAge: age, AlertsMaxItems: maxItems})
				if err != nil {
					return fmt.Errorf("alerts flush: %w", err)
				}
				fmt.Fprintf(a.err, "%d alert(s) deleted\n", res.Alerts)
				fmt.Fprintln(a.out, "Alerts flushed")
				return nil
			})
		},
	}
	c.Flags().IntVar(&maxItems, "max-items", 5000, "keep at most this many alerts (0: no limit)")
	c.Flags().StringVar(&maxAge, "max-age", "7d", `delete the alerts older than this ("" : no limit)`)
	return c
}
