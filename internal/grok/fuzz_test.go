package grok

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// startScanCases exercise the candidate-start accelerator against the
// reference matcher (unanchored, every group capturing).
func TestStartScanEquivalence(t *testing.T) {
	t.Parallel()
	lib := NewLibrary()
	cases := []struct {
		name    string
		pattern string
		inputs  []string
	}{
		{"word boundary start", `%{POSINT:n}`, []string{"a12 34", "12", "x", "é12 7", "_9 8"}},
		{"no assertion start", `%{INT:n}`, []string{"ab12", "--3", "+", ""}},
		{"word start", `%{WORD:w} %{INT:n}`, []string{"ab cd 12", "é 1", "a1 b 2", "  x 9"}},
		{"ip or host", `%{IPORHOST:h} - %{WORD:u}`, []string{"x 1.2.3.4 - bob", "host.example - a", "::1 - z", "a.b-c - d"}},
		{"too many candidates", `%{IP:ip} x`, []string{"1 2 3 4 5 6 7 8 9 10.0.0.1 x", "1 2 3 4 5 6"}},
		{"non ascii start", `(?:é|e)%{INT:n}`, []string{"caf\u00e912", "e3", "\xff\xfe9"}},
		{"case fold", `(?i:k)%{INT:n}`, []string{"\u212a1", "k2", "K3"}},
		{"anchored", `^%{WORD:w}`, []string{"a b", " a"}},
		{"empty-able", `%{DATA:d}`, []string{"", "abc"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := lib.Compile(tc.pattern)
			require.NoError(t, err)
			ref := referenceMatch(t, lib, tc.pattern)
			for _, in := range tc.inputs {
				got := map[string]string{}
				ok := p.MatchInto(in, got)
				want := ref(in)
				require.Equal(t, want != nil, ok, in)
				if ok {
					require.Equal(t, want, got, in)
				}
			}
		})
	}
}

// FuzzMatchInto feeds hostile input to compiled hub-style patterns and
// checks the production matcher against the reference one.
func FuzzMatchInto(f *testing.F) {
	lib := NewLibrary()
	patterns := []string{
		`%{IPORHOST:h} - %{NOTSPACE:u} \[%{HTTPDATE:t}\] "%{WORD:verb} %{DATA:req} HTTP/%{NUMBER:v}"`,
		`^%{SYSLOGBASE} %{GREEDYDATA:msg}`,
		`%{POSINT:n}`,
		`Failed password for( invalid user)? %{USERNAME:user} from %{IP:ip}`,
		`%{QS:q}|%{WORD:w}`,
	}
	compiled := make([]*Pattern, len(patterns))
	refs := make([]func(string) map[string]string, len(patterns))
	for i, s := range patterns {
		compiled[i] = lib.MustCompile(s)
		refs[i] = referenceMatch(f, lib, s)
	}
	f.Add(`1.2.3.4 - - [01/Mar/2024:00:00:00 +0000] "GET / HTTP/1.1"`)
	f.Add("Mar  1 00:00:00 web01 sshd[1]: Failed password for root from 1.2.3.4 port 22")
	f.Add("\xff\xfe\x00 a12 \"q\\\"\" x")
	f.Add(strings.Repeat("a.", 1500))
	f.Fuzz(func(t *testing.T, s string) {
		// Go's regexp is linear but costs ~1us/byte on these programs; the
		// reference run doubles that. Longer inputs only slow the fuzzer.
		if len(s) > 4096 {
			return
		}
		for i, p := range compiled {
			got := map[string]string{}
			ok := p.MatchInto(s, got)
			want := refs[i](s)
			if ok != (want != nil) {
				t.Fatalf("%s: match %v, reference %v on %q", patterns[i], ok, want != nil, s)
			}
			if ok {
				for k, v := range want {
					if got[k] != v {
						t.Fatalf("%s: %s=%q, reference %q on %q", patterns[i], k, got[k], v, s)
					}
				}
			}
		}
	})
}

// FuzzCompile compiles hostile patterns (with a few library references
// mixed in): errors are fine, panics and hangs are not.
func FuzzCompile(f *testing.F) {
	lib := NewLibrary()
	require.NoError(f, lib.Add("LOOP_A", `%{LOOP_B}`))
	require.NoError(f, lib.Add("LOOP_B", `x%{LOOP_A}`))
	f.Add(`%{INT:a} %{WORD:b}`)
	f.Add(`%{LOOP_A}`)
	f.Add(`%{NOPE}(`)
	f.Add("\xff%{IP:ip:int}(?P<x>a)")
	f.Add(`%{HTTPD_ERRORLOG}%{HTTPD_ERRORLOG}%{COMBINEDAPACHELOG:x}`)
	f.Fuzz(func(t *testing.T, pattern string) {
		if len(pattern) > 4096 {
			return
		}
		p, err := lib.Compile(pattern)
		if err != nil {
			require.True(t, strings.HasPrefix(err.Error(), "grok: "))
			return
		}
		m := map[string]string{}
		p.MatchInto(pattern, m)
		p.Match(pattern)
		_ = p.Names()
	})
}
