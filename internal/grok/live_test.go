package grok

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// liveCorpus is a compiled hub grok with its regexp, for the differential
// tests of the two-pass engine.
type liveCorpus struct {
	names []string
	res   []*regexp.Regexp
	bts   []*btProg
}

// hubHotGroks compiles the groks a web or ssh install runs on every line:
// syslog, nginx, apache2 and sshd parsers, and http-logs.
func hubHotGroks(t testing.TB) liveCorpus {
	t.Helper()
	var c liveCorpus
	files := []string{
		"s00-raw/crowdsecurity/syslog-logs.yaml",
		"s01-parse/crowdsecurity/nginx-logs.yaml",
		"s01-parse/crowdsecurity/apache2-logs.yaml",
		"s01-parse/crowdsecurity/sshd-logs.yaml",
		"s02-enrich/crowdsecurity/http-logs.yaml",
	}
	for _, f := range files {
		lib, groks := parserGroks(t, f)
		for i, g := range groks {
			p, err := lib.Compile(g)
			require.NoError(t, err)
			require.NotNil(t, p.bt, g)
			c.names = append(c.names, filepath.Base(f)+"/"+string(rune('0'+i%10)))
			c.res = append(c.res, p.re)
			c.bts = append(c.bts, p.bt)
		}
	}
	return c
}

// TestLiveHotGroks checks that the groks of the hot path run on the
// two-pass engine (it must not silently fall back to the backtracker).
func TestLiveHotGroks(t *testing.T) {
	t.Parallel()
	c := hubHotGroks(t)
	require.Greater(t, len(c.bts), 25)
	for i, bp := range c.bts {
		require.NotNil(t, bp.live.get(), c.names[i])
	}
	nginx := benchLines(t, "bench_nginx.log")
	for i, bp := range c.bts {
		for k, l := range nginx {
			if k%raceStride != 0 { // under the race detector, a sample
				continue
			}
			decided, _ := checkSame(t, c.res[i], bp, l)
			require.True(t, decided, "%s on %q", c.names[i], l)
		}
	}
}

// TestLiveBudget fills a pattern's DFA budget: lines past it go to the
// backtracker, with the same answers.
func TestLiveBudget(t *testing.T) {
	t.Parallel()
	re, bp := mustBacktrack(t, `(\w{1,40})-(\w{1,40})=(\d+)`)
	lp := bp.live.get()
	require.NotNil(t, lp)
	lp.budget = 16 << 10
	fallbacks := 0
	for i := range 3000 / raceSlowdown {
		s := strings.Repeat("a", i%97) + "-" + strings.Repeat("b", i%89) + "=" + strings.Repeat("7", 1+i%5) + strings.Repeat("x-y ", i%7)
		decided, _ := checkSame(t, re, bp, s)
		if !decided {
			fallbacks++
		}
	}
	lp.mu.Lock()
	size := lp.size
	lp.mu.Unlock()
	t.Logf("DFA %d bytes, %d fallbacks", size, fallbacks)
	require.LessOrEqual(t, size, 22<<10)
	require.Positive(t, fallbacks)
}

// TestLiveCellLimit runs out of live-set ids (a cell names at most
// maxLiveSets; here 6): the lines that need another set go to the
// backtracker, with the same answers, and the others stay on the DFA.
func TestLiveCellLimit(t *testing.T) {
	t.Parallel()
	re, bp := mustBacktrack(t, `(\w{1,20})-(\w{1,20})=(\d+)`)
	lp := bp.live.get()
	require.NotNil(t, lp)
	lp.maxSets = 6
	decided, fallbacks := 0, 0
	for i := range 400 {
		s := strings.Repeat("a", i%23) + "-" + strings.Repeat("b", i%19) + "=" + strings.Repeat("7", 1+i%5)
		if live, _ := checkSame(t, re, bp, s); live {
			decided++
		} else {
			fallbacks++
		}
	}
	lp.mu.Lock()
	sets := len(lp.liveIDs)
	lp.mu.Unlock()
	t.Logf("%d sets, %d lines on the DFA, %d on the backtracker", sets, decided, fallbacks)
	require.LessOrEqual(t, sets, 6)
	require.Positive(t, decided)
	require.Positive(t, fallbacks)
}

