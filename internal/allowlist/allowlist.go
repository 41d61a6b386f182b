// Package allowlist is Phalanx's one allowlist model: named lists of IP
// addresses and CIDR ranges (IPv4 and IPv6, IPv4-mapped IPv6 normalised to
// IPv4), each item with an optional expiration and a comment. It is
// CrowdSec's centralised allowlists (/v1/allowlists, `cscli allowlists`),
// checked in one place, Set.Check, before the LAPI makes a decision; a
// match says which list and which item allowed the address, for
// explain-style output.
//
// Semantics follow CrowdSec's: a value (an address or a range) is
// allowlisted when an active item contains it, or, for a range, when the
// range contains an active item (banning 10.0.0.0/8 would ban an
// allowlisted 10.1.2.3). An item is active until its expiration (inclusive);
// a zero expiration never expires.
//
// The index is an immutable sorted array of the distinct prefixes with, for
// each, the nearest enclosing prefix: CIDR ranges never partially overlap,
// so the prefixes containing an address form one chain, found with a binary
// search and a walk up at most 129 levels. No linear scan.
package allowlist

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// List is one named allowlist (config data: a plain value, not shared).
type List struct {
	Name        string
	ID          string // allowlist_id on the wire; may be empty
	Description string
	// ConsoleManaged marks lists pushed by the console (read-only locally).
	ConsoleManaged bool
	CreatedAt      time.Time
	UpdatedAt      time.Time
	Items          []Item
}

// Item is one allowlist entry.
type Item struct {
	// Value is an IP address or a CIDR range, as entered.
	Value      string
	Comment    string
	CreatedAt  time.Time
	Expiration time.Time // zero: never expires
}

// Active reports whether the item is in force at now.
func (it Item) Active(now time.Time) bool {
	return it.Expiration.IsZero() || !now.After(it.Expiration)
}

// Match says which list and which item allowlisted a value.
type Match struct {
	List       string
	Value      string       // the item's value as entered
	Prefix     netip.Prefix // the item's value, normalised
	Comment    string
	Expiration time.Time
	// Inside is true when the item lies inside the checked range rather
	// than containing the checked value.
	Inside bool
}

// Reason renders the match as CrowdSec does: "VALUE from LIST (COMMENT)".
func (m Match) Reason() string {
	r := m.Value + " from " + m.List
	if m.Comment != "" {
		r += " (" + m.Comment + ")"
	}
	return r
}

// Set holds the allowlists and answers Check.
//
// Concurrency: every method is safe for concurrent use. Readers (Check,
// CheckAll, Lists, Get) never block: they read an immutable snapshot
// through an atomic pointer. Writers (Replace, Put, Delete) are serialised,
// build a complete new index, then swap it in atomically, so a reader sees
// either the old lists or the new ones, never a mix. A writer that fails
// validation leaves the current snapshot in place.
type Set struct {
	mu  sync.Mutex // serialises writers
	cur atomic.Pointer[index]
}

// New builds a Set over lists (see Replace for validation).
func New(lists ...List) (*Set, error) {
	s := &Set{}
	if err := s.Replace(lists); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Set) load() *index {
	if ix := s.cur.Load(); ix != nil {
		return ix
	}
	return emptyIndex
}

// Replace swaps in lists as the whole content. Every item must parse
// (ParseValue) and list names must be distinct and non-empty; otherwise an
// error names the list and the item, and the current content stays.
func (s *Set) Replace(lists []List) error {
	ix, err := build(cloneLists(lists))
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.cur.Store(ix)
	s.mu.Unlock()
	return nil
}

// Put adds the list, or replaces the list of the same name.
func (s *Set) Put(l List) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.load().lists
	lists := make([]List, 0, len(old)+1)
	replaced := false
	for _, o := range old {
		if o.Name == l.Name {
			lists = append(lists, cloneList(l))
			replaced = true
			continue
		}
		lists = append(lists, o) // immutable: shared safely
	}
	if !replaced {
		lists = append(lists, cloneList(l))
	}
	ix, err := build(lists)
	if err != nil {
		return err
	}
	s.cur.Store(ix)
	return nil
}

