package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/phalanx-ids/phalanx/internal/store"
)

// bouncers: remediation components and their API keys, managed in the local
// database as cscli does.
func newBouncersCmd(a *app) *cobra.Command { return newBouncersNoun(a, "bouncers", false) }

// newBouncerCmd is the same noun under its singular name, which is how the
// remediation components are run (`phalanx bouncer http`). It is a command
// of its own rather than an alias so that help and usage print the path
// typed (`phalanx bouncer http`), not `phalanx bouncers http`.
func newBouncerCmd(a *app) *cobra.Command { return newBouncersNoun(a, "bouncer", true) }

func newBouncersNoun(a *app, name string, hidden bool) *cobra.Command {
	f := &localFlags{}
	c := &cobra.Command{
		Use:    name + " [action]",
		Short:  "Manage the bouncers (API keys) of the Local API (local database); run one: phalanx bouncer http|firewall",
		Args:   cobra.ArbitraryArgs,
		RunE:   nounRun,
		Hidden: hidden,
	}
	f.register(c)
	c.AddCommand(newBouncersAddCmd(a, f), newBouncersListCmd(a, f), newBouncersDeleteCmd(a, f),
		newBouncersInspectCmd(a, f), newBouncersPruneCmd(a, f))
	// The remediation components run as `phalanx bouncer KIND` (bouncer is an alias).
	c.AddCommand(newBouncerHTTPCmd(a), newBouncerFirewallCmd(a))
	return c
}

// addBouncer registers a bouncer with its API key (what `bouncers add`
// and `setup` do).
func addBouncer(ctx context.Context, st store.Store, name, key string) error {
	if err := store.AddBouncer(ctx, st, name, key, time.Now()); err != nil {
		return fmt.Errorf("bouncers add: %w", err)
	}
	return nil
}

// bouncerJSON is the -o json shape, with cscli's key names.
type bouncerJSON struct {
	Name        string  `json:"name"`
	IPAddress   string  `json:"ip_address"`
	Revoked     bool    `json:"revoked"`
	Type        string  `json:"type"`
	Version     string  `json:"version"`
	AuthType    string  `json:"auth_type"`
	AutoCreated bool    `json:"auto_created"`
	OSName      string  `json:"osname,omitempty"`
	OSVersion   string  `json:"osversion,omitempty"`
	CreatedAt   *string `json:"created_at"`
	UpdatedAt   *string `json:"updated_at"`
	LastPull    *string `json:"last_pull"`
}

func newBouncersListCmd(a *app, f *localFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the bouncers",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, f, func(ctx context.Context, e localEnv, st store.Store) error {
				bs, err := st.ListBouncers(ctx)
				if err != nil {
					return err
				}
				switch e.Output {
				case "json":
					out := make([]bouncerJSON, 0, len(bs))
					for _, b := range bs {
						out = append(out, bouncerToJSON(b))
					}
					return writeJSON(a.out, out)
				case "raw":
					rows := make([][]string, 0, len(bs))
					for _, b := range bs {
						rows = append(rows, []string{b.Name, b.IPAddress, fmtTime(b.LastPull), "validated", b.Type, b.Version, b.AuthType})
					}
					return writeCSV(a.out, []string{"name", "ip", "last_pull", "status", "type", "version", "auth_type"}, rows)
				}
				t := &table{header: []string{"Name", "IP Address", "Valid", "Last API pull", "Type", "Version", "Auth Type"}}
				for _, b := range bs {
					t.add(b.Name, b.IPAddress, "yes", fmtTime(b.LastPull), b.Type, b.Version, b.AuthType)
				}
				t.render(a.out)
				return nil
			})
		},
	}
}

func newBouncersAddCmd(a *app, f *localFlags) *cobra.Command {
	var key string
	c := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a bouncer and print its API key",
		Example: `  phalanx bouncers add nginx
  KEY=$(phalanx bouncers add fw1 -o raw)
  phalanx bouncers add fw2 -k "$MY_KEY"`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if key == "" {
				key = store.NewAPIKey()
			} else if err := checkAPIKey(key); err != nil {
				return &usageError{fmt.Errorf("bouncers add: %w", err)}
			}
			return withStore(cmd, f, func(ctx context.Context, e localEnv, st store.Store) error {
				if err := addBouncer(ctx, st, name, key); err != nil {
					return err
				}
				var err error
				switch e.Output {
				case "raw":
					_, err = fmt.Fprintln(a.out, key)
					return err
				case "json":
					return writeJSON(a.out, key)
				}
				url := e.lapiURL()
				fmt.Fprintf(a.out, "API key for '%s':\n\n   %s\n\nPlease keep this key since you will not be able to retrieve it!\n\n", name, key)
				fmt.Fprintf(a.out, "Bouncer configuration:\n\napi_url: %s\napi_key: %s\n", url, key)
				return nil
			})
		},
	}
	c.Flags().StringVarP(&key, "key", "k", "", fmt.Sprintf("API key for the bouncer (default: generated; at least %d printable ASCII characters, no space)", minAPIKeyLen))
	return c
}

// minAPIKeyLen is the shortest key bouncers add -k accepts. Every key
// CrowdSec's cscli generates is longer (32 characters, 43 in older
// versions); 16 characters of [A-Za-z0-9] are 95 bits, out of reach of
// guessing over the network, while a one-character key is not.
const minAPIKeyLen = 16

