package grok

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// laIndex runs the lookahead engine alone on s; decided is false when it
// leaves s to the other engines.
func laIndex(lp *laProg, ncap int, s string) (loc []int, decided bool) {
	sc := &btScratch{caps: make([]int, ncap)}
	matched, decided := lp.find(s, sc)
	if matched {
		loc = append([]int(nil), sc.caps...)
	}
	return loc, decided
}

// checkLookahead compares the lookahead engine with Go's regexp on s; it
// reports whether the engine decided s.
func checkLookahead(t testing.TB, re *regexp.Regexp, lp *laProg, s string) bool {
	t.Helper()
	want := re.FindStringSubmatchIndex(s)
	got, decided := laIndex(lp, 2*(1+re.NumSubexp()), s)
	if decided && !equalLoc(got, want) {
		t.Fatalf("%q on %q: lookahead %v, regexp %v", re.String(), s, got, want)
	}
	return decided
}

func mustLookahead(t testing.TB, expr string) (*regexp.Regexp, *laProg) {
	t.Helper()
	re, err := regexp.Compile(expr)
	require.NoError(t, err)
	return re, lookaheadFor(expr)
}

func TestLookaheadCases(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		expr    string
		onePass bool // "-": the engine does not apply
		inputs  []string
	}{
		{"literal", `^abc`, true, []string{"", "abc", "abcd", "ab", "xabc"}},
		{"fields", `^(\S+) (\d+) ([^"]*)"`, true, []string{`ab 12 x y"`, `ab 12 "`, `ab x "`, "a\xff 1 \"", `a 1 é"`}},
		{"optional decided by next byte", `^(a)?(b+)(?:\[(\d+)\])?:`, true, []string{"ab:", "bb[12]:", "b[x]:", "abb[", "a:"}},
		{"trailing loop falls back to the match", `^(\w+)( *)`, true, []string{"ab12", "12", "", "_"}},
		{"trailing optional", `^x(y+z)?`, true, []string{"xyyz", "xyy", "x", "xz"}},
		{"end anchor", `^(?:(\d+)$|(\d+)x$)`, false, []string{"12", "12x", "1x2", "", "\n"}},
		{"ambiguous prefix", `^(?:(Mar)|(May)|(M)ay(be)?)\b`, false, []string{"Mar", "May", "Maybe", "Mayb", "Mars", "M"}},
		{"word boundaries decide", `^([a-z]+)\b(?:([a-z]+)|\.)`, false, []string{"abc.", "abc", "a.b"}},
		{"day or digit", `^(?:0[1-9]|[12][0-9]|3[01]|[1-9]) (x)`, false, []string{" 1 x", "1 x", "12 x", "31 x", "32 x", "3 x"}},
		{"host labels", `^([a-z0-9]+(?:\.[a-z0-9]+)*)(\.?) (\S+)`, false, []string{"a.b. c", "a.b c", "a. c", "a.b.c", "a..b c"}},
		{"lazy", `^(.*?)(\d+?)(.*?)$`, false, []string{"ab12cd", "x", "1", "a1b2"}},
		{"multiline and newline", `\A(\w*)(?m:$)\n(?m:^)(b)`, true, []string{"ab\nb", "\nb", "a\nc", "a"}},
		{"non-ascii classes", `^([^ ]+) (é|e)(.*)`, true, []string{"a é", "\xff e\xfe", "a ex", "é e"}},
		{"ascii-only classes", `^([a-z]+)(\d*)`, true, []string{"ab\xff", "a1é", "\xff"}},
		{"unanchored", `abc`, false, nil},
		{"empty loop", `^(a*)*b`, false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			re, lp := mustLookahead(t, tc.expr)
			if tc.inputs == nil {
				require.Nil(t, lp)
				return
			}
			require.NotNil(t, lp)
			require.Equal(t, tc.onePass, lp.onePass)
			for _, in := range tc.inputs {
				for i := 0; i <= len(in); i++ {
					checkLookahead(t, re, lp, in[i:])
					checkLookahead(t, re, lp, in[:i])
				}
			}
		})
	}
}

