package hubtest

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/hub"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// knownFailures reads testdata/known-failures.tsv: case<TAB>half<TAB>reason.
func knownFailures(t *testing.T) map[string]string {
	f, err := os.Open("testdata/known-failures.tsv")
	require.NoError(t, err)
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		parts := strings.SplitN(l, "\t", 3)
		require.Len(t, parts, 3, "bad line %q", l)
		out[parts[0]+"/"+parts[1]] = parts[2]
	}
	require.NoError(t, sc.Err())
	return out
}

// minCasePassRate is the floor on the share of cases passing both halves.
const minCasePassRate = 0.97

// TestHubSuite runs every hub test case and holds the pass rates: at least
// 95% of the parser halves, and every failure must be a known, explained one
// (and a known failure that now passes must be removed from the list).
func TestHubSuite(t *testing.T) {
	if testing.Short() {
		t.Log("-short: the hub suite still runs; it is the main compatibility test")
	}
	root := testutil.Hub(t)
	idx, err := hub.Open(root)
	require.NoError(t, err)
	tests := filepath.Join(root, "tests")
	names, err := Cases(tests)
	require.NoError(t, err)
	require.Greater(t, len(names), 250)

	opts := Options{Hub: idx, TestsDir: tests}
	results := make([]Result, len(names))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = Run(context.Background(), opts, names[i])
			}
		}()
	}
	for i := range names {
		next <- i
	}
	close(next)
	wg.Wait()

	known := knownFailures(t)
	var parserChecked, parserPassed, passed, ignored, ignoredCases int
	var unexpected, fixed []string
	for _, r := range results {
		if r.Parser != Skip {
			parserChecked++
			if r.Parser == Pass {
				parserPassed++
			}
		}
		if r.Passed {
			passed++
		}
		if len(r.Ignored) > 0 {
			ignored += len(r.Ignored)
			ignoredCases++
		}
		for _, half := range []struct{ name, verdict string }{{"parser", r.Parser}, {"scenario", r.Scenario}} {
			key := r.Name + "/" + half.name
			_, isKnown := known[key]
			switch {
			case half.verdict == Fail && !isKnown:
				msg := key
				if r.Error != "" {
					msg += ": " + r.Error
				} else if len(r.Failures) > 0 {
					msg += ": " + r.Failures[0]
				}
				unexpected = append(unexpected, msg)
			case half.verdict == Pass && isKnown:
				fixed = append(fixed, key)
			}
		}
	}
	sort.Strings(unexpected)
	t.Logf("cases: %d, passed: %d (%.1f%%); parser halves checked: %d, passed: %d (%.1f%%)",
		len(results), passed, 100*float64(passed)/float64(len(results)),
		parserChecked, parserPassed, 100*float64(parserPassed)/float64(parserChecked))
	t.Logf("false scenario lines upstream ignores (not \"X == ...\"; --strict fails on them): %d in %d cases", ignored, ignoredCases)
	require.GreaterOrEqual(t, parserChecked, 140, "fewer parser halves checked than the corpus has")
	require.GreaterOrEqual(t, float64(parserPassed)/float64(parserChecked), 0.95, "parser pass rate fell under 95%%")
	require.GreaterOrEqual(t, float64(passed)/float64(len(results)), minCasePassRate, "case pass rate (both halves) fell")
	require.Empty(t, unexpected, "failures not listed in testdata/known-failures.tsv")
	require.Empty(t, fixed, "known failures that now pass: remove them from testdata/known-failures.tsv")
}

func TestShimBasename(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", `results["a"]["b"][0].Evt.Meta["datasource_path"] == "x.log"`, `basename(results["a"]["b"][0].Evt.Meta["datasource_path"]) == "x.log"`},
		{"already", `basename(x.datasource_path) == "x.log"`, `basename(x.datasource_path) == "x.log"`},
		{"other", `len(results) == 4`, `len(results) == 4`},
		{"no-eq", `datasource_path`, `datasource_path`},
	} {
		t.Run(tc.name, func(t *testing.T) { require.Equal(t, tc.want, shimBasename(tc.in)) })
	}
}

