package grok

import (
	"regexp/syntax"
	"slices"
	"strings"
)

// Prefilter tuning: literals shorter than minLiteral reject too little to be
// worth a scan; at most maxLiterals (the longest) are checked, or
// maxLiveLiterals for a pattern that runs on the two-pass engine.
const (
	minLiteral      = 2
	maxLiterals     = 4
	maxLiveLiterals = 1
)

// requiredLiterals returns substrings that every string matched by re
// contains, longest first. It is conservative: anything under an
// alternation, an optional or a zero-minimum repeat, or case folding is
// not required.
func requiredLiterals(re *syntax.Regexp) []string {
	var out []string
	collect(re, &out)
	slices.SortStableFunc(out, func(a, b string) int { return len(b) - len(a) })
	var keep []string
	for _, l := range out {
		if len(l) < minLiteral {
			continue
		}
		redundant := false
		for _, k := range keep {
			if strings.Contains(k, l) {
				redundant = true
				break
			}
		}
		if !redundant {
			keep = append(keep, l)
		}
		if len(keep) == maxLiterals {
			break
		}
	}
	return keep
}

func plainLiteral(re *syntax.Regexp) bool {
	return re.Op == syntax.OpLiteral && re.Flags&syntax.FoldCase == 0
}

func collect(re *syntax.Regexp, out *[]string) {
	switch re.Op {
	case syntax.OpLiteral:
		if plainLiteral(re) {
			*out = append(*out, string(re.Rune))
		}
	case syntax.OpConcat:
		var run strings.Builder
		flush := func() {
			if run.Len() > 0 {
				*out = append(*out, run.String())
				run.Reset()
			}
		}
		for _, s := range re.Sub {
			if plainLiteral(s) {
				run.WriteString(string(s.Rune))
				continue
			}
			// Zero-width assertions do not break adjacency.
			switch s.Op {
			case syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
				syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
				continue
			}
			flush()
			collect(s, out)
		}
		flush()
	case syntax.OpCapture, syntax.OpPlus:
		collect(re.Sub[0], out)
	case syntax.OpRepeat:
		if re.Min >= 1 {
			collect(re.Sub[0], out)
		}
	}
}

// requiredByte returns the first one-byte literal every string matched by
// re contains (as requiredLiterals finds them), nil when there is none.
func requiredByte(re *syntax.Regexp) []string {
	var out []string
	collect(re, &out)
	for _, l := range out {
		if len(l) == 1 {
			return []string{l}
		}
	}
	return nil
}
