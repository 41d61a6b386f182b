package grok

import (
	"fmt"
	"math"
	"math/bits"
	"regexp/syntax"
	"strings"
	"sync"
	"unicode/utf8"
)

// The backtracking engine.
//
// Go's regexp runs programs of more than 500 instructions (every grok that
// references IPORHOST, IPV6 or HOSTNAME) on its Pike VM, which costs tens of
// microseconds per access-log line. This engine executes the same
// regexp/syntax program by depth-first backtracking, which yields exactly
// Go's leftmost-first submatches (Go documents its results as those of a
// backtracking engine), and memoises failed (instruction, position) states
// so that the worst case stays linear in prog_len × (input_len+1).
//
// Differences from Go's own backtracker: no instruction limit; byte-level
// bitmaps for ASCII classes (UTF-8 is decoded only for bytes >= 0x80); runs
// of literal bytes fused into one comparison; each alternation branch
// guarded by the set of bytes it can start with (a branch that cannot
// match the next byte is never pushed); loops over one class (x*, x+, x*?)
// scanned in a tight byte loop; memoisation only at join points
// (instructions with several predecessors: loop heads and the ends of
// alternations), which is enough for linearity since every other state has
// a single predecessor; and a visited bitset cleared word by word from a
// dirty list rather than in full. The visited state is checked when a
// state is executed, not when it is pushed, so the first (highest
// priority) arrival at a state is the one explored. When the visited table
// would exceed maxVisitBits the caller falls back to Go's regexp.

// maxVisitBits caps the visited table (memo points × (len+1)); above it the
// pattern's Go regexp runs instead (2 MiB of bits per scratch).
const maxVisitBits = 1 << 24

type btOp uint8

const (
	btFail btOp = iota
	btMatch
	btClass // one rune from a class
	btLit   // a run of ASCII bytes
	btAlt   // try out, then arg
	btCap   // record position in slot arg
	btEmpty // empty-width assertion arg (syntax.EmptyOp)
	// btStar is a greedy loop over one class (out: the class instruction,
	// whose out is this instruction; arg: the exit), btLazy the non-greedy
	// one (out: the exit; arg: the class instruction). Both scan runs of
	// ASCII bytes in a tight loop instead of alternating btAlt/btClass.
	btStar
	btLazy
	// btSwitch is a tree of alternations (a root btAlt and the btAlt
	// instructions below it that have no other predecessor) flattened into
	// one dispatch on the next byte: the branches that can start with it,
	// in priority order (aux: the switch). One step instead of one per
	// alternation walked.
	btSwitch
)

// btInst is one instruction of a compiled program, kept small so that
// programs of thousands of instructions stay in cache; class bitmaps,
// literals and branch guards live in deduplicated side tables (aux).
type btInst struct {
	op   btOp
	memo int32  // index in the visited table, or -1
	out  uint32 // next instruction
	arg  uint32 // btAlt: alternative; btCap: slot; btEmpty: condition
	aux  uint32 // btClass: class; btLit: literal; btAlt, btStar, btLazy: guard
}

// btClassSet is a rune class: a bitmap for ASCII and a matcher for the rest.
type btClassSet struct {
	ascii [2]uint64
	// run[c] reports an ASCII byte c of the class: the tight loops of
	// btStar scan with one load per byte (bytes >= 0x80 are never set).
	run [256]bool
	// dot: the ASCII bytes of the class are all but '\n' (the class of
	// `.`, which GREEDYDATA and DATA loop over): btStar finds the end of
	// the run eight bytes at a time.
	dot  bool
	hi   bool         // some rune >= 0x80 (or U+FFFD) may match
	rune *syntax.Inst // matcher for runes >= 0x80 (nil when !hi)
}

// btGuard holds the bytes each branch of an alternation can start with; a
// branch whose set misses the next byte is not tried.
type btGuard struct {
	out, arg byteSet
}

// btNode is the build-time form of an instruction.
type btNode struct {
	op    btOp
	memo  int32
	out   uint32
	arg   uint32
	class btClassSet
	lit   string
	guard btGuard
}

// btSwitchTab is a btSwitch's dispatch: lists[next[c]] are the branches
// to try, in order, when the next byte is c (next[256]: at the end of the
// input). lists[0] is empty (no branch can match).
type btSwitchTab struct {
	next  [257]uint8
	lists [][]uint32
}

