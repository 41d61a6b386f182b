package parse

import (
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/grok"
	"github.com/phalanx-ids/phalanx/internal/natexpr"
)

// exprEnv is the environment every parser expression sees: {evt}.
type exprEnv struct {
	Evt *event.Event `expr:"evt"`
}

// condition is a compiled boolean expression (filter, whitelist entry).
type condition struct {
	src  string
	prog *vm.Program
	fast natexpr.Bool // nil: the VM runs prog
}

// node is a compiled parser node. It is immutable after Load except for its
// atomic counters.
type node struct {
	name      string
	stage     string
	file      string
	line      int
	nextStage bool

	filter   *condition
	wl       *whitelist
	grok     *grokStep
	stashes  []stash
	children []*node
	statics  []static

	// id indexes the node's counters in a runState (Pipeline.all).
	id int
	// skip: the node is a grok of a literal group and nothing else (no
	// filter, whitelist, stash or children): when its input lacks one of
	// its literals, visiting it only counts a hit and a failure, which the
	// parent does without calling it (node.runChildren).
	skip bool

	// The counters, summed from the runStates' (runState.flush).
	hits, ok, ko atomic.Uint64
}

// nodeCount is a runState's counters of one node, not yet added to the
// node's: two parse workers adding to the same shared counters for every
// node they visit (16 sibling groks a sshd line) took the cache line from
// each other at every add.
type nodeCount struct{ hits, ok, ko uint64 }

type grokStep struct {
	pat     *grok.Pattern
	label   string
	noNames bool          // pattern has no semantic: it never yields data
	applyOn string        // "Line.Raw", a Parsed key, or "" (expression)
	inKey   event.Key     // applyOn's slot (a Parsed key)
	keys    event.KeyList // the slot of each of pat's Names()
	input   *valueExpr    // when applyOn == ""
	statics []static

	litGroup *litGroup // nil: the pattern checks its own literals
	lits     []int     // pat's literals in litGroup
}

type whitelist struct {
	reason string
	addrs  addrSet
	exprs  []condition
}

// addrSet is a whitelist's ips and cidrs, compiled at load into one test
// per address family: an IPv4 address is searched as a number among the
// IPv4 ips (sorted) and masked against the IPv4 cidrs; any other address
// (IPv6, zoned) is searched among the other ips (sorted by
// netip.Addr.Compare) and tested against the other cidrs. A prefix of
// one family never contains an address of the other (netip.Prefix.Contains),
// so the split keeps its results.
type addrSet struct {
	v4     []uint32 // IPv4 ips, sorted
	net4   []net4   // IPv4 cidrs
	other  []netip.Addr
	others []netip.Prefix
}

type net4 struct{ addr, mask uint32 }

// addAddr and addPrefix add an ip and a cidr (at load).
func (s *addrSet) addAddr(a netip.Addr) {
	if a.Is4() {
		s.v4 = append(s.v4, v4num(a))
		return
	}
	s.other = append(s.other, a)
}

func (s *addrSet) addPrefix(p netip.Prefix) {
	if p.Addr().Is4() && p.IsValid() {
		mask := ^uint32(0)
		if p.Bits() < 32 {
			mask = ^(mask >> p.Bits())
		}
		s.net4 = append(s.net4, net4{addr: v4num(p.Addr()) & mask, mask: mask})
		return
	}
	s.others = append(s.others, p)
}

// sort ends the load: the ips sorted for the binary searches.
func (s *addrSet) sort() {
	slices.Sort(s.v4)
	slices.SortFunc(s.other, netip.Addr.Compare)
}

func (s *addrSet) empty() bool {
	return len(s.v4) == 0 && len(s.net4) == 0 && len(s.other) == 0 && len(s.others) == 0
}