// TestLookaheadToNL: the run of a `.*` (not (?s)) ends at '\n' or the end
// over any bytes, found by one IndexByte: the engine decides lines with
// non-ASCII messages, unless it must backtrack into the run past a byte
// >= 0x80. A program without rune classes decides every line.
func TestLookaheadToNL(t *testing.T) {
	t.Parallel()
	// (the last: a byte >= 0x80 where `\w+` stops is left undecided)
	inputs := []string{"ab é\xffx", "ab x\ny", "ab ", "ab", "ab é\n", "a\xff b x"}
	cases := []struct {
		name    string
		expr    string
		toNL    bool
		decided []bool // on inputs
	}{
		{"message tail", `^(\w+) (.*)`, true, []bool{true, true, true, true, true, false}},
		{"end anchored", `^(\w+) (.*)$`, true, []bool{true, true, true, true, true, false}},
		// an exit inside the run may take é: the decision tables cannot
		// tell where, so the run stops at bytes >= 0x80 as before
		{"exit takes a rune", `^(\w+) (.*)é`, false, []bool{false, true, true, true, false, false}},
		{"exit inside the run", `^(\w+) (.*)x`, true, []bool{true, true, true, true, false, false}},
		{"dot matches newline", `^(\w+) (?s:(.*))`, false, []bool{false, true, true, true, false, false}},
		{"ascii class", `^(\w+) ([ -~]*)`, false, []bool{true, true, true, true, true, true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			re, lp := mustLookahead(t, tc.expr)
			require.NotNil(t, lp)
			stars := 0
			for _, in := range lp.inst {
				if in.toNL {
					stars++
				}
			}
			require.Equal(t, tc.toNL, stars > 0)
			for i, in := range inputs {
				require.Equal(t, tc.decided[i], checkLookahead(t, re, lp, in), "%q", in)
			}
		})
	}
}

// TestLookaheadRandom compares the engine with Go's regexp on random
// anchored expressions and inputs.
func TestLookaheadRandom(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 8))
	taken := 0
	for range 3000 / raceStride {
		expr := `\A(?:` + randomRegexp(rng, 3) + `)`
		re, err := regexp.Compile(expr)
		if err != nil {
			continue
		}
		lp := lookaheadFor(expr)
		if lp == nil {
			continue
		}
		taken++
		for range 20 {
			checkLookahead(t, re, lp, randomInput(rng))
		}
	}
	require.Greater(t, taken, 1000/raceStride)
}

// hubAnchored returns every start-anchored grok of the hub's parsers and
// postoverflows, compiled, with its file.
func hubAnchored(t testing.TB) (ps []*Pattern, files []string) {
	t.Helper()
	hub := testutil.Hub(t)
	for _, dir := range []string{"parsers", "postoverflows"} {
		lib := hubLibrary(t)
		syntaxes, groks := hubGroks(t, filepath.Join(hub, dir))
		for _, s := range syntaxes {
			lib.AddIfMissing(s[0], s[1])
		}
		for _, g := range groks {
			p, err := lib.Compile(g.pattern)
			require.NoError(t, err)
			if p.bt != nil && p.bt.anchored {
				ps = append(ps, p)
				files = append(files, g.file)
			}
		}
	}
	return ps, files
}

// TestLookaheadHubEquivalence runs every start-anchored grok of the hub
// on the hubtest logs with the lookahead engine: every line it decides
// must get regexp's submatches. It logs which groks the engine takes and
// which are one-pass.
func TestLookaheadHubEquivalence(t *testing.T) {
	t.Parallel()
	hub := testutil.Hub(t)
	lines := hubSampleLines(t, 3)
	ps, files := hubAnchored(t)
	require.NotEmpty(t, ps)
	var taken, onePass []string
	runs, decided, matches := 0, 0, 0
	for i, p := range ps {
		name, _ := filepath.Rel(hub, files[i])
		name += " " + abbrev(p.String())
		if p.la.get() == nil {
			t.Logf("not taken: %s", name)
			continue
		}
		taken = append(taken, name)
		if p.la.get().onePass {
			onePass = append(onePass, name)
		} else {
			t.Logf("taken, not one-pass: %s", name)
		}
		if i%raceStride != 0 {
			continue
		}
		for _, l := range lines {
			runs++
			if checkLookahead(t, p.re, p.la.get(), l) {
				decided++
				if p.re.MatchString(l) {
					matches++
				}
			}
		}
	}
	sort.Strings(onePass)
	for _, n := range onePass {
		t.Logf("one-pass: %s", n)
	}
	t.Logf("%d anchored groks, %d taken (%d one-pass); %d runs, %d decided, %d matches",
		len(ps), len(taken), len(onePass), runs, decided, matches)
	require.Greater(t, len(taken), len(ps)*3/4)
	require.Greater(t, decided, runs*3/4)
	require.Positive(t, matches)
}