// Switch tuning: a tree of fewer than minSwitchLeaves branches stays a
// chain of btAlt; one of more than maxSwitchLeaves is not flattened.
const (
	minSwitchLeaves = 3
	maxSwitchLeaves = 64
)

// byteSet is a set of bytes; any means "always try" (the branch can match
// without consuming, or its closure was too large to walk).
type byteSet struct {
	bits [4]uint64
	any  bool
}

func (b *byteSet) add(c byte)      { b.bits[c>>6] |= 1 << (c & 63) }
func (b *byteSet) has(c byte) bool { return b.bits[c>>6]&(1<<(c&63)) != 0 }
func (b *byteSet) allows(s string, pos int) bool {
	return b.any || pos < len(s) && b.has(s[pos])
}

// btProg is a compiled backtracking program. It is immutable after
// compilation and safe for concurrent use; per-call state lives in a
// btScratch taken from pool.
type btProg struct {
	inst     []btInst
	classes  []btClassSet
	lits     []string
	guards   []btGuard
	switches []btSwitchTab
	start    uint32
	nmemo    int
	ncap     int // number of capture slots (2 × groups, group 0 included)
	anchored bool
	nullable bool      // can match the empty string: every position is a candidate
	first    [256]bool // bytes a match can start with
	live     *lazyLive // two-pass engine; nil: not applicable
	choice   *engineChoice
	pool     *sync.Pool
}

// btScratch is the per-call state of the executor.
type btScratch struct {
	visited []uint64
	dirty   []int32
	stack   []btJob
	caps    []int
	// runs are the two-pass engine's live sets, as runs of positions
	// (every call writes the runs it reads).
	runs  []liveRun
	steps int // backtracking steps of the last runBacktrack (choice.go)
	// limit bounds steps in one backtrack call (0: none); aborted reports
	// that the call stopped there, undecided.
	limit   int
	aborted bool
}

// btJob is a backtracking point: resume at pc/pos; or (slot >= 0) restore
// a capture slot to pos; or (slot <= -2) try the exit of the btStar at pc
// at positions pos down to lo = -2-slot.
type btJob struct {
	pc   uint32
	slot int32
	pos  int
}

// newScratchPool returns a pool of scratch states usable by any btProg.
func newScratchPool() *sync.Pool {
	return &sync.Pool{New: func() any { return &btScratch{} }}
}

