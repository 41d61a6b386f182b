package grok

import (
	"math/bits"
	"regexp/syntax"
	"slices"
	"sync"
	"sync/atomic"
	"unicode/utf8"
	"unsafe"
)

// The two-pass ("live set") engine.
//
// A backtracker spends most of its time in branches that fail: on an access
// log line, the hub's nginx grok tries its optional leading
// %{IPORHOST:target_fqdn} as an IPv6 address, an IPv4 address and a host
// name, each far enough to meet the space and fail on the " - " that
// follows, before it skips the group. This engine never enters a branch
// that fails:
//
//  1. A right-to-left scan of the line computes, for every position i, the
//     live set L(i): the instructions from which the rest of the line s[i:]
//     can reach a match. The scan runs a lazily built DFA whose state after
//     reading s[i:] holds the consuming instructions that match s[i] and
//     lead into L(i+1) (plus the class of s[i], which empty-width
//     assertions at i need); its edge on s[i-1] carries L(i). After warm-up
//     a byte costs one table load.
//  2. A match starts at the first candidate position p whose live set holds
//     the start instruction (none: no match). A left-to-right walk from
//     there takes, at every alternation, the first branch that is live, and
//     records capture positions as it passes them; it never fails and never
//     backtracks.
//
// Go's submatches are those of a backtracker that explores branches in
// priority order and returns the first path reaching a match (leftmost
// first). The walk takes, at each alternation, the highest-priority branch
// from which some path reaches a match, so it follows that same first path
// and yields the same submatches. (Memoisation does not change the
// backtracker's first path when the program has no empty-width cycle; a
// program with one is left to the backtracker.)
//
// Scope: inputs of ASCII bytes only (a byte >= 0x80 leaves the line to the
// backtracker, whose rune decoding handles it); the DFA's states and edges
// are bounded by liveBudget bytes per pattern, beyond which lines that need
// a new state also go to the backtracker. States are created under a mutex
// and published through atomic pointers, so the warm path takes no lock.

// liveBudget bounds the memory of one pattern's DFA (states, edges, sets).
const liveBudget = 4 << 20

// Context classes of the byte after a position (for empty-width assertions).
const (
	ctxOther uint8 = iota
	ctxWord
	ctxNewline
	ctxEnd
)

// liveProg is a program compiled for the two-pass engine. It is safe for
// concurrent use: the DFA grows under mu and is read without locking.
type liveProg struct {
	class     []uint16    // consuming instructions: index in sets of the bytes they match
	sets      [][2]uint64 // distinct ASCII byte sets
	cond      []uint8     // empty-width instructions: condBit | their syntax.EmptyOp
	start     uint32
	ncap      int
	anchored  bool
	words     int   // bitset words per set (one bit per instruction)
	epsPred   graph // instructions with an epsilon edge to pc
	consPred  graph // consuming instructions whose out is pc
	matches   []uint32
	initial   *liveState // the state at the end of the text
	walk      []walkInst
	walkStart uint32

	budget int // bytes the DFA may hold (liveBudget; tests lower it)

	mu       sync.Mutex
	states   map[string]*liveState
	interned map[string][]uint64
	size     int // bytes held by states, edges and sets
}

// condBit marks an empty-width instruction in liveProg.cond.
const condBit = 0x80

// graph is an adjacency list in one array: the neighbours of pc are
// list[off[pc]:off[pc+1]].
type graph struct {
	off  []uint32
	list []uint32
}

func (g *graph) of(pc uint32) []uint32 { return g.list[g.off[pc]:g.off[pc+1]] }

// newGraph builds a graph of n nodes from its edges (to, from): the
// neighbours of to are the froms.
func newGraph(n int, edges [][2]uint32) graph {
	g := graph{off: make([]uint32, n+1), list: make([]uint32, len(edges))}
	for _, e := range edges {
		g.off[e[0]+1]++
	}
	for i := 1; i <= n; i++ {
		g.off[i] += g.off[i-1]
	}
	fill := slices.Clone(g.off[:n])
	for _, e := range edges {
		g.list[fill[e[0]]] = e[1]
		fill[e[0]]++
	}
	return g
}

