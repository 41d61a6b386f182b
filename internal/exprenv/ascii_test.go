package exprenv

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCaseFold(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"", "a", "Z", "@[`{", "abcdefgh", "ABCDEFGH", "/wp-login.php?author=1&x=Y",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)",
		"0123456789:;<=>?@ABCXYZ[\\]^_`abcxyz{|}~\x7f\x00", "ascii then é", "éé", "ſ ß ǅ İ ı K",
		strings.Repeat("a", 17), strings.Repeat("Z", 23), "\xff\xfe invalid", "abcdefg\x80",
	} {
		require.Equal(t, strings.ToUpper(s), upper(s), "%q", s)
		require.Equal(t, strings.ToLower(s), lower(s), "%q", s)
	}
}

// FuzzCaseFold checks the Upper and Lower helpers against strings.ToUpper
// and strings.ToLower, whose semantics they keep.
func FuzzCaseFold(f *testing.F) {
	for _, s := range []string{"", "abc", "ABC", "/Index.PHP?Q=1", "Ǆǅǆ", "ſ", "0123456789abcdefXYZ@[`{"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		require.Equal(t, strings.ToUpper(s), upper(s), "%q", s)
		require.Equal(t, strings.ToLower(s), lower(s), "%q", s)
	})
}

// TestIsASCII puts one byte >= 0x80 at every position of strings of every
// length to 70 (each of isASCII's three loops, and their joins, sees it).
func TestIsASCII(t *testing.T) {
	t.Parallel()
	for n := range 70 {
		b := []byte(strings.Repeat("a~\x7f", n)[:n])
		require.True(t, isASCII(string(b)), "len %d", n)
		for i := range n {
			for _, c := range []byte{0x80, 0xc3, 0xff} {
				old := b[i]
				b[i] = c
				require.False(t, isASCII(string(b)), "len %d, %#x at %d", n, c, i)
				b[i] = old
			}
		}
	}
}

// BenchmarkIsASCII: the test the fold comparisons make of a field value
// (natexpr's foldOr: Upper(evt.Parsed.http_user_agent) contains ...), on
// a user agent and a short path:
//
//	go test ./internal/exprenv -run X -bench IsASCII
func BenchmarkIsASCII(b *testing.B) {
	for _, s := range []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
		"/static/js/app.js",
	} {
		b.Run(strconv.Itoa(len(s)), func(b *testing.B) {
			n := 0
			for b.Loop() {
				if isASCII(s) {
					n++
				}
			}
			if n == 0 {
				b.Fatal("not ASCII")
			}
		})
	}
}

// BenchmarkCaseFold: Upper on an ASCII user agent, the helper against
// strings.ToUpper, same run.
func BenchmarkCaseFold(b *testing.B) {
	ua := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36"
	for _, c := range []struct {
		name string
		fn   func(string) string
	}{{"strings.ToUpper", strings.ToUpper}, {"upper", upper}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = c.fn(ua)
			}
		})
	}
}

// foldCompareWant is H(x) op lit through the helper and the strings
// functions: what FoldCompare must answer.
func foldCompareWant(name, op, x, lit string) bool {
	_, fn, _ := caseFirst(name)
	v := fn(x)
	switch op {
	case "==":
		return v == lit
	case "!=":
		return v != lit
	case "contains":
		return strings.Contains(v, lit)
	case "startsWith":
		return strings.HasPrefix(v, lit)
	}
	return strings.HasSuffix(v, lit)
}

// checkFoldCompare checks FoldCompare(name, op, lit) on x: declined for
// contains, a literal the helper changes or a non-ASCII one, the helper's answer on
// ASCII x, declined (ascii false) on any other x.
func checkFoldCompare(t *testing.T, e *Env, name, op, x, lit string) {
	t.Helper()
	_, fn, _ := caseFirst(name)
	match, ok := e.FoldCompare(name, op, lit)
	require.Equal(t, fn(lit) == lit && isASCII(lit) && op != "contains", ok, "%s %s %q", name, op, lit)
	if !ok {
		return
	}
	got, ascii := match(x)
	require.Equal(t, isASCII(x), ascii, "%q", x)
	if ascii {
		require.Equal(t, foldCompareWant(name, op, x, lit), got, "%s(%q) %s %q", name, x, op, lit)
	}
}

var foldOps = []string{"==", "!=", "contains", "startsWith", "endsWith"}

func TestFoldCompare(t *testing.T) {
	t.Parallel()
	e := New(Deps{})
	xs := []string{"", "a", "Z", "zZ", "@[`{", "/Index.PHP?Q=1&x", "/index.php?q=", "x/INDEX.PHP?q=1", "index",
		"powerShell -c", "POWERSHELL", "ſsh", "\u212a", "ı", "é/INDEX"}
	for _, name := range []string{"Upper", "Lower"} {
		_, fn, _ := caseFirst(name)
		for _, op := range foldOps {
			for _, lit := range append(slices.Clone(xs), "/INDEX.PHP?Q=1", "/index.php?q=1", "INDEX", "index", "POWERSHELL", "ZZ", "zz") {
				for _, x := range xs {
					checkFoldCompare(t, e, name, op, x, lit)
					checkFoldCompare(t, e, name, op, x, fn(lit))
				}
			}
		}
	}
	_, ok := e.FoldCompare("TrimSpace", "==", "A")
	require.False(t, ok)
	_, ok = e.FoldCompare("Upper", "matches", "A")
	require.False(t, ok)
}

// FuzzFoldCompare checks FoldCompare against the helpers and the strings
// functions.
func FuzzFoldCompare(f *testing.F) {
	f.Add("/Index.PHP?Q=1", "INDEX.PHP", uint8(2))
	f.Add("abc", "abc", uint8(0))
	f.Add("ſ", "S", uint8(1))
	e := New(Deps{})
	f.Fuzz(func(t *testing.T, x, lit string, k uint8) {
		op := foldOps[int(k)%len(foldOps)]
		for _, name := range []string{"Upper", "Lower"} {
			_, fn, _ := caseFirst(name)
			checkFoldCompare(t, e, name, op, x, fn(lit))
			checkFoldCompare(t, e, name, op, x, lit)
		}
	})
}
