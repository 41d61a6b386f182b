package exprenv

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// hubExpr is one expression found in a hub file.
type hubExpr struct {
	file, where, src string
	envKind          string // "evt", "condition" or "overflow_filter"
}

func str(v any) string { s, _ := v.(string); return s }

func ylist(v any) []any { l, _ := v.([]any); return l }

func mp(v any) map[string]any { m, _ := v.(map[string]any); return m }

func itoa(i int) string { return strconv.Itoa(i) }

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
		for _, f := range testutil.HubYAMLs(t, filepath.Join(hub, sub)) {
			rel, _ := filepath.Rel(hub, f)
			for _, d := range testutil.YAMLDocs(t, f) {
				testutil.ParserNodeExprs("", d, func(where, src string, _ bool) {
					exprs = append(exprs, hubExpr{rel, where, src, "evt"})
				})
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
	for _, f := range testutil.HubYAMLs(t, filepath.Join(hub, "scenarios")) {
		rel, _ := filepath.Rel(hub, f)
		for _, d := range testutil.YAMLDocs(t, f) {
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
