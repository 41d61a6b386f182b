package exprenv

import (
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// hubExpr is one expression found in a hub file.
type hubExpr struct {
	file, where, src string
	envKind          string // "evt", "condition" or "overflow_filter"
}

func yamlDocs(t *testing.T, path string) []map[string]any {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if err == io.EOF {
			return docs
		}
		require.NoError(t, err, path)
		if d != nil {
			docs = append(docs, d)
		}
	}
}

func str(v any) string { s, _ := v.(string); return s }

func ylist(v any) []any { l, _ := v.([]any); return l }

func mp(v any) map[string]any { m, _ := v.(map[string]any); return m }

// nodeExprs collects a parser node's expressions, children included.
func nodeExprs(file, where string, n map[string]any, out *[]hubExpr) {
	add := func(w, src string) {
		if strings.TrimSpace(src) != "" {
			*out = append(*out, hubExpr{file, where + w, src, "evt"})
		}
	}
	add("filter", str(n["filter"]))
	statics := func(w string, l []any) {
		for i, s := range l {
			add(w+"statics["+itoa(i)+"].expression", str(mp(s)["expression"]))
		}
	}
	statics("", ylist(n["statics"]))
	if g := mp(n["grok"]); g != nil {
		add("grok.expression", str(g["expression"]))
		statics("grok.", ylist(g["statics"]))
	}
	if w := mp(n["whitelist"]); w != nil {
		for i, x := range ylist(w["expression"]) {
			add("whitelist.expression["+itoa(i)+"]", str(x))
		}
	}
	for i, s := range ylist(n["stash"]) {
		add("stash["+itoa(i)+"].key", str(mp(s)["key"]))
		add("stash["+itoa(i)+"].value", str(mp(s)["value"]))
	}
	for i, c := range ylist(n["nodes"]) {
		nodeExprs(file, where+"nodes["+itoa(i)+"].", mp(c), out)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func hubYAMLs(t *testing.T, root string) []string {
	var files []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			files = append(files, p)
		}
		return nil
	})
	require.NoError(t, err)
	sort.Strings(files)
	return files
}

type evtEnv struct {
	Evt *event.Event `expr:"evt"`
}

func compileAll(t *testing.T, e *Env, exprs []hubExpr) (failed []string) {
	for _, x := range exprs {
		var env any = evtEnv{}
		switch x.envKind {
		case "condition":
			env = map[string]any{"evt": &event.Event{}, "queue": map[string]any{}, "leaky": map[string]any{}}
		case "overflow_filter":
			env = map[string]any{"queue": map[string]any{}, "signal": map[string]any{}, "leaky": map[string]any{}}
		}
		if _, err := e.Compile(x.src, env); err != nil {
			failed = append(failed, x.file+" "+x.where+": "+firstLine(err.Error()))
		}
	}
	return failed
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// TestHubParserExpressionsCompile compiles every expression of every hub
// parser and postoverflow.
func TestHubParserExpressionsCompile(t *testing.T) {
	hub := testutil.Hub(t)
	var exprs []hubExpr
	for _, sub := range []string{"parsers", "postoverflows"} {
		for _, f := range hubYAMLs(t, filepath.Join(hub, sub)) {
			rel, _ := filepath.Rel(hub, f)
			for _, d := range yamlDocs(t, f) {
				nodeExprs(rel, "", d, &exprs)
			}
		}
	}
	require.Greater(t, len(exprs), 1200, "too few expressions found: walker broken?")
	failed := compileAll(t, New(Deps{}), exprs)
	t.Logf("parsers+postoverflows: %d expressions, %d failed", len(exprs), len(failed))
	require.Empty(t, unknownFailures(failed, parserKnownFailures))
}

// parserKnownFailures: hub parser expressions that do not compile, and why.
var parserKnownFailures = map[string]string{}

// unknownFailures drops the failures listed in known (logging them).
func unknownFailures(failed []string, known map[string]string) []string {
	var out []string
	for _, f := range failed {
		key, _, _ := strings.Cut(f, ": ")
		if _, ok := known[key]; !ok {
			out = append(out, f)
		}
	}
	return out
}

// scenarioKnownFailures lists the hub scenario expressions that do not
// compile, and why. Keep it empty when possible.
var scenarioKnownFailures = map[string]string{}

// TestHubScenarioExpressionsCompile compiles every expression of every hub
// scenario, with {evt} or the condition / overflow_filter environments.
func TestHubScenarioExpressionsCompile(t *testing.T) {
	hub := testutil.Hub(t)
	var exprs []hubExpr
	for _, f := range hubYAMLs(t, filepath.Join(hub, "scenarios")) {
		rel, _ := filepath.Rel(hub, f)
		for _, d := range yamlDocs(t, f) {
			add := func(where, kind string, v any) {
				if s := strings.TrimSpace(str(v)); s != "" {
					exprs = append(exprs, hubExpr{rel, where, s, kind})
				}
			}
			for _, k := range []string{"filter", "groupby", "distinct", "cancel_on"} {
				add(k, "evt", d[k])
			}
			add("scope.expression", "evt", mp(d["scope"])["expression"])
			add("condition", "condition", d["condition"])
			add("overflow_filter", "overflow_filter", d["overflow_filter"])
			for i, c := range ylist(d["bayesian_conditions"]) {
				add("bayesian_conditions["+itoa(i)+"]", "condition", mp(c)["condition"])
			}
		}
	}
	require.Greater(t, len(exprs), 800, "too few expressions found: walker broken?")
	failed := compileAll(t, New(Deps{}), exprs)
	t.Logf("scenarios: %d expressions, %d failed", len(exprs), len(failed))
	require.Empty(t, unknownFailures(failed, scenarioKnownFailures))
}
