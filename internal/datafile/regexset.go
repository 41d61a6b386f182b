package datafile

import (
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"
)

// RegexpSet answers "does any of these regexps match s" without trying
// every one: each regexp's required literals (strings one of which occurs,
// ASCII case aside, in every match) are indexed in one Aho-Corasick
// automaton, and only the regexps whose literal occurs in s are run.
// Regexps with no extractable literal are always run. The answer is the
// same as trying every regexp in turn. Immutable; safe for concurrent use.
type RegexpSet struct {
	res    []*regexp.Regexp
	lits   *Substrings // ASCII-folded required literals
	litRe  []int32     // literal id -> regexp index
	always []int32     // regexps without a required literal
}

// maxAlternatives bounds the literal alternatives kept for one regexp.
const maxAlternatives = 32

// NewRegexpSet indexes res (which it keeps; callers must not modify it).
func NewRegexpSet(res []*regexp.Regexp) *RegexpSet {
	s := &RegexpSet{res: res}
	var lits []string
	for i, re := range res {
		alts := RequiredLiterals(re)
		if alts == nil {
			s.always = append(s.always, int32(i))
			continue
		}
		for _, a := range alts {
			lits = append(lits, a)
			s.litRe = append(s.litRe, int32(i))
		}
	}
	s.lits = NewSubstrings(lits, true)
	return s
}

// Len returns the number of regexps.
func (s *RegexpSet) Len() int { return len(s.res) }

// Always returns how many regexps have no required literal (always run).
func (s *RegexpSet) Always() int { return len(s.always) }

// MatchString reports whether any regexp of the set matches x.
func (s *RegexpSet) MatchString(x string) bool {
	var buf [16]int32
	tried := buf[:0]
	matched := false
	s.lits.Each(x, func(id, _ int) bool {
		ri := s.litRe[id]
		for _, t := range tried {
			if t == ri {
				return true
			}
		}
		tried = append(tried, ri)
		if s.res[ri].MatchString(x) {
			matched = true
			return false
		}
		return true
	})
	if matched {
		return true
	}
	for _, ri := range s.always {
		if s.res[ri].MatchString(x) {
			return true
		}
	}
	return false
}

// RequiredLiterals returns strings such that every match of re contains at
// least one of them, compared with ASCII letters folded (the caller must
// search case-insensitively for ASCII), or nil when there is no such set
// worth indexing (an empty literal, too many alternatives).
func RequiredLiterals(re *regexp.Regexp) []string {
	// regexp.Compile parses with syntax.Perl; re.String() is the source.
	t, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return nil
	}
	alts := required(t.Simplify())
	for _, a := range alts {
		if a == "" {
			return nil
		}
	}
	return alts
}

// required computes a literal requirement of t: nil for none.
func required(t *syntax.Regexp) []string {
	switch t.Op {
	case syntax.OpLiteral:
		return best(literalSegments(t))
	case syntax.OpCapture:
		return required(t.Sub[0])
	case syntax.OpPlus:
		return required(t.Sub[0])
	case syntax.OpRepeat:
		if t.Min >= 1 {
			return required(t.Sub[0])
		}
		return nil
	case syntax.OpConcat:
		// Any match contains a match of every sub-expression, so the
		// requirement of any one of them holds; keep the best.
		var cands [][]string
		for _, sub := range t.Sub {
			if r := required(sub); r != nil {
				cands = append(cands, r)
			}
		}
		return best(cands)
	case syntax.OpAlternate:
		var out []string
		for _, sub := range t.Sub {
			r := required(sub)
			if r == nil {
				return nil
			}
			out = append(out, r...)
		}
		if len(out) > maxAlternatives {
			return nil
		}
		return dedupe(out)
	}
	return nil
}

// literalSegments splits a literal into the pieces that can be searched
// with ASCII folding: a case-sensitive literal is one piece; a case-folded
// one is cut at every rune whose fold orbit leaves ASCII (k/K and the
// Kelvin sign, s/S and the long s, non-ASCII letters), since those can
// match other bytes.
func literalSegments(t *syntax.Regexp) [][]string {
	if t.Flags&syntax.FoldCase == 0 {
		return [][]string{{string(t.Rune)}}
	}
	var segs [][]string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			segs = append(segs, []string{cur.String()})
			cur.Reset()
		}
	}
	for _, r := range t.Rune {
		if asciiOrbit(r) {
			cur.WriteRune(unicode.ToLower(r))
		} else {
			flush()
		}
	}
	flush()
	return segs
}

// asciiOrbit reports whether r and every rune it case-folds to are ASCII.
func asciiOrbit(r rune) bool {
	if r >= utf8.RuneSelf {
		return false
	}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// best picks the requirement whose shortest alternative is longest (then
// the one with fewer alternatives).
func best(cands [][]string) []string {
	var out []string
	bestMin := -1
	for _, c := range cands {
		m := minLen(c)
		if m > bestMin || (m == bestMin && len(c) < len(out)) {
			out, bestMin = c, m
		}
	}
	return out
}

func minLen(ss []string) int {
	m := -1
	for _, s := range ss {
		if m < 0 || len(s) < m {
			m = len(s)
		}
	}
	return m
}

func dedupe(ss []string) []string {
	seen := make(map[string]bool, len(ss))
	out := ss[:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
