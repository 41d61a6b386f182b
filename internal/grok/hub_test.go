package grok

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// hubNode is the part of a parser node that carries grok.
type hubNode struct {
	PatternSyntax map[string]string `yaml:"pattern_syntax"`
	Grok          struct {
		Pattern string `yaml:"pattern"`
		Name    string `yaml:"name"`
	} `yaml:"grok"`
	Nodes []hubNode `yaml:"nodes"`
}

type hubGrok struct {
	file    string
	pattern string // inline pattern, or %{name} for a name: reference
}

// hubGroks walks parser (or postoverflow) YAML under root and returns every
// pattern_syntax entry (in walk order) and every grok.
func hubGroks(t testing.TB, root string) (syntaxes [][2]string, groks []hubGrok) {
	t.Helper()
	var walkNode func(file string, n hubNode)
	walkNode = func(file string, n hubNode) {
		keys := make([]string, 0, len(n.PatternSyntax))
		for k := range n.PatternSyntax {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			syntaxes = append(syntaxes, [2]string{k, n.PatternSyntax[k]})
		}
		if n.Grok.Pattern != "" {
			groks = append(groks, hubGrok{file, n.Grok.Pattern})
		}
		if n.Grok.Name != "" {
			groks = append(groks, hubGrok{file, "%{" + n.Grok.Name + "}"})
		}
		for _, c := range n.Nodes {
			walkNode(file, c)
		}
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		for {
			var n hubNode
			if err := dec.Decode(&n); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return err
			}
			walkNode(path, n)
		}
		return nil
	})
	require.NoError(t, err)
	return syntaxes, groks
}

// TestHubPatternsResolve compiles every grok of the hub's parsers and
// postoverflows against base + patterns/ + all pattern_syntax, as CrowdSec
// does (one grok host per parser and postoverflow set).
func TestHubPatternsResolve(t *testing.T) {
	t.Parallel()
	hub := testutil.Hub(t)
	base := hubLibrary(t)

	// Every pattern file definition compiles.
	for name := range base.defs {
		_, err := base.CompileNamed(name)
		require.NoError(t, err, name)
	}

	total := 0
	var noSemantics []string
	for _, dir := range []string{"parsers", "postoverflows"} {
		lib := base.Clone()
		syntaxes, groks := hubGroks(t, filepath.Join(hub, dir))
		conflicts := 0
		for _, s := range syntaxes {
			if !lib.AddIfMissing(s[0], s[1]) {
				if def, _ := lib.Definition(s[0]); def != s[1] {
					conflicts++
				}
			}
		}
		t.Logf("%s: %d pattern_syntax entries (%d redefinitions ignored), %d groks", dir, len(syntaxes), conflicts, len(groks))
		var failed []string
		for _, g := range groks {
			p, err := lib.Compile(g.pattern)
			if err != nil {
				failed = append(failed, filepath.Base(g.file)+": "+err.Error())
				continue
			}
			if len(p.Names()) == 0 {
				noSemantics = append(noSemantics, filepath.Base(g.file)+": "+g.pattern)
			}
		}
		require.Empty(t, failed)
		total += len(groks)
	}
	require.Greater(t, total, 200)
	// Groks without any %{X:sem} never succeed in CrowdSec (empty capture
	// set = failure); the hub has two such, in the Windows-event mssql parser.
	require.Equal(t, []string{
		`mssql-logs.yaml: Reason: Password did not match that for the login provided\.`,
		`mssql-logs.yaml: Reason: Could not find a login matching the name provided\.`,
	}, noSemantics)
}