// liveState is a DFA state: the consuming instructions that matched the
// byte at i and lead into L(i+1), and the context class of that byte.
type liveState struct {
	seeds []uint64
	ctx   uint8
	next  [utf8.RuneSelf]atomic.Pointer[liveEdge] // by byte
	begin atomic.Pointer[liveEdge]                // the start of text
}

// liveEdge is the transition from the state at i on the byte s[i-1]: the
// live set L(i) and the state at i-1 (nil for the start-of-text edge).
type liveEdge struct {
	live []uint64
	to   *liveState
}

func (e *liveEdge) has(pc uint32) bool { return e.live[pc>>6]&(1<<(pc&63)) != 0 }

// lazyLive builds a pattern's two-pass program on first use: a
// library holds many patterns, and most installs run a few of them.
type lazyLive struct {
	once sync.Once
	expr string
	ncap int
	prog *liveProg
}

// get returns the program, nil when there is none (l nil, or the program
// is outside the engine's scope). Safe for concurrent use.
func (l *lazyLive) get() *liveProg {
	if l == nil {
		return nil
	}
	l.once.Do(func() {
		re, err := syntax.Parse(l.expr, syntax.Perl)
		if err != nil {
			return
		}
		prog, err := syntax.Compile(re.Simplify())
		if err != nil {
			return
		}
		l.prog = compileLive(prog, l.ncap)
	})
	return l.prog
}

// compileLive builds the two-pass program for prog, or returns nil when the
// program has an empty-width cycle (or an instruction it does not know).
func compileLive(prog *syntax.Prog, ncap int) *liveProg {
	n := len(prog.Inst)
	if epsilonCycle(prog) {
		return nil
	}
	lp := &liveProg{
		class:    make([]uint16, n),
		cond:     make([]uint8, n),
		start:    uint32(prog.Start),
		ncap:     ncap,
		anchored: prog.StartCond()&syntax.EmptyBeginText != 0,
		words:    (n + 63) / 64,
		budget:   liveBudget,
		states:   map[string]*liveState{},
		interned: map[string][]uint64{},
	}
	var eps, cons [][2]uint32
	setIdx := map[[2]uint64]uint16{}
	memo := map[string][2]uint64{}
	for pc := range prog.Inst {
		in := &prog.Inst[pc]
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			eps = append(eps, [2]uint32{in.Out, uint32(pc)})
			if in.Arg != in.Out {
				eps = append(eps, [2]uint32{in.Arg, uint32(pc)})
			}
		case syntax.InstNop, syntax.InstCapture:
			eps = append(eps, [2]uint32{in.Out, uint32(pc)})
		case syntax.InstEmptyWidth:
			lp.cond[pc] = condBit | uint8(in.Arg)
			eps = append(eps, [2]uint32{in.Out, uint32(pc)})
		case syntax.InstMatch:
			lp.matches = append(lp.matches, uint32(pc))
		case syntax.InstFail:
		case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			set := asciiSet(in, memo)
			i, ok := setIdx[set]
			if !ok {
				if len(lp.sets) == 1<<16 {
					return nil
				}
				i = uint16(len(lp.sets))
				lp.sets = append(lp.sets, set)
				setIdx[set] = i
			}
			lp.class[pc] = i
			cons = append(cons, [2]uint32{in.Out, uint32(pc)})
		default:
			return nil
		}
	}
	lp.epsPred = newGraph(n, eps)
	lp.consPred = newGraph(n, cons)
	lp.buildWalk(prog)
	lp.initial = lp.state(make([]uint64, lp.words), ctxEnd)
	return lp
}

