package exprenv

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unsafe"

	"github.com/buger/jsonparser"
)

// jsonHelpers: JSON, key=value and XML extraction.
func (e *Env) jsonHelpers() []helper {
	return []helper{
		{"JsonExtract", e.jsonExtract, []any{new(func(string, string) string)}},
		{"JsonExtractUnescape", e.jsonExtractUnescape, []any{new(func(string, ...string) string)}},
		{"JsonExtractLib", e.jsonExtractLib, []any{new(func(string, ...string) string)}},
		{"JsonExtractSlice", e.jsonExtractSlice, []any{new(func(string, string) []any)}},
		{"JsonExtractObject", e.jsonExtractObject, []any{new(func(string, string) map[string]any)}},
		{"ToJsonString", e.toJSON, []any{new(func(any) string)}},
		{"UnmarshalJSON", e.unmarshalJSON, []any{new(func(string, map[string]any, string) error)}},
		{"ParseKV", e.parseKV, []any{new(func(string, map[string]any, string) error)}},
		{"ParseKVLax", e.parseKVLax, []any{new(func(string, map[string]any, string) error)}},
		{"XMLGetAttributeValue", e.xmlGetAttributeValue, []any{new(func(string, string, string) string)}},
		{"XMLGetNodeValue", e.xmlGetNodeValue, []any{new(func(string, string) string)}},
	}
}

// bytesOf views s as bytes without copying; jsonparser only reads it.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// jsonPath splits a jsonparser-style path ("a.b[0].c" -> a, b, [0], c),
// caching the split per path string.
func (e *Env) jsonPath(target string) []string {
	if v, ok := e.jsonPaths.Load(target); ok {
		return v.([]string)
	}
	t := target
	if !strings.HasPrefix(t, "[") {
		t = strings.ReplaceAll(t, "[", ".[")
	}
	keys := strings.Split(t, ".")
	e.jsonPaths.Store(target, keys)
	return keys
}

// jsonGet returns the raw value at keys ("" when absent or on error). String
// values come back without their quotes but still escaped, as jsonparser
// gives them.
func (e *Env) jsonGet(blob string, keys []string) string {
	v, typ, err := safeGet(blob, keys)
	if err != nil {
		if !errors.Is(err, jsonparser.KeyPathNotFoundError) {
			e.log.Debug("JsonExtract: bad json", "path", keys, "err", err)
		}
		return ""
	}
	if typ == jsonparser.NotExist {
		return ""
	}
	return string(v)
}

// JsonExtract(blob, "a.b[0]") string.
func (e *Env) jsonExtract(p ...any) (any, error) {
	return e.jsonGet(argStr(p, 0), e.jsonPath(argStr(p, 1))), nil
}

// variadicStrs collects the string arguments from index i on (a []string
// argument is spread).
func variadicStrs(p []any, i int) []string {
	var out []string
	for ; i < len(p); i++ {
		switch v := p[i].(type) {
		case string:
			out = append(out, v)
		case []string:
			out = append(out, v...)
		}
	}
	return out
}

// JsonExtractLib(blob, keys...) string: keys are jsonparser keys ("[0]" for
// an array index).
func (e *Env) jsonExtractLib(p ...any) (any, error) {
	return e.jsonGet(argStr(p, 0), variadicStrs(p, 1)), nil
}

// JsonExtractUnescape(blob, keys...) string: like JsonExtractLib, with the
// string value unescaped.
func (e *Env) jsonExtractUnescape(p ...any) (any, error) {
	v, typ, err := safeGet(argStr(p, 0), variadicStrs(p, 1))
	if err != nil || typ != jsonparser.String {
		return "", nil
	}
	s, err := jsonparser.ParseString(v)
	if err != nil {
		return "", nil
	}
	return s, nil
}

// errJSONPath reports a path jsonparser cannot walk.
var errJSONPath = errors.New("bad json path")

// safeGet is jsonparser.Get, turning its panics on odd paths (an empty key,
// as in "a..b") into an error.
func safeGet(blob string, keys []string) (v []byte, typ jsonparser.ValueType, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, typ, err = nil, jsonparser.NotExist, errJSONPath
		}
	}()
	v, typ, _, err = jsonparser.Get(bytesOf(blob), keys...)
	return v, typ, err
}

func (e *Env) jsonTyped(blob, target string, want jsonparser.ValueType) ([]byte, bool) {
	v, typ, err := safeGet(blob, e.jsonPath(target))
	if err != nil || typ != want {
		return nil, false
	}
	return v, true
}

// JsonExtractSlice(blob, path) []any: nil if absent or not an array.
func (e *Env) jsonExtractSlice(p ...any) (any, error) {
	v, ok := e.jsonTyped(argStr(p, 0), argStr(p, 1), jsonparser.Array)
	if !ok {
		return []any(nil), nil
	}
	var out []any
	if err := json.Unmarshal(v, &out); err != nil {
		return []any(nil), nil
	}
	if out == nil {
		out = []any{}
	}
	return out, nil
}

