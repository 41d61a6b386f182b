package grok

import (
	"encoding/binary"
	"regexp/syntax"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// The lookahead engine, for start-anchored patterns.
//
// A start-anchored pattern is matched from one position only, and most of
// the hub's anchored groks are (nearly) one-pass: at every alternation the
// next byte, together with the byte before it, leaves only one branch that
// can still succeed. This engine decides each alternation with one table
// load, indexed by the alternation, the context of the previous byte
// (start of text, '\n', word byte, other) and the class of the next byte
// (or the end of the text):
//
//	fail   neither branch can succeed here
//	out    only the preferred branch can
//	arg    only the other branch can
//	both   try out, and resume at arg if out fails
//
// A branch "can succeed here" when its empty-width closure, under the
// empty-width conditions that the context and the next byte decide,
// reaches a consuming instruction that takes the next byte, or the match.
// This test is exact, so a pruned branch is one that the backtracker would
// have tried and failed on: the search visits the backtracker's paths in
// the same priority order and returns Go's leftmost-first submatches.
//
// The pattern is one-pass (onePass) when no "both" cell lets both branches
// consume the next byte: then a "both" is only the fallback of a branch
// that matches without consuming, the search never backtracks over input,
// and its cost is linear. Otherwise (the syslog header: "Mar" or "May",
// " 1 " or "12") it backtracks over the few ambiguous cells, without
// memoisation, within a budget of lookaheadStepsPerByte steps a byte; a
// line that exceeds it, or holds a byte >= 0x80 where a rune class could
// take it, is left undecided for the other engines.
//
// Greedy loops over one class (`.*`, `\S+`, `[^"]*`) scan their run in a
// tight loop and push at most one resume job for all their exits.

// lookaheadStepsPerByte bounds the steps of a search that is not one-pass.
const lookaheadStepsPerByte = 8

// Cells of a decision table.
const (
	laFail uint8 = iota
	laOut
	laArg
	laBoth
)

// Contexts of the byte before a position.
const (
	laCtxBegin = iota
	laCtxNewline
	laCtxWord
	laCtxOther
	laNumCtx
)

// maxLookaheadClasses bounds the byte classes of a program.
const maxLookaheadClasses = 200

type laOp uint8

const (
	laOpFail laOp = iota
	laOpMatch
	laOpClass // one ASCII byte of class arg
	laOpAlt   // decide by the table at tab
	laOpStar  // greedy loop over class arg (out: the loop body), exit at exit
	laOpCap   // record pos in slot arg
	laOpEmpty // empty-width assertion arg
)

type laInst struct {
	op  laOp
	uni uint8 // laOpStar: laBoth when an exit inside the run may be viable
	// toNL (laOpStar): the loop is `.`'s (any rune but '\n'): its run
	// ends at the first '\n' (or the end), whatever the bytes before it
	// (a message's `.*`), and one IndexByte finds it. Its exits inside
	// the run are tried, latest first, only when the one at its end
	// fails; one before a byte >= 0x80 leaves the line undecided. (When
	// uni is laOut no exit is pushed: the exit must then take no rune
	// >= 0x80, which the decision tables do not see.)
	toNL bool
	out  uint32 // next instruction
	arg  uint32 // see laOp
	exit uint32 // laOpAlt, laOpStar: the other branch
	tab  uint32 // laOpAlt, laOpStar: offset of the decision table in dec
	// laOpAlt: offset of the jump table in jumps, and its row stride
	// (0 when the previous byte's context never matters).
	jump, jrow uint32
}

// Jump table cells besides instruction numbers.
const (
	jumpFail = ^uint32(0)     // no branch can succeed
	jumpBoth = ^uint32(0) - 1 // try out, resume at exit
)

// laClass is an ASCII byte class; hi marks a class that runes >= 0x80 may
// match (a line reaching it with such a byte is left undecided).
type laClass struct {
	run [256]bool
	dot bool // the class of `.`: every ASCII byte but '\n'
	hi  bool
}

// laProg is a compiled lookahead program; immutable, safe for concurrent
// use (its per-call state is a btScratch).
type laProg struct {
	inst    []laInst
	classes []laClass
	dec     []uint8 // decision tables, laNumCtx rows of stride cells
	runs    []bool  // runs[class<<8|c]: the run tables of the classes, flat
	// jumps holds, for an alternation and a (context, column), the
	// instruction where the chain of alternations it heads leads (each
	// deciding one branch), or jumpFail, or jumpBoth (this alternation
	// is ambiguous there). One load replaces a walk down an alternation
	// tree.
	jumps     []uint32
	byteClass [256]uint8
	ctxOf     [256]uint8
	stride    int // columns: the byte classes, then the end of text
	endCol    uint8
	hiAbort   bool // some class may take runes >= 0x80
	start     uint32
	onePass   bool
}

// compileLookahead builds the lookahead program of prog, or nil when the
// engine does not apply: the program is not anchored at the start of the
// text, has an empty-width cycle, or too many byte classes.
func compileLookahead(prog *syntax.Prog) *laProg {
	if prog.StartCond()&syntax.EmptyBeginText == 0 || epsilonCycle(prog) {
		return nil
	}
	n := len(prog.Inst)
	failPC := uint32(n)
	resolve := func(pc uint32) uint32 {
		for i := 0; i <= n; i++ {
			if prog.Inst[pc].Op != syntax.InstNop {
				return pc
			}
			pc = prog.Inst[pc].Out
		}
		return failPC
	}
	// ASCII sets of the consuming instructions.
	asciiOf := func(in *syntax.Inst) (set [2]uint64, hi bool) {
		switch in.Op {
		case syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			set = [2]uint64{^uint64(0), ^uint64(0)}
			if in.Op == syntax.InstRuneAnyNotNL {
				set[0] &^= 1 << '\n'
			}
			return set, true
		}
		for c := 0; c < utf8.RuneSelf; c++ {
			if in.MatchRune(rune(c)) {
				set[c>>6] |= 1 << (c & 63)
			}
		}
		return set, matchesNonASCII(in)
	}
	lp := &laProg{start: resolve(uint32(prog.Start)), onePass: true}
	setIdx := map[[2]uint64]int{}
	var sets [][2]uint64
	var setHi []bool
	instSet := make([]int, n)
	for pc := range prog.Inst {
		in := &prog.Inst[pc]
		switch in.Op {
		case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			set, hi := asciiOf(in)
			i, ok := setIdx[set]
			if !ok {
				i = len(sets)
				setIdx[set] = i
				sets = append(sets, set)
				setHi = append(setHi, false)
			}
			setHi[i] = setHi[i] || hi
			instSet[pc] = i
			lp.hiAbort = lp.hiAbort || hi
		case syntax.InstMatch, syntax.InstFail, syntax.InstAlt, syntax.InstAltMatch,
			syntax.InstCapture, syntax.InstEmptyWidth, syntax.InstNop:
		default:
			return nil
		}
	}
	// Byte classes: bytes that no set, the word test or '\n' tell apart.
	classOf := map[string]uint8{}
	var reps []byte
	sig := make([]byte, len(sets)+2)
	for c := 0; c < utf8.RuneSelf; c++ {
		for i, s := range sets {
			sig[i] = byte(s[c>>6] >> (c & 63) & 1)
		}
		sig[len(sets)] = b2u(isWordByte(byte(c)))
		sig[len(sets)+1] = b2u(c == '\n')
		k, ok := classOf[string(sig)]
		if !ok {
			if len(reps) == maxLookaheadClasses {
				return nil
			}
			k = uint8(len(reps))
			classOf[string(sig)] = k
			reps = append(reps, byte(c))
		}
		lp.byteClass[c] = k
	}
	hiCol := uint8(len(reps)) // bytes >= 0x80: no set takes them here
	for c := utf8.RuneSelf; c < 256; c++ {
		lp.byteClass[c] = hiCol
	}
	lp.endCol = hiCol + 1
	lp.stride = int(lp.endCol) + 1
	for c := range 256 {
		switch {
		case c == '\n':
			lp.ctxOf[c] = laCtxNewline
		case isWordByte(byte(c)):
			lp.ctxOf[c] = laCtxWord
		default:
			lp.ctxOf[c] = laCtxOther
		}
	}
	ncol := lp.stride
	words := (ncol + 63) / 64
	// condCols[ctx][op]: the columns where the conditions op hold.
	colOps := func(ctx, col int) syntax.EmptyOp {
		var op syntax.EmptyOp
		before, after := ctx == laCtxWord, false
		switch ctx {
		case laCtxBegin:
			op |= syntax.EmptyBeginText | syntax.EmptyBeginLine
		case laCtxNewline:
			op |= syntax.EmptyBeginLine
		}
		switch {
		case col == int(lp.endCol):
			op |= syntax.EmptyEndText | syntax.EmptyEndLine
		case col == int(hiCol):
		default:
			if reps[col] == '\n' {
				op |= syntax.EmptyEndLine
			}
			after = isWordByte(reps[col])
		}
		if before != after {
			op |= syntax.EmptyWordBoundary
		} else {
			op |= syntax.EmptyNoWordBoundary
		}
		return op
	}
	// closure builds a table of column sets, one row per (pc, context of
	// the previous byte), that propagates through the instructions that
	// consume nothing: leaf fills the row of a rune or the match
	// instruction; an alternation takes the union of its branches, a
	// capture or nop what follows it, an empty-width assertion the columns
	// whose context satisfies it. visit computes the rows of pc and of all
	// it reaches, once.
	closure := func(leaf func(pc uint32, in *syntax.Inst, ctx int, r []uint64)) (visit func(pc uint32), row func(pc uint32, ctx int) []uint64) {
		bits := make([]uint64, (n+1)*laNumCtx*words)
		done := make([]bool, n+1)
		row = func(pc uint32, ctx int) []uint64 {
			o := (int(pc)*laNumCtx + ctx) * words
			return bits[o : o+words]
		}
		visit = func(pc uint32) {
			if done[pc] {
				return
			}
			done[pc] = true
			if pc == failPC {
				return
			}
			in := &prog.Inst[pc]
			switch in.Op {
			case syntax.InstMatch, syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
				for ctx := range laNumCtx {
					leaf(pc, in, ctx, row(pc, ctx))
				}
			case syntax.InstAlt, syntax.InstAltMatch:
				o, a := resolve(in.Out), resolve(in.Arg)
				visit(o)
				visit(a)
				for ctx := range laNumCtx {
					r, ro, ra := row(pc, ctx), row(o, ctx), row(a, ctx)
					for w := range r {
						r[w] = ro[w] | ra[w]
					}
				}
			case syntax.InstCapture, syntax.InstNop:
				o := resolve(in.Out)
				visit(o)
				for ctx := range laNumCtx {
					copy(row(pc, ctx), row(o, ctx))
				}
			case syntax.InstEmptyWidth:
				o := resolve(in.Out)
				visit(o)
				for ctx := range laNumCtx {
					r, ro := row(pc, ctx), row(o, ctx)
					for col := range ncol {
						if syntax.EmptyOp(in.Arg)&^colOps(ctx, col) == 0 {
							r[col>>6] |= ro[col>>6] & (1 << (col & 63))
						}
					}
				}
			}
		}
		return visit, row
	}
	// viable: the columns from which the program at pc can succeed, the
	// previous byte being of context ctx (a rune: the columns it takes).
	visit, row := closure(func(pc uint32, in *syntax.Inst, _ int, r []uint64) {
		if in.Op == syntax.InstMatch {
			for col := range ncol {
				r[col>>6] |= 1 << (col & 63)
			}
			return
		}
		set := sets[instSet[pc]]
		for k, b := range reps {
			if set[b>>6]>>(b&63)&1 != 0 {
				r[k>>6] |= 1 << (k & 63)
			}
		}
	})
	// consumable: the columns from which the closure of pc can consume a
	// byte (as opposed to only reaching the match).
	cvisit, crow := closure(func(pc uint32, in *syntax.Inst, ctx int, r []uint64) {
		if in.Op == syntax.InstMatch {
			return
		}
		visit(pc)
		copy(r, row(pc, ctx))
	})
	has := func(r []uint64, col int) bool { return r[col>>6]>>(col&63)&1 != 0 }

	lp.inst = make([]laInst, n+1)
	lp.inst[failPC] = laInst{op: laOpFail}
	classIdx := map[int]uint32{}
	tabIdx := map[string]uint32{}
	table := make([]uint8, laNumCtx*ncol)
	for pc := range prog.Inst {
		in := &prog.Inst[pc]
		li := &lp.inst[pc]
		switch in.Op {
		case syntax.InstMatch:
			li.op = laOpMatch
		case syntax.InstFail, syntax.InstNop:
			li.op = laOpFail // Nop is never reached: resolve skips it
		case syntax.InstCapture:
			li.op, li.out, li.arg = laOpCap, resolve(in.Out), in.Arg
		case syntax.InstEmptyWidth:
			li.op, li.out, li.arg = laOpEmpty, resolve(in.Out), in.Arg
		case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			i, ok := classIdx[instSet[pc]]
			if !ok {
				i = uint32(len(lp.classes))
				classIdx[instSet[pc]] = i
				var cl laClass
				set := sets[instSet[pc]]
				for c := 0; c < utf8.RuneSelf; c++ {
					cl.run[c] = set[c>>6]>>(c&63)&1 != 0
				}
				cl.dot = set == [2]uint64{^uint64(0) &^ (1 << '\n'), ^uint64(0)}
				cl.hi = setHi[instSet[pc]]
				lp.classes = append(lp.classes, cl)
				lp.runs = append(lp.runs, cl.run[:]...)
			}
			li.op, li.out, li.arg = laOpClass, resolve(in.Out), i
		case syntax.InstAlt, syntax.InstAltMatch:
			o, a := resolve(in.Out), resolve(in.Arg)
			visit(o)
			visit(a)
			cvisit(o)
			cvisit(a)
			for ctx := range laNumCtx {
				ro, ra := row(o, ctx), row(a, ctx)
				co, ca := crow(o, ctx), crow(a, ctx)
				for col := range ncol {
					cell := laFail
					vo, va := has(ro, col), has(ra, col)
					switch {
					case vo && va:
						cell = laBoth
						if has(co, col) && has(ca, col) {
							lp.onePass = false
						}
					case vo:
						cell = laOut
					case va:
						cell = laArg
					}
					table[ctx*ncol+col] = cell
				}
			}
			off, ok := tabIdx[string(table)]
			if !ok {
				off = uint32(len(lp.dec))
				tabIdx[string(table)] = off
				lp.dec = append(lp.dec, table...)
			}
			li.op, li.out, li.exit, li.tab = laOpAlt, o, a, off
		}
	}
	// Greedy loops over one class with one cell for all its bytes.
	for pc := range prog.Inst {
		li := &lp.inst[pc]
		if li.op != laOpAlt {
			continue
		}
		body := &lp.inst[li.out]
		if body.op != laOpClass || body.out != uint32(pc) {
			continue
		}
		// Every byte of the class takes the body (laOut or laBoth): the
		// loop scans its run, and pushes its exits when some are viable.
		cl := &lp.classes[body.arg]
		li.op, li.uni = laOpStar, laOut
		for ctx := range laNumCtx {
			for c := 0; c < utf8.RuneSelf; c++ {
				if cl.run[c] && lp.dec[int(li.tab)+ctx*ncol+int(lp.byteClass[c])] == laBoth {
					li.uni = laBoth
				}
			}
		}
		// (a run with exits not pushed must have none at a rune >= 0x80)
		li.toNL = prog.Inst[li.out].Op == syntax.InstRuneAnyNotNL && (li.uni == laBoth || !takesHi(prog, li.exit))
	}
	// Jump tables of the alternations (stars keep their cell table).
	jumpIdx := map[string]uint32{}
	jt := make([]uint32, laNumCtx*ncol)
	key := make([]byte, 0, 4*len(jt))
	for pc := range prog.Inst {
		li := &lp.inst[pc]
		if li.op != laOpAlt {
			continue
		}
		for ctx := range laNumCtx {
			for col := range ncol {
				cur, t := uint32(pc), uint32(0)
				for {
					ci := &lp.inst[cur]
					if ci.op != laOpAlt && ci.op != laOpStar {
						t = cur
						break
					}
					cell := lp.dec[int(ci.tab)+ctx*ncol+col]
					if cell == laBoth {
						t = cur
						if cur == uint32(pc) {
							t = jumpBoth
						}
						break
					}
					if cell == laFail {
						t = jumpFail
						break
					}
					if ci.op == laOpStar {
						t = cur // the star scans its run itself
						break
					}
					if cell == laOut {
						cur = ci.out
					} else {
						cur = ci.exit
					}
				}
				jt[ctx*ncol+col] = t
			}
		}
		rows := laNumCtx
		if slices.Equal(jt[:ncol], jt[ncol:2*ncol]) && slices.Equal(jt[:ncol], jt[2*ncol:3*ncol]) && slices.Equal(jt[:ncol], jt[3*ncol:]) {
			rows = 1
		}
		key = key[:0]
		for _, v := range jt[:rows*ncol] {
			key = binary.LittleEndian.AppendUint32(key, v)
		}
		off, ok := jumpIdx[string(key)]
		if !ok {
			off = uint32(len(lp.jumps))
			jumpIdx[string(key)] = off
			lp.jumps = append(lp.jumps, jt[:rows*ncol]...)
		}
		li.jump = off
		if rows > 1 {
			li.jrow = uint32(ncol)
		}
	}
	return lp
}

// takesHi reports whether the program from pc may consume a rune >= 0x80
// before it consumes any other: some consuming instruction that its
// empty-width closure reaches (whatever the conditions) takes one.
func takesHi(prog *syntax.Prog, pc uint32) bool {
	seen := make([]bool, len(prog.Inst))
	var walk func(pc uint32) bool
	walk = func(pc uint32) bool {
		if seen[pc] {
			return false
		}
		seen[pc] = true
		in := &prog.Inst[pc]
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			return walk(in.Out) || walk(in.Arg)
		case syntax.InstCapture, syntax.InstEmptyWidth, syntax.InstNop:
			return walk(in.Out)
		case syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			return true
		case syntax.InstRune, syntax.InstRune1:
			return matchesNonASCII(in)
		}
		return false
	}
	return walk(pc)
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// find runs the search anchored at the start of s. On a match sc.caps
// holds the submatch positions. decided is false when the search gave up
// (a byte >= 0x80 a rune class might take, or the step budget).
func (lp *laProg) find(s string, sc *btScratch) (matched, decided bool) {
	caps := sc.caps
	for i := range caps {
		caps[i] = -1
	}
	if len(caps) > 0 {
		caps[0] = 0
	}
	insts, dec, stride, jumps, runs := lp.inst, lp.dec, lp.stride, lp.jumps, lp.runs
	left := -1 // steps left; negative: no budget
	if !lp.onePass {
		left = lookaheadStepsPerByte * (len(s) + 1)
	}
	stack := sc.stack[:0]
	pc, pos := lp.start, 0
	// cell returns the decision table cell of the alternation in at pos;
	// ok is false for a byte >= 0x80 the program may take as a rune.
	cell := func(in *laInst, pos int) (uint8, bool) {
		ctx := laCtxBegin
		if pos > 0 {
			ctx = int(lp.ctxOf[s[pos-1]])
		}
		col := lp.endCol
		if pos < len(s) {
			c := s[pos]
			if c >= utf8.RuneSelf && lp.hiAbort {
				return 0, false
			}
			col = lp.byteClass[c]
		}
		return dec[int(in.tab)+ctx*stride+int(col)], true
	}
	for {
		if left == 0 {
			sc.stack = stack[:0]
			return false, false
		}
		left--
		in := &insts[pc]
		switch in.op {
		case laOpClass:
			if pos >= len(s) {
				goto fail
			}
			if c := s[pos]; !runs[in.arg<<8|uint32(c)] {
				if c >= utf8.RuneSelf && lp.classes[in.arg].hi {
					sc.stack = stack[:0]
					return false, false
				}
				goto fail
			}
			pos++
			pc = in.out
			continue
		case laOpAlt:
			ctx := laCtxBegin
			if pos > 0 {
				ctx = int(lp.ctxOf[s[pos-1]])
			}
			col := lp.endCol
			if pos < len(s) {
				c := s[pos]
				if c >= utf8.RuneSelf && lp.hiAbort {
					sc.stack = stack[:0]
					return false, false
				}
				col = lp.byteClass[c]
			}
			switch t := jumps[in.jump+uint32(ctx)*in.jrow+uint32(col)]; t {
			case jumpFail:
				goto fail
			case jumpBoth:
				stack = append(stack, btJob{pc: in.exit, slot: -1, pos: pos})
				pc = in.out
			default:
				pc = t
			}
			continue
		case laOpStar:
			lo := pos
			var cl *laClass
			if in.toNL {
				if i := strings.IndexByte(s[pos:], '\n'); i >= 0 {
					pos += i
				} else {
					pos = len(s)
				}
			} else if cl = &lp.classes[insts[in.out].arg]; cl.dot {
				pos = dotRun(s, pos)
			} else {
				for pos < len(s) && cl.run[s[pos]] {
					pos++
				}
			}
			if in.uni == laBoth && pos > lo {
				// The exits at lo..pos-1, latest first, when the run's
				// end fails.
				stack = append(stack, btJob{pc: uint32(pc), slot: int32(-2 - lo), pos: pos - 1})
			}
			d, ok := cell(in, pos)
			if !ok {
				sc.stack = stack[:0]
				return false, false
			}
			if d != laArg && d != laBoth {
				// laBoth here: a byte >= 0x80 of a class without hi
				// runes; laOut cannot occur outside the class.
				if d == laOut || d == laBoth {
					sc.stack = stack[:0]
					return false, false
				}
				goto fail
			}
			pc = in.exit
			continue
		case laOpCap:
			if int(in.arg) < len(caps) {
				if len(stack) > 0 {
					stack = append(stack, btJob{slot: int32(in.arg), pos: caps[in.arg]})
				}
				caps[in.arg] = pos
			}
			pc = in.out
			continue
		case laOpEmpty:
			if syntax.EmptyOp(in.arg)&^emptyAt(s, pos) != 0 {
				goto fail
			}
			pc = in.out
			continue
		case laOpMatch:
			if len(caps) > 1 {
				caps[1] = pos
			}
			sc.stack = stack[:0]
			return true, true
		}
	fail:
		for {
			if len(stack) == 0 {
				sc.stack = stack
				return false, true
			}
			j := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if j.slot >= 0 {
				caps[j.slot] = j.pos
				continue
			}
			if j.slot == -1 {
				pc, pos = j.pc, j.pos
				break
			}
			// Star exits from j.pos down to lo.
			in := &insts[j.pc]
			lo := int(-2 - j.slot)
			p := j.pos
			for ; p >= lo; p-- {
				d, ok := cell(in, p) // a byte >= 0x80: only in a toNL run
				if !ok {
					sc.stack = stack[:0]
					return false, false
				}
				if d == laBoth {
					break
				}
			}
			if p < lo {
				continue
			}
			if p > lo {
				stack = append(stack, btJob{pc: j.pc, slot: j.slot, pos: p - 1})
			}
			pc, pos = in.exit, p
			break
		}
		if left > 0 {
			left--
		}
	}
}

// lazyLookahead builds a start-anchored pattern's lookahead program on
// first use (a library compiles many patterns, a replay runs a few).
type lazyLookahead struct {
	once sync.Once
	expr string
	prog *laProg
}

// newLazyLookahead returns nil for a pattern that is not start-anchored.
func newLazyLookahead(expr string, anchored bool) *lazyLookahead {
	if !anchored {
		return nil
	}
	return &lazyLookahead{expr: expr}
}

// get returns the program, nil when there is none. Safe for concurrent use.
func (l *lazyLookahead) get() *laProg {
	if l == nil {
		return nil
	}
	l.once.Do(func() { l.prog = lookaheadFor(l.expr) })
	return l.prog
}

// lookaheadFor compiles expr (as regexp.Compile does) for the lookahead
// engine; nil when the engine does not apply.
func lookaheadFor(expr string) *laProg {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil
	}
	return compileLookahead(prog)
}
