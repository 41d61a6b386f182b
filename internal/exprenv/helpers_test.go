package exprenv

import (
	"testing"
	"time"

	"github.com/expr-lang/expr"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/event"
)

// exprCase is one expression and its expected result (or error).
type exprCase struct {
	name    string
	src     string
	want    any
	wantErr bool
}

// testEvt is the event the cases see as evt.
func testEvt() *event.Event {
	e := event.New(event.Line{Raw: `{"a":{"b":[1,"x\"y"]},"n":null}`})
	e.SetParsed("ip", "192.168.1.10")
	e.SetParsed("kv", `user=bob msg="hello world" empty= x=1`)
	e.SetMeta("source_ip", "1.2.3.4")
	return e
}

// runCases compiles and runs each case with env {evt} on e.
func runCases(t *testing.T, e *Env, cases []exprCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]any{"evt": testEvt()}
			prog, err := e.Compile(c.src, env)
			require.NoError(t, err)
			got, err := expr.Run(prog, env)
			if c.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.want, got)
		})
	}
}

func fixedClock() func() time.Time {
	t0 := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	return func() time.Time { return t0 }
}

func TestStringHelpers(t *testing.T) {
	runCases(t, New(Deps{}), []exprCase{
		{"upper", `Upper("aBc")`, "ABC", false},
		{"lower", `Lower("aBc")`, "abc", false},
		{"trimspace", `TrimSpace("  a ")`, "a", false},
		{"trim", `Trim("xxaxx", "x")`, "a", false},
		{"trimleft", `TrimLeft("xxa", "x")`, "a", false},
		{"trimright", `TrimRight("axx", "x")`, "a", false},
		{"trimprefix", `TrimPrefix("/api/v1", "/api")`, "/v1", false},
		{"trimsuffix", `TrimSuffix("a.log", ".log")`, "a", false},
		{"split", `Split("a,b,c", ",")`, []string{"a", "b", "c"}, false},
		{"splitafter", `SplitAfter("a,b", ",")`, []string{"a,", "b"}, false},
		{"splitn", `SplitN("a,b,c", ",", 2)`, []string{"a", "b,c"}, false},
		{"splitaftern", `SplitAfterN("a,b,c", ",", 2)`, []string{"a,", "b,c"}, false},
		{"index", `Index("chicken", "ken")`, 4, false},
		{"indexany", `IndexAny("golang", "ny")`, 4, false},
		{"fields", `Fields(" a  b ")`, []string{"a", "b"}, false},
		{"join", `Join(Split("a b", " "), "-")`, "a-b", false},
		{"replace", `Replace("aaa", "a", "b", 2)`, "bba", false},
		{"replaceall", `ReplaceAll("aaa", "a", "b")`, "bbb", false},
		{"tostring string", `ToString(evt.Parsed.ip)`, "192.168.1.10", false},
		{"tostring int is empty", `ToString(1)`, "", false},
		{"get in range", `Get(Split("a,b", ","), 1)`, "b", false},
		{"get out of range", `Get(Split("a,b", ","), 5)`, "", false},
		{"get negative", `Get(Split("a,b", ","), -1)`, "", false},
		{"atof", `Atof("1.5")`, 1.5, false},
		{"atof bad is zero", `Atof("x")`, 0.0, false},
		{"sprintf", `Sprintf("%dh-%s", 1, "x")`, "1h-x", false},
		{"match star", `Match("to?o*", "totoooooo")`, true, false},
		{"match no", `Match("a*b", "acd")`, false, false},
		{"match empty pattern", `Match("", "")`, true, false},
		{"match star empty", `Match("*", "")`, true, false},
		{"match double star quirk", `Match("a**", "a")`, false, false},
		{"match double star nonempty", `Match("a**", "ab")`, true, false},
		{"match cmd", `Match("*cmd.exe /c*", "C:\\cmd.exe /c whoami")`, true, false},
	})
}

// matchRef is a plain recursive statement of the Match semantics.
func matchRef(pattern, name string) bool {
	if pattern == "" {
		return name == ""
	}
	if name == "" {
		return pattern == "*"
	}
	if pattern[0] == '*' {
		for i := 0; i <= len(name); i++ {
			if matchRef(pattern[1:], name[i:]) {
				return true
			}
		}
		return false
	}
	if pattern[0] == '?' || pattern[0] == name[0] {
		return matchRef(pattern[1:], name[1:])
	}
	return false
}

func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{{"a*b?c", "axxbyc"}, {"**", ""}, {"*a**", "baa"}, {"?*?", "ab"}, {"*b**", "abb"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		if len(pattern) > 12 || len(name) > 24 {
			return // keep the exponential reference fast
		}
		require.Equal(t, matchRef(pattern, name), Match(pattern, name), "pattern %q name %q", pattern, name)
	})
}

func TestMatchAgainstReference(t *testing.T) {
	pats := []string{"", "*", "**", "?", "a*", "*a", "a**", "*a*", "?*", "*?*", "a?c", "*ab*c*", "**b"}
	names := []string{"", "a", "ab", "abc", "aab", "ba", "bab", "abcabc", "xaybzc"}
	for _, p := range pats {
		for _, n := range names {
			require.Equal(t, matchRef(p, n), Match(p, n), "pattern %q name %q", p, n)
		}
	}
}
