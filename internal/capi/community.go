package capi

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
)

// Community is the community list as detection sees it: the addresses and
// ranges of the active decisions of origin CAPI and lists. The puller
// replaces it after every pull; the IsInCommunityList helper and the
// CommunityList enricher read it.
//
// Concurrency: Listed may be called from any goroutine at any time
// (lock-free reads of an immutable snapshot); Replace from one at a time.
// The zero value is an empty list.
type Community struct {
	p   atomic.Pointer[communitySnap]
	now func() time.Time
}

type communitySnap struct {
	addrs  map[netip.Addr]time.Time
	ranges []rangeUntil
}

type rangeUntil struct {
	p     netip.Prefix
	until time.Time
}

// NewCommunity returns an empty list with a clock (nil: time.Now).
func NewCommunity(now func() time.Time) *Community { return &Community{now: now} }

// Listed says whether ip is covered by an active community decision.
func (c *Community) Listed(ip netip.Addr) bool {
	if c == nil {
		return false
	}
	s := c.p.Load()
	if s == nil {
		return false
	}
	ip = ip.Unmap()
	now := time.Now
	if c.now != nil {
		now = c.now
	}
	t := now()
	if u, ok := s.addrs[ip]; ok && u.After(t) {
		return true
	}
	for _, r := range s.ranges {
		if r.p.Contains(ip) && r.until.After(t) {
			return true
		}
	}
	return false
}

// Len is the number of addresses and ranges held.
func (c *Community) Len() int {
	s := c.p.Load()
	if s == nil {
		return 0
	}
	return len(s.addrs) + len(s.ranges)
}

// Replace sets the list to the Ip and Range decisions of ds.
func (c *Community) Replace(ds []*store.Decision) {
	s := &communitySnap{addrs: make(map[netip.Addr]time.Time, len(ds))}
	for _, d := range ds {
		switch d.Scope {
		case "Ip":
			if a, err := models.ParseIP(d.Value); err == nil && d.Until.After(s.addrs[a]) {
				s.addrs[a] = d.Until
			}
		case "Range":
			if p, err := models.ParseRange(d.Value); err == nil {
				s.ranges = append(s.ranges, rangeUntil{p, d.Until})
			}
		}
	}
	c.p.Store(s)
}
