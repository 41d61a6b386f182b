package parse

import (
	"strings"
	"unsafe"

	"github.com/phalanx-ids/phalanx/internal/datafile"
)

// litGroup is the literal prefilter of sibling grok nodes that read the
// same input (sshd-logs' ~16 groks on Parsed.message): each pattern only
// runs on an input that holds all its required literals
// (grok.Pattern.Prefilter), and instead of one substring search per
// literal and pattern, one pass of an Aho-Corasick automaton over the
// input finds which of all the siblings' literals it holds. A litGroup is
// immutable after load.
type litGroup struct {
	m    *datafile.Substrings
	lits []string
}

// minLitGroup is the fewest sibling groks on one input worth a group: one
// pass replaces a search per literal.
const minLitGroup = 4

// groupLiterals gives the grok steps of children that read the same
// parsed field or line (at least minLitGroup of them, with literals) a
// shared literal group.
func groupLiterals(children []*node) {
	byInput := map[string][]*grokStep{}
	var order []string
	for _, c := range children {
		g := c.grok
		if g == nil || g.applyOn == "" || g.noNames || len(g.pat.Prefilter()) == 0 {
			continue
		}
		if _, ok := byInput[g.applyOn]; !ok {
			order = append(order, g.applyOn)
		}
		byInput[g.applyOn] = append(byInput[g.applyOn], g)
	}
	for _, in := range order {
		steps := byInput[in]
		if len(steps) < minLitGroup {
			continue
		}
		var lits []string
		ids := map[string]int{}
		for _, g := range steps {
			for _, l := range g.pat.Prefilter() {
				id, ok := ids[l]
				if !ok {
					id = len(lits)
					ids[l] = id
					lits = append(lits, l)
				}
				g.lits = append(g.lits, id)
			}
		}
		grp := &litGroup{m: datafile.NewSubstrings(lits, false), lits: lits}
		for _, g := range steps {
			g.litGroup = grp
			// one key value for the group's input: parsedInput's cache
			// then compares the same name string, not equal copies
			g.inKey = steps[0].inKey
		}
	}
	for _, c := range children {
		c.skip = c.grok != nil && c.grok.litGroup != nil && c.filter == nil && c.wl == nil &&
			len(c.stashes) == 0 && len(c.children) == 0
	}
}

// litScan is a runState's literal scan of the input of a group.
type litScan struct {
	group   *litGroup
	input   string
	scanned bool     // found holds the literals of group found in input
	found   []uint64 // bit per literal
}

// holds reports whether in holds all the literals ids of g. The first
// sibling to ask about an input searches for its own literals (it often
// matches, and a next_stage node then tries no other); the second scans
// the input once for the whole group, and every later one reads the scan.
func (ls *litScan) holds(g *litGroup, in string, ids []int) bool {
	if ls.group != g || len(ls.input) != len(in) || unsafe.StringData(ls.input) != unsafe.StringData(in) {
		ls.group, ls.input, ls.scanned = g, in, false
		for _, id := range ids {
			if !strings.Contains(in, g.lits[id]) {
				return false
			}
		}
		return true
	}
	if !ls.scanned {
		ls.scanned = true
		words := (len(g.lits) + 63) / 64
		if cap(ls.found) < words {
			ls.found = make([]uint64, words)
		}
		ls.found = ls.found[:words]
		clear(ls.found)
		g.m.Each(in, func(id, _ int) bool {
			ls.found[id>>6] |= 1 << (id & 63)
			return true
		})
	}
	for _, id := range ids {
		if ls.found[id>>6]&(1<<(id&63)) == 0 {
			return false
		}
	}
	return true
}
