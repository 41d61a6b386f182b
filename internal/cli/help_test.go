package cli

import (
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
)

// TestHelpCommandPaths: every "phalanx ..." line of every Example names a
// command by its path (not through an alias), and help prints the path
// typed for the commands reached under two names (bouncer/bouncers).
func TestHelpCommandPaths(t *testing.T) {
	root := NewRoot(strings.NewReader(""), io.Discard, io.Discard)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, l := range strings.Split(c.Example, "\n") {
			l = strings.TrimSpace(l)
			if !strings.HasPrefix(l, "phalanx ") {
				continue
			}
			var words []string
			for _, w := range strings.Fields(l)[1:] {
				if strings.HasPrefix(w, "-") {
					break
				}
				words = append(words, w)
			}
			found, rest, err := root.Find(words)
			require.NoError(t, err, "%s: example %q", c.CommandPath(), l)
			named := "phalanx " + strings.Join(words[:len(words)-len(rest)], " ")
			require.Equal(t, strings.TrimSpace(named), found.CommandPath(), "%s: example %q reaches %s", c.CommandPath(), l, found.CommandPath())
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)

	for _, path := range [][]string{{"bouncer", "http"}, {"bouncer", "firewall"}, {"bouncers", "http"}, {"bouncer", "add"}} {
		t.Run(strings.Join(path, " "), func(t *testing.T) {
			code, out, errs := runCLI(t, "", append(path, "--help")...)
			require.Equal(t, ExitOK, code, errs)
			require.Contains(t, out, "Usage:\n  phalanx "+strings.Join(path, " ")+" ")
		})
	}
}
