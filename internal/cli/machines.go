package cli

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	daemon "github.com/phalanx-ids/phalanx/internal/app"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/textsafe"
)

// machines: agents registered with the LAPI, managed in the local database
// as cscli does.
func newMachinesCmd(a *app) *cobra.Command {
	f := &localFlags{}
	c := &cobra.Command{
		Use:     "machines [action]",
		Aliases: []string{"machine"},
		Short:   "Manage the machines (agents) of the Local API (local database)",
		Args:    cobra.ArbitraryArgs,
		RunE:    nounRun,
	}
	f.register(c)
	c.AddCommand(newMachinesAddCmd(a, f), newMachinesListCmd(a, f), newMachinesValidateCmd(a, f), newMachinesDeleteCmd(a, f),
		newMachinesInspectCmd(a, f), newMachinesPruneCmd(a, f))
	return c
}

// machineJSON is the -o json shape, with cscli's key names.
type machineJSON struct {
	MachineID     string   `json:"machineId"`
	IPAddress     string   `json:"ipAddress"`
	IsValidated   bool     `json:"isValidated,omitempty"`
	Version       string   `json:"version"`
	AuthType      string   `json:"auth_type"`
	OSName        string   `json:"osname,omitempty"`
	OSVersion     string   `json:"osversion,omitempty"`
	Scenarios     []string `json:"scenarios,omitempty"`
	CreatedAt     *string  `json:"created_at"`
	UpdatedAt     *string  `json:"updated_at"`
	LastPush      *string  `json:"last_push"`
	LastHeartbeat *string  `json:"last_heartbeat"`
}

func newMachinesListCmd(a *app, f *localFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the machines",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, f, func(ctx context.Context, e localEnv, st store.Store) error {
				ms, err := st.ListMachines(ctx)
				if err != nil {
					return err
				}
				return printMachines(a, e.Output, ms)
			})
		},
	}
}

func machineOS(m *store.Machine) string {
	if m.OSName == "" && m.OSVersion == "" {
		return ""
	}
	return strings.TrimSpace(m.OSName + "/" + m.OSVersion)
}

func printMachines(a *app, output string, ms []*store.Machine) error {
	switch output {
	case "json":
		out := make([]machineJSON, 0, len(ms))
		for _, m := range ms {
			out = append(out, machineJSON{
				MachineID: m.ID, IPAddress: m.IPAddress, IsValidated: m.IsValidated, Version: m.Version,
				AuthType: m.AuthType, OSName: m.OSName, OSVersion: m.OSVersion, Scenarios: m.Scenarios,
				CreatedAt: jsonTime(m.CreatedAt), UpdatedAt: jsonTime(m.UpdatedAt),
				LastPush: jsonTime(m.LastPush), LastHeartbeat: jsonTime(m.LastHeartbeat),
			})
		}
		return writeJSON(a.out, out)
	case "raw":
		rows := make([][]string, 0, len(ms))
		for _, m := range ms {
			rows = append(rows, []string{m.ID, m.IPAddress, fmtTime(m.UpdatedAt), validatedWord(m.IsValidated),
				m.Version, m.AuthType, fmtTime(m.LastHeartbeat), machineOS(m)})
		}
		return writeCSV(a.out, []string{"machine_id", "ip_address", "updated_at", "validated", "version", "auth_type", "last_heartbeat", "os"}, rows)
	}
	t := &table{header: []string{"Name", "IP Address", "Last Update", "Status", "Version", "OS", "Auth Type", "Last Heartbeat"}}
	for _, m := range ms {
		t.add(m.ID, m.IPAddress, fmtTime(m.UpdatedAt), validatedWord(m.IsValidated), m.Version, machineOS(m), m.AuthType, fmtTime(m.LastHeartbeat))
	}
	t.render(a.out)
	return nil
}

func validatedWord(v bool) string {
	if v {
		return "validated"
	}
	return "pending"
}

