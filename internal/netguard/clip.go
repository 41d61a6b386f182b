package netguard

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ClipLen is how many bytes of a client-supplied string Clip keeps.
const ClipLen = 128

// Clip makes a client-supplied string (a machine id, a user agent, a
// path) safe to log: at most ClipLen bytes of it are kept (cut on a rune
// boundary, followed by "...(+N bytes)"), and control characters, Unicode
// format characters (bidirectional overrides, zero-width), line and
// paragraph separators, invalid UTF-8 and the backslash are escaped
// (\n, \x1b, \u202e, \\), so that a log line stays one line that says
// what was sent and cannot drive a terminal. Use it wherever a server
// logs a value a client chose.
func Clip(s string) string {
	cut := len(s)
	if cut > ClipLen {
		cut = ClipLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
	}
	clean := true
	for i := 0; i < cut; {
		r, n := utf8.DecodeRuneInString(s[i:])
		if needsEscape(r, n) {
			clean = false
			break
		}
		i += n
	}
	if clean && cut == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(cut + 16)
	for i := 0; i < cut; {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\x`)
			b.WriteString(hex2(s[i]))
		case r == '\\':
			b.WriteString(`\\`)
		case needsEscape(r, n):
			q := strconv.QuoteRuneToASCII(r) // '\n', '\x1b', '\u202e'
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	if cut < len(s) {
		b.WriteString("...(+")
		b.WriteString(strconv.Itoa(len(s) - cut))
		b.WriteString(" bytes)")
	}
	return b.String()
}

func needsEscape(r rune, n int) bool {
	switch {
	case r == utf8.RuneError && n == 1, r == '\\':
		return true
	case r < 0x20, r >= 0x7f && r < 0xa0:
		return true
	case r == '\u2028', r == '\u2029':
		return true
	}
	return r > 0x7f && unicode.Is(unicode.Cf, r)
}

func hex2(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&15]})
}
