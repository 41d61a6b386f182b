package cli

// The item nouns, cscli's words: phalanx collections|parsers|scenarios|
// postoverflows|contexts install|remove|upgrade|list|inspect NAME...

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/phalanx-ids/phalanx/internal/hub"
	"github.com/phalanx-ids/phalanx/internal/hub/install"
	"github.com/phalanx-ids/phalanx/internal/textsafe"
)

// hubNouns are the item nouns.
func hubNouns(a *app) []*cobra.Command {
	out := []*cobra.Command{newHubCmd(a)}
	for _, typ := range hub.Types {
		out = append(out, newItemsCmd(a, typ))
	}
	return out
}

func newItemsCmd(a *app, typ string) *cobra.Command {
	f := &hubFlags{}
	one := strings.TrimSuffix(typ, "s")
	c := &cobra.Command{
		Use:     typ + " [action]",
		Aliases: []string{one},
		Short:   "Install, remove, upgrade, list and inspect hub " + typ,
		Args:    cobra.ArbitraryArgs,
		RunE:    nounRun,
	}
	f.register(c)
	c.AddCommand(newItemsInstallCmd(a, f, typ), newItemsRemoveCmd(a, f, typ), newItemsUpgradeCmd(a, f, typ),
		newItemsListCmd(a, f, typ), newItemsInspectCmd(a, f, typ))
	return c
}

func toRefs(typ string, names []string) []hub.Ref {
	out := make([]hub.Ref, len(names))
	for i, n := range names {
		out[i] = hub.Ref{Type: typ, Name: n}
	}
	return out
}

// installedRefs are the installed hub (not local) items of a type ("": all).
func installedRefs(st *install.State, typ string) []hub.Ref {
	var out []hub.Ref
	for _, s := range st.Installed(typ) {
		if !s.Local {
			out = append(out, s.Ref)
		}
	}
	return out
}

func newItemsInstallCmd(a *app, f *hubFlags, typ string) *cobra.Command {
	var o changeOpts
	c := &cobra.Command{
		Use:   "install NAME...",
		Short: "Install " + typ + " (collections with everything they list)",
		Example: fmt.Sprintf(`  phalanx %[1]s install %[2]s
  phalanx %[1]s install %[2]s --dry-run`, typ, exampleName(typ)),
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return changeItems(cmd.Context(), a, f, o, func(in *install.Install, st *install.State) (*install.Plan, error) {
				return in.PlanInstall(st, toRefs(typ, args), o.force)
			})
		},
	}
	o.register(c, false)
	return c
}

func newItemsRemoveCmd(a *app, f *hubFlags, typ string) *cobra.Command {
	return newItemsChangeAllCmd(a, f, typ, "remove", "Remove "+typ+" (a collection takes what no other installed collection needs)",
		func(in *install.Install, st *install.State, refs []hub.Ref, force bool) (*install.Plan, error) {
			return in.PlanRemove(st, refs, force)
		})
}

func newItemsUpgradeCmd(a *app, f *hubFlags, typ string) *cobra.Command {
	return newItemsChangeAllCmd(a, f, typ, "upgrade", "Upgrade "+typ+" to the cached index's version (tainted ones only with --force)",
		func(in *install.Install, st *install.State, refs []hub.Ref, force bool) (*install.Plan, error) {
			return in.PlanUpgrade(st, refs, force)
		})
}