// FuzzLookahead compares the lookahead engine with Go's regexp on every
// start-anchored hub grok it takes, on fuzzed lines seeded from the
// hubtest logs:
//
//	go test ./internal/grok -run '^$' -fuzz FuzzLookahead -fuzzminimizetime 1x
func FuzzLookahead(f *testing.F) {
	ps, _ := hubAnchored(f)
	var taken []*Pattern
	for _, p := range ps {
		if p.la.get() != nil {
			taken = append(taken, p)
		}
	}
	logs, _ := filepath.Glob(filepath.Join(testutil.Hub(f), "tests", "*", "*.log"))
	for _, l := range logs {
		raw, err := os.ReadFile(l)
		require.NoError(f, err)
		for i, line := range strings.Split(string(raw), "\n") {
			if i < 2 && line != "" && len(line) < 2048 {
				f.Add(line)
			}
		}
	}
	f.Add("Mar  1 00:00:00 web01 sshd[40251]: Accepted publickey for alice")
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 2048 {
			return
		}
		for _, p := range taken {
			checkLookahead(t, p.re, p.la.get(), s)
		}
	})
}

// TestLookaheadBudget: a line that makes a pattern that is not one-pass
// backtrack exponentially exceeds the step budget and is left to the
// other engines, whose answer (Go's) the pattern returns.
func TestLookaheadBudget(t *testing.T) {
	t.Parallel()
	lib := NewEmptyLibrary()
	require.NoError(t, lib.Add("ABC", `(?:a|ab|b)*c`))
	require.NoError(t, lib.Add("AS", `a+`))
	p := lib.MustCompile(`^(?:%{ABC:x}|%{AS:y})`)
	require.NotNil(t, p.la.get())
	require.False(t, p.la.get().onePass)
	cases := []struct {
		name    string
		line    string
		decided bool
	}{
		{"short match", "abac", true},
		{"short miss", "abax", true},
		{"hostile", strings.Repeat("ab", 40) + "x", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, decided := laIndex(p.la.get(), p.bt.ncap, tc.line)
			require.Equal(t, tc.decided, decided)
			want := p.re.FindStringSubmatch(tc.line)
			got := map[string]string{}
			require.Equal(t, want != nil, p.MatchInto(tc.line, got))
			if want != nil {
				require.Equal(t, want[1], got["x"])
				require.Equal(t, want[2], got["y"])
			}
		})
	}
}

// TestLookaheadChoice: the lookahead engine runs a start-anchored
// pattern once its engine choice settled on the backtracker (the syslog
// header), not while it samples nor when it chose the two-pass engine
// (http-logs' file grok, which backtracks over many branches).
func TestLookaheadChoice(t *testing.T) {
	t.Parallel()
	httpLib, httpGroks := parserGroks(t, "s02-enrich/crowdsecurity/http-logs.yaml")
	nginxLib, nginxGroks := parserGroks(t, "s01-parse/crowdsecurity/nginx-logs.yaml")
	access := nginxLib.MustCompile(nginxGroks[0])
	var requests []string
	for _, l := range benchLines(t, "bench_nginx.log") {
		m := map[string]string{}
		require.True(t, access.MatchInto(l, m), l)
		requests = append(requests, m["request"])
	}
	cases := []struct {
		name  string
		p     *Pattern
		lines []string
		want  bool
	}{
		{"syslog header", hubLibrary(t).MustCompile(`^%{SYSLOGLINE}`), benchLines(t, "bench_sshd.log"), true},
		{"http file", httpLib.MustCompile(httpGroks[1]), requests, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.NotNil(t, tc.p.la.get())
			require.Nil(t, tc.p.lookahead(), "sampling")
			dst := map[string]string{}
			for i := range chooseSample {
				tc.p.MatchInto(tc.lines[i%len(tc.lines)], dst)
			}
			require.Equal(t, tc.want, tc.p.lookahead() != nil)
		})
	}
}
