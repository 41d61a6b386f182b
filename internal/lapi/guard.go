package lapi

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phalanx-ids/phalanx/internal/models"
)

// A decision guard refuses, whatever asked for it (a profile, an alert
// posted with decisions, `decisions add` or import), a decision of scope Ip
// or Range that would ban:
//   - an allowlisted address or range (any allowlist item inside or around it);
//   - an address of the never-ban list, or a range containing one: loopback,
//     the host's own interface addresses, the address the LAPI listens on
//     (banning them cuts the host off itself, or its agents and bouncers
//     off the LAPI);
//   - a range wider than MinDecisionPrefix (/8 IPv4, /32 IPv6 by default):
//     0.0.0.0/0 or ::/0 would ban everyone.
//
// Refused decisions are dropped, logged and counted
// (cs_lapi_decisions_refused_total{reason}).

// Refusal reasons (metric label values).
const (
	refusedAllowlist = "allowlist"
	refusedNeverBan  = "never_ban"
	refusedPrefix    = "prefix"
)

// neverBan is the built-in list of addresses no decision may cover.
//
// Concurrency: safe for concurrent use; refresh swaps the list atomically.
type neverBan struct {
	list atomic.Pointer[[]protected]
	mu   sync.Mutex // serialises refreshes; guards listen
	// listen are the addresses the LAPI listens on (configured and actual).
	listen []netip.Addr
}

type protected struct {
	p   netip.Prefix
	why string
}

// loopback ranges, always protected.
func loopback() []protected {
	return []protected{
		{netip.MustParsePrefix("127.0.0.0/8"), "a loopback address"},
		{netip.MustParsePrefix("::1/128"), "the loopback address"},
	}
}

// addListen adds a listen address (host:port, or an address) and refreshes.
func (n *neverBan) addListen(hostport string) {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.IsUnspecified() { // 0.0.0.0 / ::: the host's addresses cover it
		n.refresh()
		return
	}
	n.mu.Lock()
	n.listen = append(n.listen, a.Unmap().WithZone(""))
	n.mu.Unlock()
	n.refresh()
}

// refresh rebuilds the list: loopback, the host's interface addresses
// (read again: DHCP and hotplug change them), the listen addresses.
func (n *neverBan) refresh() {
	n.mu.Lock()
	defer n.mu.Unlock()
	list := loopback()
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, ad := range addrs {
			ipn, ok := ad.(*net.IPNet)
			if !ok {
				continue
			}
			a, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			a = a.Unmap()
			list = append(list, protected{netip.PrefixFrom(a, a.BitLen()), "an address of this host"})
		}
	}
	for _, a := range n.listen {
		list = append(list, protected{netip.PrefixFrom(a, a.BitLen()), "the address the LAPI listens on"})
	}
	n.list.Store(&list)
}

// covers returns the protected address or range that p (a decision's
// range) is, contains or lies in.
func (n *neverBan) covers(p netip.Prefix) (protected, bool) {
	l := n.list.Load()
	if l == nil {
		return protected{}, false
	}
	for _, x := range *l {
		if x.p.Overlaps(p) {
			return x, true
		}
	}
	return protected{}, false
}

// decisionPrefix returns the range of an Ip/Range decision (mapped IPv4 as
// IPv4); ok is false for other scopes and unparsable values.
func decisionPrefix(d *models.Decision) (netip.Prefix, bool) {
	scope, value := "", ""
	if d.Scope != nil {
		scope = *d.Scope
	}
	if d.Value != nil {
		value = *d.Value
	}
	v, err := normalizeValue(scope, value)
	if err != nil {
		return netip.Prefix{}, false
	}
	switch scope {
	case "Ip":
		a, err := netip.ParseAddr(v)
		if err != nil {
			return netip.Prefix{}, false
		}
		return netip.PrefixFrom(a, a.BitLen()), true
	case "Range":
		p, err := netip.ParsePrefix(v)
		return p, err == nil
	}
	return netip.Prefix{}, false
}

// refusal is why a decision may not be stored.
type refusal struct {
	reason string // refused* label
	msg    string
}

// guard says whether decision d may be stored; the zero refusal when it may.
func (s *Server) guard(d *models.Decision, now time.Time) refusal {
	p, ok := decisionPrefix(d)
	if !ok {
		return refusal{}
	}
	target := p.String()
	if p.IsSingleIP() {
		target = p.Addr().String()
	}
	minBits := s.cfg.minV4
	if p.Addr().Is6() {
		minBits = s.cfg.minV6
	}
	if p.Bits() < minBits {
		return refusal{refusedPrefix, fmt.Sprintf("%s is wider than /%d (lapi.min_decision_prefix)", target, minBits)}
	}
	if x, hit := s.never.covers(p); hit && !s.cfg.DisableNeverBan {
		if p.IsSingleIP() {
			return refusal{refusedNeverBan, fmt.Sprintf("%s is %s, never banned", target, x.why)}
		}
		what := x.p.String()
		if x.p.IsSingleIP() {
			what = x.p.Addr().String()
		}
		return refusal{refusedNeverBan, fmt.Sprintf("%s contains %s, %s, never banned", target, what, x.why)}
	}
	if m, hit := s.allow.Check(target, now); hit {
		return refusal{refusedAllowlist, fmt.Sprintf("%s is allowlisted by %s", target, m.Reason())}
	}
	return refusal{}
}

// Refused says why the decision guard refuses d ("" when it passes): a
// range wider than min_decision_prefix, the never-ban list, an allowlist.
// Refusals are counted in cs_lapi_decisions_refused_total. For decisions
// that do not come through POST /v1/alerts (the community list).
func (s *Server) Refused(d *models.Decision) string {
	rf := s.guard(d, s.now())
	if rf.reason != "" {
		s.met.refused.WithLabelValues(rf.reason).Inc()
	}
	return rf.msg
}