// compileBacktrack compiles expr (parsed and simplified exactly as
// regexp.Compile does) for the backtracking executor.
func compileBacktrack(expr string, pool *sync.Pool) (*btProg, error) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, fmt.Errorf("grok: backtrack: %w", err)
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil, fmt.Errorf("grok: backtrack: %w", err)
	}
	if pool == nil {
		pool = newScratchPool()
	}
	n := len(prog.Inst)
	nodes := make([]btNode, n+1)
	bp := &btProg{
		ncap:     2 * (1 + re.MaxCap()),
		anchored: prog.StartCond()&syntax.EmptyBeginText != 0,
		pool:     pool,
	}
	failPC := uint32(n) // a shared fail instruction (also for Nop cycles)
	nodes[failPC] = btNode{op: btFail, memo: -1}

	// resolve skips Nop chains.
	resolve := func(pc uint32) uint32 {
		for i := 0; i <= n; i++ {
			if prog.Inst[pc].Op != syntax.InstNop {
				return pc
			}
			pc = prog.Inst[pc].Out
		}
		return failPC
	}

	// Reachable instructions and their in-degree (the start counts as one).
	indeg := make([]int, n+1)
	seen := make([]bool, n+1)
	bp.start = resolve(uint32(prog.Start))
	indeg[bp.start]++
	stack := []uint32{bp.start}
	edge := func(to uint32) {
		indeg[to]++
		if !seen[to] {
			stack = append(stack, to)
		}
	}
	for len(stack) > 0 {
		pc := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[pc] || pc == failPC {
			continue
		}
		seen[pc] = true
		in := &prog.Inst[pc]
		switch in.Op {
		case syntax.InstMatch, syntax.InstFail:
		case syntax.InstAlt, syntax.InstAltMatch:
			edge(resolve(in.Out))
			edge(resolve(in.Arg))
		default:
			edge(resolve(in.Out))
		}
	}

	for pc := 0; pc < n; pc++ {
		if !seen[pc] {
			continue
		}
		in := &prog.Inst[pc]
		bi := &nodes[pc]
		bi.memo = -1
		if indeg[pc] > 1 {
			bi.memo = int32(bp.nmemo)
			bp.nmemo++
		}
		switch in.Op {
		case syntax.InstMatch:
			bi.op = btMatch
		case syntax.InstFail:
			bi.op = btFail
		case syntax.InstAlt, syntax.InstAltMatch:
			bi.op = btAlt
			bi.out, bi.arg = resolve(in.Out), resolve(in.Arg)
		case syntax.InstCapture:
			bi.op = btCap
			bi.out, bi.arg = resolve(in.Out), in.Arg
		case syntax.InstEmptyWidth:
			bi.op = btEmpty
			bi.out, bi.arg = resolve(in.Out), in.Arg
		case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			bi.op = btClass
			bi.out = resolve(in.Out)
			cl := &bi.class
			switch in.Op {
			case syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
				cl.ascii = [2]uint64{^uint64(0), ^uint64(0)}
				if in.Op == syntax.InstRuneAnyNotNL {
					cl.ascii[0] &^= 1 << '\n'
				}
				cl.hi = true
			default:
				for c := 0; c < utf8.RuneSelf; c++ {
					if in.MatchRune(rune(c)) {
						cl.ascii[c>>6] |= 1 << (c & 63)
					}
				}
				cl.hi = matchesNonASCII(in)
			}
			if cl.hi {
				cl.rune = in
			}
			for c := 0; c < utf8.RuneSelf; c++ {
				cl.run[c] = cl.ascii[c>>6]&(1<<(c&63)) != 0
			}
			cl.dot = cl.ascii == [2]uint64{^uint64(0) &^ (1 << '\n'), ^uint64(0)}
		default:
			return nil, fmt.Errorf("grok: backtrack: unexpected instruction %v", in.Op)
		}
	}

	// Fuse runs of plain ASCII single-byte instructions into literals.
	isByte := func(pc uint32) (byte, bool) {
		if pc == failPC {
			return 0, false
		}
		in := &prog.Inst[pc]
		if in.Op != syntax.InstRune1 || in.Rune[0] >= utf8.RuneSelf {
			return 0, false
		}
		return byte(in.Rune[0]), true
	}
	for pc := 0; pc < n; pc++ {
		c, ok := isByte(uint32(pc))
		if !seen[pc] || !ok {
			continue
		}
		var b strings.Builder
		b.WriteByte(c)
		next := nodes[pc].out
		for indeg[next] == 1 {
			c, ok := isByte(next)
			if !ok {
				break
			}
			b.WriteByte(c)
			next = nodes[next].out
		}
		if b.Len() > 1 {
			bi := &nodes[pc]
			bi.op, bi.lit, bi.out = btLit, b.String(), next
		}
	}

	first := firstSet(nodes, bp.start, make([]uint32, len(nodes)), 1, -1)
	bp.nullable = first.any
	for c := range 256 {
		bp.first[c] = first.has(byte(c))
	}
	computeGuards(nodes, seen)
	markLoops(nodes, seen)
	switches := buildSwitches(nodes, seen)
	bp.pack(nodes)
	bp.switches = switches
	if !epsilonCycle(prog) {
		bp.live = &lazyLive{expr: expr, ncap: bp.ncap}
		bp.choice = &engineChoice{}
	}
	return bp, nil
}

// markLoops turns single-class loops (x* / x+ / x*? / x+? over one rune
// class) into btStar / btLazy.
func markLoops(nodes []btNode, reachable []bool) {
	loopClass := func(l, c uint32) bool {
		return nodes[c].op == btClass && nodes[c].out == l && nodes[l].memo >= 0
	}
	for pc := range nodes {
		nd := &nodes[pc]
		if !reachable[pc] || nd.op != btAlt {
			continue
		}
		switch {
		case loopClass(uint32(pc), nd.out):
			nd.op = btStar
		case loopClass(uint32(pc), nd.arg):
			nd.op = btLazy
		}
	}
}

