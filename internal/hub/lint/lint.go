// Package lint checks parser content (hub-format parser files) for grok
// patterns open to log injection: an address captured after a field whose
// text the remote party writes (a user name, a request, free text), with
// nothing tying the address to the end of the line.
//
// The attack: sshd logs the user name verbatim, so a client that logs in
// as "admin from 198.51.100.77 port 22" produces "Invalid user admin from
// 198.51.100.77 port 22 from 203.0.113.66 port 40001", and a pattern such
// as `Invalid user %{USERNAME:user} from %{IP:ip}` takes 198.51.100.77: a
// third party gets banned, the attacker does not.
//
// The heuristic, over the expanded pattern (every %{NAME} resolved):
//
//   - An address capture is a %{NAME:semantic} whose pattern is IP, IPV4,
//     IPV6 or IPORHOST or refers to one of them (IP_WORKAROUND,
//     SYSLOGHOST...).
//   - A user-controlled field is a reference to DATA, GREEDYDATA, NOTSPACE,
//     USERNAME, USER, QS, QUOTEDSTRING, EMAILADDRESS, EMAILLOCALPART or a
//     URI/path pattern, or an unbounded repetition of "anything" written
//     in the pattern itself (.*, .+, [^"]*, \S+: a class taking every
//     letter and either a space or most punctuation). USERNAME cannot hold
//     a space, but the text the program logs there can: the pattern then
//     stops the field early and finds the rest of the line after it.
//   - An address captured after a user-controlled field (on some path
//     through the pattern) is safe only when every path from it reaches an
//     end anchor ($, \z) without crossing a field that can hold spaces
//     (.*, DATA, GREEDYDATA, a quoted string): the address is then the one
//     followed by the fixed end of the message, the last one written.
//     Otherwise it is reported.
//
// What it does not see: which fields a program really lets a remote party
// write (it judges by the field's pattern), unanchored starts (a pattern
// without ^ can match inside free text of another message), and
// addresses ambiguous in other ways. It is a warning, not a proof.
package lint

import (
	"errors"
	"fmt"
	"os"
	"regexp/syntax"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/grok"
	"github.com/phalanx-ids/phalanx/internal/parse"
)

// Finding is one pattern open to injection.
type Finding struct {
	File    string // parser file
	Node    string // parser node name ("" for an unnamed child)
	Grok    string // the grok pattern, or the library pattern's name
	Address string // semantic name of the address capture
	Field   string // the user-controlled field before it
	Spoiler string // a field that can hold spaces between the address and the end anchor ("" : no end anchor)
}

// String is the warning for humans.
func (f Finding) String() string {
	why := "nothing anchors it to the end of the line"
	if f.Spoiler != "" {
		why = "free text (" + f.Spoiler + ") separates it from the end anchor"
	}
	node := f.Node
	if node == "" {
		node = "(unnamed node)"
	}
	return fmt.Sprintf("%s: %s: grok %s: address %q is captured after the user-controlled field %s and %s: "+
		"text written in that field can supply the address (log injection; anchor the pattern with $ after the address)",
		f.File, node, abbrev(f.Grok), f.Address, f.Field, why)
}

func abbrev(s string) string {
	if len(s) > 120 {
		return s[:117] + "..."
	}
	return s
}

// Pattern checks one grok pattern against lib.
func Pattern(lib *grok.Library, pattern string) ([]Finding, error) {
	src, refs, err := lib.Expand(pattern)
	if err != nil {
		return nil, fmt.Errorf("lint: %w", err)
	}
	re, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return nil, fmt.Errorf("lint: %q: %w", abbrev(pattern), err)
	}
	a := &analysis{refs: make(map[string]grok.Ref, len(refs)), addr: map[string]bool{}, holdsAddr: map[string]bool{}}
	for _, r := range refs {
		a.refs[r.Group] = r
	}
	a.classify(re)
	var open []pending
	for _, s := range a.walk(re, []state{{}}) {
		open = append(open, s.open...)
	}
	sortPending(open) // one finding per address: an unanchored path ("" spoiler) first
	var fs []Finding
	for i, p := range open {
		if i > 0 && open[i-1].addr == p.addr {
			continue
		}
		fs = append(fs, Finding{Grok: pattern, Address: p.addr, Field: p.field, Spoiler: p.spoiler})
	}
	return fs, nil
}