// TestHubNginxErrorLogDuplicate checks the duplicate semantic rule on the
// hub's nginx error-log grok: target_fqdn appears twice, the later
// (server: ...) group wins, as the hubtest nginx_http-logs asserts.
func TestHubNginxErrorLogDuplicate(t *testing.T) {
	t.Parallel()
	hub := testutil.Hub(t)
	lib := hubLibrary(t)
	syntaxes, groks := hubGroks(t, filepath.Join(hub, "parsers", "s01-parse", "crowdsecurity", "nginx-logs.yaml"))
	for _, s := range syntaxes {
		lib.AddIfMissing(s[0], s[1])
	}
	var errGrok string
	for _, g := range groks {
		if strings.Contains(g.pattern, "NGINXERRTIME") {
			errGrok = g.pattern
		}
	}
	require.NotEmpty(t, errGrok)
	p, err := lib.Compile(errGrok)
	require.NoError(t, err)

	cases := []struct {
		name string
		line string
		want string
	}{
		{
			name: "no leading fqdn",
			line: `2021/12/01 13:53:33 [error] 31#31: *46 "/usr/share/nginx/html/market/index.html" is not found (2: No such file or directory), client: 172.17.0.1, server: localhost, request: "GET /market/ HTTP/1.1", host: "localhost"`,
			want: "localhost",
		},
		{
			name: "leading fqdn loses to server",
			line: `front.example.org 2021/12/01 13:53:33 [error] 31#31: *46 open() failed, client: 172.17.0.1, server: back.example.org, request: "GET /x HTTP/1.1", host: "localhost"`,
			want: "back.example.org",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := map[string]string{}
			require.True(t, p.MatchInto(tc.line, got))
			require.Equal(t, tc.want, got["target_fqdn"])
			require.Equal(t, "172.17.0.1", got["remote_addr"])
		})
	}
}

// referenceMatch is a deliberately simple matcher: it compiles the expanded
// pattern with every group still capturing and resolves semantics through
// the marker names. Compile's pruned regexp must agree with it.
func referenceMatch(t testing.TB, lib *Library, pattern string) func(string) map[string]string {
	t.Helper()
	e := expander{lib: lib}
	src, sems, err := e.expand(pattern, nil)
	require.NoError(t, err)
	re, err := regexp.Compile(src)
	require.NoError(t, err)
	idx := map[string]int{}
	for name, id := range sems {
		idx[name] = re.SubexpIndex(markerPrefix + strconv.Itoa(id))
	}
	return func(s string) map[string]string {
		m := re.FindStringSubmatch(s)
		if m == nil || len(idx) == 0 {
			return nil
		}
		out := map[string]string{}
		for name, i := range idx {
			out[name] = m[i]
		}
		return out
	}
}

// TestHubPrunedEquivalence runs every hub grok on a sample of the hubtest
// logs with both the pruned (production) regexp and the reference one.
func TestHubPrunedEquivalence(t *testing.T) {
	t.Parallel()
	hub := testutil.Hub(t)
	lib := hubLibrary(t)
	syntaxes, groks := hubGroks(t, filepath.Join(hub, "parsers"))
	for _, s := range syntaxes {
		lib.AddIfMissing(s[0], s[1])
	}
	logs, err := filepath.Glob(filepath.Join(hub, "tests", "*", "*.log"))
	require.NoError(t, err)
	var lines []string
	for _, f := range logs {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		for i, l := range strings.Split(string(raw), "\n") {
			if i == 2 {
				break
			}
			if l != "" && len(l) < 4096 {
				lines = append(lines, l)
			}
		}
	}
	require.Greater(t, len(lines), 150)
	matched := 0
	for i, g := range groks {
		if i%raceStride != 0 {
			continue
		}
		p, err := lib.Compile(g.pattern)
		require.NoError(t, err)
		ref := referenceMatch(t, lib, g.pattern)
		for _, l := range lines {
			want := ref(l)
			got := map[string]string{}
			ok := p.MatchInto(l, got)
			require.Equal(t, want != nil, ok, "%s on %q", g.pattern, l)
			if ok {
				matched++
				require.Equal(t, want, got, "%s on %q", g.pattern, l)
			}
		}
	}
	require.Greater(t, matched, 200/raceStride)
	t.Logf("%d groks x %d lines, %d matches agree", len(groks)/raceStride, len(lines), matched)
}