// FuzzLiveHubGroks compares every engine with Go's regexp on the hot-path
// hub groks, on fuzzed lines seeded from the hubtest logs.
//
// An exec runs every hot grok on Go's regexp as well (its Pike VM for
// programs this large): with the default -fuzzminimizetime (60 s) the
// fuzzer spends most of its time minimizing each new input (0 execs/s for
// seconds at a time: 1-2 new inputs in 25 s on this machine); without
// minimization it explores (~340 in 25 s):
//
//	go test ./internal/grok -run '^$' -fuzz FuzzLiveHubGroks -fuzzminimizetime 1x
func FuzzLiveHubGroks(f *testing.F) {
	c := hubHotGroks(f)
	for _, name := range []string{"nginx-logs", "apache2-logs", "sshd-logs", "nginx-http-generic-bf"} {
		logs, _ := filepath.Glob(filepath.Join(testutil.Hub(f), "tests", name, "*.log"))
		for _, l := range logs {
			raw, err := os.ReadFile(l)
			require.NoError(f, err)
			for i, line := range strings.Split(string(raw), "\n") {
				if i < 8 && line != "" {
					f.Add(line)
				}
			}
		}
	}
	f.Add(`a.b:80 1.2.3.4 - - [01/Mar/2024:00:00:00 +0000] "GET /x?y=1 HTTP/1.1" 200 5 "-" "ua"`)
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 2048 {
			return
		}
		for i, bp := range c.bts {
			checkSame(t, c.res[i], bp, s)
		}
	})
}

// TestLiveConcurrent grows one DFA from several goroutines at once (each
// line order different), with a budget small enough that some lines go
// to the backtracker mid-way: every answer must still be regexp's.
func TestLiveConcurrent(t *testing.T) {
	t.Parallel()
	lib, groks := parserGroks(t, "s01-parse/crowdsecurity/nginx-logs.yaml")
	lines := benchLines(t, "bench_nginx.log")
	lines = append(lines, hubSampleLines(t, 1)[:90]...) // some near misses and non-ASCII
	if raceStride > 1 {
		lines = lines[len(lines)-150:] // the race detector slows the matchers ~10x
	}
	for _, budget := range []int{liveBudget, 128 << 10} {
		p := lib.MustCompile(groks[0])
		lp := p.bt.live.get()
		require.NotNil(t, lp)
		lp.budget = budget
		want := make([][]int, len(lines))
		for i, l := range lines {
			want[i] = p.re.FindStringSubmatchIndex(l)
		}
		errs := make(chan string, 4)
		for g := range 4 {
			go func() {
				for k := range lines {
					i := (k*(2*g+1) + g*31) % len(lines)
					got, _ := p.bt.findIndex(lines[i])
					if !equalLoc(got, want[i]) {
						errs <- lines[i]
						return
					}
				}
				errs <- ""
			}()
		}
		for range 4 {
			require.Empty(t, <-errs, "budget %d", budget)
		}
	}
}

// TestLiveLoops runs patterns whose DFA states have loops (a field such as
// `[^"]*` that the scan crosses on a skip table) on lines that enter,
// leave and break them (a stop byte, a non-ASCII byte, a word boundary
// next to the field): the two-pass engine must agree with regexp, decide
// the ASCII lines, and have built the loops it is meant to.
func TestLiveLoops(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("Mozilla/5.0 (X11; Linux x86_64) ", 8)
	cases := []struct {
		name  string
		expr  string
		lines []string
		loops bool // the DFA must hold a loop
		ascii int  // lines the engine must decide: the first ascii
	}{
		{
			name:  "quoted fields",
			expr:  `^(\S+) "([^"]*)" "([^"]*)"( \[(.*?)\])?$`,
			lines: []string{`a "b" "c"`, `x "" ""`, `host "` + long + `" "` + long + `"`, `h "a]b" "c" [d]`, `h "a b" "c] [d]" [e]`, `h "a" "b`, `h "é` + long + `" "c"`, `h "a" "b" [` + long + `é]`},
			loops: true,
			ascii: 6,
		},
		{
			name:  "lazy request",
			expr:  `"(\w+) (.*?) HTTP/(\d+\.\d+)" (\d+)`,
			lines: []string{`"GET /a/b?c=d HTTP/1.1" 200`, `x "GET / HTTP/1.1 HTTP/2.0" 404 y`, `"GET ` + long + ` HTTP/1.0" 1`, `"GET /a HTTP/1.1" x`, `"GET /` + "\u00e9" + ` HTTP/1.1" 200`},
			loops: true,
			ascii: 4,
		},
		{
			name:  "word boundaries beside the field",
			expr:  `\b(\w+)\b:([^:]*):\b(\d+)\b`,
			lines: []string{`user:some field:42`, `a:b::c:7`, `-x:` + long + `:12 tail`, `x:y:12z`, `:` + long + `:`},
			ascii: 5,
		},
		{
			name:  "digits",
			expr:  `(\d+)\.(\d+) ([^ ]+)$`,
			lines: []string{`12345678901234.5 abc`, `1.2 ` + long, `x 1.2  y`, `99999999999999999999.0 ` + strings.Repeat("z", 300)},
			loops: true,
			ascii: 4,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			re, bp := mustBacktrack(t, tc.expr)
			lp := bp.live.get()
			require.NotNil(t, lp)
			checkLines(t, re, bp, tc.lines, tc.ascii)
			if tc.loops {
				require.NotEmpty(t, lp.snap.Load().loops, "no state with a loop")
			}
		})
	}
}

