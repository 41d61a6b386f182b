// Package textsafe makes text from untrusted parties (machine ids, user
// names, paths, log lines) safe to show: on a terminal (Terminal) or in a
// log line (Log). Every character a terminal would act on instead of
// showing is written as an escape, so such text can neither run terminal
// sequences (colours, title changes, cursor moves, OSC 52 clipboard
// writes) nor fake table rows or log lines:
//
//   - C0 controls and DEL: \n, \r, \t, else \xHH (ESC is \x1b);
//   - C1 controls (U+0080-U+009F), which some terminals take as CSI/OSC: \u0085...;
//   - Unicode format characters (category Cf: bidirectional controls that
//     reorder what is shown, zero-width characters): \u202e, \u200b...;
//   - line and paragraph separators (U+2028, U+2029);
//   - bytes that are not UTF-8: \xHH.
//
// It is the one implementation of this job: the CLI's human output and the
// servers' logs both use it.
package textsafe

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// LogLen is how many bytes of a value Log keeps.
const LogLen = 128

// Terminal makes s safe to print on a terminal. Backslashes are left as
// they are (a Windows path stays readable), so the escapes are for
// reading, not for decoding; Terminal(Terminal(s)) == Terminal(s).
func Terminal(s string) string { return escape(s, len(s), false) }

// Log makes a client-supplied value safe to log: at most LogLen bytes are
// kept (cut on a rune boundary, followed by "...(+N bytes)"), characters
// are escaped as Terminal does, and backslashes too (\\), so that a log
// line stays one line that says unambiguously what was sent. Use it for
// every client-chosen value a server logs.
func Log(s string) string {
	cut := len(s)
	if cut > LogLen {
		cut = LogLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
	}
	out := escape(s, cut, true)
	if cut < len(s) {
		out += "...(+" + strconv.Itoa(len(s)-cut) + " bytes)"
	}
	return out
}

// escape escapes s[:n]; backslash says whether '\\' is escaped too.
func escape(s string, n int, backslash bool) string {
	i := 0
	for i < n {
		r, size := utf8.DecodeRuneInString(s[i:n])
		if mustEscape(r, size) || (backslash && r == '\\') {
			break
		}
		i += size
	}
	if i == n {
		return s[:n]
	}
	var b strings.Builder
	b.Grow(n + 16)
	b.WriteString(s[:i])
	for i < n {
		r, size := utf8.DecodeRuneInString(s[i:n])
		switch {
		case backslash && r == '\\':
			b.WriteString(`\\`)
		case !mustEscape(r, size):
			b.WriteString(s[i : i+size])
		case r == utf8.RuneError:
			hex(&b, `\x`, uint32(s[i]), 2)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80:
			hex(&b, `\x`, uint32(r), 2)
		case r <= 0xffff:
			hex(&b, `\u`, uint32(r), 4)
		default:
			hex(&b, `\U`, uint32(r), 8)
		}
		i += size
	}
	return b.String()
}

func hex(b *strings.Builder, prefix string, v uint32, digits int) {
	const hexd = "0123456789abcdef"
	b.WriteString(prefix)
	for d := digits - 1; d >= 0; d-- {
		b.WriteByte(hexd[v>>(4*d)&15])
	}
}

// mustEscape reports whether the rune r (size bytes of input) is one that
// is escaped.
func mustEscape(r rune, size int) bool {
	switch {
	case r == utf8.RuneError && size <= 1:
		return true // not UTF-8 (a real U+FFFD is 3 bytes and is shown)
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x2028, r == 0x2029:
		return true
	}
	return r > 0x7f && unicode.Is(unicode.Cf, r)
}