func v4num(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// has reports whether a is one of the ips or in one of the cidrs.
func (s *addrSet) has(a netip.Addr) bool {
	if a.Is4() {
		x := v4num(a)
		if _, ok := slices.BinarySearch(s.v4, x); ok {
			return true
		}
		for _, n := range s.net4 {
			if x&n.mask == n.addr {
				return true
			}
		}
		return false
	}
	if _, ok := slices.BinarySearchFunc(s.other, a, netip.Addr.Compare); ok {
		return true
	}
	for _, c := range s.others {
		if c.Contains(a) {
			return true
		}
	}
	return false
}

type stash struct {
	name  string
	key   *valueExpr
	value *valueExpr
}

// runState is the per-Parse scratch: a reusable VM and the tracer.
type runState struct {
	p     *Pipeline
	vm    vm.VM
	dt    DetailTracer
	stage string
	path  []string

	// The last `apply_on` input read from evt.Parsed (sshd has ~20 sibling
	// grok nodes on Parsed.message): valid until anything may have written
	// to the event (an expression run, statics, a grok match, a new event).
	inKey    string
	inVal    string
	inOK     bool
	inCached bool

	nc natexpr.Ctx // native evaluation, no memo (the event changes between nodes)

	enriched []string     // an enrichment method's results (static.apply)
	caps     []string     // a grok's captures, by name index (grokStep.process)
	ips      []netip.Addr // the event's source addresses (whitelist.check)
	// The last log event source address parsed (sources): a line meets
	// several whitelists with the same Meta.source_ip.
	srcText string
	srcAddr netip.Addr
	srcOK   bool

	lits    litScan   // sibling groks' literals found in their input
	checked *grokStep // the grok whose literals mayMatch just found

	// The counters of this scratch's parses since its last flush: per
	// node (by node.id), and of lines parsed and not.
	counts           []nodeCount
	parsed, unparsed uint64

	// clock is the session's reading of Pipeline.now (zero: not read yet),
	// the Time of the events it parses that have none: one clock read a
	// batch, not one a line.
	clock time.Time
}

// flush adds the scratch's counters to the pipeline's (and zeroes them).
func (rs *runState) flush() {
	p := rs.p
	if rs.parsed != 0 {
		p.parsed.Add(rs.parsed)
	}
	if rs.unparsed != 0 {
		p.unparsed.Add(rs.unparsed)
	}
	rs.parsed, rs.unparsed = 0, 0
	for i := range rs.counts {
		c := &rs.counts[i]
		if *c == (nodeCount{}) {
			continue
		}
		n := p.all[i]
		if c.hits != 0 {
			n.hits.Add(c.hits)
		}
		if c.ok != 0 {
			n.ok.Add(c.ok)
		}
		if c.ko != 0 {
			n.ko.Add(c.ko)
		}
		*c = nodeCount{}
	}
}

// forget drops the cached apply_on input: evt may have changed.
func (rs *runState) forget() { rs.inCached = false }

// parsedInput returns the parsed field k, from the cache when nothing may
// have written to evt since the last read of the same field.
func (rs *runState) parsedInput(evt *event.Event, k event.Key) (string, bool) {
	if rs.inCached && rs.inKey == k.Name() {
		return rs.inVal, rs.inOK
	}
	v, ok := evt.Get(k)
	rs.inKey, rs.inVal, rs.inOK, rs.inCached = k.Name(), v, ok, true
	return v, ok
}

// run runs prog on evt in the VM, which sees evt.Parsed, evt.Meta and
// evt.Enriched as maps: the event's views, built here on the first VM run
// (native code reads the slots and never needs them).
func (rs *runState) run(prog *vm.Program, evt *event.Event) (any, error) {
	rs.forget() // expressions may call evt.SetParsed and friends
	evt.ExposeAll()
	return rs.vm.Run(prog, exprEnv{Evt: evt})
}

// native evaluates v natively; ok false: v has no native form, or it
// failed (the VM then gives the error).
func (rs *runState) native(v *valueExpr, evt *event.Event) (string, bool) {
	if v.get == nil {
		return "", false
	}
	rs.nc.Reset(evt, nil)
	s, err := v.get.Eval(&rs.nc)
	return s, err == nil
}

func (rs *runState) step(s Step) {
	if rs.dt != nil {
		rs.dt.Step(rs.stage, rs.path, s)
	}
}

// test evaluates c; errors and non-bool results are false.
func (rs *runState) test(c *condition, evt *event.Event) (bool, error) {
	if c.fast != nil {
		rs.nc.Reset(evt, nil)
		if ok, err := c.fast(&rs.nc); err == nil {
			return ok, nil
		} // the VM gives its own error
	}
	out, err := rs.run(c.prog, evt)
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, errBadResult
	}
	return b, nil
}

// process runs the node on evt (inventory section 3, node evaluation order).
// An error means the event must be dropped. Without a detail tracer it is
// run itself (small enough to be inlined: no frame with a defer per node).
func (n *node) process(rs *runState, evt *event.Event) (bool, error) {
	if rs.dt == nil {
		return n.run(rs, evt)
	}
	return n.processTraced(rs, evt)
}

// processTraced is process with a detail tracer.
func (n *node) processTraced(rs *runState, evt *event.Event) (bool, error) {
	rs.path = append(rs.path, n.name)
	rs.dt.NodeStart(rs.stage, rs.path, evt)
	rs.forget() // tracers see the event; trust no one
	defer func() { rs.path = rs.path[:len(rs.path)-1] }()
	ok, err := n.run(rs, evt)
	if err != nil {
		rs.step(Step{Kind: StepError, Detail: err.Error()})
	}
	rs.dt.NodeEnd(rs.stage, rs.path, ok && err == nil, evt)
	return ok, err
}

