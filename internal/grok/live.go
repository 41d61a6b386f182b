package grok

import (
	"encoding/binary"
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
//     a byte costs one load from a flat table (row of the state, column of
//     the byte's class), whose cell holds both the next state's row and
//     the id of L(i): one dependent load per byte, no pointer chasing.
//     The scan keeps L as runs (liveRun): a new entry only where the set
//     changes, which inside a field such as `[^"]*` or `\S+` it does not.
//     A state whose live set no byte or context changes can have a loop
//     (liveLoop): the bytes on which it goes back to itself, which the
//     scan crosses on a table without the cells (a user agent in one go),
//     when they are many (minLoopBytes: not a run of digits, which the
//     cells cross for less than a return to the crossing costs).
//  2. A match starts at the first candidate position p whose live set holds
//     the start instruction (none: no match). A left-to-right walk from
//     there takes, at every alternation, the first branch that is live, and
//     records capture positions as it passes them; it never fails and never
//     backtracks. A loop over one instruction (`[^"]*`) is crossed a run
//     at a time, and a chain of captures and literal bytes is one step.
//
// On the hub's nginx access grok and the bench lines (~210 bytes), the
// two passes take ~6,760 instructions a line (from ~9,400 with a live
// set per position and per-byte loops in the walk, ~7,470 with loops over
// digits and a user agent crossed four bytes a test), about 55 % in the
// scan (`go test ./internal/grok -bench LiveFind`, under cachegrind).
//
// Go's submatches are those of a backtracker that explores branches in
// priority order and returns the first path reaching a match (leftmost
// first). The walk takes, at each alternation, the highest-priority branch
// from which some path reaches a match, so it follows that same first path
// and yields the same submatches. (Memoisation does not change the
// backtracker's first path when the program has no empty-width cycle; a
// program with one is left to the backtracker.)
//
// Byte classes: bytes that no instruction, word-boundary or line test tells
// apart share a column (a grok program has a few dozen classes, not 128).
//
// Scope: inputs of ASCII bytes only (a byte >= 0x80 leaves the line to the
// backtracker, whose rune decoding handles it); the DFA's table and sets
// are bounded by liveBudget bytes per pattern, beyond which lines that need
// a new cell also go to the backtracker.
//
// Concurrency: cells are computed under a mutex and written with atomic
// stores; readers load them atomically (a plain load on amd64) from a
// snapshot of the table (liveSnap) published through an atomic pointer. A
// table or set array that must grow is copied into a larger one and the
// new snapshot published before any cell refers to its new rows or sets,
// so a reader whose cell points past its snapshot reloads the snapshot.

// liveBudget bounds the memory of one pattern's DFA (table, sets, index).
const liveBudget = 4 << 20

// Context classes of the byte after a position (for empty-width assertions).
const (
	ctxOther uint8 = iota
	ctxWord
	ctxNewline
	ctxEnd
)

// A cell packs the next row, loopFlag when the next state has a loop
// (liveLoop) and the live set's id + 1: at most maxRows cells (liveBudget
// allows no more) and maxLiveSets sets per program; lines that need more
// go to the backtracker.
const (
	liveIDBits  = 12
	idMask      = 1<<liveIDBits - 1
	loopFlag    = 1 << (liveIDBits - 1)
	maxLiveSets = loopFlag - 1
	maxRows     = 1 << (32 - liveIDBits)
)

// liveProg is a program compiled for the two-pass engine. It is safe for
// concurrent use: the DFA grows under mu and is read without locking.
type liveProg struct {
	class     []uint16    // consuming instructions: index in sets of the bytes they match
	sets      [][2]uint64 // distinct ASCII byte sets
	cond      []uint8     // empty-width instructions: condBit | their syntax.EmptyOp
	start     uint32
	ncap      int
	unset     []int // ncap times -1: the captures before the walk
	anchored  bool
	words     int   // bitset words per set (one bit per instruction)
	epsPred   graph // instructions with an epsilon edge to pc
	consPred  graph // consuming instructions whose out is pc
	matches   []uint32
	walk      []walkInst
	walkCaps  []walkCapAt // the captures of fused chains (walkInst)
	walkStart uint32
	startTest walkInst // tests the start instruction in a live set

	// byteClass is the column of each byte: its class for ASCII bytes,
	// nonASCII (a column whose cells stay 0) for bytes >= 0x80.
	byteClass [256]uint8
	classRep  []byte // a byte of each class
	begin     int    // the column of the start of text (after the classes)
	nonASCII  int    // the column of bytes >= 0x80 (its cells stay 0)
	loopCol   int    // the column of the state's loop (its index + 1 in liveSnap.loops; 0: none)
	stride    int    // columns per state

	snap atomic.Pointer[liveSnap]

	budget  int // bytes the DFA may hold (liveBudget; tests lower it)
	maxSets int // live sets the cells can name (maxLiveSets; tests lower it)

	mu      sync.Mutex
	states  map[string]int32 // (seeds, ctx) -> state number
	seeds   [][]uint64       // by state number
	ctxs    []uint8          // by state number
	liveIDs map[string]int32 // live set -> its id (offset in liveSnap.sets / words)
	free    map[string]bool  // seeds -> whether their state is free of context (closure)
	index   int              // bytes held by the maps and seeds
	size    int              // index + table + sets
}

// liveSnap is a published view of the DFA; its slices are never shrunk or
// moved, and cells past a snapshot's end appear in a later snapshot.
type liveSnap struct {
	// cells[row+k] is the edge of the state at row on byte class k (or
	// on the start of text, column begin; the column nonASCII stays 0):
	// 0 while not computed, else the
	// next state's row << liveIDBits | (the live set's id + 1). Four
	// bytes a cell keep a hot row in a cache line or two.
	cells []atomic.Uint32
	// sets holds the live sets, words apiece, one bit per instruction.
	sets []uint64
	// loops are the states' loops (the loopCol column indexes them).
	loops []*liveLoop
}

// liveLoop is the loop of a DFA state S whose live set does not depend on
// the byte read (no empty-width instruction in it): on each byte of skip,
// S goes back to S, and the live set before the byte is the one of id.
// Inside a field such as `[^"]*` the scan crosses the whole field on
// skip, a table lookup a byte, instead of the cells.
type liveLoop struct {
	skip [256]bool
	id   uint32 // the live set's id + 1
	// swar: cross tests eight bytes at a time (stopIn, setSWAR).
	swar bool
	lt   uint64    // the bytes below lt's byte are stops (0 or 0x20), times swarOnes
	eq   [2]uint64 // stop bytes, times swarOnes
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

// lazyLive builds a pattern's two-pass program on first use: a
// library holds many patterns, and most installs run a few of them.
type lazyLive struct {
	once sync.Once
	done atomic.Bool
	expr string
	ncap int
	prog *liveProg
}

// built reports whether get has run (tests).
func (l *lazyLive) built() bool { return l.done.Load() }

// get returns the program, nil when there is none (l nil, or the program
// is outside the engine's scope). Safe for concurrent use.
func (l *lazyLive) get() *liveProg {
	if l == nil {
		return nil
	}
	l.once.Do(func() {
		l.done.Store(true)
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
		maxSets:  maxLiveSets,
		states:   map[string]int32{},
		liveIDs:  map[string]int32{},
		free:     map[string]bool{},
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
	lp.unset = slices.Repeat([]int{-1}, max(ncap, 0))
	lp.epsPred = newGraph(n, eps)
	lp.consPred = newGraph(n, cons)
	lp.buildWalk(prog)
	lp.startTest.setTest(lp.start)
	lp.buildClasses()
	lp.snap.Store(&liveSnap{})
	lp.mu.Lock()
	lp.state(make([]uint64, lp.words), ctxEnd, nil) // row 0: the end of text
	lp.mu.Unlock()
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

// buildClasses splits the bytes into classes: two ASCII bytes share one
// when every byte set holds both or neither and they have the same
// context (word, newline, other).
func (lp *liveProg) buildClasses() {
	sig := map[string]uint8{}
	key := make([]byte, 0, len(lp.sets)/8+2)
	for c := range utf8.RuneSelf {
		key = key[:0]
		var acc byte
		for i, set := range lp.sets {
			if set[c>>6]&(1<<(c&63)) != 0 {
				acc |= 1 << (i & 7)
			}
			if i&7 == 7 {
				key = append(key, acc)
				acc = 0
			}
		}
		key = append(key, acc, ctxOf(byte(c)))
		k, ok := sig[string(key)]
		if !ok {
			k = uint8(len(lp.classRep))
			sig[string(key)] = k
			lp.classRep = append(lp.classRep, byte(c))
		}
		lp.byteClass[c] = k
	}
	lp.begin = len(lp.classRep)
	lp.nonASCII = lp.begin + 1
	for c := utf8.RuneSelf; c < 256; c++ {
		lp.byteClass[c] = uint8(lp.nonASCII)
	}
	lp.loopCol = lp.nonASCII + 1
	lp.stride = lp.loopCol + 1
}

// state returns the row of the state (seeds, ctx), adding it (and
// publishing a snapshot with its row) when new; mu held.
//
// free, when not nil, is the live set of the state's cells, which hold no
// empty-width instruction: the state's ctx does not matter (the caller
// passes ctxOther), and the state may have a loop (addLoop).
func (lp *liveProg) state(seeds []uint64, ctx uint8, free []uint64) int {
	key := setKey(seeds) + string(rune(ctx))
	if st, ok := lp.states[key]; ok {
		return int(st) * lp.stride
	}
	if (len(lp.seeds)+1)*lp.stride > maxRows {
		return -1
	}
	st := int32(len(lp.seeds))
	lp.states[key] = st
	lp.seeds = append(lp.seeds, slices.Clone(seeds))
	lp.ctxs = append(lp.ctxs, ctx)
	lp.index += 2*len(key) + 8*len(seeds) + 64
	row := int(st) * lp.stride
	sn := lp.snap.Load()
	cells := sn.cells
	if need := row + lp.stride; need > len(cells) {
		if need > cap(cells) {
			grown := make([]atomic.Uint32, need, need+need/4+4*lp.stride)
			for i := range cells {
				grown[i].Store(cells[i].Load())
			}
			cells = grown
		}
		lp.publish(&liveSnap{cells: cells[:need], sets: sn.sets, loops: sn.loops})
	}
	if free != nil {
		lp.addLoop(row, seeds, free)
	}
	return row
}

// seedWork is the work list a live-set computation starts from: the
// program's match instructions, then each instruction whose bit is set in
// seeds.
func (lp *liveProg) seedWork(seeds []uint64) []uint32 {
	work := slices.Clone(lp.matches)
	for w, x := range seeds {
		for x != 0 {
			b := x & -x
			x &^= b
			work = append(work, uint32(w*64+bits.TrailingZeros64(b)))
		}
	}
	return work
}

// closure returns the instructions from which a match is reached on
// epsilon edges from seeds or a match, passing no empty-width instruction,
// and whether the state with these seeds is free of context: each
// empty-width instruction reached (passing them all) tests only the start
// or the end of the text. Then, for a state that is not the end of text,
// these tests fail in every byte's column, and live is the live set of
// each: neither the byte read nor the state's ctx changes it.
func (lp *liveProg) closure(seeds []uint64) (live []uint64, free bool) {
	const textOnly = condBit | uint8(syntax.EmptyBeginText|syntax.EmptyEndText)
	all := make([]uint64, lp.words)
	live = make([]uint64, lp.words)
	work := lp.seedWork(seeds)
	for _, pc := range work {
		live[pc>>6] |= 1 << (pc & 63)
		all[pc>>6] |= 1 << (pc & 63)
	}
	free = true
	// blocked: reached only past an empty-width instruction.
	type item struct {
		pc      uint32
		blocked bool
	}
	items := make([]item, 0, len(work))
	for _, pc := range work {
		items = append(items, item{pc: pc})
	}
	for len(items) > 0 {
		it := items[len(items)-1]
		items = items[:len(items)-1]
		for _, p := range lp.epsPred.of(it.pc) {
			blocked := it.blocked
			if cond := lp.cond[p]; cond&condBit != 0 {
				if cond&^textOnly != 0 {
					free = false
				}
				blocked = true
			}
			if !blocked && live[p>>6]&(1<<(p&63)) == 0 {
				live[p>>6] |= 1 << (p & 63)
				all[p>>6] |= 1 << (p & 63)
				items = append(items, item{pc: p})
				continue
			}
			if all[p>>6]&(1<<(p&63)) == 0 {
				all[p>>6] |= 1 << (p & 63)
				items = append(items, item{pc: p, blocked: true})
			}
		}
	}
	return live, free
}

// seedsOn returns the consuming instructions that match c and lead into
// live: the seeds of the state after c.
func (lp *liveProg) seedsOn(live []uint64, c int) []uint64 {
	seeds := make([]uint64, lp.words)
	for w, x := range live {
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
	return seeds
}

// addLoop gives the new state at row (seeds; live, free of conditions,
// its live set) its loop when it has one: the bytes on which it goes back
// to itself. mu held.
func (lp *liveProg) addLoop(row int, seeds, live []uint64) {
	var lo liveLoop
	any := false
	// The consuming instructions that lead into live: on byte c the next
	// seeds are those that match c. The seeds must all be among them.
	var qs []uint32
	in := make([]uint64, lp.words)
	for w, x := range live {
		for x != 0 {
			b := x & -x
			x &^= b
			for _, q := range lp.consPred.of(uint32(w*64 + bits.TrailingZeros64(b))) {
				if in[q>>6]&(1<<(q&63)) == 0 {
					in[q>>6] |= 1 << (q & 63)
					qs = append(qs, q)
				}
			}
		}
	}
	for w := range seeds {
		if seeds[w]&^in[w] != 0 {
			return
		}
	}
	for k, c := range lp.classRep {
		same := true
		for _, q := range qs {
			matches := lp.sets[lp.class[q]][c>>6]&(1<<(c&63)) != 0
			if matches != (seeds[q>>6]&(1<<(q&63)) != 0) {
				same = false
				break
			}
		}
		if !same {
			continue
		}
		for b := range utf8.RuneSelf {
			if int(lp.byteClass[b]) == k {
				lo.skip[b] = true
				any = true
			}
		}
	}
	if !any || lo.skipped() < minLoopBytes {
		return
	}
	id := lp.liveID(live)
	if id < 0 {
		return
	}
	lo.id = uint32(id + 1)
	lo.setSWAR()
	lp.index += int(unsafe.Sizeof(lo)) + 8
	sn := lp.snap.Load()
	// A new array: a reader of an older snapshot keeps its own.
	loops := append(slices.Clip(sn.loops), &lo)
	lp.publish(&liveSnap{cells: sn.cells, sets: sn.sets, loops: loops})
	sn.cells[row+lp.loopCol].Store(uint32(len(loops)))
}

// minLoopBytes is the number of bytes a state's loop must skip for the
// scan to cross it: a loop over a class of a few bytes (digits: a status,
// a year) spans a few bytes, which the scan takes one cell at a time for
// less than returning to cross them costs.
const minLoopBytes = 32

// skipped returns the number of bytes the loop skips.
func (lo *liveLoop) skipped() int {
	n := 0
	for _, b := range lo.skip {
		if b {
			n++
		}
	}
	return n
}

// cross returns the last position of s whose byte the loop does not
// skip, -1 when it skips them all: eight bytes a test (word-at-a-time,
// swar) when the loop stops on few bytes, four bytes a test while it can.
func (lo *liveLoop) cross(s string) int {
	sk := &lo.skip
	j := len(s) - 1
	if lo.swar && j >= 7 {
		b := unsafe.Slice(unsafe.StringData(s), len(s))
		lt, e0, e1 := lo.lt, lo.eq[0], lo.eq[1]
		for ; j >= 7; j -= 8 {
			if stopIn(binary.LittleEndian.Uint64(b[j-7:j+1]), lt, e0, e1) {
				break
			}
		}
	}
	for ; j >= 3; j -= 4 {
		if !(sk[s[j]] && sk[s[j-1]] && sk[s[j-2]] && sk[s[j-3]]) {
			break
		}
	}
	for ; j >= 0 && sk[s[j]]; j-- {
	}
	return j
}

// Word-at-a-time constants: a one and a high bit in each byte of a word.
const (
	swarOnes  = 0x0101010101010101
	swarHighs = 0x8080808080808080
)

// stopIn reports whether the eight bytes of x may hold one that a loop
// (swar set) does not skip: a byte >= 0x80, below lt's byte, or equal to
// e0's or e1's. It is exact for the loops setSWAR accepts but for the
// bytes below lt, which the loop may skip (control bytes, rare in a log
// line): cross then tests the word's bytes one by one.
func stopIn(x, lt, e0, e1 uint64) bool {
	y, z := x^e0, x^e1
	t := x | (x-lt)&^x | (y-swarOnes)&^y | (z-swarOnes)&^z
	return t&swarHighs != 0
}

// setSWAR turns on the word-at-a-time test (stopIn) when the ASCII bytes
// from 0x20 up that the loop does not skip are at most two (`[^"]*`,
// `[^\]]*`): the bytes below 0x20 and from 0x80 are tested by range.
func (lo *liveLoop) setSWAR() {
	var stops []byte
	lt := uint64(0)
	for c := range utf8.RuneSelf {
		switch {
		case lo.skip[c]:
		case c < 0x20:
			lt = 0x20 * swarOnes
		default:
			stops = append(stops, byte(c))
		}
	}
	if len(stops) > len(lo.eq) {
		return
	}
	// 0x80 stands for no stop byte: a byte equal to it is high anyway.
	stops = append(stops, 0x80, 0x80)
	lo.swar, lo.lt = true, lt
	for i := range lo.eq {
		lo.eq[i] = uint64(stops[i]) * swarOnes
	}
}

// loop returns the loop of the state at row, nil when it has none.
func (lp *liveProg) loop(row int) *liveLoop {
	sn := lp.snap.Load()
	i := row + lp.loopCol
	if i >= len(sn.cells) {
		return nil
	}
	x := int(sn.cells[i].Load())
	if x == 0 || x > len(sn.loops) {
		return nil
	}
	return sn.loops[x-1]
}

// liveID returns the id of the live set (its offset in the snapshot's
// sets / words), adding it when new, or -1 when there are maxLiveSets;
// mu held.
func (lp *liveProg) liveID(live []uint64) int {
	key := setKey(live)
	if id, ok := lp.liveIDs[key]; ok {
		return int(id)
	}
	sn := lp.snap.Load()
	sets := sn.sets
	off := len(sets)
	id := off / lp.words
	if id >= lp.maxSets {
		return -1
	}
	lp.liveIDs[key] = int32(id)
	lp.index += len(key) + 64
	if off+len(live) > cap(sets) {
		n := off + len(live)
		sets = append(make([]uint64, 0, n+n/4+16*len(live)), sets...)
	}
	// Past every published snapshot's end: no reader looks there yet.
	sets = append(sets, live...)
	lp.publish(&liveSnap{cells: sn.cells, sets: sets, loops: sn.loops})
	return id
}

// publish makes sn the current snapshot and updates the size; mu held.
func (lp *liveProg) publish(sn *liveSnap) {
	lp.size = lp.index + 4*cap(sn.cells) + 8*cap(sn.sets)
	lp.snap.Store(sn)
}

func setKey(set []uint64) string {
	if len(set) == 0 {
		return ""
	}
	return string(unsafe.Slice((*byte)(unsafe.Pointer(&set[0])), 8*len(set)))
}

// step computes the cell of the state at row for column k (a class, or
// begin: the start of text). It returns 0 when the budget (or the cell
// format) is spent.
func (lp *liveProg) step(row, k int) uint32 {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if v := lp.snap.Load().cells[row+k].Load(); v != 0 {
		return v
	}
	if lp.size > lp.budget {
		return 0
	}
	st := row / lp.stride
	stSeeds, stCtx := lp.seeds[st], lp.ctxs[st]
	begin := k == lp.begin
	c := 0
	if !begin {
		c = int(lp.classRep[k])
	}
	// Empty-width conditions at the position between c and the state's byte.
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
	switch stCtx {
	case ctxEnd:
		flags |= syntax.EmptyEndText | syntax.EmptyEndLine
	case ctxNewline:
		flags |= syntax.EmptyEndLine
	}
	if beforeWord != (stCtx == ctxWord) {
		flags |= syntax.EmptyWordBoundary
	} else {
		flags |= syntax.EmptyNoWordBoundary
	}
	// L(i): the epsilon predecessors, transitively, of the matches and the
	// seeds.
	live := make([]uint64, lp.words)
	work := lp.seedWork(stSeeds)
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
	id := lp.liveID(live)
	if id < 0 {
		return 0
	}
	next := 0
	if !begin {
		seeds := lp.seedsOn(live, c)
		ctx := ctxOf(byte(c))
		var nextLive []uint64
		free, known := lp.free[setKey(seeds)]
		if !known {
			nextLive, free = lp.closure(seeds)
			lp.free[setKey(seeds)] = free
			lp.index += 8*len(seeds) + 64
		}
		if !free {
			nextLive = nil
		} else {
			ctx = ctxOther
		}
		if next = lp.state(seeds, ctx, nextLive); next < 0 {
			return 0
		}
	}
	v := uint32(next)<<liveIDBits | uint32(id+1)
	if lp.snap.Load().cells[next+lp.loopCol].Load() != 0 {
		v |= loopFlag
	}
	lp.snap.Load().cells[row+k].Store(v)
	return v
}

// liveRun is a run of positions that share one live set, as the
// right-to-left scan records it: the run's last position and the offset
// of its live set in the snapshot's sets.
type liveRun struct {
	last int32
	off  int32
}

// find runs the two passes on s. ok is false when the engine cannot decide
// (a non-ASCII byte, or the DFA budget is spent): the caller runs the
// backtracker. On a match, sc.caps holds the submatch positions.
//
// The scan records the live sets as runs (sc.runs, from the end of s
// back): inside a field such as `[^"]*` or `\S+` the live set stays the
// same from byte to byte, so a line of ~200 bytes has a few dozen runs,
// and the walk crosses a loop over such a field one run at a time.
func (lp *liveProg) find(s string, sc *btScratch) (matched, ok bool) {
	runs, ok := lp.scan(s, sc)
	if !ok {
		return false, false
	}
	m := len(runs)
	// runs[r] covers the positions (runs[r+1].last, runs[r].last], the
	// last run from 0; runs[0].last is len(s).
	// Every set a cell refers to was published before the cell.
	sets := lp.snap.Load().sets
	// r is the run of pos: runs[r].last >= pos (runs[r+1].last < pos).
	r := m - 1
	start := -1
	if lp.anchored {
		if lp.startTest.live(sets, runs[r].off) {
			start = 0
		}
	} else {
		for ; r >= 0; r-- {
			if lp.startTest.live(sets, runs[r].off) {
				start = 0
				if r < m-1 {
					start = int(runs[r+1].last) + 1
				}
				break
			}
		}
	}
	if start < 0 {
		return false, true
	}
	caps := sc.caps
	if copy(caps, lp.unset) < len(caps) {
		for i := len(lp.unset); i < len(caps); i++ {
			caps[i] = -1
		}
	}
	if len(caps) > 0 {
		caps[0] = start
	}
	walk, wcaps := lp.walk, lp.walkCaps
	pc, pos := lp.walkStart, int32(start)
	// The run of pos: last and off are runs[r]'s.
	last, off := runs[r].last, runs[r].off
	for {
		w := &walk[pc]
		if w.capN != 0 {
			c := wcaps[w.capLo]
			caps[c.slot] = int(pos + c.off)
			for k := 1; k < int(w.capN); k++ {
				c = wcaps[int(w.capLo)+k]
				caps[c.slot] = int(pos + c.off)
			}
		}
		pos += int32(w.adv)
		switch w.op {
		case walkAlt:
			if last < pos {
				for r--; runs[r].last < pos; r-- {
				}
				last, off = runs[r].last, runs[r].off
			}
			if w.live(sets, off) {
				pc = w.out
			} else {
				pc = w.arg
			}
		case walkRun:
			pos += int32(w.n)
			pc = w.out
		case walkStar:
			// Live at pos: s[pos] is consumed, and so is the rest of the
			// run, whose live set is the same.
			for {
				if last < pos {
					for r--; runs[r].last < pos; r-- {
					}
					last, off = runs[r].last, runs[r].off
				}
				if !w.live(sets, off) {
					break
				}
				pos = last + 1
			}
			pc = w.arg
		case walkCap:
			if int(w.n) < len(caps) {
				caps[w.n] = int(pos)
			}
			pc = w.out
		case walkLazy:
			for {
				if last < pos {
					for r--; runs[r].last < pos; r-- {
					}
					last, off = runs[r].last, runs[r].off
				}
				if w.live(sets, off) {
					break
				}
				pos = last + 1
			}
			pc = w.out
		default: // walkMatch
			if len(caps) > 1 {
				caps[1] = int(pos)
			}
			return true, true
		}
	}
}

// scan is find's first pass: it returns the runs of live sets of s
// (in sc.runs), from the end of s back; ok is false when the DFA cannot
// decide s.
func (lp *liveProg) scan(s string, sc *btScratch) (runs []liveRun, ok bool) {
	n := len(s)
	if cap(sc.runs) < n+1 {
		sc.runs = make([]liveRun, n+1)
	}
	runs = sc.runs[:n+1]
	words := int32(lp.words)
	j, row, m, prev := n-1, 0, 0, noRun
	v := uint32(0)
	for {
		var looped bool
		j, row, m, prev, looped = scanKnown(lp.snap.Load().cells, &lp.byteClass, s, runs, j, row, m, prev, words)
		if looped {
			// The state at row went back to itself: cross the bytes
			// its loop skips.
			if j >= 0 {
				if lo := lp.loop(row); lo != nil && lo.skip[s[j]] {
					if lo.id != prev {
						runs[m] = liveRun{last: int32(j + 1), off: int32(lo.id-1) * words}
						m++
						prev = lo.id
					}
					j = lo.cross(s[:j])
				}
			}
			continue
		}
		k := lp.begin // j = -1: L(0), on the start of text
		if j >= 0 {
			if k = int(lp.byteClass[s[j]]); k == lp.nonASCII {
				return nil, false
			}
		}
		if v = lp.cell(row, k); v == 0 {
			return nil, false
		}
		if id := v & maxLiveSets; id != prev {
			runs[m] = liveRun{last: int32(j + 1), off: int32(id-1) * words}
			m++
			prev = id
		}
		if j < 0 {
			break
		}
		row = int(v >> liveIDBits)
		j--
		if v&loopFlag == 0 || j < 0 {
			continue
		}
		// The state at row has a loop: cross the bytes it skips.
		if lo := lp.loop(row); lo != nil && lo.skip[s[j]] {
			if lo.id != prev {
				runs[m] = liveRun{last: int32(j + 1), off: int32(lo.id-1) * words}
				m++
				prev = lo.id
			}
			j = lo.cross(s[:j])
		}
	}
	return runs[:m], true
}

// noRun is the id + 1 of the run before the first: no live set's (and
// not 0, the id of a cell not computed).
const noRun = ^uint32(0)

// scanKnown runs the scan over s[:j+1], right to left, from the state at
// row, while the cells it needs are known (in cells), recording in runs
// (from runs[m] on) the runs of live sets as offsets in the sets (prev:
// the id + 1 of the last run's set). It stops at the first byte whose
// cell is not known or goes round a state's loop (liveLoop), and returns
// it (j; -1 at the start of s) with the state there; looped when the
// state went back to itself on the byte after j (its run recorded): the
// caller crosses the loop. It calls nothing and keeps few values live, so
// that they stay in registers: a byte costs about fifteen instructions.
func scanKnown(cells []atomic.Uint32, class *[256]uint8, s string, runs []liveRun, j, row, m int, prev uint32, words int32) (int, int, int, uint32, bool) {
	_ = class[0] // its nil check, out of the loop
	s = s[:j+1]
	for j = len(s) - 1; j >= 0; j-- {
		i := row + int(class[s[j]])
		if uint(i) >= uint(len(cells)) {
			break
		}
		// v's set is L(j+1). A cell not computed yet (0) has id 0,
		// never prev (a computed cell's is its set's id + 1): the test
		// is on the path of a new run.
		v := cells[i].Load()
		id := v & idMask
		if id != prev {
			if id == 0 {
				break
			}
			// Into a state with a loop: when it is this state (the
			// byte is one of the loop's), the caller crosses the loop.
			if id&loopFlag != 0 {
				id &^= loopFlag
				if int(v>>liveIDBits) == row {
					if id != prev {
						runs[m] = liveRun{last: int32(j + 1), off: int32(id-1) * words}
						m++
					}
					return j - 1, row, m, id, true
				}
			}
			if id != prev {
				runs[m] = liveRun{last: int32(j + 1), off: int32(id-1) * words}
				m++
			}
		}
		prev = id
		row = int(v >> liveIDBits)
	}
	return j, row, m, prev, false
}

// cell returns the cell of the state at row for column k, computing it
// when new; 0 when the DFA cannot (its budget is spent).
func (lp *liveProg) cell(row, k int) uint32 {
	cells := lp.snap.Load().cells
	if i := row + k; i < len(cells) {
		if v := cells[i].Load(); v != 0 {
			return v
		}
	}
	return lp.step(row, k)
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
//
// A chain of walkCap and walkRun instructions is fused into the
// instruction that ends it (fuseWalk): before its op, the instruction
// records pos + off in the slots of walkCaps[capLo:capLo+capN], then
// consumes adv bytes.
type walkInst struct {
	op       uint8
	capN     uint8
	capLo    uint16
	n        uint32
	word     uint32 // the test instruction's word in a live set
	out, arg uint32
	adv      uint32
	mask     uint64 // and its bit
}

// walkCapAt records a capture of a fused chain: slot, at off bytes past
// the chain's start.
type walkCapAt struct {
	slot uint32
	off  int32
}

// live reports whether the test instruction is in the live set at off in
// sets.
func (w *walkInst) live(sets []uint64, off int32) bool {
	return sets[int(off)+int(w.word)]&w.mask != 0
}

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
	lp.fuseWalk()
}

// fuseWalk replaces each walkCap or walkRun instruction by the
// instruction ending its chain, the chain's captures and bytes as its
// prefix (captures of slots past ncap dropped: nobody reads them).
func (lp *liveProg) fuseWalk() {
	orig := slices.Clone(lp.walk)
	var recs []walkCapAt
	for pc := range orig {
		op := orig[pc].op
		if op != walkCap && op != walkRun {
			continue
		}
		lo := len(recs)
		adv := uint32(0)
		t := uint32(pc)
		for steps := 0; (orig[t].op == walkCap || orig[t].op == walkRun) && steps < len(orig); steps++ {
			w := &orig[t]
			if w.op == walkRun {
				adv += w.n
			} else if int(w.n) < lp.ncap {
				recs = append(recs, walkCapAt{slot: w.n, off: int32(adv)})
			}
			t = w.out
		}
		end := &orig[t]
		if end.op == walkCap || end.op == walkRun || end.capN != 0 || end.adv != 0 ||
			len(recs)-lo > 255 || len(recs) > 1<<16 {
			recs = recs[:lo] // a chain too long to fuse: keep pc as it is
			continue
		}
		w := *end
		w.capLo, w.capN, w.adv = uint16(lo), uint8(len(recs)-lo), adv
		lp.walk[pc] = w
	}
	lp.walkCaps = recs
}
