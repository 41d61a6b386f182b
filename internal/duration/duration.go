// Package duration parses the durations CrowdSec's files, flags and API
// accept: a Go duration that may start with a number of days ("7d",
// "1.5d", "1d12h"). It is the one parser of such durations in Phalanx:
// profiles, decisions (API and CLI), allowlist expirations, retention and
// query filters all go through it, so that they accept and refuse the same
// things.
package duration

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Max is the longest duration Positive accepts: 100 years. A decision or
// an allowlist item lasting longer is a mistake, and now + Max stays well
// inside the range of times the stores can hold (Unix nanoseconds, up to
// year 2262).
const Max = 100 * 365 * 24 * time.Hour

const day = 24 * time.Hour

// ErrSyntax, ErrRange and ErrNotPositive classify Parse and Positive
// errors (errors.Is).
var (
	ErrSyntax      = errors.New("not a duration")
	ErrRange       = errors.New("out of range")
	ErrNotPositive = errors.New("not positive")
)

// Parse parses s: a Go duration (time.ParseDuration: "90s", "4h30m"), which
// may start with a number of days written as an unsigned decimal ("2d",
// "1.5d", "1d12h"); one leading sign applies to the whole. Surrounding
// spaces are ignored. NaN, infinities, exponents and values beyond
// time.Duration's range (about 292 years) are refused.
func Parse(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	neg := false
	body := in
	if body != "" && (body[0] == '-' || body[0] == '+') {
		neg = body[0] == '-'
		body = body[1:]
	}
	daysStr, rest, hasDays := strings.Cut(body, "d")
	if !hasDays {
		d, err := time.ParseDuration(in)
		if err != nil {
			return 0, parseErr(s, body)
		}
		return d, nil
	}
	if !decimal(daysStr) || (rest != "" && (rest[0] == '-' || rest[0] == '+')) {
		return 0, syntaxErr(s)
	}
	days, err := strconv.ParseFloat(daysStr, 64)
	if err != nil || math.IsNaN(days) || math.IsInf(days, 0) {
		return 0, syntaxErr(s)
	}
	f := days * float64(day)
	if f >= 1<<63 {
		return 0, rangeErr(s)
	}
	d := time.Duration(f)
	if rest != "" {
		tail, err := time.ParseDuration(rest)
		if err != nil {
			return 0, parseErr(s, rest)
		}
		if d > math.MaxInt64-tail {
			return 0, rangeErr(s)
		}
		d += tail
	}
	if neg {
		d = -d
	}
	return d, nil
}

// Positive parses s as Parse does and requires 0 < d <= Max: the rule for
// every duration that sets how long something lasts (a decision, an
// allowlist item, a retention age, a "since" filter).
func Positive(s string) (time.Duration, error) {
	d, err := Parse(s)
	if err != nil {
		return 0, err
	}
	return d, Check(d, s)
}

// Check applies Positive's rule to an already computed duration (from an
// expression, a config field); s names it in the error.
func Check(d time.Duration, s string) error {
	switch {
	case d <= 0:
		return fmt.Errorf("duration: %q: %w", s, ErrNotPositive)
	case d > Max:
		return fmt.Errorf("duration: %q: %w (longer than 100 years)", s, ErrRange)
	}
	return nil
}

// decimal says whether s is an unsigned decimal number: digits with at
// most one dot and at least one digit (no sign, exponent, hex, NaN or Inf).
func decimal(s string) bool {
	digits, dots := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}

// goSyntax says whether s is well-formed Go duration syntax without a
// sign: "0", or decimal numbers each followed by a unit. time.ParseDuration
// failing on such a string means the value overflows.
func goSyntax(s string) bool {
	if s == "0" {
		return true
	}
	if s == "" {
		return false
	}
	for s != "" {
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if !decimal(s[:i]) {
			return false
		}
		s = s[i:]
		unit := ""
		for _, u := range []string{"ns", "us", "µs", "μs", "ms", "s", "m", "h"} {
			if strings.HasPrefix(s, u) && (u != "m" || !strings.HasPrefix(s, "ms")) {
				unit = u
				break
			}
		}
		if unit == "" {
			return false
		}
		s = s[len(unit):]
	}
	return true
}

// parseErr classifies a time.ParseDuration failure on part (of s).
func parseErr(s, part string) error {
	if goSyntax(part) {
		return rangeErr(s)
	}
	return syntaxErr(s)
}

func syntaxErr(s string) error {
	return fmt.Errorf("duration: %q: %w (want Go syntax such as 30s, 4h or 1h30m; days allowed: 2d, 1.5d, 1d12h)", s, ErrSyntax)
}

func rangeErr(s string) error {
	return fmt.Errorf("duration: %q: %w", s, ErrRange)
}
