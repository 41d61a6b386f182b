package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/phalanx-ids/phalanx/internal/allowlist"
	"github.com/phalanx-ids/phalanx/internal/duration"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/textsafe"
)

// allowlists: centralized allowlists in the local database, as cscli's.
func newAllowlistsCmd(a *app) *cobra.Command {
	f := &localFlags{}
	c := &cobra.Command{
		Use:     "allowlists [action]",
		Aliases: []string{"allowlist"},
		Short:   "Manage the allowlists: IPs and ranges never banned (local database)",
		Args:    cobra.ArbitraryArgs,
		RunE:    nounRun,
	}
	f.register(c)
	c.AddCommand(newAllowlistsCreateCmd(a, f), newAllowlistsListCmd(a, f), newAllowlistsInspectCmd(a, f),
		newAllowlistsAddCmd(a, f), newAllowlistsRemoveCmd(a, f), newAllowlistsDeleteCmd(a, f), newAllowlistsCheckCmd(a, f),
		newAllowlistsImportCmd(a, f))
	return c
}

func allowlistNotFound(name string) error { return fmt.Errorf("allowlist '%s' not found", name) }

// allowlistModel is the JSON shape (the LAPI's GET /v1/allowlists/{name}).
func allowlistModel(l *store.Allowlist) *models.GetAllowlistResponse {
	al := allowlist.List{Name: l.Name, Description: l.Description, CreatedAt: l.CreatedAt, UpdatedAt: l.UpdatedAt}
	for _, it := range l.Items {
		al.Items = append(al.Items, allowlist.Item{Value: it.Value, Comment: it.Comment, CreatedAt: it.CreatedAt, Expiration: it.Expiration})
	}
	m := allowlist.ToModel(al, true)
	if m.Items == nil {
		m.Items = []*models.AllowlistItem{}
	}
	return m
}

func newAllowlistsCreateCmd(a *app, f *localFlags) *cobra.Command {
	var desc string
	c := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an allowlist",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, f, func(ctx context.Context, _ localEnv, st store.Store) error {
				now := time.Now().UTC()
				err := st.CreateAllowlist(ctx, &store.Allowlist{Name: args[0], Description: desc, CreatedAt: now, UpdatedAt: now})
				if errors.Is(err, store.ErrExists) {
					return fmt.Errorf("allowlist '%s' already exists", args[0])
				}
				if err != nil {
					return fmt.Errorf("allowlists create: %w", err)
				}
				fmt.Fprintf(a.out, "allowlist '%s' created successfully\n", args[0])
				return nil
			})
		},
	}
	c.Flags().StringVarP(&desc, "description", "d", "", "description of the allowlist")
	_ = c.MarkFlagRequired("description")
	return c
}

func newAllowlistsListCmd(a *app, f *localFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the allowlists",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, f, func(ctx context.Context, e localEnv, st store.Store) error {
				ls, err := st.ListAllowlists(ctx, true)
				if err != nil {
					return fmt.Errorf("allowlists list: %w", err)
				}
				switch e.Output {
				case "json":
					out := make([]*models.GetAllowlistResponse, 0, len(ls))
					for _, l := range ls {
						out = append(out, allowlistModel(l))
					}
					return writeJSON(a.out, out)
				case "raw":
					rows := make([][]string, 0, len(ls))
					for _, l := range ls {
						rows = append(rows, []string{l.Name, l.Description, fmtTime(l.CreatedAt), fmtTime(l.UpdatedAt), "false", strconv.Itoa(len(l.Items))})
					}
					return writeCSV(a.out, []string{"name", "description", "created_at", "updated_at", "console_managed", "size"}, rows)
				}
				t := &table{header: []string{"Name", "Description", "Created at", "Updated at", "Managed by Console", "Size"}}
				for _, l := range ls {
					t.add(l.Name, l.Description, fmtTime(l.CreatedAt), fmtTime(l.UpdatedAt), "no", strconv.Itoa(len(l.Items)))
				}
				t.render(a.out)
				return nil
			})
		},
	}
}

func expirationWord(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return fmtTime(t)
}

