package exprenv

import (
	"encoding/base64"
	"fmt"
	"os"
)

// miscHelpers: KeyExists, B64Decode, LogInfo, Hostname.
func (e *Env) miscHelpers() []helper {
	return []helper{
		{"KeyExists", keyExists, []any{new(func(string, map[string]any) bool)}},
		{"B64Decode", b64Decode, []any{new(func(string) string)}},
		{"LogInfo", e.logInfo, []any{new(func(string, ...any) bool)}},
		{"Hostname", e.hostname, []any{new(func() (string, error))}},
	}
}

func keyExists(p ...any) (any, error) {
	m, _ := p[1].(map[string]any)
	_, ok := m[argStr(p, 0)]
	return ok, nil
}

// B64Decode(s) string: standard base64; bad input is an error, as upstream.
func b64Decode(p ...any) (any, error) {
	b, err := base64.StdEncoding.DecodeString(argStr(p, 0))
	if err != nil {
		return "", fmt.Errorf("B64Decode: %w", err)
	}
	return string(b), nil
}

// LogInfo(format, args...) logs at info level and returns true (so it can
// sit in a filter).
func (e *Env) logInfo(p ...any) (any, error) {
	e.log.Info(fmt.Sprintf(argStr(p, 0), p[1:]...))
	return true, nil
}

func (e *Env) hostname(...any) (any, error) {
	if e.d.Hostname != nil {
		return e.d.Hostname()
	}
	return os.Hostname()
}