func (n *node) run(rs *runState, evt *event.Event) (bool, error) {
	// 1. filter
	if n.filter != nil {
		pass, err := rs.test(n.filter, evt)
		if err != nil {
			rs.p.logger.Warn("parse: filter failed", "node", n.name, "filter", n.filter.src, "error", err)
		}
		rs.step(Step{Kind: StepFilter, OK: pass, Detail: n.filter.src})
		if !pass {
			return false, nil
		}
	}
	// 2. hits
	cnt := &rs.counts[n.id]
	cnt.hits++
	// 3. whitelist
	whitelisted := false
	if n.wl != nil {
		whitelisted = n.wl.check(rs, evt)
		rs.step(Step{Kind: StepWhitelist, OK: whitelisted, Detail: n.wl.reason})
		if whitelisted && !evt.Whitelisted {
			evt.Whitelisted = true
			evt.WhitelistReason = n.wl.reason
			if evt.Type == event.OVFLW {
				evt.Overflow.Whitelisted = true
			}
		}
	}
	// 4. grok
	state, grokOK := true, false
	if n.grok != nil {
		var err error
		state, err = n.grok.process(rs, evt)
		if err != nil {
			return false, err
		}
		grokOK = state
	}
	// 5. stash
	if grokOK || n.grok == nil {
		for i := range n.stashes {
			n.stashes[i].apply(rs, evt)
		}
	}
	// 6. children
	// The input of the last literal group a skip child read (nil: none
	// read since evt may have changed; every grok of a group reads the
	// same input) and whether it is there.
	var grp *litGroup
	var gin string
	var gok bool
	for _, c := range n.children {
		ret := false
		if c.skip && rs.dt == nil {
			g := c.grok
			if grp != g.litGroup {
				grp, gin, gok = g.litGroup, evt.Line.Raw, true
				if g.applyOn != "Line.Raw" {
					gin, gok = rs.parsedInput(evt, g.inKey)
				}
			}
			if !gok || !rs.lits.holds(grp, gin, g.lits) {
				// c's grok cannot match (no input, or a literal
				// missing): what running c would do
				cc := &rs.counts[c.id]
				cc.hits++
				cc.ko++
				if !grokOK {
					state = false
				}
				continue
			}
			rs.checked = g // its grok step need not look again
		}
		grp = nil // c may change evt
		var err error
		if ret, err = c.process(rs, evt); err != nil {
			return false, err
		}
		if ret {
			state = true
			if n.nextStage {
				break
			}
		} else if !grokOK {
			state = false
		}
	}
	// 7. failure
	if !state {
		cnt.ko++
		return false, nil
	}
	cnt.ok++
	// 8. statics, only for whitelisted events or nodes without whitelist
	if whitelisted || n.wl == nil {
		if err := applyStatics(rs, evt, n.statics); err != nil {
			return false, err
		}
	}
	// 9. next_stage
	if n.nextStage {
		idx := -1
		for i, s := range rs.p.stages {
			if s == evt.Stage {
				idx = i
				break
			}
		}
		if idx+1 < len(rs.p.stages) {
			evt.Stage = rs.p.stages[idx+1]
			rs.step(Step{Kind: StepNextStage, OK: true, Value: evt.Stage})
		}
	}
	return true, nil
}

func applyStatics(rs *runState, evt *event.Event, statics []static) error {
	if len(statics) == 0 {
		return nil
	}
	rs.forget()
	traced := rs.dt != nil
	for i := range statics {
		s := &statics[i]
		if !traced {
			// apply's work, inline: a field copied, a literal, or a
			// direct or native static's value, to a field or a time
			// string
			switch s.op {
			case opCopy:
				evt.Copy(&s.cp)
				continue
			case opLiteral:
				if s.literal != "" {
					evt.Set(s.fkey, s.literal)
				}
				continue
			}
			if s.direct || s.native {
				v, ok := s.literal, true
				switch {
				case s.native:
					v, ok = rs.native(s.expr, evt)
				case !s.hasLiteral:
					v, _ = evt.Get(s.from)
				}
				if ok {
					if v != "" {
						if s.str == strNone {
							evt.Set(s.fkey, v)
						} else {
							setStr(evt, s.str, v)
						}
					}
					continue
				}
				// the native evaluation failed: apply runs the VM, which
				// gives the value or the error
			}
		}
		v, written, err := s.apply(rs, evt)
		if err != nil {
			return err
		}
		if traced {
			rs.step(Step{Kind: StepStatic, OK: written, Target: s.desc, Value: v})
		}
	}
	return nil
}

