package hubtest

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/content"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/hub"
	"github.com/phalanx-ids/phalanx/internal/parse"
)

// Verdicts of one half of a case.
const (
	Pass = "pass"
	Fail = "fail"
	Skip = "skip"
)

// Options configure a run.
type Options struct {
	Hub      *hub.Index // the hub tree (parsers/, scenarios/, patterns/, data/)
	TestsDir string     // folder of cases
	DataDir  string     // installed data files (an install's <data_dir>/data); default: none, the hub's data/ mirror only
	Now      func() time.Time
	Logger   *slog.Logger
	// Strict fails a case on the false scenario assertions that upstream's
	// runner ignores (see Result.Ignored); by default they are reported and
	// the verdict is upstream's.
	Strict bool
}

// Result is the outcome of one case. JSON field names are the CLI's report format.
type Result struct {
	Name     string   `json:"name"`
	Parser   string   `json:"parser"`
	Scenario string   `json:"scenario"`
	Passed   bool     `json:"passed"`
	Error    string   `json:"error,omitempty"`
	Failures []string `json:"failures,omitempty"`
	// Ignored are false scenario assertions that upstream's runner does not
	// count as failures: a false line of scenario.assert that is not of the
	// form "X == ..." (upstream logs "Couldn't get variable of line" and
	// passes). With Options.Strict they are in Failures as well.
	Ignored []string `json:"ignored_assertions,omitempty"`
	// ParserAsserts and ScenarioAsserts count assertion lines checked.
	ParserAsserts   int `json:"parser_asserts"`
	ScenarioAsserts int `json:"scenario_asserts"`
}

