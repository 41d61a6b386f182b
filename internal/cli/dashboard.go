package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/textsafe"
	"github.com/phalanx-ids/phalanx/internal/ui"
)

// dashboard: the users of the dashboard built into `phalanx run`, in the
// local database.
func newDashboardCmd(a *app) *cobra.Command {
	f := &localFlags{}
	c := &cobra.Command{
		Use:   "dashboard [action]",
		Short: "Manage the dashboard served by phalanx run (at /ui/)",
		Args:  cobra.ArbitraryArgs,
		RunE:  nounRun,
	}
	f.register(c)
	users := &cobra.Command{
		Use:     "users [action]",
		Aliases: []string{"user"},
		Short:   "Manage the dashboard's users (local database)",
		Args:    cobra.ArbitraryArgs,
		RunE:    nounRun,
	}
	users.AddCommand(newDashboardUsersAddCmd(a, f), newDashboardUsersListCmd(a, f), newDashboardUsersDeleteCmd(a, f))
	c.AddCommand(users)
	return c
}

func newDashboardUsersAddCmd(a *app, f *localFlags) *cobra.Command {
	var role, password string
	c := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a dashboard user (asks for the password when --password is not given)",
		Example: `  phalanx dashboard users add alice --role admin
  phalanx dashboard users add bob --role viewer --password 'a long password'`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := ui.CheckUserName(name); err != nil {
				return &usageError{err}
			}
			if role != ui.RoleAdmin && role != ui.RoleViewer {
				return &usageError{fmt.Errorf("invalid argument %q for --role: want admin or viewer", role)}
			}
			if !cmd.Flags().Changed("password") {
				pw, err := readPassword(a, "Password for "+name+": ")
				if err != nil {
					return fmt.Errorf("dashboard users add: %w", err)
				}
				password = pw
			}
			return withStore(cmd, f, func(ctx context.Context, _ localEnv, st store.Store) error {
				err := ui.AddUser(ctx, st, name, role, password)
				if errors.Is(err, store.ErrExists) {
					return fmt.Errorf("dashboard user '%s' already exists", textsafe.Terminal(name))
				}
				if err != nil {
					return fmt.Errorf("dashboard users add: %w", err)
				}
				fmt.Fprintf(a.err, "dashboard user '%s' (%s) added\n", textsafe.Terminal(name), role)
				return nil
			})
		},
	}
	c.Flags().StringVar(&role, "role", ui.RoleViewer, "admin (may change things) or viewer (reads only)")
	c.Flags().StringVar(&password, "password", "", fmt.Sprintf("the password (at least %d characters; default: asked)", ui.MinPasswordLen))
	return c
}

// readPassword asks for a password: twice without echo on a terminal,
// else one line of the input.
func readPassword(a *app, prompt string) (string, error) {
	if fd, ok := a.in.(*os.File); ok && term.IsTerminal(int(fd.Fd())) {
		fmt.Fprint(a.err, prompt)
		p1, err := term.ReadPassword(int(fd.Fd()))
		fmt.Fprintln(a.err)
		if err != nil {
			return "", err
		}
		fmt.Fprint(a.err, "Again: ")
		p2, err := term.ReadPassword(int(fd.Fd()))
		fmt.Fprintln(a.err)
		if err != nil {
			return "", err
		}
		if string(p1) != string(p2) {
			return "", errors.New("the passwords differ")
		}
		return string(p1), nil
	}
	line, err := bufio.NewReader(io.LimitReader(a.in, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password given (use --password or type it on the input)")
	}
	return line, nil
}

func newDashboardUsersListCmd(a *app, f *localFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the dashboard users",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, f, func(ctx context.Context, e localEnv, st store.Store) error {
				us, err := st.ListDashboardUsers(ctx)
				if err != nil {
					return fmt.Errorf("dashboard users list: %w", err)
				}
				if e.Output == "json" {
					type userJSON struct {
						Name      string  `json:"name"`
						Role      string  `json:"role"`
						CreatedAt *string `json:"created_at"`
						LastLogin *string `json:"last_login"`
					}
					out := make([]userJSON, 0, len(us))
					for _, u := range us {
						out = append(out, userJSON{u.Name, u.Role, jsonTime(u.CreatedAt), jsonTime(u.LastLogin)})
					}
					return writeJSON(a.out, out)
				}
				t := &table{header: []string{"Name", "Role", "Created", "Last Login"}}
				for _, u := range us {
					t.add(u.Name, u.Role, fmtTime(u.CreatedAt), fmtTime(u.LastLogin))
				}
				t.render(a.out)
				return nil
			})
		},
	}
}

func newDashboardUsersDeleteCmd(a *app, f *localFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME...",
		Aliases: []string{"remove"},
		Short:   "Delete dashboard users (their sessions end at their next request)",
		Args:    usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, f, func(ctx context.Context, _ localEnv, st store.Store) error {
				for _, name := range args {
					err := st.DeleteDashboardUser(ctx, name)
					if notFound(err) {
						return fmt.Errorf("dashboard user '%s' not found", textsafe.Terminal(name))
					}
					if err != nil {
						return fmt.Errorf("dashboard users delete: %w", err)
					}
					fmt.Fprintf(a.err, "dashboard user '%s' deleted\n", textsafe.Terminal(name))
				}
				return nil
			})
		},
	}
}
