package store

import (
	"crypto/rand"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/phalanx-ids/phalanx/internal/models"
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

// ParseIPRange parses an IP address or a CIDR, IPv4 or IPv6, as
// models.ParseIPOrRange reads it (an IPv4-mapped address or network of
// /96 or longer is the IPv4 one; zones are refused); surrounding spaces
// are trimmed.
func ParseIPRange(s string) (IPRange, error) {
	s = strings.TrimSpace(s)
	p, err := models.ParseIPOrRange(s)
	if err != nil {
		return IPRange{}, fmt.Errorf("store: %q is not an IP or CIDR: %w", s, ErrInvalid)
	}
	start := p.Addr().As16()
	end := start
	for i, host := 15, p.Addr().BitLen()-p.Bits(); i >= 0 && host > 0; i-- {
		n := min(host, 8)
		end[i] |= byte(1<<n - 1)
		host -= n
	}
	return IPRange{Start: start, End: end}, nil
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

// ParseDuration parses a Go duration that may also use a "d" (24h) unit,
// as CrowdSec's decision durations do ("1d12h", "7d").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	neg := strings.HasPrefix(s, "-")
	rest := strings.TrimPrefix(s, "-")
	if i := strings.IndexByte(rest, 'd'); i > 0 {
		days, err := strconv.ParseFloat(rest[:i], 64)
		if err == nil {
			var tail time.Duration
			if rest[i+1:] != "" {
				tail, err = time.ParseDuration(rest[i+1:])
			}
			if err == nil {
				d := time.Duration(days*float64(24*time.Hour)) + tail
				if neg {
					d = -d
				}
				return d, nil
			}
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("store: bad duration %q: %w", s, ErrInvalid)
	}
	return d, nil
}
