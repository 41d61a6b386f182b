package bouncer

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func dec(t testing.TB, scope, value, typ string, ttl time.Duration) *Decision {
	t.Helper()
	d, err := FromModel(&models.Decision{ID: 1, Scope: &scope, Value: &value, Type: &typ,
		Duration: ptr(ttl.String()), Origin: ptr("cscli"), Scenario: ptr("test")}, t0)
	require.NoError(t, err)
	return d
}

func ptr(s string) *string { return &s }

func TestFromModel(t *testing.T) {
	cases := map[string]struct {
		m      models.Decision
		want   string // Decision.String()
		until  time.Duration
		err    string
		unsupp bool
	}{
		"ip ban":           {m: models.Decision{Scope: ptr("Ip"), Value: ptr("192.0.2.1"), Type: ptr("ban"), Duration: ptr("3h59m58s"), Origin: ptr("crowdsec"), Scenario: ptr("ssh-bf")}, want: "ban Ip 192.0.2.1/32 (crowdsec/ssh-bf)", until: 3*time.Hour + 59*time.Minute + 58*time.Second},
		"lowercase scope":  {m: models.Decision{Scope: ptr("range"), Value: ptr("10.0.0.0/8"), Type: ptr("Captcha"), Duration: ptr("1m")}, want: "captcha Range 10.0.0.0/8 (/)", until: time.Minute},
		"default type ban": {m: models.Decision{Scope: ptr("ip"), Value: ptr("2001:db8::1"), Duration: ptr("10s")}, want: "ban Ip 2001:db8::1/128 (/)", until: 10 * time.Second},
		"until field":      {m: models.Decision{Scope: ptr("ip"), Value: ptr("192.0.2.9"), Until: t0.Add(time.Hour).Format(time.RFC3339)}, want: "ban Ip 192.0.2.9/32 (/)", until: time.Hour},
		"negative (deleted)": {m: models.Decision{Scope: ptr("Ip"), Value: ptr("192.0.2.1"), Duration: ptr("-5s")},
			want: "ban Ip 192.0.2.1/32 (/)", until: -5 * time.Second},
		"mapped ip":    {m: models.Decision{Scope: ptr("Ip"), Value: ptr("::ffff:192.0.2.1"), Duration: ptr("1h")}, want: "ban Ip 192.0.2.1/32 (/)", until: time.Hour},
		"mapped range": {m: models.Decision{Scope: ptr("Range"), Value: ptr("::ffff:10.0.0.0/104"), Duration: ptr("1h")}, want: "ban Range 10.0.0.0/8 (/)", until: time.Hour},
		// As the LAPI stores it (CrowdSec's reading): an IPv6 network.
		"short mapped range is ipv6": {m: models.Decision{Scope: ptr("Range"), Value: ptr("::ffff:0:0/80"), Duration: ptr("1h")}, want: "ban Range ::/80 (/)", until: time.Hour},
		"zone refused":               {m: models.Decision{Scope: ptr("Ip"), Value: ptr("fe80::1%eth0"), Duration: ptr("1h")}, err: "zones are not allowed"},
		"country":                    {m: models.Decision{Scope: ptr("Country"), Value: ptr("FR"), Duration: ptr("1h")}, unsupp: true, err: "unsupported scope"},
		"ip with net":                {m: models.Decision{Scope: ptr("Ip"), Value: ptr("10.0.0.0/8"), Duration: ptr("1h")}, err: "Ip scope with network"},
		"bad value":                  {m: models.Decision{Scope: ptr("Ip"), Value: ptr("x"), Duration: ptr("1h")}, err: "value"},
		"bad duration":               {m: models.Decision{Scope: ptr("Ip"), Value: ptr("192.0.2.1"), Duration: ptr("forever")}, err: "duration"},
		"no duration":                {m: models.Decision{Scope: ptr("Ip"), Value: ptr("192.0.2.1")}, err: "no duration"},
		"no scope/value":             {m: models.Decision{}, err: "without scope"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d, err := FromModel(&tc.m, t0)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				require.Equal(t, tc.unsupp, err != nil && errorsIs(err, ErrUnsupportedScope))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, d.String())
			require.Equal(t, t0.Add(tc.until), d.Until)
		})
	}
}