// buildSwitches turns every root of a tree of at least minSwitchLeaves
// alternation branches into a btSwitch and returns the switch tables (the
// index of a node's table is its arg). A btAlt below the root is part of
// the tree when it has no other predecessor (no memo): flattening skips no
// visited-table check, and each branch keeps its own. A branch is tried
// for the next byte when its first set holds it (or is any), the same
// test the btAlt guards make, so the branches tried and their order are
// those of the chain of btAlt.
func buildSwitches(nodes []btNode, reachable []bool) []btSwitchTab {
	inner := make([]bool, len(nodes))
	for pc := range nodes {
		nd := &nodes[pc]
		if !reachable[pc] || nd.op != btAlt {
			continue
		}
		for _, c := range [2]uint32{nd.out, nd.arg} {
			if nodes[c].op == btAlt && nodes[c].memo < 0 {
				inner[c] = true
			}
		}
	}
	var tabs []btSwitchTab
	var roots []int // converted after all tables are built: firstSet reads btAlt
	mark := make([]uint32, len(nodes))
	gen := uint32(1)
	for pc := range nodes {
		nd := &nodes[pc]
		if !reachable[pc] || nd.op != btAlt || inner[pc] {
			continue
		}
		var leaves []uint32
		// A branch that leads back to the root (an empty-width loop) is a
		// leaf: the root's visited-table check prunes it as before.
		var walk func(c uint32)
		walk = func(c uint32) {
			if nodes[c].op == btAlt && nodes[c].memo < 0 && c != uint32(pc) && len(leaves) <= maxSwitchLeaves {
				walk(nodes[c].out)
				walk(nodes[c].arg)
				return
			}
			leaves = append(leaves, c)
		}
		walk(nd.out)
		walk(nd.arg)
		if len(leaves) < minSwitchLeaves || len(leaves) > maxSwitchLeaves {
			continue
		}
		sets := make([]byteSet, len(leaves))
		for i, l := range leaves {
			gen++
			sets[i] = firstSet(nodes, l, mark, gen, maxGuardWalk)
		}
		tab := btSwitchTab{lists: [][]uint32{nil}}
		index := map[string]uint8{"": 0}
		ok := true
		for c := 0; c <= 256; c++ {
			var lst []uint32
			var key []byte
			for i, l := range leaves {
				if sets[i].any || c < 256 && sets[i].has(byte(c)) {
					lst = append(lst, l)
					key = append(key, byte(i))
				}
			}
			k, seen := index[string(key)]
			if !seen {
				if len(tab.lists) > 255 {
					ok = false
					break
				}
				k = uint8(len(tab.lists))
				index[string(key)] = k
				tab.lists = append(tab.lists, lst)
			}
			tab.next[c] = k
		}
		if !ok {
			continue
		}
		roots = append(roots, pc)
		tabs = append(tabs, tab)
	}
	for i, pc := range roots {
		nodes[pc].op = btSwitch
		nodes[pc].arg = uint32(i)
	}
	return tabs
}

// pack builds the compact instruction array and its side tables.
func (bp *btProg) pack(nodes []btNode) {
	bp.inst = make([]btInst, len(nodes))
	classIdx := map[btClassSet]uint32{}
	litIdx := map[string]uint32{}
	guardIdx := map[btGuard]uint32{}
	for pc := range nodes {
		nd := &nodes[pc]
		in := btInst{op: nd.op, memo: nd.memo, out: nd.out, arg: nd.arg}
		switch nd.op {
		case btClass:
			i, ok := classIdx[nd.class]
			if !ok {
				i = uint32(len(bp.classes))
				bp.classes = append(bp.classes, nd.class)
				classIdx[nd.class] = i
			}
			in.aux = i
		case btLit:
			i, ok := litIdx[nd.lit]
			if !ok {
				i = uint32(len(bp.lits))
				bp.lits = append(bp.lits, nd.lit)
				litIdx[nd.lit] = i
			}
			in.aux = i
		case btAlt, btStar, btLazy:
			i, ok := guardIdx[nd.guard]
			if !ok {
				i = uint32(len(bp.guards))
				bp.guards = append(bp.guards, nd.guard)
				guardIdx[nd.guard] = i
			}
			in.aux = i
		}
		bp.inst[pc] = in
	}
}

