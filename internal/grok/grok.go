// Package grok compiles grok patterns (%{NAME} / %{NAME:semantic}) into
// matchers whose named captures land in a map, with CrowdSec's semantics.
//
// Semantics (as CrowdSec's grok library, crowdsecurity/grokky):
//   - %{NAME} and %{NAME:semantic} (both \w+) reference a library pattern;
//     a third ":type" part (%{INT:x:int}) is accepted and ignored. A %{...}
//     that is not of that shape (e.g. %{IP:src-ip}) stays literal text.
//   - Only %{NAME:semantic} groups are captured; raw (...) and (?P<x>...)
//     groups in a pattern are not exported.
//   - Semantic names of referenced patterns are kept. When a name occurs
//     several times, one group is bound to it: a name written at an outer
//     level beats the same name inside a referenced pattern, and among
//     names of the same level the last one (left to right) wins. That
//     group's text is the value even when it did not participate (empty
//     string) and an earlier group of the same name did.
//   - Matching is unanchored unless the pattern anchors itself.
//
// Engine: after a required-literal prefilter, a start-anchored pattern
// whose engine choice (below) is the backtracker runs first on the
// lookahead engine (onepass.go), which decides each
// alternation by one table load on the next byte and the one before and
// backtracks, within a step budget, only over the few ambiguous ones; a
// line it leaves undecided (budget, a byte >= 0x80 a rune class may take),
// and every other pattern, runs on one of two engines, chosen per pattern from the cost it measures on its first
// lines (choice.go): the memoised backtracker (backtrack.go), cheapest when
// the next byte or two decide each alternation, or the two-pass engine
// (live.go), where a lazily built reverse DFA marks the instructions that
// can still reach a match at each position and one left-to-right walk
// takes the first live branch at every alternation, so nothing is ever
// backtracked. Lines the two-pass engine does not take (bytes >= 0x80, a
// full DFA budget, programs with empty-width cycles) run on the
// backtracker. Both return exactly Go's regexp submatches; inputs too long
// for the backtracker's visited table (prog × line length over
// maxVisitBits) and not taken by the two-pass engine run on Go's regexp
// with the start-position scan (start.go).
//
// Concurrency: a Library is not safe for concurrent mutation (load it, then
// compile). A compiled *Pattern is immutable and safe for concurrent use.
package grok

import (
	"bufio"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"sync"
)

//go:embed base.patterns
var basePatterns string

// maxExpandedLen bounds the size of an expanded pattern (nested references
// can grow exponentially).
const maxExpandedLen = 4 << 20

// defLine is the grammar of a pattern-file line.
var defLine = regexp.MustCompile(`^(\w+)\s+(.+)$`)

// refRe matches a pattern reference: %{NAME}, %{NAME:sem} or %{NAME:sem:type}.
var refRe = regexp.MustCompile(`%\{(\w+)(?::(\w+))?(?::\w+)?\}`)

var nameRe = regexp.MustCompile(`^\w+$`)

// Library is a set of named pattern definitions.
type Library struct {
	defs map[string]string
	// scratch holds the backtracking engine's per-call state, shared by
	// every pattern compiled from this library and its clones.
	scratch *sync.Pool
}

// NewLibrary returns a library holding the embedded base patterns.
func NewLibrary() *Library {
	l := &Library{defs: make(map[string]string, 128), scratch: newScratchPool()}
	if err := l.addLines("base.patterns", strings.NewReader(basePatterns), nil); err != nil {
		// The embedded file is covered by tests; a failure is a build defect.
		panic(err)
	}
	return l
}

// NewEmptyLibrary returns a library without any pattern.
func NewEmptyLibrary() *Library {
	return &Library{defs: map[string]string{}, scratch: newScratchPool()}
}

// Clone returns an independent copy of the library (e.g. to add a parser
// node's pattern_syntax without touching the shared one).
func (l *Library) Clone() *Library {
	c := &Library{defs: make(map[string]string, len(l.defs)), scratch: l.scratch}
	for k, v := range l.defs {
		c.defs[k] = v
	}
	return c
}

// Len returns the number of defined patterns.
func (l *Library) Len() int { return len(l.defs) }

// Definition returns the (unexpanded) definition of name.
func (l *Library) Definition(name string) (string, bool) {
	d, ok := l.defs[name]
	return d, ok
}

