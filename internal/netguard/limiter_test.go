package netguard_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/netguard"
)

func TestLimiter(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	l := netguard.NewLimiter[string](2, 3, 100) // 2/s, burst 3
	for i := range 3 {
		ok, _ := l.Allow("a", t0)
		require.True(t, ok, "burst token %d", i)
	}
	ok, wait := l.Allow("a", t0)
	require.False(t, ok)
	require.InDelta(t, 500*time.Millisecond, wait, float64(time.Millisecond))
	ok, _ = l.Allow("b", t0)
	require.True(t, ok, "keys have their own buckets")
	ok, _ = l.Allow("a", t0.Add(500*time.Millisecond))
	require.True(t, ok, "one token back after 1/rate")
	ok, _ = l.Allow("a", t0.Add(500*time.Millisecond))
	require.False(t, ok)
	for i := range 3 {
		ok, _ = l.Allow("a", t0.Add(time.Hour))
		require.True(t, ok, "refilled to the burst, not beyond: token %d", i)
	}
	ok, _ = l.Allow("a", t0.Add(time.Hour))
	require.False(t, ok)
}

// An attacker with a million addresses cannot grow the table beyond its
// bound; the least recently seen keys go first.
func TestLimiterBounded(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	l := netguard.NewLimiter[netip.Prefix](1, 1, 1000)
	hot := netguard.AddrKey(netip.MustParseAddr("192.0.2.1"))
	ok, _ := l.Allow(hot, t0)
	require.True(t, ok)
	base := netip.MustParseAddr("2001:db8::").As16()
	for i := range 1_000_000 {
		a := base
		a[4], a[5], a[6], a[7] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		l.Allow(netguard.AddrKey(netip.AddrFrom16(a)), t0)
		if i%100 == 0 { // the hot key stays recent, and throttled
			ok, _ := l.Allow(hot, t0)
			require.False(t, ok)
		}
	}
	require.LessOrEqual(t, l.Len(), 1000)
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	b := netguard.NewBackoff[string](netguard.BackoffPolicy{Free: 2, Base: time.Second, Max: 8 * time.Second})
	steps := []struct {
		at       time.Duration
		wantFail time.Duration // the wait Fail imposes
	}{
		{0, 0}, {0, 0}, // free failures
		{0, time.Second},
		{time.Second, 2 * time.Second},
		{3 * time.Second, 4 * time.Second},
		{7 * time.Second, 8 * time.Second},
		{15 * time.Second, 8 * time.Second}, // capped
	}
	for i, s := range steps {
		require.Zero(t, b.Wait("id", t0.Add(s.at)), "step %d: allowed before failing", i)
		require.Equal(t, s.wantFail, b.Fail("id", t0.Add(s.at)), "step %d", i)
	}
	require.Equal(t, 8*time.Second, b.Wait("id", t0.Add(15*time.Second)))
	require.Equal(t, 3*time.Second, b.Wait("id", t0.Add(20*time.Second)))
	require.Zero(t, b.Wait("other", t0.Add(15*time.Second)), "keys are apart")
	// Forgotten after 2*Max without failure.
	require.Zero(t, b.Wait("id", t0.Add(15*time.Second+17*time.Second)))
	require.Zero(t, b.Fail("id", t0.Add(40*time.Second)), "starts again from zero")
	// A success resets.
	b.Fail("id", t0.Add(40*time.Second))
	require.NotZero(t, b.Fail("id", t0.Add(40*time.Second)))
	b.Reset("id")
	require.Zero(t, b.Wait("id", t0.Add(40*time.Second)))
}

func TestBackoffBounded(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	b := netguard.NewBackoff[string](netguard.BackoffPolicy{Free: 1, Base: time.Second, Max: time.Minute, Keys: 500})
	for i := range 100_000 {
		b.Fail(string(rune('a'+i%26))+string(rune(i)), t0)
	}
	require.LessOrEqual(t, b.Len(), 500)
}

func TestAddrKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, addr, want string
	}{
		{name: "ipv4", addr: "192.0.2.7", want: "192.0.2.7/32"},
		{name: "mapped ipv4", addr: "::ffff:192.0.2.7", want: "192.0.2.7/32"},
		{name: "ipv6 grouped by /64", addr: "2001:db8:1:2:aaaa:bbbb:cccc:dddd", want: "2001:db8:1:2::/64"},
		{name: "ipv6 zone dropped", addr: "fe80::1%eth0", want: "fe80::/64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, netguard.AddrKey(netip.MustParseAddr(tc.addr)).String())
		})
	}
	require.False(t, netguard.AddrKey(netip.Addr{}).IsValid())
}

// BenchmarkLimiterAllow: one Allow over a full table (65,536 addresses),
// each call a different address (the table evicts at every call).
func BenchmarkLimiterAllow(b *testing.B) {
	l := netguard.NewLimiter[netip.Prefix](50, 200, 65536)
	now := time.Now()
	keys := make([]netip.Prefix, 1<<17)
	for i := range keys {
		keys[i] = netguard.AddrKey(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		l.Allow(keys[i&(len(keys)-1)], now)
		i++
	}
}