// JsonExtractObject(blob, path) map[string]any: nil if absent or not an
// object.
func (e *Env) jsonExtractObject(p ...any) (any, error) {
	v, ok := e.jsonTyped(argStr(p, 0), argStr(p, 1), jsonparser.Object)
	if !ok {
		return map[string]any(nil), nil
	}
	out := map[string]any{}
	if err := json.Unmarshal(v, &out); err != nil {
		return map[string]any(nil), nil
	}
	return out, nil
}

// ToJsonString(v) string: "" when v cannot be encoded.
func (e *Env) toJSON(p ...any) (any, error) {
	var v any
	if len(p) > 0 {
		v = p[0]
	}
	b, err := json.Marshal(v)
	if err != nil {
		e.log.Debug("ToJsonString: cannot encode", "err", err)
		return "", nil
	}
	return string(b), nil
}

// UnmarshalJSON(blob, target, key) decodes blob into target[key] (numbers
// as float64). Invalid JSON is an error, as upstream (the static fails).
func (e *Env) unmarshalJSON(p ...any) (any, error) {
	target, ok := p[1].(map[string]any)
	if !ok || target == nil {
		return nil, errors.New("UnmarshalJSON: target is not a map")
	}
	var out any
	if err := json.Unmarshal([]byte(argStr(p, 0)), &out); err != nil {
		return nil, fmt.Errorf("UnmarshalJSON: %w", err)
	}
	target[argStr(p, 2)] = out
	return nil, nil
}

// kvTarget returns target[prefix] as a map[string]string, creating it.
func kvTarget(name string, p []any) (map[string]string, error) {
	target, ok := p[1].(map[string]any)
	if !ok || target == nil {
		return nil, fmt.Errorf("%s: target is not a map", name)
	}
	prefix := argStr(p, 2)
	cur, ok := target[prefix]
	if !ok {
		m := make(map[string]string)
		target[prefix] = m
		return m, nil
	}
	m, ok := cur.(map[string]string)
	if !ok {
		return nil, fmt.Errorf("%s: target is not a map[string]string", name)
	}
	return m, nil
}

// kvPair: a key (no '=' nor space), '=', then a double-quoted value (with
// backslash escapes, kept as written), a bare value (no '=' nor space), or
// nothing.
var kvPair = regexp.MustCompile(`([^=\s]+)=(?:"((?:[^"\\]|\\.)*)"|([^=\s]+)|\s*)`)

// ParseKV(blob, target, prefix) fills target[prefix] (a map[string]string)
// with blob's key=value / key="value" pairs. No pair is an error.
func (e *Env) parseKV(p ...any) (any, error) {
	blob := argStr(p, 0)
	idx := kvPair.FindAllStringSubmatchIndex(blob, -1)
	if idx == nil {
		return nil, errors.New("ParseKV: no key=value pair found")
	}
	m, err := kvTarget("ParseKV", p)
	if err != nil {
		return nil, err
	}
	for _, g := range idx {
		key := blob[g[2]:g[3]]
		val := ""
		switch {
		case g[4] >= 0 && g[5] > g[4]:
			val = blob[g[4]:g[5]]
		case g[6] >= 0 && g[7] > g[6]:
			val = blob[g[6]:g[7]]
		}
		m[key] = val
	}
	return nil, nil
}

// kvKey is a key as ParseKVLax sees one.
var kvKey = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_.-]*)=`)

// ParseKVLax(blob, target, prefix): like ParseKV, but a bare value runs up
// to the next key= (so it may hold spaces); key= inside a double-quoted
// value does not count as a key.
func (e *Env) parseKVLax(p ...any) (any, error) {
	blob := argStr(p, 0)
	m, err := kvTarget("ParseKVLax", p)
	if err != nil {
		return nil, err
	}
	all := kvKey.FindAllStringSubmatchIndex(blob, -1)
	keys := all[:0:0]
	for _, g := range all {
		if !insideQuotes(blob, g[0]) {
			keys = append(keys, g)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("ParseKVLax: no key=value pair found")
	}
	for i, g := range keys {
		end := len(blob)
		if i+1 < len(keys) {
			end = keys[i+1][0]
		}
		m[blob[g[2]:g[3]]] = laxValue(strings.TrimSpace(blob[g[1]:end]))
	}
	return nil, nil
}

// insideQuotes reports whether pos falls inside a double-quoted span of s
// (quotes preceded by an odd number of backslashes do not count).
func insideQuotes(s string, pos int) bool {
	in := false
	for i := 0; i <= pos && i < len(s); i++ {
		if s[i] != '"' {
			continue
		}
		bs := 0
		for j := i - 1; j >= 0 && s[j] == '\\'; j-- {
			bs++
		}
		if bs%2 == 0 {
			in = !in
		}
	}
	return in
}

// laxValue strips a value's surrounding quotes (unescaping \\ and \") or, if
// the closing quote is missing, the opening one.
func laxValue(s string) string {
	if s == "" || s[0] != '"' {
		return s
	}
	if len(s) >= 2 && s[len(s)-1] == '"' {
		body := s[1 : len(s)-1]
		body = strings.ReplaceAll(body, `\\`, `\`)
		return strings.ReplaceAll(body, `\"`, `"`)
	}
	return s[1:]
}
