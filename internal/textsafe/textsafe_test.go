package textsafe

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestTerminal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "web-1.example", "web-1.example"},
		{"empty", "", ""},
		{"colour", "\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"title change (OSC)", "\x1b]0;pwned\x07", `\x1b]0;pwned\x07`},
		{"fake row", "a\r\n b  127.0.0.1", `a\r\n b  127.0.0.1`},
		{"tab", "a\tb", `a\tb`},
		{"nul and DEL", "a\x00b\x7f", `a\x00b\x7f`},
		{"C1 CSI", "a\u009b31mb", `a\u009b31mb`},
		{"C1 NEL", "a\u0085b", `a\u0085b`},
		{"bidi override", "invoice\u202egnp.exe", `invoice\u202egnp.exe`},
		{"bidi isolates", "\u2066x\u2069\u2067\u2068", `\u2066x\u2069\u2067\u2068`},
		{"bidi marks", "\u200e\u200f\u061c", `\u200e\u200f\u061c`},
		{"embeddings", "\u202a\u202b\u202c\u202d", `\u202a\u202b\u202c\u202d`},
		{"zero width", "ad\u200bmin", `ad\u200bmin`},
		{"tag character", "a\U000e0041b", `a\U000e0041b`},
		{"line separators", "a\u2028b\u2029", `a\u2028b\u2029`},
		{"not UTF-8", "a\xffb\xc3", `a\xffb\xc3`},
		{"8-bit CSI byte", "a\x9bb", `a\x9bb`},
		{"replacement char kept", "a\uFFFDb", "a\uFFFDb"},
		{"non-ASCII text kept", "Zürich 東京 🙂", "Zürich 東京 🙂"},
		{"backslashes kept", `C:\logs\x1b`, `C:\logs\x1b`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, Terminal(tc.in))
		})
	}
}

func TestLog(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		{"plain id kept", "edge-1.example.com", "edge-1.example.com"},
		{"unicode kept", "nœud-é", "nœud-é"},
		{"newline faking a log line", "x\nlevel=ERROR msg=pwned", `x\nlevel=ERROR msg=pwned`},
		{"terminal escape", "\x1b]0;title\a\x1b[31mred", `\x1b]0;title\x07\x1b[31mred`},
		{"bidi override", "abc\u202edef", `abc\u202edef`},
		{"zero width", "ad\u200bmin", `ad\u200bmin`},
		{"line separator", "a\u2028b", `a\u2028b`},
		{"c1 control", "a\u009bb", `a\u009bb`},
		{"invalid utf-8", "a\xffb", `a\xffb`},
		{"backslash escaped so escapes are unambiguous", `a\nb`, `a\\nb`},
		{"long value truncated", strings.Repeat("a", 2<<20), strings.Repeat("a", LogLen) + "...(+2097024 bytes)"},
		{"truncated on a rune boundary", strings.Repeat("a", LogLen-1) + "éé", strings.Repeat("a", LogLen-1) + "...(+4 bytes)"},
		{"escapes after the cut are not kept", strings.Repeat("a", LogLen) + "\n", strings.Repeat("a", LogLen) + "...(+1 bytes)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, Log(tc.in))
		})
	}
}

// FuzzTerminal: the output is UTF-8 without any character a terminal acts
// on, and escaping is idempotent.
func FuzzTerminal(f *testing.F) {
	for _, s := range []string{"", "plain", "\x1b[31m\r\n", "\u202e\u2066", "\xff\x9b", "\u0085\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Terminal(s)
		if !utf8.ValidString(out) {
			t.Fatalf("Terminal(%q) = %q: not UTF-8", s, out)
		}
		for i, r := range out {
			if mustEscape(r, utf8.RuneLen(r)) {
				t.Fatalf("Terminal(%q) = %q: %U left at %d", s, out, r, i)
			}
		}
		if again := Terminal(out); again != out {
			t.Fatalf("Terminal not idempotent: %q -> %q", out, again)
		}
	})
}

// FuzzLog: the output is UTF-8, bounded, and without control characters.
func FuzzLog(f *testing.F) {
	for _, s := range []string{"edge-1", "a\nb", "\x1b[31m", "\u202e", "a\xffb", strings.Repeat("é", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Log(s)
		if !utf8.ValidString(out) {
			t.Fatalf("Log(%q) = %q: invalid UTF-8", s, out)
		}
		if len(out) > 10*LogLen+32 {
			t.Fatalf("Log(%q): %d bytes", s, len(out))
		}
		for _, r := range out {
			if mustEscape(r, utf8.RuneLen(r)) {
				t.Fatalf("Log(%q) = %q: keeps %U", s, out, r)
			}
		}
	})
}
