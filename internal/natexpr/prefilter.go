package natexpr

import (
	"math/bits"
	"regexp/syntax"
	"strconv"
	"strings"

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
	lit   string
	ascii bool
}

// minAtom is the shortest literal an atom keeps: shorter ones are in
// most values (a guard with one is dropped).
const minAtom = 3

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
	g := Guard{atoms: make([]atom, len(lits))}
	for i, l := range lits {
		g.atoms[i] = atom{base: base, lit: strings.ToLower(l), ascii: ascii}
	}
	return []Guard{g}
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
	return []Guard{{atoms: append(append([]atom(nil), x.atoms...), y.atoms...)}}
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
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// Prefilter tests the guards of a set of filters (see Guard) on one event
// at a time. Build one per goroutine (NewPrefilter): it keeps the event's
// state (not safe for concurrent use).
type Prefilter struct {
	bases []pfBase
	sets  [][]pfGuard // by filter: its guards
	hits  []uint64    // atoms found in the event's bases evaluated so far
	gen   uint32      // the event's generation (Reset)
}

type pfBase struct {
	s      *Str
	m      *datafile.Substrings
	atomOf []int32  // pattern id -> atom bit
	ascii  []uint64 // atoms implied only when the value is ASCII
	all    []uint64 // every atom of the base (its value cannot be read)
	gen    uint32   // evaluated for the event of this generation
}

type pfGuard struct {
	bases []int32  // the bases its atoms read
	mask  []uint64 // its atoms
}

// NewPrefilter builds the prefilter of filters' guards (by filter number:
// Pass(ctx, i) tests guards[i]; nil: none).
func NewPrefilter(guards [][]Guard) *Prefilter {
	p := &Prefilter{sets: make([][]pfGuard, len(guards))}
	type akey struct {
		base  string
		lit   string
		ascii bool
	}
	atomIDs := map[akey]int{}
	baseIDs := map[string]int{}
	var atomBase []int
	var atoms []atom
	for _, gs := range guards {
		for _, g := range gs {
			for _, a := range g.atoms {
				k := akey{a.base.key, a.lit, a.ascii}
				if _, ok := atomIDs[k]; ok {
					continue
				}
				atomIDs[k] = len(atoms)
				atoms = append(atoms, a)
				b, ok := baseIDs[a.base.key]
				if !ok {
					b = len(p.bases)
					baseIDs[a.base.key] = b
					p.bases = append(p.bases, pfBase{s: a.base})
				}
				atomBase = append(atomBase, b)
			}
		}
	}
	words := (len(atoms) + 63) / 64
	p.hits = make([]uint64, words)
	lits := make([][]string, len(p.bases))
	for i, a := range atoms {
		b := &p.bases[atomBase[i]]
		if b.all == nil {
			b.all, b.ascii = make([]uint64, words), make([]uint64, words)
		}
		b.all[i/64] |= 1 << (i % 64)
		if a.ascii {
			b.ascii[i/64] |= 1 << (i % 64)
		}
		lits[atomBase[i]] = append(lits[atomBase[i]], a.lit)
		b.atomOf = append(b.atomOf, int32(i))
	}
	for i := range p.bases {
		p.bases[i].m = datafile.NewSubstrings(lits[i], true)
	}
	for fi, gs := range guards {
		for _, g := range gs {
			pg := pfGuard{mask: make([]uint64, words)}
			for _, a := range g.atoms {
				id := atomIDs[akey{a.base.key, a.lit, a.ascii}]
				pg.mask[id/64] |= 1 << (id % 64)
				b := int32(atomBase[id])
				if !containsInt32(pg.bases, b) {
					pg.bases = append(pg.bases, b)
				}
			}
			p.sets[fi] = append(p.sets[fi], pg)
		}
	}
	return p
}

func containsInt32(xs []int32, x int32) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// Guarded reports whether filter i has guards (Pass may be false).
func (p *Prefilter) Guarded(i int) bool { return len(p.sets[i]) > 0 }

// Reset starts a new event: the bases are evaluated again when asked.
func (p *Prefilter) Reset() {
	if p.gen++; p.gen == 0 {
		for i := range p.bases {
			p.bases[i].gen = 0
		}
		p.gen = 1
	}
	clear(p.hits)
}

// Pass reports whether every guard of filter i holds on ctx's event (false:
// the filter is false there). Call Reset before the first Pass of each
// event.
func (p *Prefilter) Pass(ctx *Ctx, i int) bool {
	for gi := range p.sets[i] {
		g := &p.sets[i][gi]
		for _, b := range g.bases {
			if p.bases[b].gen != p.gen {
				p.eval(ctx, int(b))
			}
		}
		hit := false
		for w, m := range g.mask {
			if p.hits[w]&m != 0 {
				hit = true
				break
			}
		}
		if !hit {
			return false
		}
	}
	return true
}

// eval evaluates base b on ctx's event and records the atoms it holds.
func (p *Prefilter) eval(ctx *Ctx, b int) {
	base := &p.bases[b]
	base.gen = p.gen
	v, err := base.s.Eval(ctx)
	if err != nil {
		orInto(p.hits, base.all)
		return
	}
	if !isASCII(v) {
		orInto(p.hits, base.ascii)
	}
	base.m.Each(v, func(id, _ int) bool {
		a := base.atomOf[id]
		p.hits[a/64] |= 1 << (a % 64)
		return true
	})
}

func orInto(dst, src []uint64) {
	for i := range dst {
		dst[i] |= src[i]
	}
}

// Atoms returns the number of atoms p tests and of the strings it reads.
func (p *Prefilter) Atoms() (atoms, bases int) {
	for i := range p.bases {
		for _, w := range p.bases[i].all {
			atoms += bits.OnesCount64(w)
		}
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
		b.WriteString(strconv.Quote(a.lit))
	}
	return b.String()
}