// Files lints parser files: the grok patterns of every node, each file's
// pattern_syntax added to a copy of lib (the hub's pattern folder and the
// base patterns).
func Files(lib *grok.Library, files []parse.File) ([]Finding, error) {
	var out []Finding
	for _, f := range files {
		data := f.Content
		if data == nil {
			b, err := os.ReadFile(f.Path)
			if err != nil {
				return nil, fmt.Errorf("lint: %w", err)
			}
			data = b
		}
		nodes, err := parse.DecodeFile(f.Path, data)
		if err != nil {
			return nil, fmt.Errorf("lint: %w", err)
		}
		flib := lib.Clone()
		for i := range nodes {
			fs, err := lintNode(flib, &nodes[i], "")
			if err != nil {
				return nil, fmt.Errorf("lint: %s: %w", f.Path, err)
			}
			for _, x := range fs {
				x.File = f.Path
				out = append(out, x)
			}
		}
	}
	return out, nil
}

// lintNode checks a node and its children; pattern_syntax is added to lib
// first (the first definition of a name wins, as when loading).
func lintNode(lib *grok.Library, n *parse.NodeConfig, parent string) ([]Finding, error) {
	name := n.Name
	if name == "" {
		name = parent
	}
	if ps := &n.PatternSyntax; ps.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(ps.Content); i += 2 {
			lib.AddIfMissing(ps.Content[i].Value, ps.Content[i+1].Value)
		}
	}
	var out []Finding
	if g := n.Grok; g != nil && (g.Pattern != "" || g.Name != "") {
		pat, label := g.Pattern, g.Pattern
		if pat == "" {
			pat, label = "%{"+g.Name+"}", g.Name
		}
		fs, err := Pattern(lib, pat)
		if err != nil {
			// A pattern the engine would refuse is not this lint's business.
			if errors.Is(err, grok.ErrUnknownPattern) {
				return nil, nil
			}
			return nil, err
		}
		for _, f := range fs {
			f.Node, f.Grok = name, label
			out = append(out, f)
		}
	}
	for i := range n.Nodes {
		fs, err := lintNode(lib, &n.Nodes[i], name)
		if err != nil {
			return nil, err
		}
		out = append(out, fs...)
	}
	return out, nil
}

// addrPatterns are the address patterns of the base library.
var addrPatterns = map[string]bool{"IP": true, "IPV4": true, "IPV6": true, "IPORHOST": true}

// userFields are the base patterns whose text the logging program usually
// takes from the remote party; spaceFields can hold spaces.
var (
	userFields = map[string]bool{
		"DATA": true, "GREEDYDATA": true, "NOTSPACE": true, "USERNAME": true, "USER": true,
		"QS": true, "QUOTEDSTRING": true, "EMAILADDRESS": true, "EMAILLOCALPART": true,
		"URI": true, "URIPATH": true, "URIPARAM": true, "URIPATHPARAM": true, "PATH": true, "UNIXPATH": true, "WINPATH": true,
	}
	spaceFields = map[string]bool{"DATA": true, "GREEDYDATA": true, "QS": true, "QUOTEDSTRING": true, "URIPARAM": true}
)

type analysis struct {
	refs map[string]grok.Ref // capture group -> reference
	// addr: the reference is an address pattern (or refers to one);
	// holdsAddr: a semantic address capture is inside the group.
	addr, holdsAddr map[string]bool
}

