package datafile

import "strings"

// Multi-pattern string matchers used to index data files: an Aho-Corasick
// automaton (Substrings) for "does any entry occur in s", byte tries
// (Prefixes, Suffixes) for startsWith/endsWith, and a hash set (Set) for
// equality. All are exact byte matchers (Substrings optionally folds ASCII
// letters) and immutable once built: safe for concurrent use.

// alphabet maps bytes to dense equivalence classes: every byte that occurs
// in a pattern gets its own class (ASCII upper case shares the lower-case
// class when folding), all other bytes share class 0.
type alphabet struct {
	class [256]uint8
	n     int
}

func newAlphabet(patterns []string, fold bool) (alphabet, bool) {
	var a alphabet
	var seen [256]bool
	for _, p := range patterns {
		for i := 0; i < len(p); i++ {
			seen[foldByte(p[i], fold)] = true
		}
	}
	a.n = 1
	for b := range 256 {
		if seen[b] {
			if a.n == 256 {
				return a, false // 256 distinct bytes: classes do not fit a byte
			}
			a.class[b] = uint8(a.n)
			a.n++
		}
	}
	if fold {
		for b := 'A'; b <= 'Z'; b++ {
			a.class[b] = a.class[b+'a'-'A']
		}
	}
	return a, true
}