// LoadDir loads every file without a dot in its name from dir. Lines matching
// `^(\w+)\s+(.+)$` define a pattern; others are ignored. A name defined twice
// is an error naming the file and the pattern.
//
// After loading, every new definition is expanded and parsed, so a pattern
// that references an unknown name or is not a valid regular expression is
// reported here (naming file and pattern) rather than at first use.
func (l *Library) LoadDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("grok: load dir: %w", err)
	}
	origin := map[string]string{}
	for _, e := range entries {
		if e.IsDir() || strings.Contains(e.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("grok: load dir: %w", err)
		}
		err = l.addLines(path, f, origin)
		_ = f.Close()
		if err != nil {
			return err
		}
	}
	names := make([]string, 0, len(origin))
	for n := range origin {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := l.check(l.defs[n]); err != nil {
			return fmt.Errorf("grok: %s: pattern %s: %w", origin[n], n, err)
		}
	}
	return nil
}

func (l *Library) addLines(file string, r interface{ Read([]byte) (int, error) }, origin map[string]string) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		m := defLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		if _, dup := l.defs[m[1]]; dup {
			return fmt.Errorf("grok: %s:%d: pattern %s is already defined", file, line, m[1])
		}
		l.defs[m[1]] = m[2]
		if origin != nil {
			origin[m[1]] = file
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("grok: read %s: %w", file, err)
	}
	return nil
}

// Add defines a pattern; it fails if the name exists.
func (l *Library) Add(name, pattern string) error {
	if !nameRe.MatchString(name) {
		return fmt.Errorf("grok: add %q: name must match \\w+", name)
	}
	if pattern == "" {
		return fmt.Errorf("grok: add %s: empty pattern", name)
	}
	if _, dup := l.defs[name]; dup {
		return fmt.Errorf("grok: add %s: pattern is already defined", name)
	}
	l.defs[name] = pattern
	return nil
}

// AddIfMissing defines a pattern unless the name exists (then it returns false
// and keeps the first definition), as per-node pattern_syntax does.
func (l *Library) AddIfMissing(name, pattern string) bool {
	if _, ok := l.defs[name]; ok {
		return false
	}
	l.defs[name] = pattern
	return true
}

// Has reports whether name is defined.
func (l *Library) Has(name string) bool { _, ok := l.defs[name]; return ok }

// check expands a definition and parses the result.
func (l *Library) check(pattern string) error {
	e := expander{lib: l}
	src, _, err := e.expand(pattern, nil)
	if err != nil {
		return err
	}
	if _, err := syntax.Parse(src, syntax.Perl); err != nil {
		return err
	}
	return nil
}

// ErrUnknownPattern is wrapped by Compile when a %{NAME} is not defined.
var ErrUnknownPattern = errors.New("unknown pattern")

// ErrCycle is wrapped by Compile when patterns reference each other in a loop.
var ErrCycle = errors.New("pattern cycle")

// Compile expands and compiles a pattern. An unknown %{NAME} is an error that
// names the pattern.
func (l *Library) Compile(pattern string) (*Pattern, error) {
	p, err := l.compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("grok: compile %q: %w", abbrev(pattern), err)
	}
	return p, nil
}

// MustCompile is Compile that panics on error (for tests and constants).
func (l *Library) MustCompile(pattern string) *Pattern {
	p, err := l.Compile(pattern)
	if err != nil {
		panic(err)
	}
	return p
}

// CompileNamed compiles the library pattern name (a grok node's `name:`).
func (l *Library) CompileNamed(name string) (*Pattern, error) {
	if !l.Has(name) {
		return nil, fmt.Errorf("grok: compile %s: %w %s", name, ErrUnknownPattern, name)
	}
	return l.Compile("%{" + name + "}")
}

