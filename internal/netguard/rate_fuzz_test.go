package netguard_test

import (
	"testing"

	"github.com/phalanx-ids/phalanx/internal/netguard"
)

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"50/s", "3/m", "1/h", "off", "2.5", "-1/s", "1e400/s", "NaN/s", " 5 / m "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := netguard.ParseRate(s)
		if err != nil {
			return
		}
		if r != netguard.Off && r < 0 {
			t.Fatalf("ParseRate(%q) = %v: negative", s, r)
		}
		if r == 0 || r == netguard.Off {
			return
		}
		back, err := netguard.ParseRate(r.String())
		if err != nil {
			t.Fatalf("ParseRate(%q).String() = %q does not parse: %v", s, r.String(), err)
		}
		if d := float64(back - r); d > 1e-6*float64(r) || d < -1e-6*float64(r) {
			t.Fatalf("ParseRate(%q) = %v, read back as %v", s, r, back)
		}
	})
}
