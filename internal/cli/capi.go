package cli

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/spf13/cobra"

	"github.com/phalanx-ids/phalanx/internal/capi"
	"github.com/phalanx-ids/phalanx/internal/textsafe"
	"github.com/phalanx-ids/phalanx/internal/version"
)

// capi: the install's identity at a central API (CrowdSec's, or a Phalanx
// central), in online_api_credentials.yaml; console: enrolment and the
// consent flags of console.yaml. The daemon reads both at start.
func newCAPICmd(a *app) *cobra.Command {
	f := &localFlags{}
	c := &cobra.Command{
		Use:   "capi [action]",
		Short: "Register with a central API (community sharing) and check it",
		Args:  cobra.ArbitraryArgs,
		RunE:  nounRun,
	}
	f.register(c)
	c.AddCommand(newCAPIRegisterCmd(a, f), newCAPIStatusCmd(a, f))
	return c
}

func capiOptions() capi.ClientOptions {
	return capi.ClientOptions{UserAgent: version.UserAgent()}
}

func newCAPIRegisterCmd(a *app, f *localFlags) *cobra.Command {
	var url, file string
	var force bool
	c := &cobra.Command{
		Use:   "register",
		Short: "Register this install with a central API and write online_api_credentials.yaml",
		Long: "Creates an identity (a 48-character machine id and a generated password) at the central\n" +
			"(POST /v3/watchers) and writes it to online_api_credentials.yaml in the data dir (0600).\n" +
			"Restart the daemon to start sharing signals and pulling the community list.",
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := f.resolve()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			if file != "" {
				e.CAPI.CredentialsPath = file
			}
			creds, err := capi.Register(ctx, url, e.CAPI.CredentialsPath, force, capiOptions())
			if err != nil {
				return err
			}
			switch e.Output {
			case "json":
				return writeJSON(a.out, map[string]string{"url": creds.URL, "login": creds.Login, "credentials_path": e.CAPI.CredentialsPath})
			case "raw":
				fmt.Fprintln(a.out, textsafe.Terminal(e.CAPI.CredentialsPath))
			default:
				fmt.Fprintf(a.out, "Registered with %s as %s.\nCredentials written to %s.\nRestart the daemon (systemctl restart phalanx) to share and pull.\n",
					textsafe.Terminal(creds.URL), textsafe.Terminal(creds.Login), textsafe.Terminal(e.CAPI.CredentialsPath))
			}
			return nil
		},
	}
	c.Flags().StringVar(&url, "url", capi.DefaultURL, "the central API's URL")
	c.Flags().BoolVar(&force, "force", false, "register again, replacing the credentials file")
	c.Flags().StringVarP(&file, "file", "f", "", "write the credentials there instead (e.g. for a CrowdSec install)")
	return c
}

// capiStatus logs in and says what the install can do.
func capiStatus(ctx context.Context, e localEnv) (capi.Status, error) {
	creds, err := capi.ReadCredentials(e.CAPI.CredentialsPath)
	if err != nil {
		return capi.Status{}, err
	}
	st := capi.Status{URL: creds.URL, Login: creds.Login}
	cl, err := capi.NewClient(creds, capiOptions())
	if err != nil {
		return st, err
	}
	info, err := cl.Login(ctx)
	if err != nil {
		return st, err
	}
	st.Push, st.Pull = e.CAPI.Sharing, e.CAPI.PullCommunity || e.CAPI.PullBlocklists
	st.Enrolled, st.Org = info.Enrolled, info.Organization
	if !info.Expire.IsZero() {
		st.Expire = info.Expire.UTC().Format(time.RFC3339)
	}
	if s, err := e.openStore(ctx); err == nil {
		st.Pending, st.Sent, _ = s.OutboxStats(ctx)
		_ = s.Close()
	}
	return st, nil
}

func newCAPIStatusCmd(a *app, f *localFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Log in to the central API and say what this install can do (push, pull, enrolled)",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := f.resolve()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			st, err := capiStatus(ctx, e)
			if err != nil {
				return err
			}
			if e.Output == "json" {
				return writeJSON(a.out, st)
			}
			fmt.Fprintf(a.out, "Logged in to %s as %s.\n", textsafe.Terminal(st.URL), textsafe.Terminal(st.Login))
			fmt.Fprintf(a.out, "  push signals:        %s\n", yesNo(st.Push))
			fmt.Fprintf(a.out, "  pull community list: %s\n", yesNo(st.Pull))
			if st.Enrolled {
				fmt.Fprintf(a.out, "  enrolled:            yes (organization %s)\n", textsafe.Terminal(st.Org))
			} else {
				fmt.Fprintln(a.out, "  enrolled:            no (phalanx console enroll KEY)")
			}
			fmt.Fprintf(a.out, "  outbox:              %d pending, %d sent (kept for deduplication)\n", st.Pending, st.Sent)
			return nil
		},
	}
}