func TestSetContains(t *testing.T) {
	now := t0
	s := NewSet(func() time.Time { return now })
	s.Apply(Update{Full: true, New: []*Decision{
		dec(t, "Ip", "192.0.2.1", "ban", time.Hour),
		dec(t, "Ip", "192.0.2.2", "captcha", time.Hour),
		dec(t, "Range", "198.51.100.0/24", "captcha", time.Hour),
		dec(t, "Range", "198.51.0.0/16", "ban", time.Hour),
		dec(t, "Ip", "2001:db8::1", "ban", time.Hour),
		dec(t, "Range", "2001:db8:aa::/48", "ban", time.Hour),
		dec(t, "Ip", "192.0.2.50", "ban", time.Minute),
		dec(t, "Range", "0.0.0.0/0", "throttle", time.Hour),
	}})
	require.Equal(t, 8, s.Len())
	cases := map[string]struct {
		addr, want string // want: "type prefix" or ""
	}{
		"exact ip":                 {"192.0.2.1", "ban 192.0.2.1/32"},
		"ip captcha beats range 0": {"192.0.2.2", "captcha 192.0.2.2/32"},
		"ban range over captcha":   {"198.51.100.7", "ban 198.51.0.0/16"},
		"only the default range":   {"203.0.113.1", "throttle 0.0.0.0/0"},
		"ipv6 exact":               {"2001:db8::1", "ban 2001:db8::1/128"},
		"ipv6 range":               {"2001:db8:aa:1::5", "ban 2001:db8:aa::/48"},
		"ipv6 miss":                {"2001:db8:bb::1", ""},
		"mapped ipv4":              {"::ffff:192.0.2.1", "ban 192.0.2.1/32"},
		"mapped in range":          {"::ffff:198.51.3.4", "ban 198.51.0.0/16"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d, ok := s.Contains(netip.MustParseAddr(tc.addr))
			if tc.want == "" {
				require.False(t, ok, "got %v", d)
				return
			}
			require.True(t, ok)
			require.Equal(t, tc.want, d.Type+" "+d.Prefix.String())
		})
	}

	// Expiry: ignored at once, dropped by Sweep.
	now = t0.Add(2 * time.Minute)
	d, _ := s.Contains(netip.MustParseAddr("192.0.2.50"))
	require.Equal(t, "throttle", d.Type, "the expired ban no longer applies")
	gone := s.Sweep(now)
	require.Len(t, gone, 1)
	require.Equal(t, 7, s.Len())

	// Delta: delete by key, replace by key.
	s.Apply(Update{Deleted: []*Decision{dec(t, "Range", "198.51.0.0/16", "ban", -time.Second)},
		New: []*Decision{dec(t, "Ip", "192.0.2.1", "ban", 3*time.Hour)}})
	d, _ = s.Contains(netip.MustParseAddr("198.51.100.7"))
	require.Equal(t, "captcha", d.Type)
	d, _ = s.Contains(netip.MustParseAddr("192.0.2.1"))
	require.Equal(t, t0.Add(3*time.Hour), d.Until)
	require.Equal(t, 6, s.Len())

	// Removing the last range of a length drops the length.
	require.True(t, s.Remove(Key{Scope: ScopeRange, Prefix: netip.MustParsePrefix("0.0.0.0/0"), Type: "throttle"}))
	require.False(t, s.Remove(Key{Scope: ScopeRange, Prefix: netip.MustParsePrefix("0.0.0.0/0"), Type: "throttle"}))
	_, ok := s.Contains(netip.MustParseAddr("203.0.113.1"))
	require.False(t, ok)
	require.Len(t, s.Snapshot(), 5)

	// A full update replaces everything.
	s.Apply(Update{Full: true, New: []*Decision{dec(t, "Ip", "10.0.0.1", "ban", time.Hour)}})
	require.Equal(t, 1, s.Len())
	_, ok = s.Contains(netip.MustParseAddr("192.0.2.1"))
	require.False(t, ok)
}

// TestSetConcurrent runs lookups against changes (meaningful with -race).
func TestSetConcurrent(t *testing.T) {
	s := NewSet(nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 2000 {
			d := dec(t, "Range", fmt.Sprintf("10.%d.0.0/16", i%256), "ban", time.Hour)
			s.Add(d)
			if i%3 == 0 {
				s.Remove(d.Key())
			}
		}
	}()
	for range 20000 {
		s.Contains(netip.MustParseAddr("10.7.1.1"))
	}
	testutil.Recv(t, done, "the writer ends")
	require.Positive(t, s.Len())
}

// bigSet is n decisions: 90% single addresses (IPv4 and IPv6) and 10%
// ranges over several prefix lengths.
func bigSet(b testing.TB, n int) *Set {
	s := NewSet(nil)
	ds := make([]*Decision, 0, n)
	until := time.Now().Add(time.Hour)
	lens := []int{8, 16, 20, 24, 28}
	for i := range n {
		var p netip.Prefix
		switch {
		case i%10 == 9:
			a := netip.AddrFrom4([4]byte{byte(i >> 16), byte(i >> 8), byte(i), 0})
			p = netip.PrefixFrom(a, lens[i%len(lens)]).Masked()
		case i%4 == 1:
			var b16 [16]byte
			b16[0], b16[1], b16[13], b16[14], b16[15] = 0x20, 0x01, byte(i>>16), byte(i>>8), byte(i)
			p = netip.PrefixFrom(netip.AddrFrom16(b16), 128)
		default:
			p = netip.PrefixFrom(netip.AddrFrom4([4]byte{100, byte(i >> 16), byte(i >> 8), byte(i)}), 32)
		}
		scope := ScopeIP
		if !p.IsSingleIP() {
			scope = ScopeRange
		}
		ds = append(ds, &Decision{ID: int64(i), Type: "ban", Scope: scope, Prefix: p, Until: until})
	}
	s.Apply(Update{Full: true, New: ds})
	return s
}

// BenchmarkSetContains: lookups in a set of 1,000,000 decisions.
func BenchmarkSetContains(b *testing.B) {
	s := bigSet(b, 1_000_000)
	addrs := []netip.Addr{
		netip.MustParseAddr("100.0.1.2"),   // exact hit
		netip.MustParseAddr("203.0.113.9"), // miss
		netip.MustParseAddr("2001::1"),     // v6 miss
		netip.MustParseAddr("0.1.2.3"),     // range hit
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s.Contains(addrs[i%len(addrs)])
	}
}

// BenchmarkSetContainsParallel: the same under concurrent readers.
func BenchmarkSetContainsParallel(b *testing.B) {
	s := bigSet(b, 1_000_000)
	a := netip.MustParseAddr("100.0.1.2")
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.Contains(a)
		}
	})
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
