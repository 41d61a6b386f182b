package natexpr

import (
	"encoding/binary"
	"math/bits"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/expr-lang/expr/ast"

	"github.com/phalanx-ids/phalanx/internal/datafile"
)

// A Guard is a necessary condition of a filter, found by Compiler.Guards:
// the filter can be true only if at least one of the guard's atoms holds.
// An atom is "the string S contains the literal L, ASCII letters matching
// regardless of case", S being a field or a helper call over fields
// (evt.Meta.http_path, PathUnescape(evt.Meta.http_path)...): what every
// S' contains / startsWith / endsWith / == 'L', S' in ['L', ...] and S'
// matches 'regexp' implies, S' being S or a case helper over S (Upper(S),
// Lower(S)), L a literal of the comparison or one the regexp requires.
//
// A Prefilter tests the atoms of many guards (the filters of a scenario
// worker) in one pass over each S: one Aho-Corasick automaton per S over
// the union of its literals, the atoms found as a bitset. S is evaluated
// once per event (through the Ctx's memo, which the filters then reuse),
// and only when a guard that needs it is asked.
type Guard struct {
	atoms []atom
}

// atom is base contains lit (ASCII case folded). ascii: the atom is implied
// only when base's value is ASCII (it comes through a case helper, or a
// regexp matching regardless of case: Unicode case folding maps some
// non-ASCII letters to ASCII ones, K to the Kelvin sign).
type atom struct {
	base  *Str
	lits  []string // base contains one of them
	ascii bool
}

// key identifies a for sharing between guards.
func (a *atom) key() string {
	k := a.base.key + "\x00" + strconv.FormatBool(a.ascii)
	for _, l := range a.lits {
		k += "\x00" + l
	}
	return k
}

// minAtom is the shortest literal an atom keeps: shorter ones are in
// most values (a guard with one is dropped).
const minAtom = 2

// Guards returns necessary conditions of the boolean expression src (nil
// when none is found, or when src may fail at run time: skipping it would
// hide the error). Compile src with the same Compiler (the atoms' strings
// share its memo slots).
func (c *Compiler) Guards(src string) []Guard {
	n, ok := parse(src)
	if !ok || fallible(n) {
		return nil
	}
	return c.guards(n)
}

func (c *Compiler) guards(n ast.Node) []Guard {
	switch t := n.(type) {
	case *ast.VariableDeclaratorNode:
		s, ok := c.str(t.Value)
		if !ok {
			return nil
		}
		saved := c.scope
		c.scope = make(map[string]binding, len(saved)+1)
		for k, x := range saved {
			c.scope[k] = x
		}
		c.scope[t.Name] = binding{s: s, n: t.Value}
		out := c.guards(t.Expr)
		c.scope = saved
		return out
	case *ast.BuiltinNode:
		return c.fileGuards(t)
	case *ast.ConditionalNode:
		if b, ok := t.Exp2.(*ast.BoolNode); ok && !b.Value { // C ? A : false is C && A
			return append(c.guards(t.Cond), c.guards(t.Exp1)...)
		}
		return orGuards(c.guards(t.Exp1), c.guards(t.Exp2))
	case *ast.BinaryNode:
		if p, ok := predOf(t); ok && p.Positive() {
			return nil // the scenario index checks it (a Pred)
		}
		switch t.Operator {
		case "&&", "and":
			return append(c.guards(t.Left), c.guards(t.Right)...)
		case "||", "or":
			return orGuards(c.guards(t.Left), c.guards(t.Right))
		case "==", "contains", "startsWith", "endsWith":
			x, l := t.Left, t.Right
			if _, ok := l.(*ast.StringNode); !ok && t.Operator == "==" {
				x, l = l, x
			}
			lit, ok := c.str(l)
			if !ok || lit.kind != kLit {
				return nil
			}
			return c.guard(x, []string{lit.lit}, false)
		case "in":
			arr, ok := t.Right.(*ast.ArrayNode)
			if !ok {
				return nil
			}
			var lits []string
			for _, v := range arr.Nodes {
				s, ok := v.(*ast.StringNode)
				if !ok {
					return nil
				}
				lits = append(lits, s.Value)
			}
			return c.guard(t.Left, lits, false)
		case "matches":
			re, ok := c.str(t.Right)
			if !ok || re.kind != kLit {
				return nil
			}
			r, err := syntax.Parse(re.lit, syntax.Perl)
			if err != nil {
				return nil
			}
			lits, fold, ok := required(r)
			if !ok {
				return nil
			}
			return c.guard(t.Left, lits, fold)
		}
	}
	return nil
}