func TestNormalise(t *testing.T) {
	in := map[string]any{
		"i": float64(42), "f": 1.5, "big": float64(1234567), "s": "12",
		"nested": map[string]any{"n": float64(-3)}, "list": []any{float64(7), "x"},
	}
	out := normaliseMap(in)
	require.Equal(t, 42, out["i"])
	require.Equal(t, 1.5, out["f"])
	require.Equal(t, float64(1234567), out["big"], "1e6 and up is written 1.234567e+06 and reads back as a float")
	require.Equal(t, "12", out["s"])
	require.Equal(t, -3, out["nested"].(map[string]any)["n"])
	require.Equal(t, []any{7, "x"}, out["list"])
}

func TestResolveItem(t *testing.T) {
	root := testutil.Hub(t)
	idx, err := hub.Open(root)
	require.NoError(t, err)
	c := &caseRun{opts: Options{Hub: idx}, dir: filepath.Join(root, "tests", "geoip-enrich")}
	for _, tc := range []struct{ name, typ, ref, want string }{
		{"by-name", hub.Parsers, "crowdsecurity/sshd-logs", "parsers/s01-parse/crowdsecurity/sshd-logs.yaml"},
		{"dot-path", hub.Scenarios, "./scenarios/crowdsecurity/ssh-bf.yaml", "scenarios/crowdsecurity/ssh-bf.yaml"},
		{"slash-path", hub.Scenarios, "/scenarios/crowdsecurity/ssh-bf.yaml", "scenarios/crowdsecurity/ssh-bf.yaml"},
		{"dot-tests", hub.Parsers, "./.tests/geoip-enrich/parsers/s02-enrich/crowdsecurity/geoip-enrich.yaml", "tests/geoip-enrich/parsers/s02-enrich/crowdsecurity/geoip-enrich.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.resolve(tc.typ, tc.ref)
			require.NoError(t, err)
			require.Equal(t, filepath.Join(root, tc.want), got)
		})
	}
	_, err = c.resolve(hub.Parsers, "nobody/nothing")
	require.ErrorContains(t, err, `"nobody/nothing"`)
}

// TestUpstreamVerdicts: the cases of testdata/cases get upstream's
// verdicts by default (a false scenario line that is not "X == ..." is
// reported, not counted), and --strict fails on those lines; a case that
// ignores the parsers and cannot run fails its scenario half, not the
// parser half it never checks.
func TestUpstreamVerdicts(t *testing.T) {
	idx, err := hub.Open(testutil.Hub(t))
	require.NoError(t, err)
	const ignoredLine = `scenario.assert:4: "192.0.2.99" in results[0].Overflow.GetSources()`
	for _, tc := range []struct {
		name, kase       string
		strict           bool
		passed           bool
		parser, scenario string
		failures         []string
		ignored          []string
		errContains      string
	}{
		{"ignored line passes as upstream", "upstream-ignored-line", false, true, Skip, Pass, nil, []string{ignoredLine}, ""},
		{"ignored line fails when strict", "upstream-ignored-line", true, false, Skip, Fail, []string{ignoredLine}, []string{ignoredLine}, ""},
		{"false equality fails", "false-equality", false, false, Skip, Fail,
			[]string{`scenario.assert:3: results[0].Overflow.Alert.GetScenario() == "crowdsecurity/ssh-slow-bf"`}, nil, ""},
		{"missing log with ignore_parsers", "ignore-parsers-missing-log", false, false, Skip, Fail, nil, nil, "missing.log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Run(context.Background(), Options{Hub: idx, TestsDir: filepath.Join("testdata", "cases"), Strict: tc.strict}, tc.kase)
			require.Equal(t, tc.passed, r.Passed, "%+v", r)
			require.Equal(t, tc.parser, r.Parser)
			require.Equal(t, tc.scenario, r.Scenario)
			require.Equal(t, tc.failures, r.Failures)
			require.Equal(t, tc.ignored, r.Ignored)
			if tc.errContains == "" {
				require.Empty(t, r.Error)
			} else {
				require.Contains(t, r.Error, tc.errContains)
			}
		})
	}
}