// Delete removes the named list; it reports whether it existed.
func (s *Set) Delete(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.load().lists
	i := slices.IndexFunc(old, func(l List) bool { return l.Name == name })
	if i < 0 {
		return false
	}
	lists := slices.Concat(old[:i:i], old[i+1:])
	ix, err := build(lists)
	if err != nil { // cannot happen: the remaining lists were valid
		return false
	}
	s.cur.Store(ix)
	return true
}

// Lists returns a copy of the lists, in the order they were given.
func (s *Set) Lists() []List { return cloneLists(s.load().lists) }

// Get returns a copy of the named list.
func (s *Set) Get(name string) (List, bool) {
	for _, l := range s.load().lists {
		if l.Name == name {
			return cloneList(l), true
		}
	}
	return List{}, false
}

// Len returns the number of items over all lists (expired ones included).
func (s *Set) Len() int { return s.load().items }

// Check reports whether value (an address or a CIDR range, see ParseValue)
// is allowlisted at now, and by what. When several items apply, the match
// is the most specific item containing value (ties: the first list by
// name); failing that, for a range, the first item inside it. A value that
// does not parse is not allowlisted.
func (s *Set) Check(value string, now time.Time) (*Match, bool) {
	p, err := ParseValue(value)
	if err != nil {
		return nil, false
	}
	return s.CheckPrefix(p, now)
}

// CheckPrefix is Check for an already parsed, normalised value.
func (s *Set) CheckPrefix(p netip.Prefix, now time.Time) (*Match, bool) {
	var out *Match
	s.load().visit(p, now, func(m Match) bool {
		out = &m
		return false
	})
	return out, out != nil
}

// CheckAll returns every active item that allowlists value, sorted by list
// name then by range, as CrowdSec's bulk check reports them. An error means
// value does not parse.
func (s *Set) CheckAll(value string, now time.Time) ([]Match, error) {
	p, err := ParseValue(value)
	if err != nil {
		return nil, err
	}
	var out []Match
	s.load().visit(p, now, func(m Match) bool {
		out = append(out, m)
		return true
	})
	slices.SortStableFunc(out, func(a, b Match) int {
		if c := cmp.Compare(a.List, b.List); c != 0 {
			return c
		}
		sa, _ := bounds(a.Prefix)
		sb, _ := bounds(b.Prefix)
		switch {
		case sa.less(sb):
			return -1
		case sb.less(sa):
			return 1
		}
		return cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits())
	})
	return out, nil
}

func cloneList(l List) List {
	l.Items = slices.Clone(l.Items)
	return l
}

func cloneLists(ls []List) []List {
	out := make([]List, len(ls))
	for i, l := range ls {
		out[i] = cloneList(l)
	}
	return out
}

// ---- index ----

// entry is one item of one list under a node.
type entry struct {
	list, item int32
}

// node is one distinct prefix.
type node struct {
	start, end u128
	bits       int32
	parent     int32 // nearest enclosing node, -1 if none
	first, n   int32 // entries[first:first+n], sorted by list name
}

// family is the index of one address family.
type family struct {
	nodes   []node
	entries []entry
}

type index struct {
	lists  []List
	pfx    [][]netip.Prefix // per list, per item: the parsed value
	v4, v6 family
	items  int
}

var emptyIndex = &index{}

type raw struct {
	start, end u128
	bits       int
	e          entry
}

func build(lists []List) (*index, error) {
	ix := &index{lists: lists, pfx: make([][]netip.Prefix, len(lists))}
	seen := make(map[string]bool, len(lists))
	var r4, r6 []raw
	for li, l := range lists {
		if l.Name == "" {
			return nil, fmt.Errorf("allowlist: list %d: empty name", li+1)
		}
		if seen[l.Name] {
			return nil, fmt.Errorf("allowlist: list %q: duplicate name", l.Name)
		}
		seen[l.Name] = true
		ix.pfx[li] = make([]netip.Prefix, len(l.Items))
		for ii, it := range l.Items {
			p, err := parseValue(it.Value)
			if err != nil {
				return nil, fmt.Errorf("allowlist: list %q: item %d: %w", l.Name, ii+1, err)
			}
			ix.pfx[li][ii] = p
			s, e := bounds(p)
			r := raw{start: s, end: e, bits: p.Bits(), e: entry{int32(li), int32(ii)}}
			if p.Addr().Is4() {
				r4 = append(r4, r)
			} else {
				r6 = append(r6, r)
			}
			ix.items++
		}
	}
	ix.v4 = buildFamily(r4, lists)
	ix.v6 = buildFamily(r6, lists)
	return ix, nil
}