func newConsoleCmd(a *app) *cobra.Command {
	f := &localFlags{}
	c := &cobra.Command{
		Use:   "console [action]",
		Short: "Enrol the install at its central and set what it shares",
		Args:  cobra.ArbitraryArgs,
		RunE:  nounRun,
	}
	f.register(c)
	c.AddCommand(newConsoleEnrollCmd(a, f), newConsoleStatusCmd(a, f), newConsoleToggleCmd(a, f, true), newConsoleToggleCmd(a, f, false))
	return c
}

var attachmentKeyRe = regexp.MustCompile(`^[a-zA-Z0-9]+$`)

func newConsoleEnrollCmd(a *app, f *localFlags) *cobra.Command {
	var name string
	var tags []string
	var overwrite bool
	c := &cobra.Command{
		Use:   "enroll KEY",
		Short: "Enrol this install with an attachment key (POST /v3/watchers/enroll)",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !attachmentKeyRe.MatchString(args[0]) {
				return &usageError{fmt.Errorf("attachment key: letters and digits only")}
			}
			e, err := f.resolve()
			if err != nil {
				return err
			}
			creds, err := capi.ReadCredentials(e.CAPI.CredentialsPath)
			if err != nil {
				return fmt.Errorf("%w (register first: phalanx capi register --url URL)", err)
			}
			cl, err := capi.NewClient(creds, capiOptions())
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			if err := cl.Enroll(ctx, args[0], name, tags, overwrite); err != nil {
				return err
			}
			if e.Output == "json" {
				return writeJSON(a.out, map[string]any{"enrolled": true, "url": creds.URL, "name": name})
			}
			fmt.Fprintf(a.out, "Enrolled with %s. The central now counts this install's signals as its organisation's.\n", textsafe.Terminal(creds.URL))
			return nil
		},
	}
	c.Flags().StringVar(&name, "name", "", "the name the central shows for this install")
	c.Flags().StringSliceVar(&tags, "tags", nil, "tags for this install")
	c.Flags().BoolVar(&overwrite, "overwrite", false, "enrol again (another organisation)")
	return c
}

// consoleFlags are console.yaml's flags by name.
var consoleFlags = []string{"custom", "tainted", "manual", "context"}

func consentFlag(c *capi.Consent, name string) *bool {
	switch name {
	case "custom":
		return &c.ShareCustom
	case "tainted":
		return &c.ShareTainted
	case "manual":
		return &c.ShareManualDecisions
	case "context":
		return &c.ShareContext
	}
	return nil
}

func newConsoleStatusCmd(a *app, f *localFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show what this install shares (console.yaml)",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := f.resolve()
			if err != nil {
				return err
			}
			c, err := capi.ReadConsole(e.CAPI.ConsolePath)
			if err != nil {
				return err
			}
			if e.Output == "json" {
				return writeJSON(a.out, map[string]bool{"share_custom": c.ShareCustom, "share_tainted": c.ShareTainted,
					"share_manual_decisions": c.ShareManualDecisions, "share_context": c.ShareContext})
			}
			t := &table{header: []string{"Option", "Enabled", "Description"}}
			t.add("custom", yesNo(c.ShareCustom), "signals of scenarios without a hub hash (share_custom)")
			t.add("tainted", yesNo(c.ShareTainted), "signals of locally modified hub scenarios (share_tainted)")
			t.add("manual", yesNo(c.ShareManualDecisions), "signals of decisions added by hand (share_manual_decisions)")
			t.add("context", yesNo(c.ShareContext), "the alert context with signals (share_context)")
			t.render(a.out)
			return nil
		},
	}
}

func newConsoleToggleCmd(a *app, f *localFlags, enable bool) *cobra.Command {
	use, short := "disable", "Stop sharing"
	if enable {
		use, short = "enable", "Share"
	}
	return &cobra.Command{
		Use:   use + " custom|tainted|manual|context...",
		Short: short + " a kind of signal (console.yaml; restart the daemon to apply)",
		Args:  usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := f.resolve()
			if err != nil {
				return err
			}
			c, err := capi.ReadConsole(e.CAPI.ConsolePath)
			if err != nil {
				return err
			}
			for _, name := range args {
				p := consentFlag(&c, name)
				if p == nil {
					return &usageError{fmt.Errorf("unknown option %q: want one of %v", name, consoleFlags)}
				}
				*p = enable
			}
			if err := capi.WriteConsole(e.CAPI.ConsolePath, c); err != nil {
				return err
			}
			if e.Output != "json" {
				fmt.Fprintf(a.out, "%s: %s %v\n", textsafe.Terminal(e.CAPI.ConsolePath), use+"d", args)
			}
			return nil
		},
	}
}
