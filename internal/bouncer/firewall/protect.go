package firewall

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
)

// The firewall never cuts the machine off from itself nor from its LAPI,
// whatever the decisions say (a decision on the LAPI's address, on
// 127.0.0.1, or a range holding one of them):
//
//   - the rules accept loopback traffic (iifname lo) and established or
//     related traffic from the LAPI's addresses before the drop rules
//     (nftables: accept in the bouncer's own chains; iptables: RETURN to
//     the built-in chain, whose own rules still apply);
//   - no set element covers them: an Ip decision on one is skipped, a
//     Range decision holding one is installed as the smallest set of
//     networks that covers the rest of it. Each such decision is logged
//     once and counted (phalanx_firewall_protected_decisions_total).

// Reasons a decision is not enforced on an address.
const (
	reasonLoopback = "loopback"
	reasonLAPI     = "lapi"
)

// hole is an address range the sets never cover.
type hole struct {
	prefix netip.Prefix
	reason string
}

// holes returns the protected ranges: loopback, then each LAPI address.
func holes(lapi []netip.Addr) []hole {
	hs := []hole{
		{netip.PrefixFrom(netip.AddrFrom4([4]byte{127}), 8), reasonLoopback},
		{netip.PrefixFrom(netip.IPv6Loopback(), 128), reasonLoopback},
	}
	for _, a := range lapi {
		hs = append(hs, hole{netip.PrefixFrom(a, a.BitLen()), reasonLAPI})
	}
	return hs
}

// overlapping returns the reason of the first hole p overlaps, "" when none.
func overlapping(p netip.Prefix, hs []hole) string {
	for _, h := range hs {
		if h.prefix.Overlaps(p) {
			return h.reason
		}
	}
	return ""
}

// carve appends to out the smallest list of prefixes that covers p but
// none of the holes: nothing when a hole covers p, p itself when no hole
// overlaps it, else the halves of p, carved in turn (at most one prefix
// per bit of depth per hole).
func carve(out []netip.Prefix, p netip.Prefix, hs []hole) []netip.Prefix {
	for _, h := range hs {
		if !h.prefix.Overlaps(p) {
			continue
		}
		if h.prefix.Bits() <= p.Bits() {
			return out // p lies inside the hole
		}
		lo, hi := halves(p)
		return carve(carve(out, lo, hs), hi, hs)
	}
	return append(out, p)
}

// halves splits p (not a single address) into its two halves.
func halves(p netip.Prefix) (lo, hi netip.Prefix) {
	bits := p.Bits()
	lo = netip.PrefixFrom(p.Addr(), bits+1)
	b := p.Addr().As16()
	off := 0
	if p.Addr().Is4() {
		off = 12
	}
	b[off+bits/8] |= 0x80 >> (bits % 8)
	a := netip.AddrFrom16(b)
	if p.Addr().Is4() {
		a = a.Unmap()
	}
	return lo, netip.PrefixFrom(a, bits+1)
}

// lapiHost returns the host of the LAPI's URL, "" when the LAPI is reached
// over a unix socket (then only loopback is protected).
func lapiHost(apiURL string) (string, error) {
	u, err := url.Parse(apiURL)
	if err != nil {
		return "", fmt.Errorf("firewall: api_url: %w", err)
	}
	if u.Scheme == "unix" {
		return "", nil
	}
	return u.Hostname(), nil
}

// resolver looks a host name up (net.Resolver.LookupNetIP's signature).
type resolver func(ctx context.Context, network, host string) ([]netip.Addr, error)

// resolveLAPI returns the LAPI's addresses, sorted and unmapped: host
// itself when it is an address, else what lookup answers.
func resolveLAPI(ctx context.Context, lookup resolver, host string) ([]netip.Addr, error) {
	if host == "" {
		return nil, nil
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")); err == nil {
		return []netip.Addr{a.Unmap().WithZone("")}, nil
	}
	as, err := lookup(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("firewall: resolving the LAPI host %q: %w", host, err)
	}
	out := make([]netip.Addr, 0, len(as))
	for _, a := range as {
		out = append(out, a.Unmap().WithZone(""))
	}
	sortAddrs(out)
	return slices.Compact(out), nil
}

// defaultResolver is the system's resolver.
func defaultResolver(ctx context.Context, network, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, network, host)
}
