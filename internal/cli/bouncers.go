package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/phalanx-ids/phalanx/internal/store"
)

// bouncers: remediation components and their API keys, managed in the local
// database as cscli does.
func newBouncersCmd(a *app) *cobra.Command {
	f := &localFlags{}
	c := &cobra.Command{
		Use:     "bouncers [action]",
		Aliases: []string{"bouncer"},
		Short:   "Manage the bouncers (API keys) of the Local API (local database)",
		Args:    cobra.ArbitraryArgs,
		RunE:    nounRun,
	}
	f.register(c)
	c.AddCommand(newBouncersAddCmd(a, f), newBouncersListCmd(a, f), newBouncersDeleteCmd(a, f))
	// The remediation components run as `phalanx bouncer KIND` (bouncer is an alias).
	c.AddCommand(newBouncerHTTPCmd(a), newBouncerFirewallCmd(a))
	return c
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
						out = append(out, bouncerJSON{Name: b.Name, IPAddress: b.IPAddress, Type: b.Type, Version: b.Version,
							AuthType: b.AuthType, AutoCreated: b.AutoCreated, OSName: b.OSName, OSVersion: b.OSVersion,
							CreatedAt: jsonTime(b.CreatedAt), UpdatedAt: jsonTime(b.UpdatedAt), LastPull: jsonTime(b.LastPull)})
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
				key = randomString(32)
			}
			return withStore(cmd, f, func(ctx context.Context, e localEnv, st store.Store) error {
				hash := store.HashAPIKey(key)
				if others, err := st.BouncersByKeyHash(ctx, hash); err != nil {
					return fmt.Errorf("bouncers add: %w", err)
				} else if len(others) > 0 {
					return fmt.Errorf("bouncers add: that API key is already used by bouncer %q", others[0].Name)
				}
				now := time.Now().UTC()
				err := st.CreateBouncer(ctx, &store.Bouncer{Name: name, KeyHash: hash, AuthType: "api-key", CreatedAt: now, UpdatedAt: now})
				if errors.Is(err, store.ErrExists) {
					return fmt.Errorf("bouncers add: bouncer %s already exists", name)
				}
				if err != nil {
					return fmt.Errorf("bouncers add: %w", err)
				}
				switch e.Output {
				case "raw":
					_, err = fmt.Fprintln(a.out, key)
					return err
				case "json":
					return writeJSON(a.out, key)
				}
				url := e.LAPIURL
				if url == "" {
					if cr, err := readCredentials(e.Credentials); err == nil && cr.URL != "" {
						url = cr.URL
					} else {
						url = defaultLAPIURL
					}
				}
				fmt.Fprintf(a.out, "API key for '%s':\n\n   %s\n\nPlease keep this key since you will not be able to retrieve it!\n\n", name, key)
				fmt.Fprintf(a.out, "Bouncer configuration:\n\napi_url: %s\napi_key: %s\n", url, key)
				return nil
			})
		},
	}
	c.Flags().StringVarP(&key, "key", "k", "", "API key for the bouncer (default: generated)")
	return c
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
