package allowlist

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/phalanx-ids/phalanx/internal/models"
)

// ParseValue parses an allowlist value or a value to check: an IPv4 or
// IPv6 address (a /32 or /128) or a CIDR range. The result is normalised:
// host bits are masked off ("10.1.2.3/8" is 10.0.0.0/8) and IPv4-mapped
// IPv6 forms are turned into IPv4 ("::ffff:1.2.3.4" is 1.2.3.4/32,
// "::ffff:10.0.0.0/104" is 10.0.0.0/8), as models.ParseIPOrRange reads
// them. Zones ("fe80::1%eth0") are refused: an allowlist names addresses,
// not interfaces.
func ParseValue(s string) (netip.Prefix, error) {
	p, err := parseValue(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("allowlist: %w", err)
	}
	return p, nil
}

func parseValue(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Prefix{}, errors.New("empty value")
	}
	p, err := models.ParseIPOrRange(s)
	if err != nil {
		if strings.Contains(s, "/") {
			return netip.Prefix{}, fmt.Errorf("bad range %q: %w", s, err)
		}
		return netip.Prefix{}, fmt.Errorf("bad address %q: %w", s, err)
	}
	return p, nil
}

// u128 is an address as a 128-bit number (IPv4 uses the low 32 bits).
type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }

func (a u128) lessEq(b u128) bool { return !b.less(a) }

// bounds returns the first and last address of p as numbers.
func bounds(p netip.Prefix) (start, end u128) {
	a := p.Addr()
	host := a.BitLen() - p.Bits()
	if a.Is4() {
		b := a.As4()
		v := uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
		start = u128{lo: v}
		end = u128{lo: v | (uint64(1)<<host - 1)}
		return start, end
	}
	b := a.As16()
	for i := 0; i < 8; i++ {
		start.hi = start.hi<<8 | uint64(b[i])
		start.lo = start.lo<<8 | uint64(b[8+i])
	}
	end = start
	switch {
	case host >= 64:
		end.lo = ^uint64(0)
		end.hi |= uint64(1)<<(host-64) - 1
		if host == 128 {
			end.hi = ^uint64(0)
		}
	default:
		end.lo |= uint64(1)<<host - 1
	}
	return start, end
}
