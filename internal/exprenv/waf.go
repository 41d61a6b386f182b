package exprenv

import libinjection "github.com/corazawaf/libinjection-go"

// wafHelpers: libinjection detectors.
func (e *Env) wafHelpers() []helper {
	return []helper{
		{"LibInjectionIsSQLI", func(p ...any) (any, error) {
			ok, _ := libinjection.IsSQLi(argStr(p, 0))
			return ok, nil
		}, []any{new(func(string) bool)}},
		{"LibInjectionIsXSS", func(p ...any) (any, error) { return libinjection.IsXSS(argStr(p, 0)), nil }, []any{new(func(string) bool)}},
	}
}
