package exprenv

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/phalanx-ids/phalanx/internal/models"
)

// netHelpers: address checks, ranges, DNS and GeoIP.
func (e *Env) netHelpers() []helper {
	return []helper{
		{"IpInRange", ipInRange, []any{new(func(string, string) bool)}},
		{"IpToRange", ipToRange, []any{new(func(string, string) string)}},
		onePredicate("IsIPV4"),
		onePredicate("IsIPV6"),
		onePredicate("IsIP"),
		{"LookupHost", e.lookupHost, []any{new(func(string) []string)}},
		{"GeoIPEnrich", e.geoIPEnrich, []any{new(func(string) map[string]any)}},
		{"GeoIPASNEnrich", e.geoIPASNEnrich, []any{new(func(string) map[string]any)}},
		{"GeoIPRangeEnrich", e.geoIPRangeEnrich, []any{new(func(string) *net.IPNet)}},
		{"IPToCountry", e.ipToCountry, []any{new(func(string) string)}},
	}
}

// parseIP parses an address as net.ParseIP would (models.ParseIP): no
// zone; 4-in-6 forms are unmapped (net.IP treats them as IPv4).
func parseIP(s string) (netip.Addr, bool) {
	if a, ok := parseDottedQuad(s); ok {
		return a, true
	}
	a, err := models.ParseIP(s)
	return a, err == nil
}