// checkLines checks the engines against re on each of lines, doubled and
// indented; the two-pass engine must decide the first live of them (the
// others may go to the backtracker).
func checkLines(t *testing.T, re *regexp.Regexp, bp *btProg, lines []string, live int) {
	t.Helper()
	for i, l := range lines {
		for _, s := range []string{l, l + l, "  " + l} {
			decided, _ := checkSame(t, re, bp, s)
			if i < live {
				require.True(t, decided, "%q left to the backtracker", s)
			}
		}
	}
}

// TestLiveLoopWidth checks which DFA states get a loop (minLoopBytes): a
// field over a wide class (`[^"]*`, `\S+`) does, one over a narrow class
// (digits) does not, its bytes taken a cell at a time; the two-pass engine
// agrees with regexp either way, on short and long fields.
func TestLiveLoopWidth(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		expr  string
		lines []string
		// field: a byte of the field and the byte that ends it; the DFA
		// holds a loop over the field (skips in, not end) when loop.
		in, end byte
		loop    bool
	}{
		{"digits", `(\d+) (\d+)\.(\d+)`, []string{"1 2.3", "x 200 4658.12 y", strings.Repeat("9", 200) + " 1." + strings.Repeat("0", 90), "12 x.3"}, '5', ' ', false},
		{"quoted", `"([^"]*)" (\d+)`, []string{`"a" 1`, `x "` + strings.Repeat("ab c", 40) + `" 200 z`, `"" 7`, `"a 1`}, 'a', '"', true},
		{"non-space", `(\S+) (\S+)$`, []string{"a b", strings.Repeat("x", 100) + " " + strings.Repeat("y", 100), "a  b"}, 'x', ' ', true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			re, bp := mustBacktrack(t, tc.expr)
			lp := bp.live.get()
			require.NotNil(t, lp)
			checkLines(t, re, bp, tc.lines, len(tc.lines))
			field := false
			for _, lo := range lp.snap.Load().loops {
				require.GreaterOrEqual(t, lo.skipped(), minLoopBytes, "a loop over a narrow class")
				field = field || lo.skip[tc.in] && !lo.skip[tc.end]
			}
			require.Equal(t, tc.loop, field, "a loop over the field")
		})
	}
}

// TestLiveLoopCross checks a loop's crossing (cross, with the word-at-a-time
// test where setSWAR turns it on) against a byte-by-byte scan, on skip sets
// with one or two stop bytes, control bytes among the stops, and too many
// stops for the word test, over strings of every byte value and length.
func TestLiveLoopCross(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		stops string // the ASCII bytes the loop does not skip
		swar  bool
	}{
		{"quote", `"`, true},
		{"quote and bracket", `"]`, true},
		{"control bytes", "\n\x00\x1f\"", true},
		{"space and control bytes", " \t\n\r\v\f", true},
		{"three stops", `" ]`, false},
		{"none", "", true},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var lo liveLoop
			for c := range utf8.RuneSelf {
				lo.skip[c] = !strings.ContainsRune(tc.stops, rune(c))
			}
			lo.setSWAR()
			require.Equal(t, tc.swar, lo.swar)
			alphabet := []byte("ab/ (;.0" + tc.stops + "\x00\x7f\x80\xc3\xa9\xff\x1f\x20\x21")
			for range 3000 {
				b := make([]byte, rng.IntN(40))
				for i := range b {
					if rng.IntN(8) == 0 {
						b[i] = alphabet[rng.IntN(len(alphabet))]
					} else {
						b[i] = 'a' + byte(rng.IntN(26))
					}
				}
				s := string(b)
				want := len(s) - 1
				for ; want >= 0 && lo.skip[s[want]]; want-- {
				}
				require.Equal(t, want, lo.cross(s), "%q", s)
			}
		})
	}
}