// asciiSet returns the ASCII bytes a consuming instruction matches; memo
// caches the answer per class (programs repeat the same classes).
func asciiSet(in *syntax.Inst, memo map[string][2]uint64) [2]uint64 {
	var set [2]uint64
	fold := syntax.Flags(in.Arg)&syntax.FoldCase != 0
	switch {
	case in.Op == syntax.InstRuneAny:
		return [2]uint64{^uint64(0), ^uint64(0)}
	case in.Op == syntax.InstRuneAnyNotNL:
		return [2]uint64{^uint64(0) &^ (1 << '\n'), ^uint64(0)}
	case len(in.Rune) == 1 && !fold:
		if r := in.Rune[0]; r < utf8.RuneSelf {
			set[r>>6] |= 1 << (r & 63)
		}
		return set
	}
	kb := make([]byte, 0, 4*len(in.Rune)+1)
	for _, r := range in.Rune {
		kb = append(kb, byte(r>>24), byte(r>>16), byte(r>>8), byte(r))
	}
	if fold {
		kb = append(kb, 'i')
	}
	key := string(kb)
	if set, ok := memo[key]; ok {
		return set
	}
	for c := 0; c < utf8.RuneSelf; c++ {
		if in.MatchRune(rune(c)) {
			set[c>>6] |= 1 << (c & 63)
		}
	}
	memo[key] = set
	return set
}

// epsilonCycle reports whether the program can loop without consuming.
func epsilonCycle(prog *syntax.Prog) bool {
	const (
		white = iota
		grey
		black
	)
	color := make([]uint8, len(prog.Inst))
	type frame struct {
		pc   uint32
		next int // successors visited
	}
	succ := func(pc uint32) []uint32 {
		in := &prog.Inst[pc]
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			return []uint32{in.Out, in.Arg}
		case syntax.InstNop, syntax.InstCapture, syntax.InstEmptyWidth:
			return []uint32{in.Out}
		}
		return nil
	}
	for root := range prog.Inst {
		if color[root] != white {
			continue
		}
		stack := []frame{{pc: uint32(root)}}
		color[root] = grey
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			s := succ(f.pc)
			if f.next == len(s) {
				color[f.pc] = black
				stack = stack[:len(stack)-1]
				continue
			}
			to := s[f.next]
			f.next++
			switch color[to] {
			case grey:
				return true
			case white:
				color[to] = grey
				stack = append(stack, frame{pc: to})
			}
		}
	}
	return false
}

func ctxOf(c byte) uint8 {
	switch {
	case c == '\n':
		return ctxNewline
	case isWordByte(c):
		return ctxWord
	}
	return ctxOther
}

// state returns the interned state for (seeds, ctx); mu held (or during
// compilation).
func (lp *liveProg) state(seeds []uint64, ctx uint8) *liveState {
	key := setKey(seeds) + string(rune(ctx))
	if st, ok := lp.states[key]; ok {
		return st
	}
	st := &liveState{seeds: lp.intern(seeds), ctx: ctx}
	lp.states[key] = st
	lp.size += int(unsafe.Sizeof(*st)) + len(key)
	return st
}

// intern returns the shared copy of a set; mu held.
func (lp *liveProg) intern(set []uint64) []uint64 {
	key := setKey(set)
	if s, ok := lp.interned[key]; ok {
		return s
	}
	s := slices.Clone(set)
	lp.interned[key] = s
	lp.size += 2*8*len(s) + 48
	return s
}

func setKey(set []uint64) string {
	if len(set) == 0 {
		return ""
	}
	return string(unsafe.Slice((*byte)(unsafe.Pointer(&set[0])), 8*len(set)))
}

