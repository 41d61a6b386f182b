package grok

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// checkSame compares each engine of bp with Go's regexp on one input: the
// backtracker alone, the two-pass engine alone (when it decides the input)
// and both as production runs them. It reports whether the two-pass engine
// decided, and whether s matches.
func checkSame(t testing.TB, re *regexp.Regexp, bp *btProg, s string) (live, matched bool) {
	t.Helper()
	want := re.FindStringSubmatchIndex(s)
	got, ok := bp.findIndex(s)
	require.True(t, ok, "input of %d bytes over the visited cap", len(s))
	if !equalLoc(got, want) {
		t.Fatalf("%q on %q: engine %v, regexp %v", re.String(), s, got, want)
	}
	alone := *bp
	alone.live = nil
	got, ok = alone.findIndex(s)
	if ok && !equalLoc(got, want) {
		t.Fatalf("%q on %q: backtrack %v, regexp %v", re.String(), s, got, want)
	}
	got, live = liveIndex(bp, s)
	if live && !equalLoc(got, want) {
		t.Fatalf("%q on %q: two-pass %v, regexp %v", re.String(), s, got, want)
	}
	return live, want != nil
}

// liveIndex runs the two-pass engine of bp alone; decided is false when
// it has none or leaves s to the backtracker.
func liveIndex(bp *btProg, s string) (loc []int, decided bool) {
	lp := bp.live.get()
	if lp == nil {
		return nil, false
	}
	sc := bp.get()
	defer bp.release(sc)
	matched, decided := lp.find(s, sc)
	if matched {
		loc = append([]int(nil), sc.caps...)
	}
	return loc, decided
}

func equalLoc(a, b []int) bool {
	if (a == nil) != (b == nil) || len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func mustBacktrack(t testing.TB, expr string) (*regexp.Regexp, *btProg) {
	t.Helper()
	re, err := regexp.Compile(expr)
	require.NoError(t, err)
	bp, err := compileBacktrack(expr, nil)
	require.NoError(t, err)
	return re, bp
}

func TestBacktrackCases(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		expr   string
		inputs []string
	}{
		{"literal", `abc`, []string{"", "abc", "xxabcx", "ab", "aabcabc"}},
		{"alternation priority", `(a|ab)(c|bcd)(d*)`, []string{"abcd", "abc", "xabcdd"}},
		{"greedy vs lazy", `(a+?)(a*)(b??)(b?)`, []string{"aaabb", "a", "b"}},
		{"empty loops", `(a*)*(b|)*(|c)+x`, []string{"aabx", "x", "ccx", "abab"}},
		{"nested empty", `((a*)+)+b`, []string{"aaab", "b", strings.Repeat("a", 40)}},
		{"word boundary", `\b(\w+)\b|\B-\B`, []string{"ab cd", " -- ", "é-x", "_a_", "-"}},
		{"multiline anchors", `(?m)^(\w*)$`, []string{"ab\ncd", "\n\nx", "", "a\r\nb"}},
		{"text anchors", `\A(a*)\z|^b$`, []string{"aaa", "b", "a\n", "\nb"}},
		{"end anchored", `(x+)$`, []string{"axxbxx", "x\n", "xx"}},
		{"dot and newline", `(.+)(?s:(.)).`, []string{"ab\ncd", "\n\n\n", "é\xffz"}},
		{"fold case", `(?i)(k+)(Σ|ß)`, []string{"Kkk\u212aσ", "kẞ", "KS"}},
		{"unicode classes", `(\pL+)\s(\p{Greek}*)\d`, []string{"héllo αβ3", "x 1", "\xff \xce3"}},
		{"invalid utf8", `([^a]+)a(.)`, []string{"\xff\xfe\xfda\xc3", "\xe2\x82a\x80", "\xc3\xa9a\xe2\x82\xac"}},
		{"negated ascii", `([^ ]*) ([^"]*)"`, []string{`a b"`, ` "`, "é\xff x\"y"}},
		{"counted", `(\d{1,3}\.){3}\d{1,3}`, []string{"1.2.3.4", "1.2.3.", "300.1.1.1.1", "a1.22.333.4444"}},
		{"empty pattern", ``, []string{"", "abc"}},
		{"nullable", `a*`, []string{"", "baaa", "aab"}},
		{"never", `a\bb|[^\x00-\x{10FFFF}]`, []string{"ab", "a b"}},
		{"unused group", `(a){0}(b)`, []string{"b", "ab"}},
		{"optional capture", `(a)?(b)?(c)`, []string{"c", "bc", "ac", "abc"}},
		{"star runs", `(\w*)(\w+)x|([^ ]*)é( +)(\S+?)$`, []string{"abcx", "abc", "a\xffé  z\xc3", "ééé é", "ab é  cd"}},
		{"star memo conflicts", `(?:[a-c]+|[a-z]+)+!|(?:a*b*)*c|(?:\d+\.?)+$`, []string{"abcxyz!", "abzab", "ababc", "1.2.3.4.", "1.2.a"}},
		{"lazy runs", `(.*?)(\d+?)(.*?)$|"([^"]*?)"`, []string{"ab12cd", "x\"y\"", "é1é", "\xff9\xfe"}},
		{"start set with alternation", `x(y)|(\d)z|é`, []string{"aaé", "1z", "9y xy", "\xc3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			re, bp := mustBacktrack(t, tc.expr)
			for _, in := range tc.inputs {
				checkSame(t, re, bp, in)
				// Every suffix and prefix too: exercises the anchors.
				for i := 1; i < len(in); i++ {
					checkSame(t, re, bp, in[i:])
					checkSame(t, re, bp, in[:i])
				}
			}
		})
	}
}