func abbrev(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

// markerPrefix names the capture group that wraps each reference during
// expansion; groups are renamed or dropped before the final compile.
const markerPrefix = "grokref"

type expander struct {
	lib  *Library
	next int
	size int
	refs []Ref // every reference expanded, by marker id (see Expand)
}

// expand returns the regex for pattern with every reference wrapped in a
// marker group, and the semantic bindings (name -> marker id) of this level,
// following grokky's resolution rules.
func (e *expander) expand(pattern string, stack []string) (string, map[string]int, error) {
	locs := refRe.FindAllStringSubmatchIndex(pattern, -1)
	if len(locs) == 0 {
		e.size += len(pattern)
		return pattern, nil, nil
	}
	outer := make(map[string]bool, len(locs))
	for _, m := range locs {
		name := pattern[m[2]:m[3]]
		if _, ok := e.lib.defs[name]; !ok {
			return "", nil, fmt.Errorf("%w %s", ErrUnknownPattern, name)
		}
		if m[4] >= 0 {
			outer[pattern[m[4]:m[5]]] = true
		}
	}
	var b strings.Builder
	sems := map[string]int{}
	prev := 0
	for _, m := range locs {
		name := pattern[m[2]:m[3]]
		if slices.Contains(stack, name) {
			return "", nil, fmt.Errorf("%w: %s -> %s", ErrCycle, strings.Join(stack, " -> "), name)
		}
		sub, inner, err := e.expand(e.lib.defs[name], append(stack, name))
		if err != nil {
			return "", nil, err
		}
		id := e.next
		e.next++
		sem := ""
		if m[4] >= 0 {
			sem = pattern[m[4]:m[5]]
		}
		e.refs = append(e.refs, Ref{Group: markerPrefix + strconv.Itoa(id), Pattern: name, Semantic: sem})
		e.size += m[0] - prev + 20
		b.WriteString(pattern[prev:m[0]])
		b.WriteString("(?P<" + markerPrefix + strconv.Itoa(id) + ">")
		b.WriteString(sub)
		b.WriteString(")")
		prev = m[1]
		if m[4] >= 0 {
			sems[pattern[m[4]:m[5]]] = id
		}
		for k, v := range inner {
			if !outer[k] {
				sems[k] = v
			}
		}
		if e.size > maxExpandedLen || b.Len() > maxExpandedLen {
			return "", nil, errors.New("expanded pattern too large")
		}
	}
	b.WriteString(pattern[prev:])
	return b.String(), sems, nil
}

func (l *Library) compile(pattern string) (*Pattern, error) {
	e := expander{lib: l}
	src, sems, err := e.expand(pattern, nil)
	if err != nil {
		return nil, err
	}
	ast, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return nil, err
	}
	// Bind: marker id -> semantic name of the winning group.
	bound := make(map[int]string, len(sems))
	for name, id := range sems {
		bound[id] = name
	}
	// Rewrite captures: keep winning markers (renamed to the semantic),
	// drop every other group to non-capturing.
	var order []string // semantic names in capture order
	ast = prune(ast, bound, &order)
	final := ast.String()
	re, err := regexp.Compile(final)
	if err != nil {
		return nil, err
	}
	bt, err := compileBacktrack(final, l.scratch)
	if err != nil {
		return nil, err
	}
	p := &Pattern{
		src:      pattern,
		re:       re,
		bt:       bt,
		la:       newLazyLookahead(final, bt.anchored),
		literals: requiredLiterals(ast),
		scan:     newStartScan(ast, final),
	}
	p.checked = p.literals
	if bt.live != nil && len(p.checked) > maxLiveLiterals {
		// The two-pass engine rejects a line in one table load per byte:
		// the prefilter's later literals cost more on the lines that match
		// than they save on those that do not.
		p.checked = p.checked[:maxLiveLiterals]
	}
	if len(p.checked) == 0 && bt.anchored {
		// A start-anchored pattern runs on the lookahead engine, which
		// crosses a `.*` to the end of the input and comes back to look
		// for what follows it (http-logs' `^%{GREEDYDATA}\?...$`, on
		// every request of an access log): one byte that a match must
		// hold rejects most inputs for one IndexByte.
		p.checked = requiredByte(ast)
	}
	groups := map[string]int{}
	for i, n := range re.SubexpNames() {
		if n != "" {
			groups[n] = i
		}
	}
	// Names in order of first appearance of the winning group.
	p.names = make([]string, 0, len(order))
	p.groups = make([]int, 0, len(order))
	for _, n := range order {
		gi, ok := groups[n]
		if !ok {
			return nil, fmt.Errorf("internal: lost group %s", n)
		}
		p.names = append(p.names, n)
		p.groups = append(p.groups, gi)
	}
	return p, nil
}

// prune walks the AST; captures bound to a semantic keep a capture named
// after it, every other capture becomes its (non-capturing) content.
func prune(re *syntax.Regexp, bound map[int]string, order *[]string) *syntax.Regexp {
	if re.Op == syntax.OpCapture {
		name := ""
		if strings.HasPrefix(re.Name, markerPrefix) {
			if id, err := strconv.Atoi(re.Name[len(markerPrefix):]); err == nil {
				name = bound[id]
			}
		}
		if name == "" {
			return prune(re.Sub[0], bound, order)
		}
		re.Name = name
		*order = append(*order, name)
		re.Sub[0] = prune(re.Sub[0], bound, order)
		return re
	}
	for i, s := range re.Sub {
		re.Sub[i] = prune(s, bound, order)
	}
	return re
}

// Pattern is a compiled grok pattern.
type Pattern struct {
	src      string
	re       *regexp.Regexp
	bt       *btProg        // backtracking engine; nil: Go's regexp only
	la       *lazyLookahead // lookahead engine (start-anchored patterns); nil: none
	names    []string       // semantic names, capture order
	groups   []int          // submatch index of each name
	literals []string       // substrings every match contains
	checked  []string       // the literals the prefilter checks
	scan     *startScan
}