// maxGuardWalk bounds the empty-width closure walked for one alternation
// branch; a larger closure is not guarded (always tried).
const maxGuardWalk = 512

// computeGuards fills the branch sets of every reachable alternation.
func computeGuards(nodes []btNode, reachable []bool) {
	mark := make([]uint32, len(nodes))
	gen := uint32(1)
	for pc := range nodes {
		nd := &nodes[pc]
		if !reachable[pc] || nd.op != btAlt {
			continue
		}
		gen++
		nd.guard.out = firstSet(nodes, nd.out, mark, gen, maxGuardWalk)
		gen++
		nd.guard.arg = firstSet(nodes, nd.arg, mark, gen, maxGuardWalk)
	}
}

// firstSet returns the bytes a match of the program from pc can start
// with, walking the empty-width closure of pc; any is set when the closure
// reaches a match (the branch can succeed without consuming) or exceeds
// limit instructions (limit < 0: unbounded). mark is a visited table
// stamped with gen.
func firstSet(nodes []btNode, pc uint32, mark []uint32, gen uint32, limit int) byteSet {
	var set byteSet
	stack := []uint32{pc}
	walked := 0
	for len(stack) > 0 {
		pc := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if mark[pc] == gen {
			continue
		}
		mark[pc] = gen
		walked++
		if limit >= 0 && walked > limit {
			return byteSet{any: true}
		}
		in := &nodes[pc]
		switch in.op {
		case btMatch:
			set.any = true
		case btAlt, btStar, btLazy:
			stack = append(stack, in.arg, in.out)
		case btCap, btEmpty:
			stack = append(stack, in.out)
		case btLit:
			set.add(in.lit[0])
		case btClass:
			set.bits[0] |= in.class.ascii[0]
			set.bits[1] |= in.class.ascii[1]
			if in.class.hi {
				set.bits[2], set.bits[3] = ^uint64(0), ^uint64(0)
			}
		}
	}
	return set
}

// findIndex returns the submatch index vector of the leftmost match of s
// (as regexp.FindStringSubmatchIndex), or nil. ok is false when neither
// engine takes s (too long for the visited-table cap, and not for the
// two-pass engine).
func (bp *btProg) findIndex(s string) (loc []int, ok bool) {
	sc := bp.get()
	matched, ok := bp.find(s, sc)
	if matched {
		loc = append([]int(nil), sc.caps...)
	}
	bp.release(sc)
	return loc, ok
}

// fits reports whether a match on an input of length n stays under the
// visited-table cap.
func (bp *btProg) fits(n int) bool {
	return n < 1<<30 && (bp.nmemo == 0 || uint64(bp.nmemo)*uint64(n+1) <= maxVisitBits)
}

// firstVisited returns the first set bit in [a, b], or -1.
func (sc *btScratch) firstVisited(a, b int) int {
	if a > b {
		return -1
	}
	v := sc.visited
	wa, wb := a>>6, b>>6
	for w := wa; w <= wb; w++ {
		x := v[w]
		if w == wa {
			x &= ^uint64(0) << (a & 63)
		}
		if w == wb {
			x &= ^uint64(0) >> (63 - b&63)
		}
		if x != 0 {
			return w<<6 + bits.TrailingZeros64(x)
		}
	}
	return -1
}

// setVisited sets the bits [a, b] (a <= b).
func (sc *btScratch) setVisited(a, b int) {
	v := sc.visited
	wa, wb := a>>6, b>>6
	for w := wa; w <= wb; w++ {
		m := ^uint64(0)
		if w == wa {
			m &= ^uint64(0) << (a & 63)
		}
		if w == wb {
			m &= ^uint64(0) >> (63 - b&63)
		}
		if v[w] == 0 {
			sc.dirty = append(sc.dirty, int32(w))
		}
		v[w] |= m
	}
}

// visit marks a visited-table bit; it returns false when the bit was set.
func (sc *btScratch) visit(bit int) bool {
	w, m := bit>>6, uint64(1)<<(bit&63)
	old := sc.visited[w]
	if old&m != 0 {
		return false
	}
	if old == 0 {
		sc.dirty = append(sc.dirty, int32(w))
	}
	sc.visited[w] = old | m
	return true
}

