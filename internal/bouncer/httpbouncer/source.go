package httpbouncer

import (
	"net/netip"

	"github.com/phalanx-ids/phalanx/internal/bouncer"
)

// SetSource looks decisions up in a bouncer.Set (the set a bouncer.Stream
// keeps current): no I/O, no allocation, safe for concurrent use.
func SetSource(s *bouncer.Set) OriginSource { return setSource{s} }

type setSource struct{ s *bouncer.Set }

func (s setSource) Lookup(addr netip.Addr) (string, bool) {
	d, ok := s.s.Contains(addr)
	if !ok {
		return "", false
	}
	return d.Type, true
}

// LookupOrigin implements OriginSource.
func (s setSource) LookupOrigin(addr netip.Addr) (string, string, bool) {
	d, ok := s.s.Contains(addr)
	if !ok {
		return "", "", false
	}
	return d.Type, d.Origin, true
}

// Len is the number of decisions in the set (the active-decisions gauge).
func (s setSource) Len() int { return s.s.Len() }