// hubSampleLines returns up to perFile lines of every hubtest log, plus
// truncated and byte-mutated variants (near misses exercise backtracking).
func hubSampleLines(t testing.TB, perFile int) []string {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(testutil.Hub(t), "tests", "*", "*.log"))
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	var lines []string
	for _, f := range logs {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		for i, l := range strings.Split(string(raw), "\n") {
			if i == perFile {
				break
			}
			if l == "" || len(l) > 4096 {
				continue
			}
			lines = append(lines, l, l[:len(l)/2])
			b := []byte(l)
			const noise = " .:-\"\xff["
			b[rng.IntN(len(b))] = noise[rng.IntN(len(noise))]
			lines = append(lines, string(b))
		}
	}
	return lines
}

// TestBacktrackHubEquivalence runs every grok of the hub (parsers and
// postoverflows) on the hubtest logs with both engines: the submatch index
// vectors must be identical.
func TestBacktrackHubEquivalence(t *testing.T) {
	t.Parallel()
	hub := testutil.Hub(t)
	lines := hubSampleLines(t, 3)
	require.Greater(t, len(lines), 500)
	total, matches, live, runs := 0, 0, 0, 0
	for _, dir := range []string{"parsers", "postoverflows"} {
		lib := hubLibrary(t)
		syntaxes, groks := hubGroks(t, filepath.Join(hub, dir))
		for _, s := range syntaxes {
			lib.AddIfMissing(s[0], s[1])
		}
		for i, g := range groks {
			if i%raceStride != 0 {
				continue
			}
			p, err := lib.Compile(g.pattern)
			require.NoError(t, err)
			require.NotNil(t, p.bt, g.pattern)
			for _, l := range lines {
				runs++
				decided, matched := checkSame(t, p.re, p.bt, l)
				if decided {
					live++
				}
				if matched {
					matches++
				}
			}
			total++
		}
	}
	require.Greater(t, total, 200/raceStride)
	require.Greater(t, matches, 500/raceStride)
	// Most hub lines are ASCII: the two-pass engine decides them.
	require.Greater(t, live, runs*3/4)
	t.Logf("%d groks x %d lines, %d matches, %d decided by the two-pass engine", total, len(lines), matches, live)
}

// randomRegexp builds a small random regular expression over a tiny
// alphabet, so that random inputs often match partially.
func randomRegexp(rng *rand.Rand, depth int) string {
	atoms := []string{"a", "b", "ab", ".", "[ab]", "[^a]", `\b`, `\B`, "^", "$", `\d`, "é", "(?i:a)", `\w`, " ", "(?m:^)", "(?m:$)", `\A`, `\z`}
	if depth <= 0 {
		return atoms[rng.IntN(len(atoms))]
	}
	sub := func() string { return randomRegexp(rng, depth-1) }
	switch rng.IntN(9) {
	case 0:
		return sub() + sub()
	case 1:
		return sub() + "|" + sub()
	case 2:
		return "(" + sub() + ")"
	case 3:
		return "(?:" + sub() + ")*"
	case 4:
		return "(" + sub() + ")+?"
	case 5:
		return "(" + sub() + ")?"
	case 6:
		return "(?:" + sub() + "){1,3}"
	case 7:
		return "(" + sub() + sub() + ")*?"
	default:
		return sub() + sub() + sub()
	}
}

