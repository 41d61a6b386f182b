package httpbouncer

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/bouncer"
)

// millionSet holds 1,000,000 decisions: 999,000 IPv4 addresses, 500 /24
// and 500 /16 ranges (a CrowdSec community blocklist's shape).
func millionSet(b *testing.B) (*bouncer.Set, []netip.Addr) {
	s := bouncer.NewSet(nil)
	rng := rand.New(rand.NewPCG(1, 2))
	until := time.Now().Add(24 * time.Hour)
	banned := make([]netip.Addr, 0, 999_000)
	u := bouncer.Update{Full: true, New: make([]*bouncer.Decision, 0, 1_000_000)}
	for i := range uint32(999_000) {
		// An odd multiplier permutes [0, 2^26): distinct, scattered addresses.
		v := 0x0B000000 + (i*2654435761)&(1<<26-1)
		a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		banned = append(banned, a)
		u.New = append(u.New, &bouncer.Decision{Type: "ban", Scope: bouncer.ScopeIP, Prefix: netip.PrefixFrom(a, 32), Until: until})
	}
	for i := range 1000 {
		bits := 24
		if i%2 == 1 {
			bits = 16
		}
		a := netip.AddrFrom4([4]byte{byte(150 + i/256), byte(i), byte(rng.IntN(256)), 0})
		u.New = append(u.New, &bouncer.Decision{Type: "ban", Scope: bouncer.ScopeRange, Prefix: netip.PrefixFrom(a, bits).Masked(), Until: until})
	}
	s.Apply(u)
	require.Equal(b, 1_000_000, s.Len())
	return s, banned
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })

// BenchmarkMiddleware measures the latency the middleware adds per request
// with 1,000,000 decisions loaded: "clean" is the common case (a client
// without a decision, behind a trusted proxy with X-Forwarded-For), to be
// compared with "baseline" (the next handler alone); "banned" answers the
// 403 page.
func BenchmarkMiddleware(b *testing.B) {
	set, banned := millionSet(b)
	h, err := Middleware(okHandler, Options{Source: SetSource(set), TrustedProxies: []string{"10.0.0.0/8", "192.168.0.0/16"}})
	require.NoError(b, err)
	clean := httptest.NewRequest(http.MethodGet, "/", nil)
	clean.RemoteAddr = "198.51.100.7:43210"
	proxied := httptest.NewRequest(http.MethodGet, "/", nil)
	proxied.RemoteAddr = "10.0.0.1:43210"
	proxied.Header.Set("X-Forwarded-For", "198.51.100.7, 192.168.1.1")
	ban := httptest.NewRequest(http.MethodGet, "/", nil)
	ban.RemoteAddr = banned[len(banned)/2].String() + ":1"
	w := &discardWriter{h: http.Header{}}

	b.Run("baseline", func(b *testing.B) {
		for b.Loop() {
			okHandler.ServeHTTP(w, clean)
		}
	})
	b.Run("clean", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(w, clean)
		}
	})
	b.Run("clean-xff", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(w, proxied)
		}
	})
	b.Run("clean-parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			w := &discardWriter{h: http.Header{}}
			for pb.Next() {
				h.ServeHTTP(w, clean)
			}
		})
	})
	b.Run("banned", func(b *testing.B) {
		for b.Loop() {
			clear(w.h)
			h.ServeHTTP(w, ban)
		}
	})
}
