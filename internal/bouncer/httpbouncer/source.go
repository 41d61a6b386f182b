package httpbouncer

import (
	"net/netip"

	"github.com/phalanx-ids/phalanx/internal/bouncer"
)

// SetSource looks decisions up in a bouncer.Set (the set a bouncer.Stream
// keeps current): no I/O, no allocation, safe for concurrent use.
func SetSource(s *bouncer.Set) DecisionSource { return setSource{s} }

type setSource struct{ s *bouncer.Set }

func (s setSource) Lookup(addr netip.Addr) (string, bool) {
	d, ok := s.s.Contains(addr)
	if !ok {
		return "", false
	}
	return d.Type, true
}

// Len is the number of decisions in the set (the active-decisions gauge).
func (s setSource) Len() int { return s.s.Len() }
