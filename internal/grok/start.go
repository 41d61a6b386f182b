package grok

import (
	"regexp"
	"regexp/syntax"
	"unicode/utf8"
)

// maxAnchoredTries bounds the anchored attempts before MatchInto falls back
// to the unanchored regexp (keeps the worst case at a few regexp runs).
const maxAnchoredTries = 4

// startScan is the "candidate start" accelerator for unanchored patterns.
// Go's unanchored NFA pays for a new thread at every input position until
// the match completes; running the same regexp anchored (^(?:re)) at the
// few positions where a match can start is about 10x cheaper on the hub's
// access-log groks. Leftmost-first semantics are kept: positions are tried
// in order and the first anchored match is the leftmost one.
type startScan struct {
	anchored *regexp.Regexp
	first    [256]bool // bytes a match can start with
	wordCtx  bool      // \b or \B at the start: positions after a word byte need the full regexp
}

// newStartScan returns nil when the accelerator does not apply: the pattern
// is already start-anchored, can match the empty string, or starts with an
// assertion other than \b / \B.
func newStartScan(ast *syntax.Regexp, src string) *startScan {
	prog, err := syntax.Compile(ast.Simplify())
	if err != nil {
		return nil
	}
	sc := &startScan{}
	seen := make([]bool, len(prog.Inst))
	stack := []uint32{uint32(prog.Start)}
	for len(stack) > 0 {
		pc := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[pc] {
			continue
		}
		seen[pc] = true
		inst := &prog.Inst[pc]
		switch inst.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			stack = append(stack, inst.Out, inst.Arg)
		case syntax.InstCapture, syntax.InstNop:
			stack = append(stack, inst.Out)
		case syntax.InstEmptyWidth:
			if syntax.EmptyOp(inst.Arg)&^(syntax.EmptyWordBoundary|syntax.EmptyNoWordBoundary) != 0 {
				return nil
			}
			sc.wordCtx = true
			stack = append(stack, inst.Out)
		case syntax.InstMatch:
			return nil
		case syntax.InstFail:
		case syntax.InstRuneAny:
			for b := range sc.first {
				sc.first[b] = true
			}
		case syntax.InstRuneAnyNotNL:
			for b := range sc.first {
				sc.first[b] = b != '\n'
			}
		case syntax.InstRune, syntax.InstRune1:
			for b := 0; b < utf8.RuneSelf; b++ {
				if inst.MatchRune(rune(b)) {
					sc.first[b] = true
				}
			}
			// Any non-ASCII rune (or U+FFFD for invalid bytes): every
			// byte >= 0x80 may start the match.
			if matchesNonASCII(inst) {
				for b := utf8.RuneSelf; b < 256; b++ {
					sc.first[b] = true
				}
			}
		default:
			return nil
		}
	}
	re, err := regexp.Compile(`^(?:` + src + `)`)
	if err != nil {
		return nil
	}
	sc.anchored = re
	return sc
}

func matchesNonASCII(inst *syntax.Inst) bool {
	if syntax.Flags(inst.Arg)&syntax.FoldCase != 0 {
		return true // folding can reach non-ASCII runes (e.g. K -> U+212A)
	}
	if inst.MatchRune(utf8.RuneError) {
		return true
	}
	if inst.Op == syntax.InstRune1 || len(inst.Rune) == 1 {
		return inst.Rune[0] >= utf8.RuneSelf
	}
	for i := 1; i < len(inst.Rune); i += 2 {
		if inst.Rune[i] >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// find returns the submatch index of the leftmost match of s, or nil. ok is
// false when the scan gave up and the caller must run the full regexp.
func (sc *startScan) find(s string) (loc []int, ok bool) {
	tries := 0
	for i := 0; i < len(s); i++ {
		if !sc.first[s[i]] {
			continue
		}
		if tries == maxAnchoredTries || sc.wordCtx && i > 0 && isWordByte(s[i-1]) {
			return nil, false
		}
		tries++
		if loc = sc.anchored.FindStringSubmatchIndex(s[i:]); loc != nil {
			for j := range loc {
				if loc[j] >= 0 {
					loc[j] += i
				}
			}
			return loc, true
		}
	}
	return nil, true
}