// get returns a scratch; put it back with release.
func (bp *btProg) get() *btScratch {
	sc := bp.pool.Get().(*btScratch)
	if cap(sc.caps) < bp.ncap {
		sc.caps = make([]int, bp.ncap)
	}
	sc.caps = sc.caps[:bp.ncap]
	return sc
}

// release clears the visited bits that were set and returns sc to the pool.
func (bp *btProg) release(sc *btScratch) {
	sc.clearVisited()
	sc.stack = sc.stack[:0]
	bp.pool.Put(sc)
}

// clearVisited clears the visited bits that were set.
func (sc *btScratch) clearVisited() {
	v := sc.visited
	for _, w := range sc.dirty {
		v[w] = 0
	}
	sc.dirty = sc.dirty[:0]
}

// maxStepsPerByte bounds a backtracking search that the two-pass engine
// can take over: past maxStepsPerByte × (len+1) steps (the hub's groks take
// under 6 per byte on real lines; a hostile line can make a backtracker
// take one per instruction and byte) the line goes to the two-pass engine,
// which is linear with a small constant.
const maxStepsPerByte = 16

// find runs the leftmost-first search of s on the engine chosen for the
// pattern (choice.go): the two-pass engine, or the backtracker when s
// fits its visited table (the two-pass engine also takes the lines the
// backtracker cannot, or that cost it over maxStepsPerByte, and the
// backtracker those the two-pass engine cannot). On a match, sc.caps
// holds the submatch positions (-1 for groups that did not participate).
// decided is false when neither engine took s.
func (bp *btProg) find(s string, sc *btScratch) (matched, decided bool) {
	mode := modeBacktrack
	if bp.choice != nil {
		mode = bp.choice.mode.Load()
	}
	fits := bp.fits(len(s))
	if mode == modeLive || !fits {
		if lp := bp.live.get(); lp != nil {
			if matched, ok := lp.find(s, sc); ok {
				return matched, true
			}
		}
		if !fits {
			return false, false
		}
		matched, _ = bp.runBacktrack(s, sc, 0)
		return matched, true
	}
	limit := 0
	if bp.live != nil {
		limit = maxStepsPerByte * (len(s) + 1)
	}
	matched, done := bp.runBacktrack(s, sc, limit)
	if mode == modeSampling {
		live := liveStepsPerByte
		if !bp.anchored {
			live = unanchoredLiveStepsPerByte
		}
		bp.choice.record(sc.steps, len(s), live)
	}
	if done {
		return matched, true
	}
	if lp := bp.live.get(); lp != nil {
		if matched, ok := lp.find(s, sc); ok {
			return matched, true
		}
	}
	sc.clearVisited()
	matched, _ = bp.runBacktrack(s, sc, 0)
	return matched, true
}

// runBacktrack sizes the visited table for s and runs the backtracker,
// bounded to limit steps (0: unbounded); done is false when it stopped
// there. sc.steps counts the steps it took.
func (bp *btProg) runBacktrack(s string, sc *btScratch, limit int) (matched, done bool) {
	words := (bp.nmemo*(len(s)+1) + 63) / 64
	if cap(sc.visited) < words {
		sc.visited = make([]uint64, words)
	}
	sc.visited = sc.visited[:words]
	sc.limit, sc.aborted, sc.steps = limit, false, 0
	matched = bp.backtrack(s, sc)
	return matched, !sc.aborted
}

// backtrack is find's backtracking engine; sc.visited is sized for s.
func (bp *btProg) backtrack(s string, sc *btScratch) bool {
	if bp.anchored {
		return bp.try(s, 0, sc)
	}
	for pos := 0; pos <= len(s); {
		if pos == len(s) {
			return bp.nullable && bp.try(s, pos, sc)
		}
		c := s[pos]
		if bp.nullable || bp.first[c] {
			if bp.try(s, pos, sc) {
				return true
			}
			if sc.aborted {
				return false
			}
		}
		if c < utf8.RuneSelf {
			pos++
		} else {
			_, w := utf8.DecodeRuneInString(s[pos:])
			pos += w
		}
	}
	return false
}