// randomString returns n characters of [A-Za-z0-9] from crypto/rand.
func randomString(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (Go >= 1.24)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func newMachinesAddCmd(a *app, f *localFlags) *cobra.Command {
	var password, file, url string
	var auto, force bool
	c := &cobra.Command{
		Use:   "add [NAME]",
		Short: "Add a validated machine and give its credentials",
		Long: `Add creates a validated machine in the local database and gives its
credentials (url, login, password: CrowdSec's local_api_credentials.yaml) for
the agent that will use them.

They are written to the file given with -f (- for standard output; an
existing file is kept unless --force). Without -f they go to the install's
credentials file only if it does not exist yet (the first machine of a fresh
install, as cscli does); when it exists it is the local agent's, and it is
left alone: the credentials are printed on standard output instead. The url is
--url, else where the daemon of the data dir listens.`,
		Example: `  phalanx machines add web1 --password 'S3cret' -f /etc/phalanx/web1.yaml
  phalanx machines add --auto -f -
  phalanx machines add web2 --auto > web2-credentials.yaml`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			switch {
			case name == "" && !auto:
				return &usageError{errors.New("machines add: give a machine name, or use --auto")}
			case name == "":
				name = "phalanx-" + strings.ToLower(randomString(16))
			}
			if password == "" {
				if !auto {
					return &usageError{errors.New("machines add: give a password with --password, or use --auto")}
				}
				password = randomString(32)
			}
			if len(password) > 72 {
				return &usageError{errors.New("machines add: password longer than 72 bytes")}
			}
			return withStore(cmd, f, func(ctx context.Context, e localEnv, st store.Store) error {
				dump := file
				switch {
				case dump == "-":
				case dump != "":
					if _, err := os.Stat(dump); err == nil && !force {
						return fmt.Errorf("machines add: credentials file %s already exists: remove it, use --force, or give another file with -f (-f - for standard output)", dump)
					}
				default:
					// The install's credentials are the local agent's: never
					// replaced unless named with -f.
					dump = e.Credentials
					if _, err := os.Lstat(dump); !errors.Is(err, fs.ErrNotExist) {
						dump = "-"
					}
				}
				hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
				if err != nil {
					return fmt.Errorf("machines add: hash password: %w", err)
				}
				now := time.Now().UTC()
				err = st.CreateMachine(ctx, &store.Machine{ID: name, PasswordHash: string(hash), IsValidated: true,
					AuthType: "password", IPAddress: "127.0.0.1", CreatedAt: now, UpdatedAt: now})
				if errors.Is(err, store.ErrExists) && force {
					_, err = st.UpdateMachine(ctx, name, func(m *store.Machine) error {
						m.PasswordHash, m.IsValidated, m.UpdatedAt = string(hash), true, now
						return nil
					})
				}
				if errors.Is(err, store.ErrExists) {
					return fmt.Errorf("machines add: machine %q already exists (use --force to reset its password)", name)
				}
				if err != nil {
					return fmt.Errorf("machines add: %w", err)
				}
				fmt.Fprintf(a.err, "Machine '%s' successfully added to the local API.\n", textsafe.Terminal(name))
				cr := daemon.Credentials{URL: pick(url, e.lapiURL()), Login: name, Password: password}
				if dump == "-" {
					if file == "" {
						fmt.Fprintf(a.err, "The local agent's credentials file %s is left as it is; the new machine's credentials follow (-f FILE writes them to a file).\n", textsafe.Terminal(e.Credentials))
					}
					b, err := yaml.Marshal(cr)
					if err != nil {
						return err
					}
					_, err = a.out.Write(b)
					return err
				}
				if err := daemon.WriteCredentials(dump, cr); err != nil {
					return fmt.Errorf("machines add: %w", err)
				}
				fmt.Fprintf(a.err, "API credentials written to '%s'.\n", textsafe.Terminal(dump))
				return nil
			})
		},
	}
	c.Flags().StringVarP(&password, "password", "p", "", "machine password")
	c.Flags().BoolVarP(&auto, "auto", "a", false, "generate the password (and the name when none is given)")
	c.Flags().StringVarP(&file, "file", "f", "", "where to write the credentials (- for standard output; default: see above)")
	c.Flags().StringVarP(&url, "url", "u", "", "LAPI URL written in the credentials (default: where the daemon listens)")
	c.Flags().BoolVar(&force, "force", false, "overwrite the file given with -f, and reset an existing machine's password")
	return c
}

func newMachinesValidateCmd(a *app, f *localFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "validate NAME",
		Short: "Validate a machine that registered itself",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, f, func(ctx context.Context, _ localEnv, st store.Store) error {
				_, err := st.UpdateMachine(ctx, args[0], func(m *store.Machine) error {
					m.IsValidated = true
					m.UpdatedAt = time.Now().UTC()
					return nil
				})
				if notFound(err) {
					return fmt.Errorf("machine '%s' not found", args[0])
				}
				if err != nil {
					return fmt.Errorf("machines validate: %w", err)
				}
				fmt.Fprintf(a.err, "machine '%s' validated successfully\n", args[0])
				return nil
			})
		},
	}
}

func newMachinesDeleteCmd(a *app, f *localFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME...",
		Aliases: []string{"remove"},
		Short:   "Delete machines",
		Args:    usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, f, func(ctx context.Context, _ localEnv, st store.Store) error {
				for _, name := range args {
					err := st.DeleteMachine(ctx, name)
					if notFound(err) {
						return fmt.Errorf("machine '%s' not found", name)
					}
					if err != nil {
						return fmt.Errorf("machines delete: %w", err)
					}
					fmt.Fprintf(a.err, "machine '%s' deleted successfully\n", name)
				}
				return nil
			})
		},
	}
}

