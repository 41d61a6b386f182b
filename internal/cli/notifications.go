package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	daemon "github.com/phalanx-ids/phalanx/internal/app"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/notify"
	"github.com/phalanx-ids/phalanx/internal/notify/builtin"
	"github.com/phalanx-ids/phalanx/internal/profile"
	"github.com/phalanx-ids/phalanx/internal/textsafe"
)

// notifications: the notification files of the install (CrowdSec's
// format, lapi.notification_dir), as cscli notifications shows them.
func newNotificationsCmd(a *app) *cobra.Command {
	f := &localFlags{}
	c := &cobra.Command{
		Use:     "notifications [action]",
		Aliases: []string{"notification", "notifs"},
		Short:   "List, inspect and test the notifications the profiles send alerts to",
		Args:    cobra.ArbitraryArgs,
		RunE:    nounRun,
	}
	f.register(c)
	c.AddCommand(newNotificationsListCmd(a, f), newNotificationsInspectCmd(a, f), newNotificationsTestCmd(a, f))
	return c
}

// notifEnv is the loaded notification directory and what profiles use it.
type notifEnv struct {
	output string
	dir    string
	set    *notify.Set
	used   map[string][]string // notification -> profile names
}

// loadNotifications reads the notification dir (lapi.notification_dir of
// -c, else DATA_DIR/notifications) and the profiles (lapi.profiles_path).
func loadNotifications(a *app, f *localFlags) (notifEnv, error) {
	e, err := f.resolve()
	if err != nil {
		return notifEnv{}, err
	}
	n := notifEnv{output: e.Output, used: map[string][]string{}}
	var profilesPath string
	if f.config != "" {
		cfg, err := daemon.LoadConfig(f.config)
		if err != nil {
			return n, err
		}
		n.dir, profilesPath = cfg.LAPI.NotificationDir, cfg.LAPI.ProfilesPath
	}
	must := n.dir != ""
	if !must {
		n.dir = filepath.Join(e.DataDir, daemon.NotificationsDir)
	}
	n.set, err = builtin.NewRegistry().LoadDir(n.dir, notify.LoadOptions{Logger: a.logger()})
	switch {
	case err != nil && !must && errors.Is(err, fs.ErrNotExist):
		n.set, _ = notify.NewSet(nil)
	case err != nil:
		return n, err
	}
	var profs []profile.Config
	if profilesPath != "" {
		data, err := os.ReadFile(profilesPath)
		if err != nil {
			return n, fmt.Errorf("profiles: %w", err)
		}
		if profs, err = profile.Parse(profilesPath, data); err != nil {
			return n, err
		}
	} else if profs, err = profile.Parse("default profiles", profile.DefaultYAML()); err != nil {
		return n, err
	}
	for _, p := range profs {
		for _, name := range p.Notifications {
			n.used[name] = append(n.used[name], p.Name)
		}
	}
	return n, nil
}

// loadOne loads the notifications and finds name among them.
func loadOne(a *app, f *localFlags, name string) (notifEnv, *notify.Spec, error) {
	n, err := loadNotifications(a, f)
	if err != nil {
		return n, nil, err
	}
	s, err := n.lookup(name)
	return n, s, err
}

func (n notifEnv) lookup(name string) (*notify.Spec, error) {
	s, ok := n.set.Lookup(name)
	if !ok {
		var have []string
		for _, sp := range n.set.Specs() {
			have = append(have, sp.Name())
		}
		if len(have) == 0 {
			return nil, fmt.Errorf("notification %q: none is configured in %s", name, n.dir)
		}
		return nil, fmt.Errorf("notification %q: not in %s (configured: %s)", name, n.dir, strings.Join(have, ", "))
	}
	return s, nil
}

// notificationJSON is the -o json shape of list and inspect.
type notificationJSON struct {
	Name     string         `json:"name"`
	Type     string         `json:"type"`
	File     string         `json:"file"`
	Line     int            `json:"line"`
	Active   bool           `json:"active"`
	Profiles []string       `json:"profiles"`
	Config   []notify.Field `json:"config,omitempty"`
}

func (n notifEnv) toJSON(s *notify.Spec, withConfig bool) notificationJSON {
	j := notificationJSON{Name: s.Name(), Type: s.Module.Type(), File: s.File, Line: s.Line,
		Active: len(n.used[s.Name()]) > 0, Profiles: append([]string{}, n.used[s.Name()]...)}
	if withConfig {
		j.Config = s.Describe()
	}
	return j
}

func newNotificationsListCmd(a *app, f *localFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the notifications and the profiles that use them",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, err := loadNotifications(a, f)
			if err != nil {
				return err
			}
			specs := n.set.Specs()
			header := []string{"Active", "Name", "Type", "Profiles", "File"}
			rows := make([][]string, 0, len(specs))
			out := make([]notificationJSON, 0, len(specs))
			for _, s := range specs {
				j := n.toJSON(s, false)
				out = append(out, j)
				rows = append(rows, []string{yesNo(j.Active), s.Name(), j.Type, strings.Join(j.Profiles, ","), s.Where()})
			}
			switch n.output {
			case "json":
				return writeJSON(a.out, out)
			case "raw":
				return writeCSV(a.out, header, rows)
			}
			if len(rows) == 0 {
				fmt.Fprintf(a.out, "No notification in %s\n", textsafe.Terminal(n.dir))
				return nil
			}
			t := &table{header: header}
			for _, r := range rows {
				t.add(r...)
			}
			t.render(a.out)
			return nil
		},
	}
}