func newAllowlistsInspectCmd(a *app, f *localFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect NAME",
		Short: "Show an allowlist and its items",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, f, func(ctx context.Context, e localEnv, st store.Store) error {
				l, err := st.GetAllowlist(ctx, args[0])
				if notFound(err) {
					return allowlistNotFound(args[0])
				}
				if err != nil {
					return fmt.Errorf("allowlists inspect: %w", err)
				}
				switch e.Output {
				case "json":
					return writeJSON(a.out, allowlistModel(l))
				case "raw":
					rows := make([][]string, 0, len(l.Items))
					for _, it := range l.Items {
						rows = append(rows, []string{l.Name, l.Description, it.Value, it.Comment, expirationWord(it.Expiration), fmtTime(it.CreatedAt), "false"})
					}
					return writeCSV(a.out, []string{"name", "description", "value", "comment", "expiration", "created_at", "console_managed"}, rows)
				}
				head := &table{title: "Allowlist: " + l.Name}
				head.add("Name", l.Name)
				head.add("Description", l.Description)
				head.add("Created at", fmtTime(l.CreatedAt))
				head.add("Updated at", fmtTime(l.UpdatedAt))
				head.add("Managed by Console", "no")
				head.render(a.out)
				t := &table{header: []string{"Value", "Comment", "Expiration", "Created at"}}
				for _, it := range l.Items {
					t.add(it.Value, it.Comment, expirationWord(it.Expiration), fmtTime(it.CreatedAt))
				}
				t.render(a.out)
				return nil
			})
		},
	}
}

func newAllowlistsAddCmd(a *app, f *localFlags) *cobra.Command {
	var expiration, comment string
	c := &cobra.Command{
		Use:   "add NAME VALUE...",
		Short: "Add IPs or ranges to an allowlist (and expire the decisions they cover)",
		Args:  usageArgs(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, values := args[0], args[1:]
			now := time.Now().UTC()
			var exp time.Time
			if expiration != "" {
				d, err := duration.Positive(expiration)
				if err != nil {
					return &usageError{fmt.Errorf("--expiration: %w", err)}
				}
				exp = now.Add(d)
			}
			return withStore(cmd, f, func(ctx context.Context, _ localEnv, st store.Store) error {
				l, err := st.GetAllowlist(ctx, name)
				if notFound(err) {
					return allowlistNotFound(name)
				}
				if err != nil {
					return fmt.Errorf("allowlists add: %w", err)
				}
				have := map[string]bool{}
				for _, it := range l.Items {
					have[it.Value] = true
				}
				var items []store.AllowlistItem
				for _, v := range values {
					switch _, err := allowlist.ParseValue(v); {
					case err != nil:
						what := "ip address"
						if strings.Contains(v, "/") {
							what = "ip range"
						}
						fmt.Fprintf(a.err, "invalid %s '%s': %s\n", what, textsafe.Terminal(v), textsafe.Terminal(err.Error()))
					case have[v]:
						fmt.Fprintf(a.err, "value %s already in allowlist\n", textsafe.Terminal(v))
					default:
						have[v] = true
						items = append(items, store.AllowlistItem{Value: v, Comment: comment, CreatedAt: now, Expiration: exp})
					}
				}
				if len(items) == 0 {
					fmt.Fprintln(a.out, "no new values for allowlist")
					return nil
				}
				n, err := st.AddAllowlistItems(ctx, name, items)
				if err != nil {
					return fmt.Errorf("allowlists add: %w", err)
				}
				fmt.Fprintf(a.out, "added %d values to allowlist %s\n", n, name)
				expired, err := store.ExpireAllowlisted(ctx, st, now, items)
				if err != nil {
					return fmt.Errorf("allowlists add: expire decisions: %w", err)
				}
				if expired > 0 {
					fmt.Fprintf(a.err, "%d active decisions on allowlisted values expired\n", expired)
				}
				return nil
			})
		},
	}
	c.Flags().StringVarP(&expiration, "expiration", "e", "", `expiration of the values, a duration from now ("30m", "7d")`)
	c.Flags().StringVarP(&comment, "comment", "d", "", "comment of the values")
	return c
}

func newAllowlistsRemoveCmd(a *app, f *localFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME VALUE...",
		Short: "Remove values from an allowlist",
		Args:  usageArgs(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, f, func(ctx context.Context, _ localEnv, st store.Store) error {
				if _, err := st.GetAllowlist(ctx, args[0]); notFound(err) {
					return allowlistNotFound(args[0])
				} else if err != nil {
					return fmt.Errorf("allowlists remove: %w", err)
				}
				n, err := st.RemoveAllowlistItems(ctx, args[0], args[1:])
				if notFound(err) {
					return allowlistNotFound(args[0])
				}
				if err != nil {
					return fmt.Errorf("allowlists remove: %w", err)
				}
				if n == 0 {
					fmt.Fprintln(a.out, "no value to remove from allowlist")
					return nil
				}
				fmt.Fprintf(a.out, "removed %d values from allowlist %s\n", n, args[0])
				return nil
			})
		},
	}
}

func newAllowlistsDeleteCmd(a *app, f *localFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an allowlist and its values",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, f, func(ctx context.Context, _ localEnv, st store.Store) error {
				err := st.DeleteAllowlist(ctx, args[0])
				if notFound(err) {
					return allowlistNotFound(args[0])
				}
				if err != nil {
					return fmt.Errorf("allowlists delete: %w", err)
				}
				fmt.Fprintf(a.out, "allowlist '%s' deleted successfully\n", args[0])
				return nil
			})
		},
	}
}