// classify fills addr and holdsAddr bottom-up. It reports whether re
// contains an address reference, a captured one, and a user-controlled
// field. A reference is an address when its pattern is one of
// addrPatterns, or when it holds one and no user-controlled field
// (IP_WORKAROUND, URIHOST; not SYSLOGLINE).
func (a *analysis) classify(re *syntax.Regexp) (hasAddr, hasCaptured, hasField bool) {
	for _, s := range re.Sub {
		h, c, f := a.classify(s)
		hasAddr, hasCaptured, hasField = hasAddr || h, hasCaptured || c, hasField || f
	}
	if field, _ := inlineField(re); field {
		hasField = true
	}
	if re.Op != syntax.OpCapture {
		return hasAddr, hasCaptured, hasField
	}
	r, ok := a.refs[re.Name]
	if !ok {
		return hasAddr, hasCaptured, hasField
	}
	name := strings.ToUpper(r.Pattern)
	if addrPatterns[name] || (hasAddr && !hasField) {
		a.addr[re.Name] = true
		hasAddr = true
		hasField = false // an address is a token (IPV6's zone is not free text)
	}
	if userFields[name] {
		hasField = true
	}
	a.holdsAddr[re.Name] = hasCaptured
	if a.addr[re.Name] && r.Semantic != "" {
		hasCaptured = true
	}
	return hasAddr, hasCaptured, hasField
}

// pending is an address captured after a user-controlled field, not yet
// closed by an end anchor on this path.
type pending struct{ addr, field, spoiler string }

// state is what one path through the pattern has seen so far.
type state struct {
	free string    // the first user-controlled field on the path
	open []pending // addresses to close (sorted)
}

func (s state) key() string {
	var b strings.Builder
	b.WriteString(s.free)
	for _, p := range s.open {
		b.WriteString("\x00" + p.addr + "\x01" + p.field + "\x01" + p.spoiler)
	}
	return b.String()
}

// maxStates bounds the paths followed at once; beyond it they are merged
// (which can only add warnings).
const maxStates = 64

func dedupe(in []state) []state {
	seen := make(map[string]bool, len(in))
	out := in[:0:0]
	for _, s := range in {
		if k := s.key(); !seen[k] {
			seen[k] = true
			out = append(out, s)
		}
	}
	if len(out) <= maxStates {
		return out
	}
	var m state
	have := map[pending]bool{}
	for _, s := range out {
		if m.free == "" {
			m.free = s.free
		}
		for _, p := range s.open {
			if !have[p] {
				have[p] = true
				m.open = append(m.open, p)
			}
		}
	}
	sortPending(m.open)
	return []state{m}
}

// sortPending orders by address, then spoiler ("" first), then field.
func sortPending(ps []pending) {
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].addr != ps[j].addr {
			return ps[i].addr < ps[j].addr
		}
		if ps[i].spoiler != ps[j].spoiler {
			return ps[i].spoiler < ps[j].spoiler
		}
		return ps[i].field < ps[j].field
	})
}

// walk returns the states after matching re from the states in.
func (a *analysis) walk(re *syntax.Regexp, in []state) []state {
	switch re.Op {
	case syntax.OpConcat:
		s := in
		for _, sub := range re.Sub {
			s = a.walk(sub, s)
		}
		return s
	case syntax.OpAlternate:
		var out []state
		for _, sub := range re.Sub {
			out = append(out, a.walk(sub, in)...)
		}
		return dedupe(out)
	case syntax.OpCapture:
		if r, ok := a.refs[re.Name]; ok {
			return a.ref(r, re, in)
		}
		return a.walk(re.Sub[0], in)
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		if field, spaces := inlineField(re); field {
			return a.field(regexLabel(re), spaces, in)
		}
		out := a.walk(re.Sub[0], in)
		if re.Op != syntax.OpQuest && (re.Op != syntax.OpRepeat || re.Max != 1) {
			// A second round, for what one round leaves to the next.
			out = append(out, a.walk(re.Sub[0], out)...)
		}
		if re.Op == syntax.OpStar || re.Op == syntax.OpQuest || (re.Op == syntax.OpRepeat && re.Min == 0) {
			out = append(out, in...)
		}
		return dedupe(out)
	case syntax.OpEndText, syntax.OpEndLine:
		out := make([]state, len(in))
		for i, s := range in {
			n := state{free: s.free}
			for _, p := range s.open {
				if p.spoiler != "" {
					n.open = append(n.open, p) // free text before the anchor: still open
				}
			}
			out[i] = n
		}
		return dedupe(out)
	}
	return in
}