// step computes the edge of st on the byte c (c < 0: the start of text).
// It returns nil when the budget is spent.
func (lp *liveProg) step(st *liveState, c int) *liveEdge {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	slot := &st.begin
	if c >= 0 {
		slot = &st.next[c]
	}
	if e := slot.Load(); e != nil {
		return e
	}
	if lp.size > lp.budget {
		return nil
	}
	begin := c < 0
	// Empty-width conditions at the position between c and st's byte.
	var flags syntax.EmptyOp
	beforeWord := false
	switch {
	case begin:
		flags |= syntax.EmptyBeginText | syntax.EmptyBeginLine
	case c == '\n':
		flags |= syntax.EmptyBeginLine
	default:
		beforeWord = isWordByte(byte(c))
	}
	switch st.ctx {
	case ctxEnd:
		flags |= syntax.EmptyEndText | syntax.EmptyEndLine
	case ctxNewline:
		flags |= syntax.EmptyEndLine
	}
	if beforeWord != (st.ctx == ctxWord) {
		flags |= syntax.EmptyWordBoundary
	} else {
		flags |= syntax.EmptyNoWordBoundary
	}
	// L(i): the epsilon predecessors, transitively, of the matches and the
	// seeds.
	live := make([]uint64, lp.words)
	work := slices.Clone(lp.matches)
	for w, x := range st.seeds {
		for x != 0 {
			b := x & -x
			x &^= b
			work = append(work, uint32(w*64+bits.TrailingZeros64(b)))
		}
	}
	for _, pc := range work {
		live[pc>>6] |= 1 << (pc & 63)
	}
	for len(work) > 0 {
		pc := work[len(work)-1]
		work = work[:len(work)-1]
		for _, p := range lp.epsPred.of(pc) {
			if live[p>>6]&(1<<(p&63)) != 0 {
				continue
			}
			if cond := lp.cond[p]; cond&condBit != 0 && syntax.EmptyOp(cond&^condBit)&^flags != 0 {
				continue
			}
			live[p>>6] |= 1 << (p & 63)
			work = append(work, p)
		}
	}
	e := &liveEdge{live: lp.intern(live)}
	if !begin {
		seeds := make([]uint64, lp.words)
		for w, x := range e.live {
			for x != 0 {
				b := x & -x
				x &^= b
				pc := w*64 + bits.TrailingZeros64(b)
				for _, q := range lp.consPred.of(uint32(pc)) {
					if lp.sets[lp.class[q]][c>>6]&(1<<(c&63)) != 0 {
						seeds[q>>6] |= 1 << (q & 63)
					}
				}
			}
		}
		e.to = lp.state(seeds, ctxOf(byte(c)))
	}
	lp.size += int(unsafe.Sizeof(*e))
	slot.Store(e)
	return e
}

// find runs the two passes on s. ok is false when the engine cannot decide
// (a non-ASCII byte, or the DFA budget is spent): the caller runs the
// backtracker. On a match, sc.caps holds the submatch positions.
func (lp *liveProg) find(s string, sc *btScratch) (matched, ok bool) {
	n := len(s)
	if cap(sc.edges) < n+1 {
		sc.edges = make([]*liveEdge, n+1)
	}
	edges := sc.edges[:n+1]
	st := lp.initial
	after := edges[1:] // after[j]: the live set at j+1, after s[j]
	after = after[:len(s)]
	for j := len(s) - 1; j >= 0; j-- {
		c := s[j]
		if c >= utf8.RuneSelf {
			return false, false
		}
		e := st.next[c].Load()
		if e == nil {
			if e = lp.step(st, int(c)); e == nil {
				return false, false
			}
		}
		after[j] = e
		st = e.to
	}
	e := st.begin.Load()
	if e == nil {
		if e = lp.step(st, -1); e == nil {
			return false, false
		}
	}
	edges[0] = e
	start := -1
	if lp.anchored {
		if e.has(lp.start) {
			start = 0
		}
	} else {
		for p := 0; p <= n; p++ {
			if edges[p].has(lp.start) {
				start = p
				break
			}
		}
	}
	if start < 0 {
		return false, true
	}
	caps := sc.caps
	for i := range caps {
		caps[i] = -1
	}
	if len(caps) > 0 {
		caps[0] = start
	}
	walk := lp.walk
	pc, pos := lp.walkStart, start
	for {
		w := &walk[pc]
		switch w.op {
		case walkAlt:
			if w.live(edges[pos]) {
				pc = w.out
			} else {
				pc = w.arg
			}
		case walkStar:
			for w.live(edges[pos]) {
				pos++
			}
			pc = w.arg
		case walkLazy:
			for !w.live(edges[pos]) {
				pos++
			}
			pc = w.out
		case walkRun:
			pos += int(w.n)
			pc = w.out
		case walkCap:
			if int(w.n) < len(caps) {
				caps[w.n] = pos
			}
			pc = w.out
		default: // walkMatch
			if len(caps) > 1 {
				caps[1] = pos
			}
			return true, true
		}
	}
}

