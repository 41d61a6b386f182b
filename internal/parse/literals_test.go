package parse

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/event"
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

// TestSkipMatchesTraced runs genlogs sshd lines through the linux
// collection's parsers twice: in a session without a tracer, where the
// groks of sshd-logs' literal group whose input lacks a literal are
// counted by their parent without being run (node.skip), and with a detail
// tracer, which runs every node. Results, fields and every node's counters
// must be the same.
func TestSkipMatchesTraced(t *testing.T) {
	t.Parallel()
	files := hubFiles(t, "s00-raw/crowdsecurity/syslog-logs.yaml",
		"s01-parse/crowdsecurity/sshd-logs.yaml",
		"s01-parse/crowdsecurity/sshd-success-logs.yaml",
		"s02-enrich/crowdsecurity/dateparse-enrich.yaml")
	fast, err := Load(files, testOptions(t))
	require.NoError(t, err)
	slow, err := Load(files, testOptions(t))
	require.NoError(t, err)
	skips := 0
	for _, n := range fast.all {
		if n.skip {
			skips++
		}
	}
	require.GreaterOrEqual(t, skips, 16, "sshd-logs' groks on message")
	path, _ := testutil.GenLogs(t, "sshd", 3000, 1)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	dump := func(evt *event.Event) string {
		var b strings.Builder
		for _, part := range []event.Part{event.Parsed, event.Meta, event.Enriched} {
			evt.Each(part, func(name, v string) { fmt.Fprintf(&b, "%d %s=%s\n", part, name, v) })
		}
		return b.String()
	}
	s := fast.Session()
	parsed := 0
	for _, l := range lines {
		a := fast.Schema().New(event.Line{Raw: l, Labels: map[string]string{"type": "syslog"}})
		b := slow.Schema().New(event.Line{Raw: l, Labels: map[string]string{"type": "syslog"}})
		okA := s.Parse(a, nil)
		okB := slow.Parse(b, &detail{})
		require.Equal(t, okB, okA, l)
		require.Equal(t, dump(b), dump(a), l)
		if okA {
			parsed++
		}
	}
	s.Close()
	require.Positive(t, parsed)
	require.Less(t, parsed, len(lines), "some lines no parser takes")
	require.Equal(t, slow.Stats(), fast.Stats())
}
