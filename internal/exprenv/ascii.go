package exprenv

import (
	"strings"
	"unsafe"
)

// upper and lower are the Upper and Lower helpers: exactly strings.ToUpper
// and strings.ToLower (which they call for any input with a byte >= 0x80),
// with a faster path for ASCII input, the common case of the HTTP fields
// hub scenarios fold (paths, arguments, user agents): eight bytes at a
// time, one allocation, no per-byte builder call. FuzzCaseFold checks
// them against the strings functions.
func upper(s string) string { return foldASCII(s, 'a', strings.ToUpper) }

func lower(s string) string { return foldASCII(s, 'A', strings.ToLower) }

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// caseMask returns, for the 8 ASCII bytes of x, 0x20 in each byte in
// [first, first+25] (the letters to fold) and 0 elsewhere. Each byte is
// below 0x80, so the additions carry into no other byte.
func caseMask(x uint64, first byte) uint64 {
	ge := x + ones*uint64(0x80-first)    // high bit: byte >= first
	gt := x + ones*uint64(0x80-first-26) // high bit: byte > first+25
	return ((ge &^ gt) & highs) >> 2
}

// load64 and store64 read and write the 8 bytes at i as one word. They
// slice first and index by constants: the compiler then proves every
// index in bounds and merges the byte accesses into one load or store
// (with s[i+7] checked first and s[i]... indexed, it kept a bounds check
// per byte: 23 instructions a word, when the word is one).
func load64(s string, i int) uint64 {
	w := s[i : i+8]
	return uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
}

func store64(b []byte, i int, x uint64) {
	w := b[i : i+8]
	w[0], w[1], w[2], w[3] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24)
	w[4], w[5], w[6], w[7] = byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
}

// foldASCII flips the case of the letters [first, first+25] of an ASCII s
// (first 'a': to upper, 'A': to lower); any other s goes to slow.
func foldASCII(s string, first byte, slow func(string) string) string {
	// Find the first byte to change; an input without one is returned
	// as is (as the strings functions do).
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := load64(s, i)
		if x&highs != 0 {
			return slow(s)
		}
		if caseMask(x, first) != 0 {
			break
		}
	}
	if i+8 > len(s) {
		for ; i < len(s); i++ {
			c := s[i]
			if c >= 0x80 {
				return slow(s)
			}
			if c >= first && c <= first+25 {
				break
			}
		}
		if i == len(s) {
			return s
		}
	}
	b := make([]byte, len(s))
	copy(b, s[:i])
	for ; i+8 <= len(s); i += 8 {
		x := load64(s, i)
		if x&highs != 0 {
			return slow(s)
		}
		store64(b, i, x^caseMask(x, first))
	}
	for ; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return slow(s)
		}
		if c >= first && c <= first+25 {
			c ^= 0x20
		}
		b[i] = c
	}
	return unsafe.String(unsafe.SliceData(b), len(b)) // b is not written again
}

// caseFirst returns the first letter the case helper name folds (see
// foldASCII: Upper folds a-z, Lower A-Z) and the helper itself.
func caseFirst(name string) (first byte, fn func(string) string, ok bool) {
	switch name {
	case "Upper":
		return 'a', upper, true
	case "Lower":
		return 'A', lower, true
	}
	return 0, nil, false
}

// isASCII reports whether s has no byte >= 0x80: 32 bytes a test (the
// fold comparisons test user agents and paths of 100 bytes and more, a
// dozen times a line), then 8, then 1.
func isASCII(s string) bool {
	for len(s) >= 32 {
		if (load64(s, 0)|load64(s, 8)|load64(s, 16)|load64(s, 24))&highs != 0 {
			return false
		}
		s = s[32:]
	}
	for len(s) >= 8 {
		if load64(s, 0)&highs != 0 {
			return false
		}
		s = s[8:]
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// foldEqual reports whether a, folded as foldASCII(a, first) would (a
// ASCII), equals lit (of a's length).
func foldEqual(a, lit string, first byte) bool {
	for i := 0; i < len(lit); i++ {
		c := a[i]
		if c-first < 26 {
			c ^= 0x20
		}
		if c != lit[i] {
			return false
		}
	}
	return true
}

// FoldCompare returns a function answering H(x) op lit without building
// H(x), for the case helper H (name: "Upper" or "Lower"), op "==", "!=",
// "startsWith" or "endsWith", and an ASCII lit that H leaves unchanged:
// its result is that answer when ascii is true (x is ASCII); for any other
// x, ascii is false and the caller computes H(x) op lit itself. ok is
// false (compare the folded value) for any other name, op or lit.
//
// "contains" is declined: the hub's scenarios test one event's
// Upper(http_path) against dozens of literals, and one folded copy shared
// through natexpr's memo, searched with strings.Contains, costs fewer
// instructions than a case-folding search each (bench/icount nginx: 4.7%
// more per line with it). The function is safe for concurrent use.
func (e *Env) FoldCompare(name, op, lit string) (match func(x string) (result, ascii bool), ok bool) {
	first, fn, ok := caseFirst(name)
	if !ok || !isASCII(lit) || fn(lit) != lit {
		return nil, false
	}
	var cmp func(x string) bool
	switch op {
	case "==", "!=":
		cmp = func(x string) bool { return len(x) == len(lit) && foldEqual(x, lit, first) }
	case "startsWith":
		cmp = func(x string) bool { return len(x) >= len(lit) && foldEqual(x, lit, first) }
	case "endsWith":
		cmp = func(x string) bool { return len(x) >= len(lit) && foldEqual(x[len(x)-len(lit):], lit, first) }
	default:
		return nil, false
	}
	neg := op == "!="
	return func(x string) (bool, bool) {
		if !isASCII(x) {
			return false, false
		}
		return cmp(x) != neg, true
	}, true
}
