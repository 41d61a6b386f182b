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

// nonGlobal are the special-purpose networks (IANA registries) that never
// name a host on the public Internet: private, shared (CGNAT), loopback,
// link-local, documentation, benchmarking, multicast, reserved, unique
// local, discard, NAT64/6to4/Teredo relays, ORCHID.
var nonGlobal = func() []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
		"192.0.0.0/24", "192.0.2.0/24", "192.31.196.0/24", "192.52.193.0/24", "192.88.99.0/24",
		"192.168.0.0/16", "192.175.48.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
		"224.0.0.0/4", "240.0.0.0/4",
		"::/8", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
		"2002::/16", "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
	} {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}()

// IsGlobal reports whether a is a global unicast address: one that can
// name a host on the public Internet (not private, loopback, link-local,
// documentation, multicast or otherwise reserved). IPv4-mapped addresses
// are judged as IPv4.
func IsGlobal(a netip.Addr) bool {
	if !a.IsValid() || a.Zone() != "" {
		return false
	}
	a = a.Unmap()
	for _, p := range nonGlobal {
		if p.Contains(a) {
			return false
		}
	}
	return true
}