func buildFamily(rs []raw, lists []List) family {
	if len(rs) == 0 {
		return family{}
	}
	slices.SortFunc(rs, func(a, b raw) int {
		switch {
		case a.start.less(b.start):
			return -1
		case b.start.less(a.start):
			return 1
		}
		if c := cmp.Compare(a.bits, b.bits); c != 0 {
			return c
		}
		if c := cmp.Compare(lists[a.e.list].Name, lists[b.e.list].Name); c != 0 {
			return c
		}
		return cmp.Compare(a.e.item, b.e.item)
	})
	f := family{entries: make([]entry, len(rs))}
	var stack []int32
	for i, r := range rs {
		f.entries[i] = r.e
		if k := len(f.nodes) - 1; k >= 0 && f.nodes[k].start == r.start && f.nodes[k].bits == int32(r.bits) {
			f.nodes[k].n++
			continue
		}
		for len(stack) > 0 && f.nodes[stack[len(stack)-1]].end.less(r.start) {
			stack = stack[:len(stack)-1]
		}
		parent := int32(-1)
		if len(stack) > 0 {
			parent = stack[len(stack)-1]
		}
		f.nodes = append(f.nodes, node{start: r.start, end: r.end, bits: int32(r.bits), parent: parent, first: int32(i), n: 1})
		stack = append(stack, int32(len(f.nodes)-1))
	}
	return f
}

// visit calls fn with each active match for p: first the items containing
// p, most specific first, then the items inside p in address order. It
// stops when fn returns false.
func (ix *index) visit(p netip.Prefix, now time.Time, fn func(Match) bool) {
	f := &ix.v6
	if p.Addr().Is4() {
		f = &ix.v4
	}
	if len(f.nodes) == 0 {
		return
	}
	s, e := bounds(p)
	// Last node starting at or before s.
	i := sortSearch(len(f.nodes), func(k int) bool { return s.less(f.nodes[k].start) }) - 1
	for j := int32(i); j >= 0; j = f.nodes[j].parent {
		if e.lessEq(f.nodes[j].end) {
			if !ix.emit(f, j, false, now, fn) {
				return
			}
		}
	}
	// Nodes strictly inside p: start in [s, e], more specific than p.
	k := sortSearch(len(f.nodes), func(k int) bool { return s.lessEq(f.nodes[k].start) })
	for ; k < len(f.nodes) && f.nodes[k].start.lessEq(e); k++ {
		if int(f.nodes[k].bits) <= p.Bits() {
			continue // contains p (or equals it): already reported
		}
		if !ix.emit(f, int32(k), true, now, fn) {
			return
		}
	}
}

func (ix *index) emit(f *family, j int32, inside bool, now time.Time, fn func(Match) bool) bool {
	nd := &f.nodes[j]
	for _, en := range f.entries[nd.first : nd.first+nd.n] {
		l := &ix.lists[en.list]
		it := &l.Items[en.item]
		if !it.Active(now) {
			continue
		}
		m := Match{List: l.Name, Value: it.Value, Prefix: ix.pfx[en.list][en.item],
			Comment: it.Comment, Expiration: it.Expiration, Inside: inside}
		if !fn(m) {
			return false
		}
	}
	return true
}

// sortSearch is sort.Search without the closure-escaping interface call.
func sortSearch(n int, f func(int) bool) int {
	lo, hi := 0, n
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if !f(h) {
			lo = h + 1
		} else {
			hi = h
		}
	}
	return lo
}
