package lint

import (
	"testing"

	"github.com/phalanx-ids/phalanx/internal/grok"
)

// FuzzPattern: any pattern is linted or refused with an error, never a
// panic or a runaway (states are bounded).
func FuzzPattern(f *testing.F) {
	lib := grok.NewLibrary()
	for _, s := range []string{
		`Invalid user %{USERNAME:user} from %{IP:ip}( port \d+)?`,
		`^x .* from %{IP:ip}(?: port \d+)?$`,
		`(?:%{DATA:u} %{IP:ip} )+`,
		`(a|b|c)*%{IPORHOST:h}(x|y)?$`,
		`%{NOPE}`, `(`, `%{IP:ip}\z`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pattern string) {
		if len(pattern) > 512 {
			return
		}
		fs, err := Pattern(lib, pattern)
		if err != nil && fs != nil {
			t.Fatalf("findings with an error: %v", err)
		}
		for _, x := range fs {
			if x.Address == "" || x.Field == "" {
				t.Fatalf("incomplete finding %+v", x)
			}
		}
	})
}
