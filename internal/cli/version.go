package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/phalanx-ids/phalanx/internal/version"
)

func newVersionCmd(a *app) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and build date of this binary",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := version.Get()
			switch output {
			case "json":
				return writeJSON(a.out, v)
			case "human", "":
			default:
				return &usageError{fmt.Errorf("output format %q: want human or json", output)}
			}
			t := &table{rows: [][]string{{"version", v.Version}, {"commit", v.Commit}, {"build date", v.BuildDate},
				{"go", v.GoVersion}, {"platform", v.Platform}}}
			if v.Modified {
				t.add("modified", "yes")
			}
			t.render(a.out)
			return nil
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "human", "output format: human, json")
	return c
}