// checkResult is the -o json shape of allowlists check.
type checkResult struct {
	Target     string   `json:"target"`
	Allowlists []string `json:"allowlists"` // "VALUE from LIST (COMMENT)"
}

func newAllowlistsCheckCmd(a *app, f *localFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "check VALUE...",
		Short: "Say whether IPs or ranges are allowlisted, and by which item",
		Args:  usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, f, func(ctx context.Context, e localEnv, st store.Store) error {
				now := time.Now().UTC()
				res := make([]checkResult, 0, len(args))
				for _, v := range args {
					ms, err := st.CheckAllowlists(ctx, v, now)
					if errors.Is(err, store.ErrInvalid) {
						return &usageError{fmt.Errorf("allowlists check: %q is not an IP or a range", v)}
					}
					if err != nil {
						return fmt.Errorf("allowlists check: %w", err)
					}
					r := checkResult{Target: v, Allowlists: []string{}}
					for _, m := range ms {
						r.Allowlists = append(r.Allowlists, allowlist.Match{List: m.Allowlist, Value: m.Item.Value, Comment: m.Item.Comment}.Reason())
					}
					res = append(res, r)
				}
				switch e.Output {
				case "json":
					return writeJSON(a.out, res)
				case "raw":
					var rows [][]string
					for _, r := range res {
						rows = append(rows, []string{r.Target, strconv.FormatBool(len(r.Allowlists) > 0), strings.Join(r.Allowlists, "; ")})
					}
					return writeCSV(a.out, []string{"target", "allowlisted", "allowlists"}, rows)
				}
				for _, r := range res {
					if len(r.Allowlists) == 0 {
						fmt.Fprintf(a.out, "%s is not allowlisted\n", textsafe.Terminal(r.Target))
						continue
					}
					fmt.Fprintf(a.out, "%s is allowlisted by: %s\n", textsafe.Terminal(r.Target), textsafe.Terminal(strings.Join(r.Allowlists, ", ")))
				}
				return nil
			})
		},
	}
}

// newAllowlistsImportCmd adds the values of a CSV file (allowlist.ParseCSV:
// value, optional expiration and comment columns) to an allowlist; values
// already in it are replaced (their comment and expiration updated).
func newAllowlistsImportCmd(a *app, f *localFlags) *cobra.Command {
	var input string
	c := &cobra.Command{
		Use:   "import NAME -i FILE",
		Short: "Add the values of a CSV file (value,expiration,comment) to an allowlist",
		Example: `  phalanx allowlists import lan -i lan.csv
  printf 'value,comment\n10.0.0.0/8,office\n' | phalanx allowlists import lan -i -`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			var r io.Reader = a.in
			src := "stdin"
			if input != "-" {
				fh, err := os.Open(input)
				if err != nil {
					return fmt.Errorf("allowlists import: %w", err)
				}
				defer fh.Close()
				r, src = fh, input
			}
			now := time.Now().UTC()
			parsed, err := allowlist.ParseCSV(r, now)
			if err != nil {
				return fmt.Errorf("allowlists import: %s: %w", src, err)
			}
			return withStore(cmd, f, func(ctx context.Context, _ localEnv, st store.Store) error {
				if _, err := st.GetAllowlist(ctx, name); notFound(err) {
					return allowlistNotFound(name)
				} else if err != nil {
					return fmt.Errorf("allowlists import: %w", err)
				}
				if len(parsed) == 0 {
					fmt.Fprintln(a.out, "no new values for allowlist")
					return nil
				}
				seen := make(map[string]int, len(parsed))
				items := make([]store.AllowlistItem, 0, len(parsed))
				for _, it := range parsed {
					si := store.AllowlistItem{Value: it.Value, Comment: it.Comment, CreatedAt: it.CreatedAt, Expiration: it.Expiration}
					if i, dup := seen[it.Value]; dup {
						items[i] = si // the last line wins
						continue
					}
					seen[it.Value] = len(items)
					items = append(items, si)
				}
				n, err := st.AddAllowlistItems(ctx, name, items)
				if err != nil {
					return fmt.Errorf("allowlists import: %w", err)
				}
				fmt.Fprintf(a.out, "imported %d values to allowlist %s\n", n, name)
				var active []store.AllowlistItem
				for _, it := range items {
					if !it.Expired(now) {
						active = append(active, it)
					}
				}
				expired, err := store.ExpireAllowlisted(ctx, st, now, active)
				if err != nil {
					return fmt.Errorf("allowlists import: expire decisions: %w", err)
				}
				if expired > 0 {
					fmt.Fprintf(a.err, "%d active decisions on allowlisted values expired\n", expired)
				}
				return nil
			})
		},
	}
	c.Flags().StringVarP(&input, "input", "i", "", "CSV file to import (- for stdin)")
	_ = c.MarkFlagRequired("input")
	return c
}