// configRows prints Describe's fields as key/value rows.
func configRows(s *notify.Spec) [][]string {
	var rows [][]string
	for _, fld := range s.Describe() {
		var v string
		switch x := fld.Value.(type) {
		case map[string]string:
			parts := make([]string, 0, len(x))
			for _, k := range slices.Sorted(maps.Keys(x)) {
				parts = append(parts, k+": "+x[k])
			}
			v = strings.Join(parts, ", ")
		case []string:
			v = strings.Join(x, ", ")
		default:
			v = fmt.Sprint(x)
		}
		rows = append(rows, []string{fld.Key, v})
	}
	return rows
}

func newNotificationsInspectCmd(a *app, f *localFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect NAME",
		Short: "Show a notification's configuration (secrets redacted)",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, s, err := loadOne(a, f, args[0])
			if err != nil {
				return err
			}
			j := n.toJSON(s, true)
			rows := [][]string{{"file", s.Where()}, {"active", yesNo(j.Active)}, {"profiles", strings.Join(j.Profiles, ",")}}
			rows = append(rows, configRows(s)...)
			if n.output != "human" {
				return printInspect(a, n.output, "", rows, j)
			}
			// The format is a block of its own below the table.
			rows = slices.DeleteFunc(rows, func(r []string) bool { return r[0] == "format" })
			if err := printInspect(a, n.output, "Notification: "+s.Name(), rows, j); err != nil {
				return err
			}
			fmt.Fprintln(a.out, "format:")
			printBlock(a, s.Common().Format)
			return nil
		},
	}
}

// testResult is the -o json shape of test.
type testResult struct {
	Name      string `json:"name"`
	Type      string `json:"type"`
	Sent      bool   `json:"sent"`
	Retryable bool   `json:"retryable,omitempty"`
	Error     string `json:"error,omitempty"`
	Message   string `json:"message"`
}

func newNotificationsTestCmd(a *app, f *localFlags) *cobra.Command {
	var alertJSON string
	c := &cobra.Command{
		Use:   "test NAME",
		Short: "Send a generated alert through a notification and print the result",
		Long: "Renders the notification's format over a generated alert (an Ip ban of " + notify.TestIP +
			") and sends it once through the real notifier, with the notification's timeout. " +
			"--alert takes JSON fields that replace the generated alert's.",
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, s, err := loadOne(a, f, args[0])
			if err != nil {
				return err
			}
			host, _ := os.Hostname()
			al := notify.TestAlert(time.Now(), host)
			if alertJSON != "" {
				if err := json.Unmarshal([]byte(alertJSON), al); err != nil {
					return &usageError{fmt.Errorf("--alert: %w", err)}
				}
			}
			res := testResult{Name: s.Name(), Type: s.Module.Type()}
			res.Message, err = s.Render([]*models.Alert{al})
			if err == nil {
				res.Sent, res.Retryable, err = sendOnce(cmd.Context(), a, s, res.Message, al)
			}
			if err != nil {
				res.Error = err.Error()
			}
			switch n.output {
			case "json":
				if err := writeJSON(a.out, res); err != nil {
					return err
				}
			case "raw":
				if err := writeCSV(a.out, []string{"name", "type", "sent", "retryable", "error"},
					[][]string{{res.Name, res.Type, fmt.Sprint(res.Sent), fmt.Sprint(res.Retryable), res.Error}}); err != nil {
					return err
				}
			default:
				printTestResult(a, res)
			}
			if !res.Sent {
				return &failureError{msg: fmt.Sprintf("notification %s: not sent", textsafe.Terminal(s.Name()))}
			}
			return nil
		},
	}
	c.Flags().StringVarP(&alertJSON, "alert", "a", "", `JSON fields replacing the generated alert's, e.g. '{"scenario": "my/scenario"}'`)
	return c
}

// sendOnce provisions the notifier and makes one attempt.
func sendOnce(ctx context.Context, a *app, s *notify.Spec, text string, al *models.Alert) (sent, retryable bool, err error) {
	nt, err := s.Provision(a.logger())
	if err != nil {
		return false, false, err
	}
	defer nt.Close()
	ctx, cancel := context.WithTimeout(ctx, s.Common().Timeout)
	defer cancel()
	retryable, err = nt.Send(ctx, notify.Message{Name: s.Name(), Text: text, Alerts: []*models.Alert{al}})
	if err != nil {
		return false, retryable, err
	}
	return true, false, nil
}

func printTestResult(a *app, res testResult) {
	name := textsafe.Terminal(res.Name)
	fmt.Fprintf(a.out, "Message rendered by %s (%s):\n", name, res.Type)
	printBlock(a, res.Message)
	switch {
	case res.Sent:
		fmt.Fprintf(a.out, "Sent: %s accepted the test alert.\n", name)
	case res.Retryable:
		fmt.Fprintf(a.out, "Not sent (a temporary failure: the daemon would retry): %s\n", textsafe.Terminal(res.Error))
	default:
		fmt.Fprintf(a.out, "Not sent (the daemon would not retry): %s\n", textsafe.Terminal(res.Error))
	}
}

// printBlock prints text indented, line by line, control characters
// escaped.
func printBlock(a *app, text string) {
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		fmt.Fprintf(a.out, "  | %s\n", textsafe.Terminal(line))
	}
}