func (g *grokStep) process(rs *runState, evt *event.Event) (bool, error) {
	var in string
	switch {
	case g.applyOn == "Line.Raw":
		in = evt.Line.Raw
	case g.applyOn != "":
		v, ok := rs.parsedInput(evt, g.inKey)
		if !ok {
			rs.step(Step{Kind: StepGrok, Target: g.applyOn, Detail: "field missing: " + g.label})
			return false, nil
		}
		in = v
	default:
		if v, ok := rs.native(g.input, evt); ok {
			in = v
			break
		}
		out, err := rs.run(g.input.prog, evt)
		if err != nil {
			rs.p.logger.Warn("parse: grok expression failed", "expression", g.input.src, "error", err)
			rs.step(Step{Kind: StepGrok, Target: g.input.src, Detail: "expression failed: " + err.Error()})
			return false, nil
		}
		switch v := out.(type) {
		case string, int, float64, float32:
			in, _, _ = stringify(v)
		default:
			rs.p.logger.Error("parse: unexpected grok expression result", "expression", g.input.src, "type", typeName(out))
		}
	}
	// The captures are gathered, then written in one batch (SetAll).
	caps := rs.caps[:0]
	if cap(caps) < g.keys.Len() {
		caps = make([]string, g.keys.Len())
		rs.caps = caps
	}
	caps = caps[:g.keys.Len()]
	set := func(i int, v string) { caps[i] = v }
	var matched bool
	switch {
	case g.noNames:
	case g.litGroup != nil:
		checked := rs.checked == g // mayMatch found the literals
		rs.checked = nil
		matched = (checked || rs.lits.holds(g.litGroup, in, g.lits)) && g.pat.MatchEachPrefiltered(in, set)
	default:
		matched = g.pat.MatchEach(in, set)
	}
	if matched {
		rs.forget()
		evt.SetAll(&g.keys, caps)
		// caps keeps the captures (substrings of the input) until the
		// next match: clearing them would cost a bulk write barrier a
		// match.
	}
	if rs.dt != nil {
		target := g.applyOn
		if target == "" {
			target = g.input.src
		}
		rs.step(Step{Kind: StepGrok, OK: matched, Target: target, Value: in, Detail: g.label})
	}
	if !matched {
		return false, nil
	}
	if err := applyStatics(rs, evt, g.statics); err != nil {
		return false, err
	}
	return true, nil
}

func (w *whitelist) check(rs *runState, evt *event.Event) bool {
	if !w.addrs.empty() {
		if evt.Type == event.LOG {
			if a, ok := rs.sourceIP(evt); ok && w.addrs.has(a) {
				return true
			}
		} else {
			rs.ips = evt.AppendIPSources(rs.ips[:0])
			for _, src := range rs.ips {
				if w.addrs.has(src) {
					return true
				}
			}
		}
	}
	for i := range w.exprs {
		c := &w.exprs[i]
		ok, err := rs.test(c, evt)
		if err != nil {
			if err == errBadResult {
				rs.p.logger.Error("parse: whitelist expression returned a non-bool", "expression", c.src)
				continue
			}
			rs.p.logger.Warn("parse: whitelist expression failed", "expression", c.src, "error", err)
			return false
		}
		if ok {
			return true
		}
	}
	return false
}

// sourceIP returns the address of a log event's Meta.source_ip, as
// event.Event.AppendIPSources reads it (unmapped; ok false when absent or
// not an address), parsed once for consecutive calls with the same text.
func (rs *runState) sourceIP(evt *event.Event) (netip.Addr, bool) {
	v, ok := evt.SourceIP()
	if !ok {
		return netip.Addr{}, false
	}
	if v != rs.srcText {
		a, err := netip.ParseAddr(v)
		rs.srcText, rs.srcAddr, rs.srcOK = v, a.Unmap(), err == nil
	}
	return rs.srcAddr, rs.srcOK
}

func (s *stash) apply(rs *runState, evt *event.Event) {
	value, ok := rs.stashString(s.value, evt)
	if !ok {
		return
	}
	key, ok := rs.stashString(s.key, evt)
	if !ok {
		return
	}
	if err := rs.p.stash.Set(s.name, key, value); err != nil {
		rs.p.logger.Warn("parse: stash set failed", "stash", s.name, "error", err)
		return
	}
	rs.step(Step{Kind: StepStash, OK: true, Target: s.name, Value: key})
}

func (rs *runState) stashString(v *valueExpr, evt *event.Event) (string, bool) {
	if v.get != nil && !v.get.Numeric() {
		if s, ok := rs.native(v, evt); ok {
			return s, true
		}
	}
	out, err := rs.run(v.prog, evt)
	if err != nil {
		rs.p.logger.Warn("parse: stash expression failed", "expression", v.src, "error", err)
	}
	s, ok := out.(string)
	if !ok {
		rs.p.logger.Warn("parse: stash expression did not return a string", "expression", v.src, "type", typeName(out))
	}
	return s, ok
}

func typeName(v any) string {
	return fmt.Sprintf("%T", v)
}