// checkAPIKey checks a key given with -k: long enough, and printable ASCII
// without spaces (it travels in the X-Api-Key header and in YAML files).
func checkAPIKey(k string) error {
	if len(k) < minAPIKeyLen {
		return fmt.Errorf("API key too short (%d characters): at least %d are required", len(k), minAPIKeyLen)
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] > '~' {
			return fmt.Errorf("API key: character %d is not printable ASCII (or is a space)", i+1)
		}
	}
	return nil
}

func newBouncersDeleteCmd(a *app, f *localFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME...",
		Aliases: []string{"remove"},
		Short:   "Delete bouncers",
		Args:    usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, f, func(ctx context.Context, _ localEnv, st store.Store) error {
				for _, name := range args {
					err := st.DeleteBouncer(ctx, name)
					if notFound(err) {
						return fmt.Errorf("bouncer '%s' not found", name)
					}
					if err != nil {
						return fmt.Errorf("bouncers delete: %w", err)
					}
					fmt.Fprintf(a.err, "bouncer '%s' deleted successfully\n", name)
				}
				return nil
			})
		},
	}
}

func bouncerToJSON(b *store.Bouncer) bouncerJSON {
	return bouncerJSON{Name: b.Name, IPAddress: b.IPAddress, Type: b.Type, Version: b.Version,
		AuthType: b.AuthType, AutoCreated: b.AutoCreated, OSName: b.OSName, OSVersion: b.OSVersion,
		CreatedAt: jsonTime(b.CreatedAt), UpdatedAt: jsonTime(b.UpdatedAt), LastPull: jsonTime(b.LastPull)}
}

func bouncerOS(b *store.Bouncer) string {
	if b.OSName == "" && b.OSVersion == "" {
		return ""
	}
	return strings.TrimSpace(b.OSName + "/" + b.OSVersion)
}

func newBouncersInspectCmd(a *app, f *localFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect NAME",
		Short: "Show one bouncer",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, f, func(ctx context.Context, e localEnv, st store.Store) error {
				b, err := st.GetBouncer(ctx, args[0])
				if notFound(err) {
					return fmt.Errorf("bouncer '%s' not found", args[0])
				}
				if err != nil {
					return fmt.Errorf("bouncers inspect: %w", err)
				}
				rows := [][]string{
					{"Name", b.Name},
					{"Created At", fmtTime(b.CreatedAt)},
					{"Last Update", fmtTime(b.UpdatedAt)},
					{"Revoked?", "false"},
					{"IP Address", b.IPAddress},
					{"Type", b.Type},
					{"Version", b.Version},
					{"Last Pull", fmtTime(b.LastPull)},
					{"Auth type", b.AuthType},
					{"OS", bouncerOS(b)},
					{"Auto Created", yesNo(b.AutoCreated)},
				}
				return printInspect(a, e.Output, "Bouncer: "+b.Name, rows, bouncerToJSON(b))
			})
		},
	}
}

// bouncerPruneWarn is the duration under which prune asks again: bouncers
// poll every 10s or so.
const bouncerPruneWarn = 2 * time.Minute

func newBouncersPruneCmd(a *app, f *localFlags) *cobra.Command {
	var duration time.Duration
	var force bool
	c := &cobra.Command{
		Use:   "prune",
		Short: "Delete the bouncers that have not pulled for a duration",
		Example: `  phalanx bouncers prune
  phalanx bouncers prune --duration 24h --force`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if duration <= 0 {
				return &usageError{fmt.Errorf("bouncers prune: --duration must be positive, got %s", duration)}
			}
			return withStore(cmd, f, func(ctx context.Context, e localEnv, st store.Store) error {
				if duration < bouncerPruneWarn && !force &&
					!confirm(a, "The duration you provided is less than 2 minutes. This may remove active bouncers. Continue?") {
					fmt.Fprintln(a.out, "User aborted prune. No changes were made.")
					return nil
				}
				bs, err := st.ListBouncers(ctx)
				if err != nil {
					return fmt.Errorf("bouncers prune: %w", err)
				}
				since := time.Now().UTC().Add(-duration)
				var prune []*store.Bouncer
				for _, b := range bs {
					if inactiveSince(b.LastPull, b.CreatedAt, since) {
						prune = append(prune, b)
					}
				}
				if len(prune) == 0 {
					fmt.Fprintln(a.out, "No bouncers to prune.")
					return nil
				}
				t := &table{header: []string{"Name", "IP Address", "Last API pull", "Type", "Version", "Auth Type"}}
				for _, b := range prune {
					t.add(b.Name, b.IPAddress, fmtTime(b.LastPull), b.Type, b.Version, b.AuthType)
				}
				t.render(a.out)
				if !force && !confirm(a, "You are about to PERMANENTLY remove the above bouncers from the database. These will NEED to be registered again. Continue?") {
					fmt.Fprintln(a.out, "User aborted prune. No changes were made.")
					return nil
				}
				deleted := 0
				for _, b := range prune {
					err := st.DeleteBouncer(ctx, b.Name)
					if notFound(err) {
						continue // deleted meanwhile
					}
					if err != nil {
						return fmt.Errorf("bouncers prune: delete %s: %w", b.Name, err)
					}
					deleted++
				}
				fmt.Fprintf(a.err, "Successfully deleted %d bouncers\n", deleted)
				return nil
			})
		},
	}
	c.Flags().DurationVarP(&duration, "duration", "d", time.Hour, "delete the bouncers that have not pulled for this long")
	c.Flags().BoolVar(&force, "force", false, "do not ask for confirmation")
	return c
}
