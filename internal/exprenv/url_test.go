package exprenv

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestURLHelpers(t *testing.T) {
	runCases(t, New(Deps{}), []exprCase{
		{"path unescape", `PathUnescape("/a%20b/%2e%2e")`, "/a b/..", false},
		{"path unescape bad kept", `PathUnescape("/a%zz")`, "/a%zz", false},
		{"query unescape plus", `QueryUnescape("a+b%3D")`, "a b=", false},
		{"query unescape bad kept", `QueryUnescape("%")`, "%", false},
		{"path escape", `PathEscape("a b/c")`, "a%20b%2Fc", false},
		{"query escape", `QueryEscape("a b&c")`, "a+b%26c", false},
		{"parse uri", `ParseUri("/foo?a=1&b=2&a=3")`, map[string][]string{"a": {"1", "3"}, "b": {"2"}}, false},
		{"parse uri semicolon is an error", `ParseUri("/foo?a=1;b=2")`, map[string][]string{}, false},
		{"parse query lenient", `ParseQuery("a=1;b&c=%zz&d=x+y")`, url.Values{"a": {"1;b"}, "c": {"%zz"}, "d": {"x y"}}, false},
		{"extract param", `ExtractQueryParam("/x?id=1&id=2&q=z", "id")`, []string{"1", "2"}, false},
		{"extract param absent", `ExtractQueryParam("/x?id=1", "q")`, []string{}, false},
		{"extract no query", `ExtractQueryParam("/x", "q")`, []string{}, false},
	})
}

func TestJA4H(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("User-Agent", "curl")
	r.Header.Set("Accept-Language", "en-US,en;q=0.9")
	r.Header.Set("Referer", "http://x")
	r.AddCookie(&http.Cookie{Name: "b", Value: "2"})
	r.AddCookie(&http.Cookie{Name: "a", Value: "1"})
	got := JA4H(r)
	parts := strings.Split(got, "_")
	require.Len(t, parts, 4)
	require.Equal(t, "ge11cr02enus", parts[0])
	require.Equal(t, hash12([]string{"a", "b"}), parts[2])
	require.Equal(t, hash12([]string{"a=1", "b=2"}), parts[3])
	require.Equal(t, "", JA4H(nil))

	bare := httptest.NewRequest(http.MethodPost, "/", nil)
	require.Equal(t, "po11nn000000_000000000000_000000000000_000000000000", JA4H(bare))
}

func FuzzParseQuery(f *testing.F) {
	f.Add("a=1&b=%41%4&c=+")
	f.Fuzz(func(t *testing.T, q string) {
		_ = ParseQuery(q)
		_, _ = extractQueryParam("/?"+q, "a")
	})
}