// newItemsChangeAllCmd is an action on the items named, or --all the
// installed ones of the type.
func newItemsChangeAllCmd(a *app, f *hubFlags, typ, verb, short string,
	plan func(*install.Install, *install.State, []hub.Ref, bool) (*install.Plan, error)) *cobra.Command {
	var o changeOpts
	c := &cobra.Command{
		Use:   verb + " NAME... | --all",
		Short: short,
		Args: usageArgs(func(cmd *cobra.Command, args []string) error {
			if o.all == (len(args) > 0) {
				return fmt.Errorf("give names or --all (not both)")
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, args []string) error {
			return changeItems(cmd.Context(), a, f, o, func(in *install.Install, st *install.State) (*install.Plan, error) {
				refs := toRefs(typ, args)
				if o.all {
					refs = installedRefs(st, typ)
				}
				return plan(in, st, refs, o.force)
			})
		},
	}
	o.register(c, true)
	return c
}

func newItemsListCmd(a *app, f *hubFlags, typ string) *cobra.Command {
	var all bool
	c := &cobra.Command{
		Use:   "list [NAME...]",
		Short: "List the installed " + typ + " (-a: every one of the index)",
		Args:  usageArgs(cobra.ArbitraryArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return listItems(a, f, []string{typ}, args, all)
		},
	}
	c.Flags().BoolVarP(&all, "all", "a", false, "list every item of the index, installed or not")
	return c
}

// itemJSON is an item in list -o json, with cscli's keys.
type itemJSON struct {
	Name         string `json:"name"`
	Status       string `json:"status"`
	LocalVersion string `json:"local_version"`
	Version      string `json:"version"`
	LocalPath    string `json:"local_path"`
	Description  string `json:"description"`
}

func toItemJSON(s *install.ItemState) itemJSON {
	j := itemJSON{Name: s.Name, Status: s.Status(), LocalVersion: s.LocalVersion, LocalPath: s.Path}
	if s.Item != nil {
		j.Version, j.Description = s.Item.Version, s.Item.Description
	}
	return j
}

func listItems(a *app, f *hubFlags, types, names []string, all bool) error {
	e, st, err := scanInstall(f)
	if err != nil {
		return err
	}
	byType := map[string][]*install.ItemState{}
	for _, typ := range types {
		for _, s := range st.List(typ, all) {
			if len(names) == 0 || containsStr(names, s.Name) {
				byType[typ] = append(byType[typ], s)
			}
		}
	}
	switch e.Output {
	case "json":
		out := map[string][]itemJSON{}
		for _, typ := range types {
			out[typ] = []itemJSON{}
			for _, s := range byType[typ] {
				out[typ] = append(out[typ], toItemJSON(s))
			}
		}
		return writeJSON(a.out, out)
	case "raw":
		var rows [][]string
		for _, typ := range types {
			for _, s := range byType[typ] {
				j := toItemJSON(s)
				rows = append(rows, []string{typ, j.Name, j.Status, pick(j.LocalVersion, j.Version), j.Description})
			}
		}
		return writeCSV(a.out, []string{"type", "name", "status", "version", "description"}, rows)
	}
	shown := 0
	for _, typ := range types {
		if len(byType[typ]) == 0 {
			continue
		}
		shown++
		t := &table{title: strings.ToUpper(typ), header: []string{"Name", "Status", "Version", "Local Path"}}
		for _, s := range byType[typ] {
			v := s.LocalVersion
			if !s.Installed && s.Item != nil {
				v = s.Item.Version
			}
			t.add(s.Name, s.Status(), v, s.Path)
		}
		t.render(a.out)
	}
	if shown == 0 {
		what, noun := "hub items", hub.Collections
		if len(types) == 1 {
			what, noun = types[0], types[0]
		}
		fmt.Fprintf(a.out, "No %s installed in %s (phalanx %s install NAME; list -a shows the index).\n", what, textsafe.Terminal(e.DataDir), noun)
	}
	return nil
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func newItemsInspectCmd(a *app, f *hubFlags, typ string) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect NAME...",
		Short: "Show one item: versions, state, where it is, what it lists and needs",
		Args:  usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, st, err := scanInstall(f)
			if err != nil {
				return err
			}
			var all []map[string]any
			for _, name := range args {
				s := st.Item(hub.Ref{Type: typ, Name: name})
				if s == nil {
					return fmt.Errorf("%s %q: not installed and not in the index", strings.TrimSuffix(typ, "s"), name)
				}
				rows, obj := inspectItem(s)
				if e.Output == "json" {
					all = append(all, obj)
					continue
				}
				if err := printInspect(a, e.Output, typ+": "+name, rows, nil); err != nil {
					return err
				}
			}
			if e.Output == "json" {
				if len(all) == 1 {
					return writeJSON(a.out, all[0])
				}
				return writeJSON(a.out, all)
			}
			return nil
		},
	}
}

// inspectItem is an item as key/value rows and as a JSON object.
func inspectItem(s *install.ItemState) ([][]string, map[string]any) {
	obj := map[string]any{
		"type": s.Type, "name": s.Name, "status": s.Status(), "installed": s.Installed, "local": s.Local,
		"tainted": s.Tainted, "up_to_date": s.UpToDate(), "local_version": s.LocalVersion, "local_path": s.Path,
		"local_hash": s.Hash, "belongs_to_collections": nonNil(s.BelongsTo),
	}
	rows := [][]string{{"type", s.Type}, {"name", s.Name}, {"status", s.Status()}}
	if it := s.Item; it != nil {
		obj["author"], obj["version"], obj["path"], obj["description"], obj["stage"] = it.Author, it.Version, it.Path, it.Description, it.Stage
		rows = append(rows, []string{"author", it.Author}, []string{"version", it.Version}, []string{"description", it.Description},
			[]string{"hub path", it.Path})
		if it.Stage != "" {
			rows = append(rows, []string{"stage", it.Stage})
		}
		versions := make([]string, 0, len(it.Versions))
		for v := range it.Versions {
			versions = append(versions, v)
		}
		sort.Slice(versions, func(i, j int) bool { return hub.CompareVersions(versions[i], versions[j]) < 0 })
		obj["versions"] = versions
		for _, d := range it.Deps() {
			key := d.Type
			list, _ := obj[key].([]string)
			obj[key] = append(list, d.Name)
		}
		for _, typ := range hub.Types {
			if list, ok := obj[typ].([]string); ok {
				rows = append(rows, []string{typ, strings.Join(list, ", ")})
			}
		}
	}
	rows = append(rows, []string{"installed", yesNo(s.Installed)})
	if s.Installed {
		rows = append(rows, []string{"local version", s.LocalVersion}, []string{"local path", s.Path},
			[]string{"tainted", yesNo(s.Tainted)}, []string{"local", yesNo(s.Local)}, []string{"up to date", yesNo(s.UpToDate())})
	}
	if len(s.BelongsTo) > 0 {
		rows = append(rows, []string{"belongs to collections", strings.Join(s.BelongsTo, ", ")})
	}
	return rows, obj
}

// exampleName is an item of each type, for the help.
func exampleName(typ string) string {
	switch typ {
	case hub.Parsers:
		return "crowdsecurity/sshd-logs"
	case hub.Scenarios:
		return "crowdsecurity/ssh-bf"
	case hub.PostOverflows:
		return "crowdsecurity/rdns"
	case hub.Contexts:
		return "crowdsecurity/bf_base"
	}
	return "crowdsecurity/nginx"
}
