package grok

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// hubLibrary returns the base library plus the hub's pattern directory.
func hubLibrary(t testing.TB) *Library {
	t.Helper()
	l := NewLibrary()
	require.NoError(t, l.LoadDir(filepath.Join(testutil.Hub(t), "patterns")))
	return l
}

func TestBasePatterns(t *testing.T) {
	t.Parallel()
	l := NewLibrary()
	require.Equal(t, 88, l.Len())
	for name := range l.defs {
		_, err := l.CompileNamed(name)
		require.NoError(t, err, name)
	}
}

func TestBaseBehaviour(t *testing.T) {
	t.Parallel()
	l := NewLibrary()
	cases := []struct {
		name    string
		pattern string
		input   string
		want    map[string]string // nil: no match
	}{
		{"ipv4", `^%{IPV4:ip}$`, "192.168.1.254", map[string]string{"ip": "192.168.1.254"}},
		{"ipv4 bad octet", `^%{IPV4:ip}$`, "192.168.1.256", nil},
		{"ipv6", `^%{IP:ip}$`, "2001:db8::1", map[string]string{"ip": "2001:db8::1"}},
		{"iporhost host", `^%{IPORHOST:h}$`, "www.example.org", map[string]string{"h": "www.example.org"}},
		{"int sign", `^%{INT:n}$`, "-42", map[string]string{"n": "-42"}},
		{"number float", `^%{NUMBER:n}$`, "3.14", map[string]string{"n": "3.14"}},
		{"posint zero", `^%{POSINT:n}$`, "0", nil},
		{"word", `%{WORD:w}`, "  hello world", map[string]string{"w": "hello"}},
		{"notspace", `%{NOTSPACE:w}`, "abc def", map[string]string{"w": "abc"}},
		{"data lazy", `^%{DATA:a}:%{GREEDYDATA:b}$`, "x:y:z", map[string]string{"a": "x", "b": "y:z"}},
		{"quotedstring", `%{QS:q}`, `say "hi \"you\"" now`, map[string]string{"q": `"hi \"you\""`}},
		{"uuid", `%{UUID:u}`, "id=123e4567-e89b-12d3-a456-426614174000", map[string]string{"u": "123e4567-e89b-12d3-a456-426614174000"}},
		{"mac", `^%{MAC:m}$`, "00:1A:2b:3c:4D:5e", map[string]string{"m": "00:1A:2b:3c:4D:5e"}},
		{"httpdate", `^%{HTTPDATE:t}$`, "01/Mar/2024:00:00:00 +0000", map[string]string{"t": "01/Mar/2024:00:00:00 +0000"}},
		{"iso8601", `^%{TIMESTAMP_ISO8601:t}$`, "2024-03-01T12:30:45.123+01:00", map[string]string{"t": "2024-03-01T12:30:45.123+01:00"}},
		{"syslogtimestamp", `^%{SYSLOGTIMESTAMP:t}$`, "Mar  1 00:00:00", map[string]string{"t": "Mar  1 00:00:00"}},
		{"german month", `^%{MONTH:m}$`, "Mär", map[string]string{"m": "Mär"}},
		{"loglevel", `\[%{LOGLEVEL:l}\]`, "x [warning] y", map[string]string{"l": "warning"}},
		{"uripathparam", `^%{URIPATHPARAM:u}$`, "/a/b.php?x=1&y=[2]", map[string]string{"u": "/a/b.php?x=1&y=[2]"}},
		{"syslogbase inner semantics", `^%{SYSLOGBASE}`, "Mar  1 00:00:00 web01 sshd[123]: hi",
			map[string]string{"timestamp": "Mar  1 00:00:00", "logsource": "web01", "program": "sshd", "pid": "123", "facility": "", "priority": ""}},
		{"commonapachelog", `^%{COMMONAPACHELOG}$`, `1.2.3.4 - - [01/Mar/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 12`,
			map[string]string{"clientip": "1.2.3.4", "ident": "-", "auth": "-", "timestamp": "01/Mar/2024:00:00:00 +0000", "verb": "GET", "request": "/", "httpversion": "1.1", "rawrequest": "", "response": "200", "bytes": "12"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := l.Compile(tc.pattern)
			require.NoError(t, err)
			got := map[string]string{}
			ok := p.MatchInto(tc.input, got)
			if tc.want == nil {
				require.False(t, ok)
				require.Empty(t, got)
				return
			}
			require.True(t, ok)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestCompileSemantics(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		defs      map[string]string
		pattern   string
		input     string
		wantNames []string
		want      map[string]string // nil: no match
	}{
		{
			name: "plain reference is not captured", pattern: `%{INT} %{INT:b}`,
			input: "1 2", wantNames: []string{"b"}, want: map[string]string{"b": "2"},
		},
		{
			name: "type suffix ignored", pattern: `%{INT:n:int}`,
			input: "x 17", wantNames: []string{"n"}, want: map[string]string{"n": "17"},
		},
		{
			name: "raw named group not exported", pattern: `(?P<raw>a+)%{INT:n}`,
			input: "aa5", wantNames: []string{"n"}, want: map[string]string{"n": "5"},
		},
		{
			name: "no semantics never succeeds", pattern: `(a+)(b)`,
			input: "aab", wantNames: []string{}, want: nil,
		},
		{
			name: "reference without semantic but inner semantics", defs: map[string]string{"KV": `%{WORD:k}=%{INT:v}`},
			pattern: `%{KV}`, input: "a=1", wantNames: []string{"k", "v"}, want: map[string]string{"k": "a", "v": "1"},
		},
		{
			name: "outer and inner both captured", defs: map[string]string{"KV": `%{WORD:k}=%{INT:v}`},
			pattern: `%{KV:kv}`, input: "a=1", wantNames: []string{"kv", "k", "v"}, want: map[string]string{"kv": "a=1", "k": "a", "v": "1"},
		},
		{
			name: "outer name beats inner name", defs: map[string]string{"KV": `%{WORD:k}=%{INT:v}`},
			pattern: `%{KV} %{WORD:k}`, input: "a=1 b", wantNames: []string{"v", "k"}, want: map[string]string{"k": "b", "v": "1"},
		},
		{
			name: "outer name beats later inner name", defs: map[string]string{"KV": `%{WORD:k}=%{INT:v}`},
			pattern: `%{WORD:k} %{KV}`, input: "b a=1", wantNames: []string{"k", "v"}, want: map[string]string{"k": "b", "v": "1"},
		},
		{
			name: "duplicate same level: last wins", pattern: `%{WORD:w} %{WORD:w}`,
			input: "a b", wantNames: []string{"w"}, want: map[string]string{"w": "b"},
		},
		{
			name: "duplicate: last wins even when it did not participate", pattern: `%{WORD:w} (x%{INT:w})?`,
			input: "a y", wantNames: []string{"w"}, want: map[string]string{"w": ""},
		},
		{
			name: "duplicate: first did not participate", pattern: `(x%{INT:w} )?%{WORD:w}`,
			input: "x1 b", wantNames: []string{"w"}, want: map[string]string{"w": "b"},
		},
		{
			name: "duplicate inner names: later reference wins", defs: map[string]string{"A": `%{INT:n}`, "B": `%{WORD:n}`},
			pattern: `%{A}-%{B}`, input: "1-x", wantNames: []string{"n"}, want: map[string]string{"n": "x"},
		},
		{
			name: "non participating group is empty", pattern: `%{WORD:a}( %{INT:b})?`,
			input: "a", wantNames: []string{"a", "b"}, want: map[string]string{"a": "a", "b": ""},
		},
		{
			name: "unanchored", pattern: `%{INT:n}`,
			input: "abc 42 def", wantNames: []string{"n"}, want: map[string]string{"n": "42"},
		},
		{
			name: "anchored pattern", pattern: `^%{INT:n}`,
			input: "abc 42", wantNames: []string{"n"}, want: nil,
		},
		{
			name: "malformed reference stays literal", pattern: `%{IP:src-ip} %{INT:n}`,
			input: "%{IP:src-ip} 5", wantNames: []string{"n"}, want: map[string]string{"n": "5"},
		},
		{
			name: "alternation in reference is grouped", defs: map[string]string{"AB": `a|b`},
			pattern: `^x%{AB:v}y$`, input: "xby", wantNames: []string{"v"}, want: map[string]string{"v": "b"},
		},
		{
			name: "reference reused", defs: map[string]string{"P": `[a-z]+`},
			pattern: `%{P:a}-%{P:b}-%{P}`, input: "x-y-z", wantNames: []string{"a", "b"}, want: map[string]string{"a": "x", "b": "y"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := NewLibrary()
			for k, v := range tc.defs {
				require.NoError(t, l.Add(k, v))
			}
			p, err := l.Compile(tc.pattern)
			require.NoError(t, err)
			require.Equal(t, tc.wantNames, p.Names())
			require.Equal(t, tc.pattern, p.String())
			got := map[string]string{"untouched": "yes"}
			ok := p.MatchInto(tc.input, got)
			if tc.want == nil {
				require.False(t, ok)
				require.Equal(t, map[string]string{"untouched": "yes"}, got)
				return
			}
			require.True(t, ok)
			delete(got, "untouched")
			require.Equal(t, tc.want, got)
		})
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		defs    map[string]string
		pattern string
		wantErr string
	}{
		{name: "unknown", pattern: `%{NOPE_X:a}`, wantErr: "unknown pattern NOPE_X"},
		{name: "unknown nested", defs: map[string]string{"OUTER": `%{INNER_MISSING}`}, pattern: `%{OUTER}`, wantErr: "unknown pattern INNER_MISSING"},
		{name: "self cycle", defs: map[string]string{"SELF": `a%{SELF}`}, pattern: `%{SELF}`, wantErr: "pattern cycle: SELF -> SELF"},
		{name: "cycle", defs: map[string]string{"CA": `%{CB}`, "CB": `%{CA}`}, pattern: `x%{CA}`, wantErr: "pattern cycle: CA -> CB -> CA"},
		{name: "bad regex", pattern: `%{INT:a}(`, wantErr: "missing closing )"},
		{name: "bad regex in definition", defs: map[string]string{"BAD": `[z-a]`}, pattern: `%{BAD:b}`, wantErr: "invalid character class range"},
		{name: "backreference", pattern: `(a)\1%{INT:a}`, wantErr: "invalid escape"},
		{name: "exponential expansion", defs: map[string]string{
			"E0": `.%{INT}`, "E1": `%{E0}%{E0}%{E0}%{E0}`, "E2": `%{E1}%{E1}%{E1}%{E1}`, "E3": `%{E2}%{E2}%{E2}%{E2}`,
			"E4": `%{E3}%{E3}%{E3}%{E3}`, "E5": `%{E4}%{E4}%{E4}%{E4}`, "E6": `%{E5}%{E5}%{E5}%{E5}`,
			"E7": `%{E6}%{E6}%{E6}%{E6}`, "E8": `%{E7}%{E7}%{E7}%{E7}`, "E9": `%{E8}%{E8}%{E8}%{E8}`, "E10": `%{E9}%{E9}%{E9}%{E9}`,
			"E11": `%{E10}%{E10}%{E10}%{E10}`, "E12": `%{E11}%{E11}%{E11}%{E11}`,
		}, pattern: `%{E12:x}`, wantErr: "expanded pattern too large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := NewLibrary()
			for k, v := range tc.defs {
				require.NoError(t, l.Add(k, v))
			}
			_, err := l.Compile(tc.pattern)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.wantErr)
			require.True(t, strings.HasPrefix(err.Error(), "grok: "), err.Error())
		})
	}
	_, err := NewLibrary().CompileNamed("NOT_THERE")
	require.ErrorIs(t, err, ErrUnknownPattern)
}

func TestLibraryAdd(t *testing.T) {
	t.Parallel()
	l := NewLibrary()
	require.True(t, l.Has("INT"))
	require.False(t, l.Has("MINE"))
	require.NoError(t, l.Add("MINE", `m+`))
	require.True(t, l.Has("MINE"))
	require.ErrorContains(t, l.Add("MINE", `n+`), "grok: add MINE: pattern is already defined")
	require.ErrorContains(t, l.Add("INT", `n+`), "already defined")
	require.ErrorContains(t, l.Add("bad-name", `n+`), "name must match")
	require.ErrorContains(t, l.Add("EMPTY", ``), "empty pattern")
	require.False(t, l.AddIfMissing("MINE", `n+`))
	def, _ := l.Definition("MINE")
	require.Equal(t, `m+`, def)
	require.True(t, l.AddIfMissing("OTHER", `o+`))

	c := l.Clone()
	require.NoError(t, c.Add("ONLY_CLONE", `x`))
	require.False(t, l.Has("ONLY_CLONE"))
	require.Equal(t, 0, NewEmptyLibrary().Len())
}

func TestLoadDir(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		files   map[string]string
		want    map[string]string // expected definitions
		wantErr string
	}{
		{
			name: "lines and comments",
			files: map[string]string{
				"alpha": "# comment\n\nA1 [a]+\n  indented ignored\nA2 %{A1}-%{INT}\r\nnot-a-def x\n",
			},
			want: map[string]string{"A1": "[a]+", "A2": "%{A1}-%{INT}"},
		},
		{
			name:  "dotted files skipped",
			files: map[string]string{"LICENSE.txt": "LIC broken(\n", "beta": "B1 b\n"},
			want:  map[string]string{"B1": "b"},
		},
		{
			name:  "cross-file references",
			files: map[string]string{"one": "X1 %{Y1}\n", "two": "Y1 y\n"},
			want:  map[string]string{"X1": "%{Y1}", "Y1": "y"},
		},
		{
			name:    "duplicate across files",
			files:   map[string]string{"aa": "DUP a\n", "bb": "DUP b\n"},
			wantErr: "bb:1: pattern DUP is already defined",
		},
		{
			name:    "duplicate of a base pattern",
			files:   map[string]string{"cc": "\nINT x\n"},
			wantErr: "cc:2: pattern INT is already defined",
		},
		{
			name:    "unknown reference",
			files:   map[string]string{"dd": "D1 %{NOT_DEFINED_ANYWHERE}\n"},
			wantErr: "dd: pattern D1: unknown pattern NOT_DEFINED_ANYWHERE",
		},
		{
			name:    "invalid regex",
			files:   map[string]string{"ee": "E1 (\n"},
			wantErr: "ee: pattern E1: error parsing regexp",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for name, body := range tc.files {
				require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600))
			}
			l := NewLibrary()
			err := l.LoadDir(dir)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, 88+len(tc.want), l.Len())
			for k, v := range tc.want {
				got, ok := l.Definition(k)
				require.True(t, ok, k)
				require.Equal(t, v, got)
			}
		})
	}
	require.ErrorContains(t, NewLibrary().LoadDir(filepath.Join(t.TempDir(), "missing")), "grok: load dir")
}

