package exprenv

import (
	"fmt"
	"path/filepath"
)

// Argument accessors: expr checks types against the declared signatures at
// compile time, but a value typed `any` (evt.Unmarshaled...) reaches the
// helpers unchecked, so every access is a checked one.

func argStr(p []any, i int) string {
	if i < len(p) {
		if s, ok := p[i].(string); ok {
			return s
		}
	}
	return ""
}

func argInt(p []any, i int) int {
	if i < len(p) {
		switch v := p[i].(type) {
		case int:
			return v
		case int64:
			return int(v)
		case int32:
			return int(v)
		case float64:
			return int(v)
		}
	}
	return 0
}

func argFloat(p []any, i int) (float64, error) {
	if i >= len(p) {
		return 0, fmt.Errorf("missing argument %d", i+1)
	}
	switch v := p[i].(type) {
	case float64:
		return v, nil
	case float32:
		return float64(v), nil
	case int:
		return float64(v), nil
	case int64:
		return float64(v), nil
	case int32:
		return float64(v), nil
	case uint64:
		return float64(v), nil
	}
	return 0, fmt.Errorf("argument %d: %T is not a number", i+1, p[i])
}

// basename is the hubtest assertion helper: the last element of a path.
func basename(p ...any) (any, error) { return filepath.Base(argStr(p, 0)), nil }