// parseDottedQuad parses the common form of an IPv4 address, four decimal
// fields of 0-255 without leading zeros (netip.ParseAddr's rules), in one
// pass and without netip's general parser. ok false: s is not in that form
// (perhaps an address in another, which parseIP leaves to netip).
func parseDottedQuad(s string) (netip.Addr, bool) {
	var ip [4]byte
	i := 0
	for f := range 4 {
		if f > 0 {
			if i >= len(s) || s[i] != '.' {
				return netip.Addr{}, false
			}
			i++
		}
		// One to three digits, no leading zero, at most 255.
		if i >= len(s) || s[i]-'0' > 9 {
			return netip.Addr{}, false
		}
		v := uint(s[i] - '0')
		i++
		if i < len(s) && s[i]-'0' <= 9 {
			if v == 0 {
				return netip.Addr{}, false
			}
			v = v*10 + uint(s[i]-'0')
			i++
			if i < len(s) && s[i]-'0' <= 9 {
				v = v*10 + uint(s[i]-'0')
				i++
				if v > 255 {
					return netip.Addr{}, false
				}
			}
		}
		ip[f] = byte(v)
	}
	if i != len(s) {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4(ip), true
}

// ParseRange parses a range as IpInRange does (net.ParseCIDR, read by
// models.ParseRange: a 4-in-6 network of /96 or longer is the IPv4 one, a
// shorter one an IPv6 network that holds no IPv4 address); ok false:
// IpInRange is false for every address.
func ParseRange(cidr string) (netip.Prefix, bool) {
	pfx, err := models.ParseRange(cidr)
	return pfx, err == nil
}

// IpInRange(ip, cidr) bool; false for a bad IP or range.
func ipInRange(p ...any) (any, error) {
	return inRange(argStr(p, 1))(argStr(p, 0)), nil
}

// inRange is IpInRange(ip, cidr) as a function of ip (a bad range: false
// for every address): the address parser and rangeOf, composed.
func inRange(cidr string) func(ip string) bool {
	contains := rangeOf(cidr)
	return func(ip string) bool {
		a, ok := parseIP(ip)
		return ok && contains(a)
	}
}

// rangeOf is the range half of IpInRange: whether a parsed address is in
// cidr (a bad range holds none).
func rangeOf(cidr string) func(netip.Addr) bool {
	pfx, ok := ParseRange(cidr)
	if !ok {
		return func(netip.Addr) bool { return false }
	}
	return pfx.Contains
}

// IpToRange(ip, "/24" or "24") string: the network of ip with that prefix
// length, "" on bad input.
func ipToRange(p ...any) (any, error) {
	bits, err := strconv.Atoi(strings.TrimPrefix(argStr(p, 1), "/"))
	if err != nil {
		return "", nil
	}
	a, err := netip.ParseAddr(argStr(p, 0))
	if err != nil {
		return "", nil
	}
	pfx, err := a.Prefix(bits)
	if err != nil {
		return "", nil
	}
	return pfx.String(), nil
}

// addrPredicates are the address halves of the pure helpers of one string
// returning a bool: helper(s) is ok && test(a) where a, ok := parseIP(s).
func addrPredicates() map[string]func(netip.Addr) bool {
	return map[string]func(netip.Addr) bool{
		"IsIPV4": netip.Addr.Is4,
		"IsIPV6": func(a netip.Addr) bool { return !a.Is4() },
		"IsIP":   func(netip.Addr) bool { return true },
	}
}

// stringPredicates are the pure helpers of one string returning a bool:
// each is registered (onePredicate) as exactly this Go function (parseIP
// composed with its addrPredicates half), and StringPredicate hands out
// the same function to native evaluators (IPPredicate: its two halves).
func stringPredicates() map[string]func(string) bool {
	out := make(map[string]func(string) bool)
	for name, test := range addrPredicates() {
		out[name] = func(s string) bool {
			a, ok := parseIP(s)
			return ok && test(a)
		}
	}
	return out
}

// onePredicate is the registered helper name of stringPredicates.
func onePredicate(name string) helper {
	f := stringPredicates()[name]
	return helper{name, func(p ...any) (any, error) { return f(argStr(p, 0)), nil }, []any{new(func(string) bool)}}
}

// LookupHost(host) []string: the addresses of host; empty on failure or
// without a Deps.Resolver.
func (e *Env) lookupHost(p ...any) (any, error) {
	if e.d.Resolver == nil {
		return []string{}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.d.DNSTimeout)
	defer cancel()
	addrs, err := e.d.Resolver.LookupHost(ctx, argStr(p, 0))
	if err != nil {
		e.log.Debug("LookupHost failed", "host", argStr(p, 0), "err", err)
		return []string{}, nil
	}
	return addrs, nil
}

func (e *Env) geoRecord(p []any, asn bool) map[string]any {
	if e.d.GeoIP == nil {
		return nil
	}
	a, ok := parseIP(argStr(p, 0))
	if !ok {
		return nil
	}
	var rec map[string]any
	var err error
	if asn {
		rec, err = e.d.GeoIP.ASN(a)
	} else {
		rec, err = e.d.GeoIP.City(a)
	}
	if err != nil {
		e.log.Debug("GeoIP lookup failed", "ip", a, "err", err)
		return nil
	}
	return rec
}

// GeoIPEnrich(ip) map[string]any: the City record, nil if none.
func (e *Env) geoIPEnrich(p ...any) (any, error) { return e.geoRecord(p, false), nil }

// GeoIPASNEnrich(ip) map[string]any: the ASN record, nil if none.
func (e *Env) geoIPASNEnrich(p ...any) (any, error) { return e.geoRecord(p, true), nil }

// GeoIPRangeEnrich(ip) *net.IPNet: the database network holding ip, nil if
// none.
func (e *Env) geoIPRangeEnrich(p ...any) (any, error) {
	if e.d.GeoIP == nil {
		return (*net.IPNet)(nil), nil
	}
	a, ok := parseIP(argStr(p, 0))
	if !ok {
		return (*net.IPNet)(nil), nil
	}
	pfx, ok := e.d.GeoIP.Range(a)
	if !ok {
		return (*net.IPNet)(nil), nil
	}
	pfx = pfx.Masked()
	return &net.IPNet{IP: net.IP(pfx.Addr().AsSlice()), Mask: net.CIDRMask(pfx.Bits(), pfx.Addr().BitLen())}, nil
}

// IPToCountry(ip) string: the ISO code of ip's country, "" if unknown.
func (e *Env) ipToCountry(p ...any) (any, error) {
	rec := e.geoRecord(p, false)
	for _, k := range [...]string{"country", "registered_country", "represented_country"} {
		if iso := nestedStr(rec[k], "iso_code"); iso != "" {
			return iso, nil
		}
	}
	return "", nil
}

func nestedStr(v any, key string) string {
	switch m := v.(type) {
	case map[string]any:
		s, _ := m[key].(string)
		return s
	case map[string]string:
		return m[key]
	}
	return ""
}