func machineToJSON(m *store.Machine) machineJSON {
	return machineJSON{
		MachineID: m.ID, IPAddress: m.IPAddress, IsValidated: m.IsValidated, Version: m.Version,
		AuthType: m.AuthType, OSName: m.OSName, OSVersion: m.OSVersion, Scenarios: m.Scenarios,
		CreatedAt: jsonTime(m.CreatedAt), UpdatedAt: jsonTime(m.UpdatedAt),
		LastPush: jsonTime(m.LastPush), LastHeartbeat: jsonTime(m.LastHeartbeat),
	}
}

func newMachinesInspectCmd(a *app, f *localFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect NAME",
		Short: "Show one machine",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, f, func(ctx context.Context, e localEnv, st store.Store) error {
				m, err := st.GetMachine(ctx, args[0])
				if notFound(err) {
					return fmt.Errorf("machine '%s' not found", args[0])
				}
				if err != nil {
					return fmt.Errorf("machines inspect: %w", err)
				}
				rows := [][]string{
					{"Name", m.ID},
					{"IP Address", m.IPAddress},
					{"Created At", fmtTime(m.CreatedAt)},
					{"Last Update", fmtTime(m.UpdatedAt)},
					{"Last Push", fmtTime(m.LastPush)},
					{"Last Heartbeat", fmtTime(m.LastHeartbeat)},
					{"Validated?", yesNo(m.IsValidated)},
					{"Version", m.Version},
					{"OS", machineOS(m)},
					{"Auth type", m.AuthType},
					{"Scenarios", strings.Join(m.Scenarios, ",")},
				}
				return printInspect(a, e.Output, "Machine: "+m.ID, rows, machineToJSON(m))
			})
		},
	}
}

// machinePruneWarn is the duration under which prune asks again: active
// agents heartbeat every 30s or so.
const machinePruneWarn = 2 * time.Minute

func newMachinesPruneCmd(a *app, f *localFlags) *cobra.Command {
	var duration time.Duration
	var notValidatedOnly, force bool
	c := &cobra.Command{
		Use:   "prune",
		Short: "Delete the machines not validated, and those without heartbeat for a duration",
		Example: `  phalanx machines prune
  phalanx machines prune --duration 1h --force
  phalanx machines prune --not-validated-only --force`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if duration <= 0 {
				return &usageError{fmt.Errorf("machines prune: --duration must be positive, got %s", duration)}
			}
			return withStore(cmd, f, func(ctx context.Context, e localEnv, st store.Store) error {
				if duration < machinePruneWarn && !notValidatedOnly && !force &&
					!confirm(a, "The duration you provided is less than 2 minutes. This may remove active machines. Continue?") {
					fmt.Fprintln(a.out, "User aborted prune. No changes were made.")
					return nil
				}
				ms, err := st.ListMachines(ctx)
				if err != nil {
					return fmt.Errorf("machines prune: %w", err)
				}
				since := time.Now().UTC().Add(-duration)
				var prune []*store.Machine
				for _, m := range ms {
					switch {
					case !m.IsValidated:
						prune = append(prune, m)
					case notValidatedOnly:
					case inactiveSince(m.LastHeartbeat, m.CreatedAt, since):
						prune = append(prune, m)
					}
				}
				if len(prune) == 0 {
					fmt.Fprintln(a.out, "No machines to prune.")
					return nil
				}
				if err := printMachines(a, e.Output, prune); err != nil {
					return err
				}
				if !force && !confirm(a, "You are about to PERMANENTLY remove the above machines from the database. These will NEED to be validated again. Continue?") {
					fmt.Fprintln(a.out, "User aborted prune. No changes were made.")
					return nil
				}
				deleted := 0
				for _, m := range prune {
					err := st.DeleteMachine(ctx, m.ID)
					if notFound(err) {
						continue // deleted meanwhile
					}
					if err != nil {
						return fmt.Errorf("machines prune: delete %s: %w", m.ID, err)
					}
					deleted++
				}
				fmt.Fprintf(a.err, "successfully deleted %d machines\n", deleted)
				return nil
			})
		},
	}
	c.Flags().DurationVarP(&duration, "duration", "d", 10*time.Minute, "delete validated machines without heartbeat for this long")
	c.Flags().BoolVar(&notValidatedOnly, "not-validated-only", false, "only delete the machines not validated")
	c.Flags().BoolVar(&force, "force", false, "do not ask for confirmation")
	return c
}

// inactiveSince says whether something last seen at last (zero: never,
// then judged by its creation time) was inactive since since.
func inactiveSince(last, created, since time.Time) bool {
	if last.IsZero() {
		return created.Before(since)
	}
	return last.Before(since)
}