// guard is the guard "x contains one of lits" (caseFold: lits come from a
// regexp matching regardless of case), nil if x is not a string of fields,
// or a case helper over one, or if a literal is not ASCII or too short.
func (c *Compiler) guard(x ast.Node, lits []string, caseFold bool) []Guard {
	if len(lits) == 0 {
		return nil
	}
	for _, l := range lits {
		if len(l) < minAtom || !isASCII(l) {
			return nil
		}
	}
	ascii := caseFold
	if id, ok := x.(*ast.IdentifierNode); ok { // a let variable: its value
		if b, ok := c.scope[id.Value]; ok && b.n != nil {
			x = b.n
		}
	}
	if call, ok := x.(*ast.CallNode); ok && (c.helper(call, "Upper", 1) || c.helper(call, "Lower", 1)) && c.h != nil {
		name := call.Callee.(*ast.IdentifierNode).Value
		if _, ok := c.h.FoldCompare(name, "==", ""); !ok {
			return nil // not a case helper after all
		}
		x, ascii = call.Arguments[0], true
	}
	base, ok := c.str(x)
	if !ok || base.key == "" || base.kind == kLit || base.slot < 0 {
		return nil
	}
	a := atom{base: base, lits: make([]string, len(lits)), ascii: ascii}
	for i, l := range lits {
		a.lits[i] = strings.ToLower(l)
	}
	return []Guard{{atoms: []atom{a}}}
}

// fileGuards is the guard of any(File('f'), {S op T(#)}) (the shapes
// anyFile compiles): S contains one of the file's entries (the index
// anyFile uses answers the filter itself when the guard holds).
func (c *Compiler) fileGuards(n *ast.BuiltinNode) []Guard {
	file, _, x, t, ok := c.anyFileShape(n)
	if !ok || !c.caseTransform(t) {
		return nil
	}
	return c.guard(x, c.h.FileStrings(file), false)
}

// caseTransform reports whether the entry transform n (entryTransform)
// calls only helpers that exprenv folds as case helpers (FoldCompare): on
// an ASCII entry, their value is the entry with its letters' case changed.
func (c *Compiler) caseTransform(n ast.Node) bool {
	call, ok := n.(*ast.CallNode)
	if !ok {
		return true // #
	}
	if _, ok := c.h.FoldCompare(call.Callee.(*ast.IdentifierNode).Value, "==", ""); !ok {
		return false
	}
	return c.caseTransform(call.Arguments[0])
}

// orGuards is a guard of A || B from guards of A and B: the union of the
// smallest of each (nil when either side has none).
func orGuards(a, b []Guard) []Guard {
	if len(a) == 0 || len(b) == 0 {
		return nil
	}
	small := func(gs []Guard) Guard {
		best := gs[0]
		for _, g := range gs[1:] {
			if len(g.atoms) < len(best.atoms) {
				best = g
			}
		}
		return best
	}
	x, y := small(a), small(b)
	// Atoms on the same string merge: one atom, their literals.
	var out []atom
	for _, at := range append(append([]atom(nil), x.atoms...), y.atoms...) {
		merged := false
		for i := range out {
			if out[i].base.key == at.base.key && out[i].ascii == at.ascii {
				out[i].lits = append(append([]string(nil), out[i].lits...), at.lits...)
				merged = true
				break
			}
		}
		if !merged {
			out = append(out, at)
		}
	}
	return []Guard{{atoms: out}}
}

// required returns literals one of which every match of r contains
// (ASCII only), and whether some of them match regardless of case.
func required(r *syntax.Regexp) (lits []string, fold, ok bool) {
	switch r.Op {
	case syntax.OpLiteral:
		s := string(r.Rune)
		if !isASCII(s) {
			return nil, false, false
		}
		return []string{s}, r.Flags&syntax.FoldCase != 0, true
	case syntax.OpCapture, syntax.OpPlus:
		return required(r.Sub[0])
	case syntax.OpRepeat:
		if r.Min < 1 {
			return nil, false, false
		}
		return required(r.Sub[0])
	case syntax.OpConcat:
		best := -1
		for _, s := range r.Sub {
			l, f, ok := required(s)
			if !ok {
				continue
			}
			if m := shortest(l); m > best {
				best, lits, fold = m, l, f
			}
		}
		return lits, fold, best >= 0
	case syntax.OpAlternate:
		for _, s := range r.Sub {
			l, f, ok := required(s)
			if !ok {
				return nil, false, false
			}
			lits, fold = append(lits, l...), fold || f
		}
		return lits, fold, true
	}
	return nil, false, false
}

func shortest(lits []string) int {
	m := -1
	for _, l := range lits {
		if m < 0 || len(l) < m {
			m = len(l)
		}
	}
	return m
}

