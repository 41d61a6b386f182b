package bouncer

import (
	"net/netip"
	"testing"
	"time"

	"github.com/phalanx-ids/phalanx/internal/models"
)

// FuzzFromModel: decisions come from the network; converting one never
// panics, and an accepted one is normalised and found by Contains.
func FuzzFromModel(f *testing.F) {
	for _, s := range [][3]string{
		{"Ip", "192.0.2.1", "4h"}, {"range", "::ffff:10.0.0.0/104", "1m"}, {"Range", "2001:db8::/32", "-1s"},
		{"ip", "fe80::1%eth0", "1h"}, {"Country", "FR", "1h"}, {"Ip", "1.2.3.4/32", "9999999h"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, scope, value, duration string) {
		d, err := FromModel(&models.Decision{Scope: &scope, Value: &value, Duration: &duration}, t0)
		if err != nil {
			return
		}
		if d.Prefix != d.Prefix.Masked() || d.Prefix.Addr().Is4In6() || d.Prefix.Addr().Zone() != "" {
			t.Fatalf("not normalised: %v", d.Prefix)
		}
		if !d.Until.After(t0) {
			return
		}
		s := NewSet(func() time.Time { return t0 })
		s.Add(d)
		if _, ok := s.Contains(d.Prefix.Addr()); !ok {
			t.Fatalf("%v not found", d.Prefix)
		}
		if d.Prefix.Addr().Is4() {
			if _, ok := s.Contains(netip.AddrFrom16(d.Prefix.Addr().As16())); !ok {
				t.Fatalf("mapped %v not found", d.Prefix)
			}
		}
	})
}
