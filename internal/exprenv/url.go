package exprenv

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// urlHelpers: escaping, query parsing and the JA4H fingerprint.
func (e *Env) urlHelpers() []helper {
	return []helper{
		oneString("PathUnescape"),
		oneString("QueryUnescape"),
		oneString("PathEscape"),
		oneString("QueryEscape"),
		{"ParseUri", e.parseURI, []any{new(func(string) map[string][]string)}},
		{"ParseQuery", func(p ...any) (any, error) { return ParseQuery(argStr(p, 0)), nil }, []any{new(func(string) url.Values)}},
		{"ExtractQueryParam", extractQueryParam, []any{new(func(string, string) []string)}},
		{"JA4H", ja4hHelper, []any{new(func(*http.Request) string)}},
	}
}

// PathUnescape(s): s itself when it is not validly escaped.
func pathUnescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// QueryUnescape(s): s itself when it is not validly escaped.
func queryUnescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// ParseUri(uri) map[string][]string: the query parameters of uri (empty
// map when uri or its query does not parse, as net/url).
func (e *Env) parseURI(p ...any) (any, error) {
	out := map[string][]string{}
	u, err := url.Parse(argStr(p, 0))
	if err != nil {
		return out, nil
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return out, nil
	}
	for k, v := range q {
		out[k] = v
	}
	return out, nil
}

// ParseQuery parses a query string leniently: pairs split on '&' only (a
// ';' stays in values), '+' is a space, and a bad %-escape is kept as is.
func ParseQuery(q string) url.Values {
	m := url.Values{}
	for q != "" {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, v = lenientUnescape(k), lenientUnescape(v)
		m[k] = append(m[k], v)
	}
	return m
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func lenientUnescape(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '+':
			b.WriteByte(' ')
			continue
		case '%':
			if i+2 < len(s) {
				hi, ok1 := unhex(s[i+1])
				lo, ok2 := unhex(s[i+2])
				if ok1 && ok2 {
					b.WriteByte(hi<<4 | lo)
					i += 2
					continue
				}
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

// ExtractQueryParam(uri, name) []string: the values of a query parameter
// of a raw URI (lenient parsing, see ParseQuery); empty if none.
func extractQueryParam(p ...any) (any, error) {
	uri := argStr(p, 0)
	i := strings.IndexByte(uri, '?')
	if i < 0 {
		return []string{}, nil
	}
	if v, ok := ParseQuery(uri[i+1:])[argStr(p, 1)]; ok {
		return v, nil
	}
	return []string{}, nil
}

func ja4hHelper(p ...any) (any, error) {
	r, _ := p[0].(*http.Request)
	return JA4H(r), nil
}

// JA4H computes a best-effort JA4H HTTP client fingerprint
// (a_b_c_d): a = method (2 letters), version, cookie and referer flags,
// header count, accept-language (4 chars); b = hash of the header names;
// c = hash of the sorted cookie names; d = hash of the sorted cookie
// name=value pairs. Go's http.Header loses the wire order of headers, so
// names are hashed in sorted order: b differs from a wire-order JA4H.
func JA4H(r *http.Request) string {
	if r == nil {
		return ""
	}
	method := strings.ToLower(r.Method)
	if len(method) < 2 {
		method += strings.Repeat("0", 2-len(method))
	}
	ver := "11"
	switch {
	case r.ProtoMajor == 1 && r.ProtoMinor == 0:
		ver = "10"
	case r.ProtoMajor == 2:
		ver = "20"
	case r.ProtoMajor == 3:
		ver = "30"
	}
	cookieFlag, refFlag := "n", "n"
	var names []string
	for k := range r.Header {
		switch strings.ToLower(k) {
		case "cookie":
			cookieFlag = "c"
			continue
		case "referer":
			refFlag = "r"
			continue
		}
		names = append(names, k)
	}
	sort.Strings(names)
	n := min(len(names), 99)
	lang := strings.ToLower(strings.ReplaceAll(r.Header.Get("Accept-Language"), "-", ""))
	if i := strings.IndexAny(lang, ",;"); i >= 0 {
		lang = lang[:i]
	}
	if len(lang) > 4 {
		lang = lang[:4]
	}
	lang += strings.Repeat("0", 4-len(lang))
	a := fmt.Sprintf("%s%s%s%s%02d%s", method[:2], ver, cookieFlag, refFlag, n, lang)

	cookies := r.Cookies()
	var cNames, cPairs []string
	for _, c := range cookies {
		cNames = append(cNames, c.Name)
		cPairs = append(cPairs, c.Name+"="+c.Value)
	}
	sort.Strings(cNames)
	sort.Strings(cPairs)
	return a + "_" + hash12(names) + "_" + hash12(cNames) + "_" + hash12(cPairs)
}

func hash12(parts []string) string {
	if len(parts) == 0 {
		return "000000000000"
	}
	sum := sha256.Sum256([]byte(strings.Join(parts, ",")))
	return hex.EncodeToString(sum[:])[:12]
}