// ref handles a %{NAME} group.
func (a *analysis) ref(r grok.Ref, re *syntax.Regexp, in []state) []state {
	name := strings.ToUpper(r.Pattern)
	label := "%{" + r.Pattern + "}"
	if r.Semantic != "" {
		label = "%{" + r.Pattern + ":" + r.Semantic + "}"
	}
	switch {
	case a.addr[re.Name] && r.Semantic != "" && !a.holdsAddr[re.Name]:
		out := make([]state, len(in))
		for i, s := range in {
			n := state{free: s.free, open: append([]pending(nil), s.open...)}
			if s.free != "" {
				n.open = append(n.open, pending{addr: r.Semantic, field: s.free})
				sortPending(n.open)
			}
			out[i] = n
		}
		return dedupe(out)
	case a.addr[re.Name] && !a.holdsAddr[re.Name]:
		return in // an address nobody captures: a fixed-format token
	case userFields[name]:
		return a.field(label, spaceFields[name], in)
	}
	if field, spaces := inlineField(re.Sub[0]); field {
		return a.field(label, spaces, in) // a pattern that is free text (PHX_SSH_USER: .*)
	}
	return a.walk(re.Sub[0], in)
}

// field records a user-controlled field: it is the "before" of the
// addresses that follow, and when it can hold spaces it spoils the end
// anchor of the addresses before it.
func (a *analysis) field(label string, spaces bool, in []state) []state {
	out := make([]state, len(in))
	for i, s := range in {
		n := state{free: s.free, open: append([]pending(nil), s.open...)}
		if n.free == "" {
			n.free = label
		}
		if spaces {
			for j := range n.open {
				if n.open[j].spoiler == "" {
					n.open[j].spoiler = label
				}
			}
			sortPending(n.open)
		}
		out[i] = n
	}
	return dedupe(out)
}

// regexLabel prints an inline field as written (without the flags group
// that syntax adds around ".").
func regexLabel(re *syntax.Regexp) string {
	s := re.String()
	if strings.HasPrefix(s, "(?-s:") && strings.HasSuffix(s, ")") {
		s = s[len("(?-s:") : len(s)-1]
	}
	return s
}

// unboundedMin is the repetition bound from which a repeat is taken as
// unbounded (.{0,100} holds a sentence).
const unboundedMin = 32

// inlineField reports whether re (a repetition) is a field of free text
// written in the pattern: an unbounded repetition of a class that takes
// every letter and either a space or most punctuation; spaces says whether
// it can hold a space.
func inlineField(re *syntax.Regexp) (field, spaces bool) {
	switch re.Op {
	case syntax.OpStar, syntax.OpPlus, syntax.OpRepeat:
	default:
		return false, false
	}
	if re.Op == syntax.OpQuest || (re.Op == syntax.OpRepeat && re.Max != -1 && re.Max < unboundedMin) {
		return false, false
	}
	sub := re.Sub[0]
	switch sub.Op {
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return true, true
	case syntax.OpCharClass:
	default:
		return false, false
	}
	in := func(r rune) bool {
		for i := 0; i+1 < len(sub.Rune); i += 2 {
			if r >= sub.Rune[i] && r <= sub.Rune[i+1] {
				return true
			}
		}
		return false
	}
	for r := 'a'; r <= 'z'; r++ {
		if !in(r) || !in(r-'a'+'A') {
			return false, false
		}
	}
	punct := 0
	for r := rune(0x21); r < 0x7f; r++ {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') && in(r) {
			punct++
		}
	}
	spaces = in(' ')
	return spaces || punct >= 20, spaces
}