// Names returns the semantic (captured) names, in order of first appearance.
func (p *Pattern) Names() []string { return slices.Clone(p.names) }

// MatchInto matches s. On a match it writes every semantic name of the
// pattern into dst (empty string for groups that did not participate) and
// returns true; otherwise it leaves dst untouched and returns false.
//
// As in CrowdSec, a pattern without semantic names never succeeds (grok
// there reports an empty capture set as a failure); use Match for a plain
// regular-expression test.
func (p *Pattern) MatchInto(s string, dst map[string]string) bool {
	return p.MatchEach(s, func(i int, v string) { dst[p.names[i]] = v })
}

// MatchEach is MatchInto delivering the captures to set: set(i, v) for
// every semantic name, i being the name's index in Names() (v is "" for a
// group that did not participate), in that order, after the match and
// only on a match. A caller that resolved Names() at load time (to event
// field slots) writes each capture where it goes, without a map. set must
// not keep s's substrings beyond what it keeps of s.
func (p *Pattern) MatchEach(s string, set func(i int, v string)) bool {
	return p.prefilter(s) && p.MatchEachPrefiltered(s, set)
}

// MatchEachPrefiltered is MatchEach for a caller that has checked that s
// holds every literal of Prefilter (a parser stage finds those of all its
// patterns in one pass over the line).
func (p *Pattern) MatchEachPrefiltered(s string, set func(i int, v string)) bool {
	if len(p.names) == 0 {
		return false
	}
	if la := p.lookahead(); la != nil {
		sc := p.bt.get()
		ok, decided := la.find(s, sc)
		if ok {
			p.deliver(s, sc.caps, set)
		}
		p.bt.release(sc)
		if decided {
			return ok
		}
	}
	if p.bt != nil {
		sc := p.bt.get()
		ok, decided := p.bt.find(s, sc)
		if ok {
			p.deliver(s, sc.caps, set)
		}
		p.bt.release(sc)
		if decided {
			return ok
		}
	}
	loc := p.find(s)
	if loc == nil {
		return false
	}
	p.deliver(s, loc, set)
	return true
}

// lookahead returns the lookahead program when the pattern runs on it:
// it is start-anchored and its engine choice (choice.go) settled on the
// backtracker. A pattern that samples, or that backtracks enough to run
// on the two-pass engine (http-logs' file grok: the lookahead engine
// backtracks over the same branches, without memoisation), does not.
func (p *Pattern) lookahead() *laProg {
	if p.la == nil || p.bt == nil || p.bt.choice == nil || p.bt.choice.mode.Load() != modeBacktrack {
		return nil
	}
	return p.la.get()
}

// deliver hands the semantic captures of loc (a submatch index vector) to
// set.
func (p *Pattern) deliver(s string, loc []int, set func(i int, v string)) {
	for i, g := range p.groups {
		g *= 2
		if loc[g] < 0 {
			set(i, "")
		} else {
			set(i, s[loc[g]:loc[g+1]])
		}
	}
}

// Match reports whether s matches the pattern's regular expression.
func (p *Pattern) Match(s string) bool {
	if !p.prefilter(s) {
		return false
	}
	if la := p.lookahead(); la != nil {
		sc := p.bt.get()
		ok, decided := la.find(s, sc)
		p.bt.release(sc)
		if decided {
			return ok
		}
	}
	if p.bt != nil {
		sc := p.bt.get()
		ok, decided := p.bt.find(s, sc)
		p.bt.release(sc)
		if decided {
			return ok
		}
	}
	return p.re.MatchString(s)
}

func (p *Pattern) find(s string) []int {
	if p.scan != nil {
		if loc, ok := p.scan.find(s); ok {
			return loc
		}
	}
	return p.re.FindStringSubmatchIndex(s)
}

func (p *Pattern) prefilter(s string) bool {
	for _, l := range p.checked {
		if !strings.Contains(s, l) {
			return false
		}
	}
	return true
}

// String returns the source grok pattern.
func (p *Pattern) String() string { return p.src }

// Regexp returns the expanded regular expression that is executed.
func (p *Pattern) Regexp() string { return p.re.String() }

// Prefilter returns the literals MatchEach checks s for before matching:
// s holds them all, or the pattern does not match it.
func (p *Pattern) Prefilter() []string { return slices.Clone(p.checked) }

// RequiredLiterals returns the substrings any matching input contains
// (the prefilter checks the longest before running the matcher: all of them,
// or one for a pattern on the two-pass engine).
func (p *Pattern) RequiredLiterals() []string { return slices.Clone(p.literals) }
