// Package duration parses the durations CrowdSec's files and flags accept:
// a Go duration that may start with a number of days ("7d", "1d12h").
package duration

import (
	"strconv"
	"strings"
	"time"
)

// Parse parses a Go duration that may start with a whole number of days
// ("2d", "1d12h"); anything else is time.ParseDuration's.
func Parse(s string) (time.Duration, error) {
	days, rest, ok := strings.Cut(s, "d")
	if !ok {
		return time.ParseDuration(s)
	}
	n, err := strconv.Atoi(days)
	if err != nil {
		return time.ParseDuration(s)
	}
	d := time.Duration(n) * 24 * time.Hour
	if rest == "" {
		return d, nil
	}
	r, err := time.ParseDuration(rest)
	if err != nil {
		return 0, err
	}
	return d + r, nil
}
