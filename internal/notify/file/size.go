package file

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Size is a byte count. In YAML a bare number is megabytes (CrowdSec's
// max_size); a string takes a unit: B, KB, MB, GB (powers of 1024, KiB,
// MiB, GiB also accepted): "512KB", "10MB".
type Size int64

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: size: want a number of MB or a string such as \"10MB\"", n.Line)
	}
	v, err := ParseSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*s = v
	return nil
}

// ParseSize parses a Size (see Size).
func ParseSize(raw string) (Size, error) {
	t := strings.ToUpper(strings.TrimSpace(raw))
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '-' && r != '+' })
	if i < 0 {
		i = len(t)
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	if num == "" {
		return 0, fmt.Errorf("size %q: not a size", raw)
	}
	var mult int64
	switch unit {
	case "":
		mult = 1 << 20
	case "B":
		mult = 1
	case "K", "KB", "KIB":
		mult = 1 << 10
	case "M", "MB", "MIB":
		mult = 1 << 20
	case "G", "GB", "GIB":
		mult = 1 << 30
	default:
		return 0, fmt.Errorf("size %q: unknown unit %q (want B, KB, MB or GB)", raw, unit)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q: not a size", raw)
	}
	return Size(n * mult), nil
}

// MarshalJSON prints the size as String does ("10MB").
func (s Size) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.String())), nil }

// String prints the size with the largest exact unit.
func (s Size) String() string {
	for _, u := range []struct {
		n    int64
		name string
	}{{1 << 30, "GB"}, {1 << 20, "MB"}, {1 << 10, "KB"}} {
		if s != 0 && int64(s)%u.n == 0 {
			return fmt.Sprintf("%d%s", int64(s)/u.n, u.name)
		}
	}
	return fmt.Sprintf("%dB", int64(s))
}