func randomInput(rng *rand.Rand) string {
	alphabet := []string{"a", "b", " ", "1", "\n", "é", "\xff", "A", "_"}
	var b strings.Builder
	n := rng.IntN(12)
	for range n {
		b.WriteString(alphabet[rng.IntN(len(alphabet))])
	}
	return b.String()
}

func TestBacktrackRandom(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 11))
	for range 3000 {
		expr := randomRegexp(rng, 1+rng.IntN(4))
		re, bp := mustBacktrack(t, expr)
		for range 20 {
			checkSame(t, re, bp, randomInput(rng))
		}
	}
}

// TestBacktrackHostile checks that pathological inputs stay linear. The time
// bound only guards against a hang (exponential or quadratic blowup); speed
// is measured by the benchmarks.
func TestBacktrackHostile(t *testing.T) {
	t.Parallel()
	lib := hubLibrary(t)
	syntaxes, groks := hubGroks(t, filepath.Join(testutil.Hub(t), "parsers", "s01-parse", "crowdsecurity", "nginx-logs.yaml"))
	for _, s := range syntaxes {
		lib.AddIfMissing(s[0], s[1])
	}
	cases := []struct {
		name    string
		pattern string // grok
		input   string
	}{
		{"nested quantifiers", `^(?:(?:a+)+)+%{INT:n}$`, strings.Repeat("a", 64<<10)},
		{"counted blowup", `(?:a{1,10}){1,10}%{WORD:w}!`, strings.Repeat("a", 64<<10)},
		{"ambiguous alternation", `^(?:a|a|aa)*%{WORD:w}:`, strings.Repeat("a", 64<<10)},
		{"nginx on dots", groks[0].pattern, strings.Repeat("1.", 15<<10) + ` - x] "GET HTTP/1" "" "`},
		{"nginx on near miss", groks[0].pattern, strings.Repeat(`1.2.3.4 - - [01/Mar/2024:00:00:00 +0000] "GET / HTTP/1.1" x `, 500)},
		{"nginx over the cap", groks[0].pattern, strings.Repeat(`a.b - - [01/Mar/2024:00:00:00 +0000] "GET / HTTP/1.1" x `, 1200)},
		{"syslog on spaces", `^%{SYSLOGLINE}`, "Mar  1 00:00:00 " + strings.Repeat(" ", 64<<10)},
		{"invalid utf8", `%{DATA:a}\xff%{GREEDYDATA:b}é$`, strings.Repeat("\xff\xc3", 32<<10)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := lib.Compile(tc.pattern)
			require.NoError(t, err)
			require.NotNil(t, p.bt)
			// Only the last case is too long for the visited table.
			require.Equal(t, tc.name != "nginx over the cap", p.bt.fits(len(tc.input)))
			got := map[string]string{}
			// Timed by the CPU time of the matching thread where there is
			// one (Linux): a loaded machine stretches the wall clock, not
			// that.
			runtime.LockOSThread()
			cpu0, cpuOK := threadCPU()
			start := time.Now()
			ok := p.MatchInto(tc.input, got)
			elapsed := time.Since(start)
			cpu1, _ := threadCPU()
			runtime.UnlockOSThread()
			cost := elapsed
			if cpuOK {
				cost = cpu1 - cpu0
			}
			t.Logf("%d bytes: %v CPU, %v wall", len(tc.input), cost, elapsed)
			// A linear match takes milliseconds; an exponential one, ages.
			// The race detector slows the matcher ~10x (raceSlowdown).
			require.Less(t, cost, raceSlowdown*time.Second, "%d bytes", len(tc.input))
			// Same answer as Go's regexp.
			want := p.re.FindStringSubmatchIndex(tc.input)
			require.Equal(t, want != nil, ok)
			if p.bt.fits(len(tc.input)) {
				checkSame(t, p.re, p.bt, tc.input)
			}
			// And the same answer again with a reused scratch.
			again := map[string]string{}
			require.Equal(t, ok, p.MatchInto(tc.input, again))
			require.Equal(t, got, again)
		})
	}
}