// try runs the backtracking search anchored at pos.
func (bp *btProg) try(s string, pos int, sc *btScratch) bool {
	caps := sc.caps
	for i := range caps {
		caps[i] = -1
	}
	if len(caps) > 0 {
		caps[0] = pos
	}
	insts, classes, guards := bp.inst, bp.classes, bp.guards
	stride := len(s) + 1
	steps := 0
	left := math.MaxInt // steps this call may take
	if sc.limit > 0 {
		left = sc.limit - sc.steps
	}
	stack := append(sc.stack[:0], btJob{pc: bp.start, slot: -1, pos: pos})
	for len(stack) > 0 {
		j := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if j.slot >= 0 {
			caps[j.slot] = j.pos
			continue
		}
		pc, pos := j.pc, j.pos
		if j.slot <= -2 {
			// Pending exits of a greedy star, longest first.
			in := &insts[pc]
			g := &guards[in.aux]
			lo := int(-2 - j.slot)
			for pos >= lo && !g.arg.allows(s, pos) {
				pos--
			}
			if pos < lo {
				continue
			}
			if pos > lo {
				stack = append(stack, btJob{pc: pc, slot: j.slot, pos: pos - 1})
			}
			pc = in.arg
		}
	exec:
		for {
			steps++
			if steps > left {
				sc.aborted = true
				sc.stack = stack[:0]
				sc.steps += steps
				return false
			}
			in := &insts[pc]
			if in.memo >= 0 && !sc.visit(int(in.memo)*stride+pos) {
				break
			}
			switch in.op {
			case btClass:
				if pos >= len(s) {
					goto fail
				}
				cl := &classes[in.aux]
				if c := s[pos]; c < utf8.RuneSelf {
					if cl.ascii[c>>6]&(1<<(c&63)) == 0 {
						goto fail
					}
					pos++
				} else {
					if !cl.hi {
						goto fail
					}
					r, w := utf8.DecodeRuneInString(s[pos:])
					if !cl.rune.MatchRune(r) {
						goto fail
					}
					pos += w
				}
				pc = in.out
			case btLit:
				lit := bp.lits[in.aux]
				if !strings.HasPrefix(s[pos:], lit) {
					goto fail
				}
				pos += len(lit)
				pc = in.out
			case btAlt:
				g := &guards[in.aux]
				okOut, okArg := g.out.allows(s, pos), g.arg.allows(s, pos)
				switch {
				case okOut && okArg:
					stack = append(stack, btJob{pc: in.arg, slot: -1, pos: pos})
					pc = in.out
				case okOut:
					pc = in.out
				case okArg:
					pc = in.arg
				default:
					goto fail
				}
			case btStar:
				// At (L, pos), L already marked. Consume the longest run of
				// ASCII class bytes, marking the class and loop states.
				ci := &insts[in.out]
				cl := &classes[ci.aux]
				lo := pos
				if cl.dot {
					pos = dotRun(s, pos)
				} else {
					for pos < len(s) && cl.run[s[pos]] {
						pos++
					}
				}
				// The states the loop went through: C at lo..pos-1 and L at
				// lo+1..pos, in the order C(lo), L(lo+1), C(lo+1), ... A
				// state visited before stops the run there.
				if pos > lo {
					lBase := int(in.memo) * stride
					cEnd := pos - 1 // C states lo..cEnd run
					if f := sc.firstVisited(lBase+lo+1, lBase+pos); f >= 0 {
						pos = f - lBase - 1 // C(pos) runs, L(pos+1) is pruned
						cEnd = pos
					}
					if ci.memo >= 0 {
						cBase := int(ci.memo) * stride
						if g := sc.firstVisited(cBase+lo, cBase+cEnd); g >= 0 {
							pos = g - cBase // C(pos) is pruned
							cEnd = pos - 1
						}
						if cEnd >= lo {
							sc.setVisited(cBase+lo, cBase+cEnd)
						}
					}
					if pos > lo {
						sc.setVisited(lBase+lo+1, lBase+pos)
					}
				}
				if pos < len(s) && s[pos] >= utf8.RuneSelf {
					// Leave the rune to the generic class instruction
					// (which loops back here); exits lo..pos stay pending.
					stack = append(stack, btJob{pc: pc, slot: int32(-2 - lo), pos: pos})
					pc = in.out
					continue
				}
				// Exits at pos, then pos-1 ... lo.
				g := &guards[in.aux]
				for pos >= lo && !g.arg.allows(s, pos) {
					pos--
				}
				if pos < lo {
					goto fail
				}
				if pos > lo {
					stack = append(stack, btJob{pc: pc, slot: int32(-2 - lo), pos: pos - 1})
				}
				pc = in.arg
			case btLazy:
				// At (L, pos): the exit first, then one more class rune.
				ci := &insts[in.arg]
				cl := &classes[ci.aux]
				g := &guards[in.aux]
				for !g.out.allows(s, pos) {
					if pos >= len(s) {
						goto fail
					}
					c := s[pos]
					if c >= utf8.RuneSelf {
						pc = in.arg // generic class step, then back here
						continue exec
					}
					if cl.ascii[c>>6]&(1<<(c&63)) == 0 {
						goto fail
					}
					if ci.memo >= 0 && !sc.visit(int(ci.memo)*stride+pos) {
						goto fail
					}
					if !sc.visit(int(in.memo)*stride + pos + 1) {
						goto fail
					}
					pos++
				}
				stack = append(stack, btJob{pc: in.arg, slot: -1, pos: pos})
				pc = in.out
			case btSwitch:
				tab := &bp.switches[in.arg]
				k := 256
				if pos < len(s) {
					k = int(s[pos])
				}
				lst := tab.lists[tab.next[k]]
				if len(lst) == 0 {
					goto fail
				}
				for i := len(lst) - 1; i > 0; i-- {
					stack = append(stack, btJob{pc: lst[i], slot: -1, pos: pos})
				}
				pc = lst[0]
			case btCap:
				if int(in.arg) < len(caps) {
					stack = append(stack, btJob{slot: int32(in.arg), pos: caps[in.arg]})
					caps[in.arg] = pos
				}
				pc = in.out
			case btEmpty:
				if syntax.EmptyOp(in.arg)&^emptyAt(s, pos) != 0 {
					goto fail
				}
				pc = in.out
			case btMatch:
				if len(caps) > 1 {
					caps[1] = pos
				}
				sc.stack = stack[:0]
				sc.steps += steps
				return true
			default:
				goto fail
			}
		}
	fail:
	}
	sc.stack = stack
	sc.steps += steps
	return false
}

