package store

import (
	"context"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/phalanx-ids/phalanx/internal/duration"
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

// minTime and maxTime bound the times the stores keep (int64 Unix
// nanoseconds cover 1678 to 2262; an agent's clock or a client may send
// anything): earlier or later times are refused with ErrInvalid.
func minTime() time.Time { return time.Unix(0, 0) }
func maxTime() time.Time { return time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC) }

// CheckTime says whether t can be stored: between 1970 and 2200.
func CheckTime(t time.Time) error {
	if t.Before(minTime()) || !t.Before(maxTime()) {
		return fmt.Errorf("store: time %s is out of range (1970 to 2200): %w", t.UTC().Format(time.RFC3339), ErrInvalid)
	}
	return nil
}

// ParseTime parses an RFC 3339 time of the wire ("" is the zero time) and
// checks it with CheckTime.
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("store: time %q is not RFC 3339: %w", s, ErrInvalid)
	}
	return t, CheckTime(t)
}

// DecisionUntil returns when decision d of an alert stopped at stopAt (the
// alert's stop_at, RFC 3339) ends: d.Until when set, else stop_at plus
// d.Duration, as CrowdSec computes it, so that an alert replayed from old
// logs gives decisions that are already over. A stop_at later than now
// counts as now (a skewed or lying clock cannot lengthen a decision); an
// empty one is now. The duration follows duration.Positive (days allowed,
// 0 < d <= 100 years); the result must pass CheckTime. Errors wrap
// ErrInvalid and name what is wrong.
func DecisionUntil(stopAt string, d *models.Decision, now time.Time) (time.Time, error) {
	if d.Until != "" {
		u, err := ParseTime(d.Until)
		if err != nil {
			return time.Time{}, fmt.Errorf("until: %w", err)
		}
		if u.After(now.Add(duration.Max)) {
			return time.Time{}, fmt.Errorf("store: until %s is more than 100 years ahead: %w", d.Until, ErrInvalid)
		}
		return u, nil
	}
	if d.Duration == nil || *d.Duration == "" {
		return time.Time{}, fmt.Errorf("store: neither until nor duration: %w", ErrInvalid)
	}
	dur, err := duration.Positive(*d.Duration)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %w", err, ErrInvalid)
	}
	base := now
	if stopAt != "" {
		stop, err := ParseTime(stopAt)
		if err != nil {
			return time.Time{}, fmt.Errorf("stop_at: %w", err)
		}
		if stop.Before(now) {
			base = stop
		}
	}
	u := base.Add(dur)
	return u, CheckTime(u)
}

// ExpireAllowlisted expires the active decisions that allowlisted values
// cover or that cover them (a range banned around an allowlisted IP), and
// says how many: what an allowlist added or grown does to decisions
// already in force (the allowlists command, a central's allowlist link).
func ExpireAllowlisted(ctx context.Context, st Store, now time.Time, items []AllowlistItem) (int64, error) {
	var total int64
	no := false
	for _, it := range items {
		for _, fl := range []DecisionFilter{
			{Range: it.Value, Contains: &no, ActiveAt: now}, // decisions inside the value
			{Range: it.Value, ActiveAt: now},                // decisions containing the value
		} {
			n, err := st.ExpireDecisions(ctx, now, fl)
			if err != nil {
				return total, err
			}
			total += n
		}
	}
	return total, nil
}
