package netguard_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/netguard"
)

func TestClip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{name: "plain id kept", in: "edge-1.example.com", want: "edge-1.example.com"},
		{name: "unicode kept", in: "nœud-é", want: "nœud-é"},
		{name: "newline faking a log line", in: "x\nlevel=ERROR msg=pwned", want: `x\nlevel=ERROR msg=pwned`},
		{name: "terminal escape", in: "\x1b]0;title\a\x1b[31mred", want: `\x1b]0;title\a\x1b[31mred`},
		{name: "bidi override", in: "abc\u202edef", want: `abc\u202edef`},
		{name: "zero width", in: "ad\u200bmin", want: `ad\u200bmin`},
		{name: "line separator", in: "a\u2028b", want: `a\u2028b`},
		{name: "c1 control", in: "a\u009bb", want: `a\u009bb`},
		{name: "invalid utf-8", in: "a\xffb", want: `a\xffb`},
		{name: "backslash escaped so escapes are unambiguous", in: `a\nb`, want: `a\\nb`},
		{name: "long value truncated", in: strings.Repeat("a", 2<<20), want: strings.Repeat("a", netguard.ClipLen) + "...(+2097024 bytes)"},
		{name: "truncated on a rune boundary", in: strings.Repeat("a", netguard.ClipLen-1) + "éé", want: strings.Repeat("a", netguard.ClipLen-1) + "...(+4 bytes)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, netguard.Clip(tc.in))
		})
	}
}

func FuzzClip(f *testing.F) {
	for _, s := range []string{"edge-1", "a\nb", "\x1b[31m", "\u202e", "a\xffb", strings.Repeat("é", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := netguard.Clip(s)
		if !utf8.ValidString(out) {
			t.Fatalf("Clip(%q) = %q: invalid UTF-8", s, out)
		}
		if len(out) > 4*netguard.ClipLen+32 {
			t.Fatalf("Clip(%q): %d bytes", s, len(out))
		}
		for _, r := range out {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' || r == '\u202e' {
				t.Fatalf("Clip(%q) = %q: keeps control character %U", s, out, r)
			}
		}
	})
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"50/s", "3/m", "1/h", "off", "2.5", "-1/s", "1e400/s", "NaN/s", " 5 / m "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := netguard.ParseRate(s)
		if err != nil {
			return
		}
		if r != netguard.Off && r < 0 {
			t.Fatalf("ParseRate(%q) = %v: negative", s, r)
		}
		if r == 0 || r == netguard.Off {
			return
		}
		back, err := netguard.ParseRate(r.String())
		if err != nil {
			t.Fatalf("ParseRate(%q).String() = %q does not parse: %v", s, r.String(), err)
		}
		if d := float64(back - r); d > 1e-6*float64(r) || d < -1e-6*float64(r) {
			t.Fatalf("ParseRate(%q) = %v, read back as %v", s, r, back)
		}
	})
}