func isASCII(s string) bool {
	// Eight bytes at a time: the bytes of s as a slice (only read), for
	// binary's one-load read of a word.
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if binary.LittleEndian.Uint64(b[i:])&0x8080808080808080 != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// Prefilter tests the guards of a set of filters (see Guard) on one event
// at a time. Build one per goroutine (NewPrefilter): it keeps the event's
// state (not safe for concurrent use). It tests up to maxAtoms atoms (a
// guard past them is not tested: its filter runs).
type Prefilter struct {
	bases  []pfBase
	guards []GuardBits
	first  []int32 // filter i's guards are guards[first[i]:first[i+1]]
	hits   uint64  // atoms found in the bases evaluated for the event
	done   uint64  // the bases evaluated for the event

	// The filters' first guards as bitsets of filters (bit i: filter i),
	// for Select: the filters that have one (guarded), by base the filters
	// whose first guard reads it (baseFilters), by atom those whose first
	// guard has it (atomFilters).
	words       int
	guarded     []uint64
	baseFilters [][]uint64
	atomFilters [][]uint64
	pass        []uint64 // Select's scratch

	// Select's previous selection and the bases it needed: an event's
	// selection is most often the previous one's (same log type, same
	// service).
	lastSel  []uint64
	lastNeed uint64
}

// maxAtoms is the most atoms a Prefilter tests (one word of bits).
const maxAtoms = 64

type pfBase struct {
	s      *Str
	m      *datafile.Substrings
	atomOf []uint64 // pattern id -> its atom's bit
	ascii  uint64   // atoms implied only when the value is ASCII
	all    uint64   // every atom of the base (its value cannot be read)
}

// GuardBits is a guard as a Prefilter tests it (First, Holds).
type GuardBits struct {
	bases uint64 // the bases its atoms read (bits by base number)
	mask  uint64 // its atoms
}

// NewPrefilter builds the prefilter of filters' guards (by filter number:
// Pass(ctx, i) tests guards[i]; nil: none).
func NewPrefilter(guards [][]Guard) *Prefilter {
	p := &Prefilter{first: make([]int32, len(guards)+1)}
	atomIDs := map[string]int{}
	baseIDs := map[string]int{}
	lits := map[int][]string{}
	// id returns the bit of atom a (-1: past maxAtoms).
	id := func(a *atom) int {
		k := a.key()
		if id, ok := atomIDs[k]; ok {
			return id
		}
		if len(atomIDs) == maxAtoms {
			return -1
		}
		n := len(atomIDs)
		atomIDs[k] = n
		b, ok := baseIDs[a.base.key]
		if !ok {
			b = len(p.bases)
			baseIDs[a.base.key] = b
			p.bases = append(p.bases, pfBase{s: a.base})
		}
		base := &p.bases[b]
		base.all |= 1 << n
		if a.ascii {
			base.ascii |= 1 << n
		}
		for _, l := range a.lits {
			lits[b] = append(lits[b], l)
			base.atomOf = append(base.atomOf, 1<<n)
		}
		return n
	}
	for fi, gs := range guards {
	next:
		for _, g := range gs {
			var pg GuardBits
			for i := range g.atoms {
				n := id(&g.atoms[i])
				if n < 0 {
					continue next // not tested
				}
				pg.mask |= 1 << n
				pg.bases |= 1 << baseIDs[g.atoms[i].base.key]
			}
			p.guards = append(p.guards, pg)
		}
		p.first[fi+1] = int32(len(p.guards))
	}
	for b := range p.bases {
		p.bases[b].m = datafile.NewSubstrings(lits[b], true)
	}
	p.words = (len(guards) + 63) / 64
	p.guarded = make([]uint64, p.words)
	p.pass = make([]uint64, p.words)
	p.lastSel = make([]uint64, p.words) // nothing selected: no base needed
	p.baseFilters = make([][]uint64, len(p.bases))
	for b := range p.baseFilters {
		p.baseFilters[b] = make([]uint64, p.words)
	}
	p.atomFilters = make([][]uint64, len(atomIDs))
	for a := range p.atomFilters {
		p.atomFilters[a] = make([]uint64, p.words)
	}
	for i := range guards {
		g, ok, _ := p.First(i)
		if !ok {
			continue
		}
		w, bit := i/64, uint64(1)<<(i%64)
		p.guarded[w] |= bit
		for bs := g.bases; bs != 0; bs &= bs - 1 {
			p.baseFilters[bits.TrailingZeros64(bs)][w] |= bit
		}
		for as := g.mask; as != 0; as &= as - 1 {
			p.atomFilters[bits.TrailingZeros64(as)][w] |= bit
		}
	}
	return p
}

// Select clears, in sel (a set of filters, bit i for filter i, as many
// words as the filters need), the filters whose first guard (First) does
// not hold on ctx's event: what Holds answers for each, in one pass. The
// bases the first guards of sel's filters read are evaluated (the others
// are left for Holds and Pass); a filter without guards stays. Call Reset
// before, once per event, as for Holds.
func (p *Prefilter) Select(ctx *Ctx, sel []uint64) {
	if !slices.Equal(sel, p.lastSel) {
		var need uint64
		for b, fs := range p.baseFilters {
			for j, w := range fs {
				if sel[j]&w != 0 {
					need |= 1 << b
					break
				}
			}
		}
		copy(p.lastSel, sel)
		p.lastNeed = need
	}
	if need := p.lastNeed &^ p.done; need != 0 {
		p.eval(ctx, need)
	}
	pass := p.pass
	copy(pass, p.guarded)
	for j := range pass {
		pass[j] = ^pass[j] // the filters without guard pass
	}
	for as := p.hits; as != 0; as &= as - 1 {
		fs := p.atomFilters[bits.TrailingZeros64(as)]
		for j := range pass {
			pass[j] |= fs[j]
		}
	}
	for j := range pass {
		sel[j] &= pass[j]
	}
}

// Guarded reports whether filter i has guards (Pass may be false).
func (p *Prefilter) Guarded(i int) bool { return p.first[i+1] > p.first[i] }

// Reset starts a new event: the bases are evaluated again when asked.
func (p *Prefilter) Reset() { p.hits, p.done = 0, 0 }

// First returns filter i's first guard (ok false: none) and whether it
// has more (test them all with Pass): a caller holding the guard tests it
// with Holds, without a call for most filters.
func (p *Prefilter) First(i int) (g GuardBits, ok, more bool) {
	n := p.first[i+1] - p.first[i]
	if n == 0 {
		return GuardBits{}, false, false
	}
	return p.guards[p.first[i]], true, n > 1
}

// Holds reports whether the guard g (First) holds on ctx's event. Call
// Reset before the first Holds or Pass of each event.
func (p *Prefilter) Holds(ctx *Ctx, g GuardBits) bool {
	if g.bases&^p.done != 0 {
		return p.holdsEval(ctx, g)
	}
	return p.hits&g.mask != 0
}

// holdsEval is Holds when g reads bases not evaluated yet (not inlined:
// Holds is, in the caller's loop).
//
//go:noinline
func (p *Prefilter) holdsEval(ctx *Ctx, g GuardBits) bool {
	p.eval(ctx, g.bases&^p.done)
	return p.hits&g.mask != 0
}

// Pass reports whether every guard of filter i holds on ctx's event (false:
// the filter is false there). Call Reset before the first Pass of each
// event.
func (p *Prefilter) Pass(ctx *Ctx, i int) bool {
	gs := p.guards[p.first[i]:p.first[i+1]]
	for k := range gs {
		g := &gs[k]
		if need := g.bases &^ p.done; need != 0 {
			p.eval(ctx, need)
		}
		if p.hits&g.mask == 0 {
			return false
		}
	}
	return true
}

// eval evaluates the bases need on ctx's event and records the atoms they
// hold.
func (p *Prefilter) eval(ctx *Ctx, need uint64) {
	p.done |= need
	for ; need != 0; need &= need - 1 {
		base := &p.bases[bits.TrailingZeros64(need)]
		v, err := base.s.Eval(ctx)
		if err != nil {
			p.hits |= base.all
			continue
		}
		if !isASCII(v) {
			p.hits |= base.ascii
		}
		if !base.m.MatchString(v) { // most values hold none: one fast scan
			continue
		}
		base.m.Each(v, func(id, _ int) bool {
			p.hits |= base.atomOf[id]
			return true
		})
	}
}

// Atoms returns the number of atoms p tests and of the strings it reads.
func (p *Prefilter) Atoms() (atoms, bases int) {
	for i := range p.bases {
		atoms += bits.OnesCount64(p.bases[i].all)
	}
	return atoms, len(p.bases)
}

// String shows g for tests and diagnostics: its atoms joined by " | ",
// each as base ∋ "lit" (ascii: "∋a", implied for ASCII values only).
func (g Guard) String() string {
	var b strings.Builder
	for i, a := range g.atoms {
		if i > 0 {
			b.WriteString(" | ")
		}
		b.WriteString(a.base.key)
		if a.ascii {
			b.WriteString(" ∋a ")
		} else {
			b.WriteString(" ∋ ")
		}
		for j, l := range a.lits {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.Quote(l))
		}
	}
	return b.String()
}
