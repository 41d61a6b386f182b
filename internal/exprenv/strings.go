package exprenv

import (
	"fmt"
	"strconv"
	"strings"
)

// stringHelpers: thin wrappers over package strings, plus Atof, ToString,
// Get, Sprintf and Match.
func (e *Env) stringHelpers() []helper {
	s2 := func(name string, f func(string, string) string) helper {
		return helper{name, func(p ...any) (any, error) { return f(argStr(p, 0), argStr(p, 1)), nil }, []any{new(func(string, string) string)}}
	}
	split := func(name string, f func(string, string) []string) helper {
		return helper{name, func(p ...any) (any, error) { return f(argStr(p, 0), argStr(p, 1)), nil }, []any{new(func(string, string) []string)}}
	}
	splitN := func(name string, f func(string, string, int) []string) helper {
		return helper{name, func(p ...any) (any, error) { return f(argStr(p, 0), argStr(p, 1), argInt(p, 2)), nil }, []any{new(func(string, string, int) []string)}}
	}
	index := func(name string, f func(string, string) int) helper {
		return helper{name, func(p ...any) (any, error) { return f(argStr(p, 0), argStr(p, 1)), nil }, []any{new(func(string, string) int)}}
	}
	return []helper{
		oneString("Upper"),
		oneString("Lower"),
		oneString("TrimSpace"),
		s2("Trim", strings.Trim),
		s2("TrimLeft", strings.TrimLeft),
		s2("TrimRight", strings.TrimRight),
		s2("TrimPrefix", strings.TrimPrefix),
		s2("TrimSuffix", strings.TrimSuffix),
		split("Split", strings.Split),
		split("SplitAfter", strings.SplitAfter),
		splitN("SplitN", strings.SplitN),
		splitN("SplitAfterN", strings.SplitAfterN),
		index("Index", strings.Index),
		index("IndexAny", strings.IndexAny),
		{"Fields", func(p ...any) (any, error) { return strings.Fields(argStr(p, 0)), nil }, []any{new(func(string) []string)}},
		{"Join", join, []any{new(func([]string, string) string)}},
		{"Replace", func(p ...any) (any, error) {
			return strings.Replace(argStr(p, 0), argStr(p, 1), argStr(p, 2), argInt(p, 3)), nil
		}, []any{new(func(string, string, string, int) string)}},
		{"ReplaceAll", func(p ...any) (any, error) {
			return strings.ReplaceAll(argStr(p, 0), argStr(p, 1), argStr(p, 2)), nil
		}, []any{new(func(string, string, string) string)}},
		{"ToString", toString, []any{new(func(any) string)}},
		{"Get", get, []any{new(func([]string, int) string)}},
		{"Atof", e.atof, []any{new(func(string) float64)}},
		{"Sprintf", sprintf, []any{new(func(string, ...any) string)}},
		{"Match", match, []any{new(func(string, string) bool)}},
	}
}

func join(p ...any) (any, error) {
	switch v := p[0].(type) {
	case []string:
		return strings.Join(v, argStr(p, 1)), nil
	case []any: // a list built in the expression
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = fmt.Sprint(x)
		}
		return strings.Join(parts, argStr(p, 1)), nil
	}
	return "", nil
}

// toString returns its argument if it is a string, else "" (no conversion,
// as upstream).
func toString(p ...any) (any, error) { return argStr(p, 0), nil }

// get is a safe index: "" when out of range.
func get(p ...any) (any, error) {
	i := argInt(p, 1)
	switch v := p[0].(type) {
	case []string:
		if i >= 0 && i < len(v) {
			return v[i], nil
		}
	case []any:
		if i >= 0 && i < len(v) {
			if s, ok := v[i].(string); ok {
				return s, nil
			}
		}
	}
	return "", nil
}

// atof parses a float; a bad one gives 0 (and a debug log), not an error.
func (e *Env) atof(p ...any) (any, error) {
	s := argStr(p, 0)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		e.log.Debug("Atof: not a float", "value", s, "err", err)
	}
	return f, nil
}

func sprintf(p ...any) (any, error) { return fmt.Sprintf(argStr(p, 0), p[1:]...), nil }

func match(p ...any) (any, error) { return Match(argStr(p, 0), argStr(p, 1)), nil }

// Match reports whether name matches the glob pattern, byte by byte: '*'
// matches any run of bytes (empty included), '?' exactly one byte; there is
// no escaping. It keeps one quirk of CrowdSec's recursive matcher: once name
// is used up, the rest of the pattern must be "" or a single "*" (so "a**"
// does not match "a"). Runs in O(len(pattern)*len(name)) time without
// allocating.
func Match(pattern, name string) bool {
	if pattern == "" {
		return name == ""
	}
	p, n := 0, 0
	star, mark := -1, 0 // last '*' seen and the name position it resumed at
	for n < len(name) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == name[n]):
			p++
			n++
		case star >= 0:
			mark++
			p, n = star+1, mark
		default:
			return false
		}
	}
	rest := pattern[p:]
	return rest == "" || rest == "*"
}