func TestRequiredLiterals(t *testing.T) {
	t.Parallel()
	l := NewLibrary()
	require.NoError(t, l.Add("SSHFAIL", `Failed password for( invalid user)? %{USERNAME:user} from %{IP:ip}`))
	cases := []struct {
		name    string
		pattern string
		want    []string
	}{
		{"concat merges", `abc%{INT:n}def`, []string{"abc", "def"}},
		{"alternation not required", `(?:foo|bar)%{INT:n}`, nil},
		{"optional not required", `(?:foo)?%{INT:n}`, nil},
		{"plus required", `(?:foo)+%{INT:n}`, []string{"foo"}},
		{"repeat min 1", `(?:foo){1,3}%{INT:n}`, []string{"foo"}},
		{"case fold excluded", `(?i)foo%{INT:n}`, nil},
		{"short dropped", `a%{INT:n}`, nil},
		{"assertions keep adjacency", `^foo\bbar%{INT:n}`, []string{"foobar"}},
		{"nested reference", `%{SSHFAIL}`, []string{"Failed password for", " from "}},
		{"nginx style", `\[%{HTTPDATE:t}\] "%{WORD:verb} %{DATA:request} HTTP/%{NUMBER:v}"`, []string{" HTTP/", "] \""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := l.Compile(tc.pattern)
			require.NoError(t, err)
			require.Equal(t, tc.want, p.RequiredLiterals())
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	p := NewLibrary().MustCompile(`%{IP:ip} %{WORD:w}`)
	done := make(chan bool)
	for i := 0; i < 4; i++ {
		go func() {
			ok := true
			for j := 0; j < 200; j++ {
				m := map[string]string{}
				ok = ok && p.MatchInto("x 10.0.0.1 hello", m) && m["ip"] == "10.0.0.1" && m["w"] == "hello"
			}
			done <- ok
		}()
	}
	for i := 0; i < 4; i++ {
		require.True(t, <-done)
	}
}

// TestMatchEach: the captures MatchEach hands over are those MatchInto
// writes, by index into Names(), every name once, only on a match.
func TestMatchEach(t *testing.T) {
	lib := NewLibrary()
	for _, tc := range []struct {
		name, pattern, in string
		match             bool
	}{
		{"all groups", `%{IP:ip} %{WORD:verb}(?: %{NUMBER:n})?`, "1.2.3.4 GET 12", true},
		{"optional group absent", `%{IP:ip} %{WORD:verb}(?: %{NUMBER:n})?`, "1.2.3.4 GET", true},
		{"no match", `%{IP:ip} %{WORD:verb}`, "nothing here", false},
		{"long input (regexp engine)", `%{WORD:a} %{GREEDYDATA:rest}`, "x " + strings.Repeat("y", 100000), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := lib.Compile(tc.pattern)
			require.NoError(t, err)
			want := map[string]string{}
			require.Equal(t, tc.match, p.MatchInto(tc.in, want))
			got := map[string]string{}
			calls := 0
			ok := p.MatchEach(tc.in, func(i int, v string) {
				require.Equal(t, calls, i, "in Names() order")
				calls++
				got[p.Names()[i]] = v
			})
			require.Equal(t, tc.match, ok)
			if tc.match {
				require.Equal(t, len(p.Names()), calls)
			} else {
				require.Zero(t, calls)
			}
			require.Equal(t, want, got)
		})
	}
}

// TestPrefilterAnchoredByte checks the prefilter of a start-anchored
// pattern without a literal of minLiteral bytes: one byte that every match
// holds (http-logs' `?`), and that MatchInto agrees with regexp on inputs
// with and without it.
func TestPrefilterAnchoredByte(t *testing.T) {
	t.Parallel()
	l := NewLibrary()
	cases := []struct {
		name    string
		pattern string
		want    []string
		inputs  []string
	}{
		{"query split", `^%{GREEDYDATA:path}\?%{GREEDYDATA:args}$`, []string{"?"}, []string{"/a?b=c", "/a", "?", "/a?b?c", ""}},
		{"longer literal kept", `^%{INT:n}ab%{WORD:w}`, []string{"ab"}, []string{"12abx", "12ax"}},
		{"not anchored", `%{GREEDYDATA:path}\?%{GREEDYDATA:args}`, nil, []string{"/a?b", "/a"}},
		{"optional byte", `^%{WORD:w}(?:\?%{INT:n})?`, nil, []string{"a?1", "a"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := l.Compile(tc.pattern)
			require.NoError(t, err)
			require.Equal(t, tc.want, p.Prefilter())
			for _, in := range tc.inputs {
				got := map[string]string{}
				ok := p.MatchInto(in, got)
				require.Equal(t, p.re.MatchString(in), ok, "%q", in)
			}
		})
	}
}
