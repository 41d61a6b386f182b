package exprenv

import (
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