// FuzzBacktrack compares the backtracker with Go's regexp on fuzzed
// pattern and input pairs.
func FuzzBacktrack(f *testing.F) {
	f.Add(`(a|ab)(c|bcd)(d*)`, "abcd")
	f.Add(`(?m)^(\w*)$`, "ab\ncd")
	f.Add(`\b(\w+)\b`, "é-x_a")
	f.Add(`((a*)+)+b`, "aaaa")
	f.Add(`(?i)(k+)(Σ|ß)`, "Kk\u212aσ")
	f.Add(`([^a]+)a(.)`, "\xff\xfea\xc3")
	f.Add(`(?U)(a+)(b*)c?`, "aabbc")
	f.Fuzz(func(t *testing.T, expr, input string) {
		if len(expr) > 256 || len(input) > 1024 {
			return
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return
		}
		bp, err := compileBacktrack(expr, nil)
		require.NoError(t, err)
		if !bp.fits(len(input)) {
			return
		}
		checkSame(t, re, bp, input)
	})
}

// TestDotRun checks the eight-bytes-at-a-time scan of `.` runs against a
// byte loop, with the stop byte at every offset of a word.
func TestDotRun(t *testing.T) {
	t.Parallel()
	naive := func(s string, pos int) int {
		for pos < len(s) && s[pos] != '\n' && s[pos] < 0x80 {
			pos++
		}
		return pos
	}
	cases := []struct {
		name string
		s    string
	}{
		{"empty", ""},
		{"short", "abc"},
		{"no stop", strings.Repeat("x", 37)},
		{"newline", "0123456789abcdef\nxyz"},
		{"high byte", "0123456789abc\xffdef"},
		{"utf8", "Mar  1 caf\u00e9 ok"},
		{"zero bytes", "\x00\x00\x00\x00\x00\x00\x00\x00\x00\n"},
		{"borrow", "\x0b\x0b\x0a\x0b\x0b\x0b\x0b\x0b\x0b"},
		{"del and 0x80", "\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x80"},
	}
	for i := 0; i < 24; i++ {
		for _, stop := range []string{"\n", "\x80", "\xc3\xa9"} {
			s := strings.Repeat("a", i) + stop + strings.Repeat("\n", 9)
			cases = append(cases, struct {
				name string
				s    string
			}{"stop at offset", s})
		}
	}
	for _, tc := range cases {
		for pos := 0; pos <= len(tc.s); pos++ {
			require.Equal(t, naive(tc.s, pos), dotRun(tc.s, pos), "%s: %q from %d", tc.name, tc.s, pos)
		}
	}
}

// FuzzDotRun compares dotRun with a byte loop on fuzzed input.
func FuzzDotRun(f *testing.F) {
	f.Add("abc\ndef", 0)
	f.Add("0123456789\xff", 2)
	f.Fuzz(func(t *testing.T, s string, pos int) {
		if pos < 0 || pos > len(s) {
			return
		}
		want := pos
		for want < len(s) && s[want] != '\n' && s[want] < 0x80 {
			want++
		}
		require.Equal(t, want, dotRun(s, pos))
	})
}

// TestBacktrackSwitch checks that trees of alternations are flattened
// into btSwitch dispatches (the syslog header's MONTH and IPORHOST) and
// that they keep Go's submatches, order of branches included.
func TestBacktrackSwitch(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		expr     string
		switches int // at least
		inputs   []string
	}{
		{"priority", `(\w|ab|[a-c]bc)(c?)`, 1, []string{"abc", "ab", "a", "x", "bbcc", ""}},
		{"first byte shared", `^(?:(ab)|(a)|(b)|(ac))c`, 1, []string{"abc", "ac", "acc", "bc", "c"}},
		{"empty branch", `x(?:ab|bc|cd|)y`, 1, []string{"xy", "xay", "xdy", "xcy"}},
		{"non ascii", `(é+|e\d|\xffa|.)+$`, 1, []string{"éé", "e1\xff", "\xc3", "ab\n", "\xffa"}},
		{"nested", `(?:(?:a|b)c|d|(?:e|f)+)g`, 1, []string{"acg", "dg", "efeg", "bg", "g"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			re, bp := mustBacktrack(t, tc.expr)
			require.GreaterOrEqual(t, len(bp.switches), tc.switches)
			for _, in := range tc.inputs {
				checkSame(t, re, bp, in)
			}
		})
	}
	lib := hubLibrary(t)
	p := lib.MustCompile(`^%{SYSLOGLINE}`)
	require.NotEmpty(t, p.bt.switches)
}
