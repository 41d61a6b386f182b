package store

import (
	"crypto/rand"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
)

// IPRange is an inclusive range of addresses as 16-byte big-endian values
// (IPv4 as IPv4-mapped IPv6), so that byte order is address order for both
// families. Backends store Start and End as binary columns and compare them.
type IPRange struct {
	Start, End [16]byte
}

// Contains says whether o lies within r.
func (r IPRange) Contains(o IPRange) bool {
	return string(r.Start[:]) <= string(o.Start[:]) && string(o.End[:]) <= string(r.End[:])
}

// ParseIPRange parses an IP address or a CIDR, IPv4 or IPv6; an
// IPv4-mapped IPv6 address (or a mapped prefix of length >= 96) is the IPv4
// one. Zones are refused.
func ParseIPRange(s string) (IPRange, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return IPRange{}, fmt.Errorf("store: %q is not an IP or CIDR: %w", s, ErrInvalid)
		}
		addr, bits := p.Addr(), p.Bits()
		if addr.Is4In6() && bits >= 96 {
			addr, bits = addr.Unmap(), bits-96
		}
		p = netip.PrefixFrom(addr, bits).Masked()
		start := p.Addr().As16()
		end := start
		host := 128 - bits
		if addr.Is4() {
			host = 32 - bits
		}
		for i := 15; i >= 0 && host > 0; i-- {
			n := min(host, 8)
			end[i] |= byte(1<<n - 1)
			host -= n
		}
		return IPRange{Start: start, End: end}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return IPRange{}, fmt.Errorf("store: %q is not an IP or CIDR: %w", s, ErrInvalid)
	}
	b := a.Unmap().As16()
	return IPRange{Start: b, End: b}, nil
}

// rangeScope says whether decisions of this scope carry an address range.
func rangeScope(scope string) bool {
	return strings.EqualFold(scope, "ip") || strings.EqualFold(scope, "range")
}

// DecisionRange returns the address range of a decision of scope Ip or
// Range (case-insensitive); ok is false for other scopes.
func DecisionRange(scope, value string) (r IPRange, ok bool, err error) {
	if !rangeScope(scope) {
		return IPRange{}, false, nil
	}
	r, err = ParseIPRange(value)
	if err != nil {
		return IPRange{}, false, fmt.Errorf("store: decision %s %q: %w", scope, value, ErrInvalid)
	}
	return r, true, nil
}

// HashAPIKey returns the stored form of a bouncer API key: SHA-512, hex.
func HashAPIKey(key string) string {
	sum := sha512.Sum512([]byte(key))
	return hex.EncodeToString(sum[:])
}

// NewUUID returns a random (version 4) UUID.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go >= 1.24)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