func foldByte(b byte, fold bool) byte {
	if fold && 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// Substrings is an Aho-Corasick automaton over a list of patterns, compiled
// to a dense DFA. Pattern i has id i; duplicates are allowed.
type Substrings struct {
	alpha alphabet
	// delta[s+c] is the next state (pre-multiplied by alpha.n) from state s
	// (pre-multiplied) on class c. States are numbered so that every state
	// at or after termBase ends at least one pattern.
	delta    []int32
	termBase int32
	// out[s/alpha.n - firstTerm] lists the ids of the patterns ending at
	// terminal state s (through failure links too).
	out       [][]int32
	firstTerm int32
	lens      []int
	empty     []int32 // ids of empty patterns (they occur everywhere)
	fold      bool

	// sticky is delta with every terminal state made absorbing (all its
	// transitions lead to itself): MatchString only asks whether a
	// terminal state was reached, so it checks once per block of bytes.
	sticky []uint32
	// starts holds the bytes that leave the root state, when there are at
	// most len(starts) of them (nstarts; 0: more): MatchString starts at
	// the first of them in its input (IndexByte), as the bytes before it
	// keep the automaton at the root.
	starts  [maxStarts]byte
	nstarts int
	// leaves holds the bytes that leave the root: Each skips the others
	// while at the root. With more than maxLeaves of them, it holds every
	// byte (no skipping).
	leaves [256]bool
}

// maxStarts is the most bytes leaving the root for which MatchString
// searches the first with IndexByte.
const maxStarts = 3

// maxLeaves is the most bytes leaving the root for which Each skips the
// bytes that keep it there: with more, the root is rarely occupied long
// and the check costs more than it saves.
const maxLeaves = 64

// NewSubstrings builds the automaton. With foldASCII, ASCII letters match
// regardless of case (the patterns and the text are both folded).
func NewSubstrings(patterns []string, foldASCII bool) *Substrings {
	m := &Substrings{fold: foldASCII, lens: make([]int, len(patterns))}
	alpha, ok := newAlphabet(patterns, foldASCII)
	if !ok {
		// Every byte value occurs in the patterns: fall back to one class
		// per byte (class 0 is then a real byte too).
		alpha.n = 256
		for b := range 256 {
			alpha.class[foldByte(byte(b), foldASCII)] = uint8(foldByte(byte(b), foldASCII))
		}
		for b := range 256 {
			alpha.class[b] = alpha.class[foldByte(byte(b), foldASCII)]
		}
	}
	m.alpha = alpha
	n := alpha.n

	// Trie: rows of n transitions, -1 for none.
	var rows []int32
	newState := func() int32 {
		for range n {
			rows = append(rows, -1)
		}
		return int32(len(rows)/n - 1)
	}
	newState()
	var ends [][]int32 // per state, the ids of patterns ending exactly here
	ends = append(ends, nil)
	for id, p := range patterns {
		m.lens[id] = len(p)
		if p == "" {
			m.empty = append(m.empty, int32(id))
			continue
		}
		s := int32(0)
		for i := 0; i < len(p); i++ {
			c := int32(alpha.class[p[i]])
			nx := rows[int(s)*n+int(c)]
			if nx < 0 {
				nx = newState()
				ends = append(ends, nil)
				rows[int(s)*n+int(c)] = nx
			}
			s = nx
		}
		ends[s] = append(ends[s], int32(id))
	}
	states := len(rows) / n

	// Failure links by BFS; missing transitions become DFA transitions.
	fail := make([]int32, states)
	outs := make([][]int32, states)
	queue := make([]int32, 0, states)
	for c := range n {
		nx := rows[c]
		if nx < 0 {
			rows[c] = 0
			continue
		}
		fail[nx] = 0
		queue = append(queue, nx)
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		outs[s] = append(append([]int32(nil), ends[s]...), outs[fail[s]]...)
		for c := range n {
			nx := rows[int(s)*n+c]
			if nx < 0 {
				rows[int(s)*n+c] = rows[int(fail[s])*n+c]
				continue
			}
			fail[nx] = rows[int(fail[s])*n+c]
			queue = append(queue, nx)
		}
	}

	// Renumber: non-terminal states first (root stays 0), terminal last.
	perm := make([]int32, states)
	next := int32(0)
	for s := range states {
		if len(outs[s]) == 0 {
			perm[s] = next
			next++
		}
	}
	m.firstTerm = next
	for s := range states {
		if len(outs[s]) > 0 {
			perm[s] = next
			next++
		}
	}
	m.delta = make([]int32, len(rows))
	m.out = make([][]int32, states-int(m.firstTerm))
	for s := range states {
		ns := perm[s]
		for c := range n {
			m.delta[int(ns)*n+c] = perm[rows[s*n+c]] * int32(n)
		}
		if len(outs[s]) > 0 {
			m.out[ns-m.firstTerm] = outs[s]
		}
	}
	m.termBase = m.firstTerm * int32(n)
	m.buildSticky()
	return m
}

// buildSticky fills sticky and starts from delta.
func (m *Substrings) buildSticky() {
	n := m.alpha.n
	m.sticky = make([]uint32, len(m.delta))
	for i, d := range m.delta {
		m.sticky[i] = uint32(d)
	}
	for st := int(m.termBase); st < len(m.sticky); st += n {
		for c := range n {
			m.sticky[st+c] = uint32(st)
		}
	}
	nleaves := 0
	for b := range 256 {
		m.leaves[b] = m.delta[m.alpha.class[b]] != 0
		if m.leaves[b] {
			nleaves++
		}
	}
	if nleaves > maxLeaves {
		for b := range 256 {
			m.leaves[b] = true
		}
	}
	for b := range 256 {
		if m.delta[m.alpha.class[b]] == 0 {
			continue // back to the root
		}
		if m.nstarts == maxStarts {
			m.nstarts = 0
			return
		}
		m.starts[m.nstarts] = byte(b)
		m.nstarts++
	}
}

// MatchString reports whether any pattern occurs in s.
func (m *Substrings) MatchString(s string) bool {
	if len(m.empty) > 0 {
		return true
	}
	if int(m.firstTerm)*m.alpha.n == len(m.delta) {
		return false // no non-empty pattern
	}
	i := 0
	if m.nstarts > 0 {
		// Every byte before the first that leaves the root keeps the
		// automaton at the root: start there.
		i = len(s)
		for _, b := range m.starts[:m.nstarts] {
			if j := strings.IndexByte(s[:i], b); j >= 0 {
				i = j
			}
		}
	}
	st := m.run(s, i)
	return st >= uint32(m.termBase)
}

// run steps the sticky automaton from the root over s[i:], eight bytes at a
// time, and returns the state it ends in (or the terminal state a block
// ended in).
func (m *Substrings) run(s string, i int) uint32 {
	st, d, cls, tb := uint32(0), m.sticky, &m.alpha.class, uint32(m.termBase)
	for ; i+8 <= len(s); i += 8 {
		b := s[i : i+8]
		st = d[st+uint32(cls[b[0]])]
		st = d[st+uint32(cls[b[1]])]
		st = d[st+uint32(cls[b[2]])]
		st = d[st+uint32(cls[b[3]])]
		st = d[st+uint32(cls[b[4]])]
		st = d[st+uint32(cls[b[5]])]
		st = d[st+uint32(cls[b[6]])]
		st = d[st+uint32(cls[b[7]])]
		if st >= tb {
			return st
		}
	}
	if i+4 <= len(s) {
		b := s[i : i+4]
		st = d[st+uint32(cls[b[0]])]
		st = d[st+uint32(cls[b[1]])]
		st = d[st+uint32(cls[b[2]])]
		st = d[st+uint32(cls[b[3]])]
		i += 4
	}
	for ; i < len(s); i++ {
		st = d[st+uint32(cls[s[i]])]
	}
	return st
}

// Each calls fn(id, end) for every occurrence of a pattern in s, in order of
// end offset (s[end-len(pattern):end] is the occurrence); empty patterns are
// reported once, at end 0. It stops when fn returns false.
func (m *Substrings) Each(s string, fn func(id, end int) bool) {
	for _, id := range m.empty {
		if !fn(int(id), 0) {
			return
		}
	}
	// Unsigned state arithmetic: the index of the dependent load needs no
	// sign extension.
	n := uint32(m.alpha.n)
	st, delta, cls, tb := uint32(0), m.delta, &m.alpha.class, uint32(m.termBase)
	leaves := &m.leaves
	for i := 0; i < len(s); i++ {
		if st == 0 {
			// At the root, the bytes that do not leave it need no
			// transition: skip them with independent loads.
			for !leaves[s[i]] {
				if i++; i == len(s) {
					return
				}
			}
		}
		st = uint32(delta[st+uint32(cls[s[i]])])
		if st >= tb {
			for _, id := range m.out[st/n-uint32(m.firstTerm)] {
				if !fn(int(id), i+1) {
					return
				}
			}
		}
	}
}

// Len returns the length of pattern id.
func (m *Substrings) Len(id int) int { return m.lens[id] }

// trie is a byte trie with dense rows (-1: no edge).
type trie struct {
	alpha alphabet
	rows  []int32
	term  []bool
	empty bool
}

func newTrie(patterns []string, reverse bool) *trie {
	t := &trie{}
	alpha, ok := newAlphabet(patterns, false)
	if !ok {
		alpha.n = 256
		for b := range 256 {
			alpha.class[b] = uint8(b)
		}
	}
	t.alpha = alpha
	n := alpha.n
	add := func() int32 {
		for range n {
			t.rows = append(t.rows, -1)
		}
		t.term = append(t.term, false)
		return int32(len(t.term) - 1)
	}
	add()
	for _, p := range patterns {
		if p == "" {
			t.empty = true
			continue
		}
		s := int32(0)
		for i := range len(p) {
			b := p[i]
			if reverse {
				b = p[len(p)-1-i]
			}
			k := int(s)*n + int(alpha.class[b])
			if t.rows[k] < 0 {
				nx := add()
				t.rows[k] = nx
			}
			s = t.rows[k]
		}
		t.term[s] = true
	}
	return t
}

// Prefixes answers "is one of the patterns a prefix of s" (s startsWith p).
type Prefixes struct{ t *trie }

// NewPrefixes builds the trie of patterns.
func NewPrefixes(patterns []string) *Prefixes { return &Prefixes{newTrie(patterns, false)} }

// MatchString reports whether s starts with one of the patterns.
func (p *Prefixes) MatchString(s string) bool {
	t := p.t
	if t.empty {
		return true
	}
	n, st := t.alpha.n, int32(0)
	for i := 0; i < len(s); i++ {
		c := t.alpha.class[s[i]]
		st = t.rows[int(st)*n+int(c)]
		if st < 0 {
			return false
		}
		if t.term[st] {
			return true
		}
	}
	return false
}

// Suffixes answers "is one of the patterns a suffix of s" (s endsWith p).
type Suffixes struct{ t *trie }

// NewSuffixes builds the trie of the reversed patterns.
func NewSuffixes(patterns []string) *Suffixes { return &Suffixes{newTrie(patterns, true)} }

// MatchString reports whether s ends with one of the patterns.
func (p *Suffixes) MatchString(s string) bool {
	t := p.t
	if t.empty {
		return true
	}
	n, st := t.alpha.n, int32(0)
	for i := len(s) - 1; i >= 0; i-- {
		c := t.alpha.class[s[i]]
		st = t.rows[int(st)*n+int(c)]
		if st < 0 {
			return false
		}
		if t.term[st] {
			return true
		}
	}
	return false
}

// Set answers "is s one of the patterns".
type Set struct{ m map[string]struct{} }

// NewSet builds the set of patterns.
func NewSet(patterns []string) *Set {
	s := &Set{m: make(map[string]struct{}, len(patterns))}
	for _, p := range patterns {
		s.m[p] = struct{}{}
	}
	return s
}

// MatchString reports whether s is one of the patterns.
func (s *Set) MatchString(x string) bool {
	_, ok := s.m[x]
	return ok
}