// Cases lists the case folders in dir, sorted.
func Cases(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("hubtest: %w", err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// Run runs one case.
func Run(ctx context.Context, opts Options, name string) Result {
	res := Result{Name: name, Parser: Skip, Scenario: Skip}
	if err := run(ctx, opts, name, &res); err != nil {
		res.Error = err.Error()
		if res.Parser == Skip && res.Scenario == Skip {
			// The case stopped before a verdict: the halves it would have
			// checked fail, the others stay skipped (Passed is false and
			// Error says why); an unreadable config fails the parser half.
			cfg, cerr := readCaseConfig(filepath.Join(opts.TestsDir, name))
			if cerr != nil || !cfg.IgnoreParsers {
				res.Parser = Fail
			}
			if cerr == nil && len(nonEmpty(cfg.Scenarios)) > 0 {
				res.Scenario = Fail
			}
		}
	}
	res.Passed = res.Error == "" && res.Parser != Fail && res.Scenario != Fail
	return res
}

type caseRun struct {
	opts      Options
	dir       string
	cfg       *CaseConfig
	tmp       string
	rt        *content.Runtime
	parsed    ParserResults
	rec       *recorder
	poured    []*event.Event // events that went through the parsers, not whitelisted
	scenPaths []string
}

func run(ctx context.Context, opts Options, name string, res *Result) error {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &caseRun{opts: opts, dir: filepath.Join(opts.TestsDir, name)}
	var err error
	if c.cfg, err = readCaseConfig(c.dir); err != nil {
		return err
	}
	if c.tmp, err = os.MkdirTemp("", "phalanx-hubtest-"); err != nil {
		return fmt.Errorf("hubtest: %w", err)
	}
	defer os.RemoveAll(c.tmp)

	parsers, err := c.resolveParsers(hub.Parsers, c.cfg.Parsers)
	if err != nil {
		return err
	}
	if len(c.cfg.OverrideStatics) > 0 {
		f, err := c.writeOverrides()
		if err != nil {
			return err
		}
		parsers = append(parsers, f)
	}
	posts, err := c.resolveParsers(hub.PostOverflows, c.cfg.PostOverflows)
	if err != nil {
		return err
	}
	for _, s := range nonEmpty(c.cfg.Scenarios) {
		p, err := c.resolve(hub.Scenarios, s)
		if err != nil {
			return err
		}
		c.scenPaths = append(c.scenPaths, p)
	}
	c.rt, err = content.Build(content.Config{
		PatternDirs:   []string{filepath.Join(opts.Hub.Root(), "patterns")},
		Parsers:       parsers,
		PostOverflows: posts,
		DataDir:       cmp.Or(opts.DataDir, c.tmp),
		DataMirror:    filepath.Join(opts.Hub.Root(), "data"),
		Now:           opts.Now,
		Logger:        opts.Logger,
	})
	if err != nil {
		return err
	}
	defer c.rt.Close()

	if err := c.feed(ctx); err != nil {
		return err
	}
	var overflows []*event.Event
	if len(c.scenPaths) > 0 {
		if overflows, err = c.runScenarios(ctx); err != nil {
			return err
		}
	}

	if !c.cfg.IgnoreParsers {
		ok, n, fails, _, err := c.check("parser.assert", map[string]any{"results": c.parsed}, false)
		res.ParserAsserts = n
		res.Failures = append(res.Failures, fails...)
		switch {
		case err != nil:
			res.Parser = Fail
			return err
		case ok:
			res.Parser = Pass
		default:
			res.Parser = Fail
		}
	}
	if len(c.scenPaths) > 0 {
		ok, n, fails, ignored, err := c.check("scenario.assert", map[string]any{"results": overflows}, true)
		res.ScenarioAsserts = n
		res.Failures = append(res.Failures, fails...)
		res.Ignored = append(res.Ignored, ignored...)
		if opts.Strict && len(ignored) > 0 {
			res.Failures = append(res.Failures, ignored...)
			ok = false
		}
		switch {
		case err != nil:
			res.Scenario = Fail
			return err
		case ok:
			res.Scenario = Pass
		default:
			res.Scenario = Fail
		}
	}
	return nil
}

// resolve finds an item entry: a name in the index, else a path from the
// hub root, else from the case folder (upstream's ".tests/" is "tests/" here).
func (c *caseRun) resolve(typ, ref string) (string, error) {
	if it, ok := c.opts.Hub.Get(typ, ref); ok {
		return c.opts.Hub.FilePath(it), nil
	}
	rel := strings.TrimLeft(ref, "/")
	rel = strings.TrimPrefix(filepath.Clean(rel), "./")
	cands := []string{filepath.Join(c.opts.Hub.Root(), rel)}
	if strings.HasPrefix(rel, ".tests/") {
		cands = append(cands, filepath.Join(c.opts.Hub.Root(), "tests", strings.TrimPrefix(rel, ".tests/")))
	}
	cands = append(cands, filepath.Join(c.dir, rel))
	for _, p := range cands {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("hubtest: %s %q: not in the index and no such file", strings.TrimSuffix(typ, "s"), ref)
}

func (c *caseRun) resolveParsers(typ string, refs []string) ([]parse.File, error) {
	byKey := map[string]parse.File{}
	for _, ref := range nonEmpty(refs) {
		p, err := c.resolve(typ, ref)
		if err != nil {
			return nil, err
		}
		stage := hub.StageOf(p)
		if it, ok := c.opts.Hub.Get(typ, ref); ok && it.Stage != "" {
			stage = it.Stage
		}
		if stage == "" {
			return nil, fmt.Errorf("hubtest: %s %q: cannot tell its stage from %s", strings.TrimSuffix(typ, "s"), ref, p)
		}
		// Installed files are keyed by stage and base name; the first wins.
		key := stage + "/" + filepath.Base(p)
		if _, dup := byKey[key]; !dup {
			byKey[key] = parse.File{Stage: stage, Path: p}
		}
	}
	out := make([]parse.File, 0, len(byKey))
	for _, f := range byKey {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Stage != out[j].Stage {
			return out[i].Stage < out[j].Stage
		}
		return filepath.Base(out[i].Path) < filepath.Base(out[j].Path)
	})
	return out, nil
}

func (c *caseRun) writeOverrides() (parse.File, error) {
	doc := map[string]any{
		"name":    "overrides",
		"filter":  "1==1",
		"statics": c.cfg.OverrideStatics,
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		return parse.File{}, fmt.Errorf("hubtest: override_statics: %w", err)
	}
	p := filepath.Join(c.tmp, "00_overrides.yaml")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		return parse.File{}, fmt.Errorf("hubtest: %w", err)
	}
	return parse.File{Stage: "s00-raw", Path: p}, nil
}

// feed reads the log file and runs every line through the parsers,
// recording each top-level node's result.
func (c *caseRun) feed(ctx context.Context) error {
	if c.cfg.LogFile == "" {
		return errors.New("hubtest: config.yaml has no log_file")
	}
	path, err := filepath.Abs(filepath.Join(c.dir, c.cfg.LogFile))
	if err != nil {
		return fmt.Errorf("hubtest: %w", err)
	}
	lines, err := readLines(path)
	if err != nil {
		return err
	}
	if len(lines) == 0 {
		return fmt.Errorf("hubtest: log file %s is empty", path)
	}
	labels := map[string]string{}
	for k, v := range c.cfg.Labels {
		labels[k] = v
	}
	labels["type"] = c.cfg.LogType
	rec := newRecorder()
	for _, l := range lines {
		if err := ctx.Err(); err != nil {
			return err
		}
		lab := make(map[string]string, len(labels))
		for k, v := range labels {
			lab[k] = v
		}
		evt := c.rt.Parsers.Schema().New(event.Line{Raw: l, Src: path, Time: c.opts.Now(), Labels: lab, Process: true, Module: "file"})
		evt.ExpectMode = event.TIMEMACHINE
		evt.Process = true
		if c.rt.Parsers.Parse(evt, rec) && !evt.Whitelisted {
			c.poured = append(c.poured, evt)
		}
	}
	c.rec = rec
	c.parsed = rec.results
	return nil
}

// readLines reads a log file like upstream's file datasource in replay:
// trailing \r dropped, empty lines skipped.
func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("hubtest: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	var out []string
	for sc.Scan() {
		l := strings.TrimSuffix(sc.Text(), "\r")
		if l == "" {
			continue
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("hubtest: %s: %w", path, err)
	}
	return out, nil
}

// upstreamVariable is the form upstream's scenario runner needs in a false
// line to count it as a failure (it extracts the variable to print it).
var upstreamVariable = regexp.MustCompile(`(?P<variable>[^ =]+) == .*`)

// check evaluates an assertion file against env. It returns whether every
// line held, the number of lines, the failed lines, and an error for a line
// that does not compile, fails at run time or is not a bool (or for an
// empty/missing file: upstream then generates assertions and fails).
// With upstreamQuirk (scenario.assert), a false line that is not of the
// form "X == ..." goes to ignored instead of fails, as upstream's runner
// does.
func (c *caseRun) check(file string, env map[string]any, upstreamQuirk bool) (ok bool, n int, fails, ignored []string, err error) {
	b, err := os.ReadFile(filepath.Join(c.dir, file))
	if err != nil && !os.IsNotExist(err) {
		return false, 0, nil, nil, fmt.Errorf("hubtest: %w", err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSuffix(l, "\r")
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return false, 0, nil, nil, fmt.Errorf("hubtest: %s is empty: upstream would generate assertions; nothing to check", file)
	}
	opts := append(c.rt.Expr.Options(), c.rt.Expr.AssertOptions()...)
	opts = append(opts, expr.Env(env))
	for i, l := range lines {
		src := shimBasename(l)
		prog, err := expr.Compile(src, opts...)
		if err != nil {
			return false, len(lines), fails, ignored, fmt.Errorf("hubtest: %s:%d: compile %q: %w", file, i+1, l, err)
		}
		out, err := expr.Run(prog, env)
		if err != nil {
			return false, len(lines), fails, ignored, fmt.Errorf("hubtest: %s:%d: run %q: %w", file, i+1, l, err)
		}
		held, isBool := out.(bool)
		if !isBool {
			return false, len(lines), fails, ignored, fmt.Errorf("hubtest: %s:%d: %q is not a bool (%T)", file, i+1, l, out)
		}
		switch {
		case held:
		case upstreamQuirk && !upstreamVariable.MatchString(l):
			ignored = append(ignored, fmt.Sprintf("%s:%d: %s", file, i+1, l))
		default:
			fails = append(fails, fmt.Sprintf("%s:%d: %s", file, i+1, l))
		}
	}
	return len(fails) == 0, len(lines), fails, ignored, nil
}

// shimBasename wraps the left side of old datasource_path assertions in
// basename(), as upstream does.
func shimBasename(l string) string {
	if !strings.Contains(l, "datasource_path") || strings.Contains(l, "basename(") {
		return l
	}
	parts := strings.Split(l, "==")
	if len(parts) < 2 {
		return l
	}
	return "basename(" + strings.TrimSpace(parts[0]) + ") == " + strings.TrimSpace(parts[1])
}
