package parse

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// TestLiteralGroupsMatchPrefilter loads every hub parser and checks, for
// every grok step in a literal group, that the group's one-pass answer is
// the pattern's own prefilter (all its literals are substrings of the
// input) on inputs that hold each literal, none, some, and on genlogs
// lines: the group decides only which patterns run, never a match.
func TestLiteralGroupsMatchPrefilter(t *testing.T) {
	t.Parallel()
	hub := testutil.Hub(t)
	files, err := FilesFromDir(filepath.Join(hub, "parsers"))
	require.NoError(t, err)
	p, err := Load(files, testOptions(t))
	require.NoError(t, err)
	var inputs []string
	for _, kind := range []string{"sshd", "nginx"} {
		path, _ := testutil.GenLogs(t, kind, 2000, 1)
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		inputs = append(inputs, strings.Split(strings.TrimSpace(string(raw)), "\n")...)
	}
	var groups, steps int
	seen := map[*litGroup]bool{}
	r := rand.New(rand.NewPCG(1, 2))
	var walk func(n *node)
	walk = func(n *node) {
		for _, c := range n.children {
			walk(c)
		}
		g := n.grok
		if g == nil || g.litGroup == nil {
			return
		}
		steps++
		if !seen[g.litGroup] {
			seen[g.litGroup] = true
			groups++
		}
		lits := g.pat.Prefilter()
		require.Len(t, g.lits, len(lits))
		cases := append([]string{"", strings.Join(lits, " "), strings.Join(lits, "")}, inputs...)
		for _, l := range lits {
			cases = append(cases, "x "+l+" y", l[1:], l[:len(l)-1])
		}
		for range 50 { // some of the literals, shuffled, between other text
			var b strings.Builder
			for _, l := range lits {
				if r.IntN(2) == 0 {
					b.WriteString(l[:r.IntN(len(l)+1)])
				} else {
					b.WriteString(l)
				}
				b.WriteString(inputs[r.IntN(len(inputs))][:r.IntN(8)])
			}
			cases = append(cases, b.String())
		}
		var ls litScan
		for _, in := range cases {
			want := true
			for _, l := range lits {
				want = want && strings.Contains(in, l)
			}
			in = strings.Clone(in) // a new string: a new input
			require.Equal(t, want, ls.holds(g.litGroup, in, g.lits), "first: %q in %q", lits, in)
			require.Equal(t, want, ls.holds(g.litGroup, in, g.lits), "scanned: %q in %q", lits, in)
			require.Equal(t, want, ls.holds(g.litGroup, in, g.lits), "scan read: %q in %q", lits, in)
		}
	}
	for _, stage := range p.nodes {
		for _, n := range stage {
			walk(n)
		}
	}
	t.Logf("%d literal groups, %d grok steps in them", groups, steps)
	require.GreaterOrEqual(t, groups, 1, "sshd-logs' groks on message share one")
	require.GreaterOrEqual(t, steps, minLitGroup)
}
