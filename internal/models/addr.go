package models

import (
	"fmt"
	"net/netip"
	"strings"
)

// The value of an Ip or a Range decision (and of an allowlist entry, a
// parser whitelist, a trusted proxy...) is read the way CrowdSec reads it
// with net.ParseIP / net.ParseCIDR:
//
//   - an IPv4-mapped IPv6 address is the IPv4 address
//     (::ffff:192.0.2.1 is 192.0.2.1);
//   - a network is masked (10.1.2.3/8 is 10.0.0.0/8); a network inside
//     the mapped space (::ffff:0:0/96 or longer) is the IPv4 network
//     (::ffff:10.0.0.0/104 is 10.0.0.0/8); a shorter one is, once masked,
//     an IPv6 network like any other (::ffff:0:0/80 is ::/80) and covers
//     no IPv4 address;
//   - zones (fe80::1%eth0) are refused: a decision names addresses, not
//     interfaces.
//
// Nothing is trimmed: callers that accept surrounding spaces trim first.
// (CrowdSec computes the end of a mapped network from the first 32 bits of
// its 128-bit mask, so it stores ::ffff:10.0.0.0/104 as the one address
// 10.0.0.0; Phalanx takes the network the text names.)

// ParseIP parses an IP address.
func ParseIP(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, err
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q: zones are not allowed", s)
	}
	return a.Unmap(), nil
}

// ParseRange parses a CIDR network.
func ParseRange(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return NormalizePrefix(p), nil
}

// ParseIPOrRange parses an address (as a /32 or /128) or, when s holds a
// '/', a CIDR network.
func ParseIPOrRange(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return ParseRange(s)
	}
	a, err := ParseIP(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// NormalizePrefix masks p and turns a network inside the IPv4-mapped space
// into the IPv4 network (see above). An invalid p gives the zero Prefix.
func NormalizePrefix(p netip.Prefix) netip.Prefix {
	p = p.Masked()
	// Masked, a prefix shorter than /96 has lost a bit of the ::ffff: marker.
	if a := p.Addr(); a.Is4In6() {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p
}

// ParseHostAddr parses a peer or client address as servers and HTTP
// contexts give it: "ip", "ip:port", "[ipv6]" or "[ipv6]:port" (a
// net/http RemoteAddr, an X-Forwarded-For element, a log's source).
// IPv4-mapped IPv6 addresses are unmapped and zones dropped (a peer is
// counted, allowlisted and banned by its address, not its interface). It
// is the one parser of such addresses: the LAPI's and the bouncers' peers,
// forwarded addresses and the bot-detection helpers use it.
func ParseHostAddr(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return a.Unmap().WithZone(""), true
		}
	}
	return netip.Addr{}, false
}
