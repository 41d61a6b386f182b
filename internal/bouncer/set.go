package bouncer

import (
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Set is the in-memory decision set a bouncer checks addresses against.
// Single addresses live in a hash map; networks in one hash map per prefix
// length present, so a lookup costs one map probe plus one per distinct
// prefix length in use (a handful in practice). It holds at most one
// decision per Key (the LAPI's dedup key): adding a decision with the key
// of another replaces it.
//
// Concurrency: every method is safe for concurrent use. Lookups take a read
// lock and never allocate; changes take the write lock. Decisions past
// their Until are ignored by lookups at once and dropped by Sweep.
type Set struct {
	mu    sync.RWMutex
	now   func() time.Time
	byKey map[Key]*Decision
	exact map[netip.Addr][]*Decision
	v4    rangeTable
	v6    rangeTable
}

type rangeTable struct {
	byLen   [129]map[netip.Addr][]*Decision
	present []int // prefix lengths in use, longest first
}

// NewSet returns an empty set. now is the clock used to ignore expired
// decisions (nil: time.Now).
func NewSet(now func() time.Time) *Set {
	if now == nil {
		now = time.Now
	}
	return &Set{now: now, byKey: map[Key]*Decision{}, exact: map[netip.Addr][]*Decision{}}
}

// Contains returns the strongest active decision covering addr (ban over
// captcha over other types, then the longest), or false. IPv4-mapped IPv6
// addresses are matched as IPv4.
func (s *Set) Contains(addr netip.Addr) (*Decision, bool) {
	addr = addr.Unmap()
	if addr.Zone() != "" {
		addr = addr.WithZone("")
	}
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	var best *Decision
	for _, d := range s.exact[addr] {
		if d.Until.After(now) && better(d, best) {
			best = d
		}
	}
	t := &s.v6
	if addr.Is4() {
		t = &s.v4
	}
	for _, l := range t.present {
		p, err := addr.Prefix(l)
		if err != nil {
			continue
		}
		for _, d := range t.byLen[l][p.Addr()] {
			if d.Until.After(now) && better(d, best) {
				best = d
			}
		}
	}
	return best, best != nil
}

// Len returns how many decisions the set holds (expired ones included
// until the next Sweep).
func (s *Set) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byKey)
}

// Snapshot returns the active decisions, in no particular order.
func (s *Set) Snapshot() []*Decision {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Decision, 0, len(s.byKey))
	for _, d := range s.byKey {
		if d.Until.After(now) {
			out = append(out, d)
		}
	}
	return out
}

// Apply applies an update: a Full one replaces the whole content with
// u.New; otherwise u.Deleted are removed (by Key) and then u.New added.
func (s *Set) Apply(u Update) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.Full {
		s.byKey = make(map[Key]*Decision, len(u.New))
		s.exact = make(map[netip.Addr][]*Decision, len(u.New))
		s.v4 = rangeTable{}
		s.v6 = rangeTable{}
	} else {
		for _, d := range u.Deleted {
			s.removeLocked(d.Key())
		}
	}
	for _, d := range u.New {
		s.addLocked(d)
	}
}

// Add inserts d, replacing the decision with the same Key.
func (s *Set) Add(d *Decision) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addLocked(d)
}

// Remove drops the decision with key k; it reports whether there was one.
func (s *Set) Remove(k Key) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.removeLocked(k)
}

// Sweep drops the decisions that ended at or before now and returns them.
func (s *Set) Sweep(now time.Time) []*Decision {
	s.mu.Lock()
	defer s.mu.Unlock()
	var gone []*Decision
	for k, d := range s.byKey {
		if !d.Until.After(now) {
			gone = append(gone, d)
			s.removeLocked(k)
		}
	}
	return gone
}

func (s *Set) addLocked(d *Decision) {
	k := d.Key()
	if _, ok := s.byKey[k]; ok {
		s.removeLocked(k)
	}
	s.byKey[k] = d
	if !d.IsRange() {
		s.exact[d.Prefix.Addr()] = append(s.exact[d.Prefix.Addr()], d)
		return
	}
	t := s.table(d.Prefix)
	l := d.Prefix.Bits()
	m := t.byLen[l]
	if m == nil {
		m = map[netip.Addr][]*Decision{}
		t.byLen[l] = m
		t.present = append(t.present, l)
		slices.SortFunc(t.present, func(a, b int) int { return b - a })
	}
	m[d.Prefix.Addr()] = append(m[d.Prefix.Addr()], d)
}

func (s *Set) removeLocked(k Key) bool {
	d, ok := s.byKey[k]
	if !ok {
		return false
	}
	delete(s.byKey, k)
	if !d.IsRange() {
		a := d.Prefix.Addr()
		if rest := without(s.exact[a], d); len(rest) == 0 {
			delete(s.exact, a)
		} else {
			s.exact[a] = rest
		}
		return true
	}
	t := s.table(d.Prefix)
	l := d.Prefix.Bits()
	m := t.byLen[l]
	a := d.Prefix.Addr()
	if rest := without(m[a], d); len(rest) == 0 {
		delete(m, a)
	} else {
		m[a] = rest
	}
	if len(m) == 0 {
		t.byLen[l] = nil
		t.present = slices.DeleteFunc(t.present, func(x int) bool { return x == l })
	}
	return true
}

func (s *Set) table(p netip.Prefix) *rangeTable {
	if p.Addr().Is4() {
		return &s.v4
	}
	return &s.v6
}

// without returns ds minus d, reusing ds only when nothing is removed.
func without(ds []*Decision, d *Decision) []*Decision {
	out := make([]*Decision, 0, len(ds))
	for _, x := range ds {
		if x != d {
			out = append(out, x)
		}
	}
	return out
}