// Walk operations: the program of the left-to-right pass, with Nop and
// empty-width instructions skipped (on a live path their conditions hold)
// and runs of consuming instructions fused.
const (
	walkAlt  uint8 = iota // test live: out, else arg
	walkStar              // greedy loop over one instruction test; then arg
	walkLazy              // lazy loop: until test (the exit) is live; then out
	walkRun               // consume n bytes, then out
	walkCap               // record pos in slot n, then out
	walkMatch
)

// walkInst is one instruction of the walk; out and arg index walk; the
// test (word, mask) is an instruction of the original program, a bit of
// the live sets.
type walkInst struct {
	op       uint8
	n        uint32
	word     uint32 // the test instruction's word in a live set
	out, arg uint32
	mask     uint64 // and its bit
}

// live reports whether the test instruction is in e's live set.
func (w *walkInst) live(e *liveEdge) bool { return e.live[w.word]&w.mask != 0 }

func (w *walkInst) setTest(pc uint32) { w.word, w.mask = pc>>6, 1<<(pc&63) }

// buildWalk compiles the walk program: one walkInst per original
// instruction (same index), with epsilon-only chains resolved.
func (lp *liveProg) buildWalk(prog *syntax.Prog) {
	n := len(prog.Inst)
	// skip resolves Nop and EmptyWidth chains.
	skip := func(pc uint32) uint32 {
		for {
			switch prog.Inst[pc].Op {
			case syntax.InstNop, syntax.InstEmptyWidth:
				pc = prog.Inst[pc].Out
			default:
				return pc
			}
		}
	}
	consuming := func(pc uint32) bool {
		switch prog.Inst[pc].Op {
		case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			return true
		}
		return false
	}
	lp.walk = make([]walkInst, n)
	for pc := range prog.Inst {
		in := &prog.Inst[pc]
		w := &lp.walk[pc]
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			out, arg := skip(in.Out), skip(in.Arg)
			switch {
			case consuming(in.Out) && skip(prog.Inst[in.Out].Out) == uint32(pc):
				// The test is the loop's own instruction: it is live
				// exactly when it matches and the loop can go on after it.
				w.op, w.arg = walkStar, arg
				w.setTest(in.Out)
			case consuming(arg) && skip(prog.Inst[arg].Out) == uint32(pc):
				w.op, w.out = walkLazy, out
				w.setTest(in.Out)
			default:
				w.op, w.out, w.arg = walkAlt, out, arg
				w.setTest(in.Out)
			}
		case syntax.InstCapture:
			w.op, w.n, w.out = walkCap, in.Arg, skip(in.Out)
		case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			// Fuse the chain of consuming instructions that follows (a
			// consuming instruction has one successor).
			k, next := uint32(1), skip(in.Out)
			for consuming(next) && k < uint32(n) {
				k++
				next = skip(prog.Inst[next].Out)
			}
			w.op, w.n, w.out = walkRun, k, next
		case syntax.InstMatch:
			w.op = walkMatch
		default:
			// Fail, and Nop/EmptyWidth (never reached: skipped).
			w.op = walkMatch
		}
	}
	lp.walkStart = skip(lp.start)
}