// dotRun returns the first position from pos of a '\n' or a byte >= 0x80
// in s (len(s) if none), reading eight bytes at a time.
func dotRun(s string, pos int) int {
	const ones, highs, nls = 0x0101010101010101, 0x8080808080808080, 0x0a0a0a0a0a0a0a0a
	for ; pos+8 <= len(s); pos += 8 {
		x := uint64(s[pos]) | uint64(s[pos+1])<<8 | uint64(s[pos+2])<<16 | uint64(s[pos+3])<<24 |
			uint64(s[pos+4])<<32 | uint64(s[pos+5])<<40 | uint64(s[pos+6])<<48 | uint64(s[pos+7])<<56
		// A byte >= 0x80 has its high bit; a '\n' becomes a zero byte of
		// y, whose lowest one the borrow trick flags exactly (bytes above
		// it may be flagged too, never those below).
		y := x ^ nls
		if m := (x | (y-ones)&^y) & highs; m != 0 {
			return pos + bits.TrailingZeros64(m)/8
		}
	}
	for pos < len(s) && s[pos] != '\n' && s[pos] < utf8.RuneSelf {
		pos++
	}
	return pos
}

// emptyAt returns the empty-width conditions that hold at pos, as
// syntax.EmptyOpContext on the runes around pos (word characters and
// newlines are ASCII, so the bytes decide).
func emptyAt(s string, pos int) syntax.EmptyOp {
	var op syntax.EmptyOp
	before, after := false, false
	if pos == 0 {
		op |= syntax.EmptyBeginText | syntax.EmptyBeginLine
	} else {
		if s[pos-1] == '\n' {
			op |= syntax.EmptyBeginLine
		}
		before = isWordByte(s[pos-1])
	}
	if pos == len(s) {
		op |= syntax.EmptyEndText | syntax.EmptyEndLine
	} else {
		if s[pos] == '\n' {
			op |= syntax.EmptyEndLine
		}
		after = isWordByte(s[pos])
	}
	if before != after {
		op |= syntax.EmptyWordBoundary
	} else {
		op |= syntax.EmptyNoWordBoundary
	}
	return op
}
