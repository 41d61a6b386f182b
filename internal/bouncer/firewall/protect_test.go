package firewall

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCarve(t *testing.T) {
	t.Parallel()
	lapi := []netip.Addr{netip.MustParseAddr("10.99.0.3"), netip.MustParseAddr("2001:db8::3")}
	cases := []struct {
		name, in string
		want     []string
	}{
		{name: "unrelated address", in: "192.0.2.1/32", want: []string{"192.0.2.1/32"}},
		{name: "unrelated range", in: "192.0.2.0/24", want: []string{"192.0.2.0/24"}},
		{name: "the lapi", in: "10.99.0.3/32"},
		{name: "loopback address", in: "127.0.0.1/32"},
		{name: "inside loopback", in: "127.1.0.0/16"},
		{name: "ipv6 loopback", in: "::1/128"},
		{name: "range holding the lapi", in: "10.99.0.0/29",
			want: []string{"10.99.0.0/31", "10.99.0.2/32", "10.99.0.4/30"}},
		{name: "range holding loopback", in: "126.0.0.0/7", want: []string{"126.0.0.0/8"}},
		{name: "ipv6 range holding the lapi", in: "2001:db8::/126", want: []string{"2001:db8::/127", "2001:db8::2/128"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, p := range carve(nil, netip.MustParsePrefix(tc.in), holes(lapi)) {
				got = append(got, p.String())
			}
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			require.Equal(t, want, got)
		})
	}
}

// TestCarveEverything: the widest ranges, loopback as the only hole.
func TestCarveEverything(t *testing.T) {
	t.Parallel()
	str := func(ps []netip.Prefix) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.String())
		}
		slices.Sort(out)
		return out
	}
	want := everythingBut("::1")
	slices.Sort(want)
	require.Equal(t, want, str(carve(nil, netip.MustParsePrefix("::/0"), holes(nil))))
	require.Equal(t, []string{"0.0.0.0/2", "112.0.0.0/5", "120.0.0.0/6", "124.0.0.0/7", "126.0.0.0/8", "128.0.0.0/1", "64.0.0.0/3", "96.0.0.0/4"},
		str(carve(nil, netip.MustParsePrefix("0.0.0.0/0"), holes(nil))))
}

// everythingBut lists, for each bit, the sibling of the prefix of that
// length holding a: the pieces of ::/0 (or 0.0.0.0/0) without a.
func everythingBut(s string) []string {
	a := netip.MustParseAddr(s)
	var out []string
	for bits := 1; bits <= a.BitLen(); bits++ {
		p, _ := a.Prefix(bits)
		_, sib := halves(netip.PrefixFrom(p.Addr(), bits-1).Masked())
		if sib == p {
			sib, _ = halves(netip.PrefixFrom(p.Addr(), bits-1).Masked())
		}
		out = append(out, sib.String())
	}
	return out
}

// FuzzCarve: the pieces of a range are disjoint, inside it, clear of
// every hole, and cover every address of it that no hole holds.
func FuzzCarve(f *testing.F) {
	f.Add([]byte{10, 99, 0, 0}, uint8(16), []byte{10, 99, 0, 3})
	f.Add([]byte{0, 0, 0, 0}, uint8(0), []byte{127, 0, 0, 1})
	f.Add(make([]byte, 16), uint8(0), append(make([]byte, 15), 1))
	f.Fuzz(func(t *testing.T, addr []byte, bits uint8, lapi []byte) {
		a, ok := netip.AddrFromSlice(addr)
		l, ok2 := netip.AddrFromSlice(lapi)
		if !ok || !ok2 || int(bits) > a.BitLen() {
			return
		}
		p := netip.PrefixFrom(a, int(bits)).Masked()
		hs := holes([]netip.Addr{l.Unmap()})
		pieces := carve(nil, p, hs)
		if len(pieces) > len(hs)*128 {
			t.Fatalf("%v: %d pieces", p, len(pieces))
		}
		for i, q := range pieces {
			if !p.Contains(q.Addr()) || q.Bits() < p.Bits() || q != q.Masked() || overlapping(q, hs) != "" {
				t.Fatalf("%v: bad piece %v", p, q)
			}
			for _, r := range pieces[i+1:] {
				if q.Overlaps(r) {
					t.Fatalf("%v: pieces %v and %v overlap", p, q, r)
				}
			}
		}
		// Addresses around the holes and the range's ends are covered
		// unless a hole holds them.
		probes := []netip.Addr{p.Addr(), lastAddr(p)}
		for _, h := range hs {
			x := h.prefix.Addr()
			probes = append(probes, x, x.Prev(), x.Next(), lastAddr(h.prefix).Next())
		}
		for _, x := range probes {
			if !x.IsValid() || !p.Contains(x) {
				continue
			}
			inHole := overlapping(netip.PrefixFrom(x, x.BitLen()), hs) != ""
			covered := slices.ContainsFunc(pieces, func(q netip.Prefix) bool { return q.Contains(x) })
			if covered == inHole {
				t.Fatalf("%v: %v covered=%v in a hole=%v (pieces %v)", p, x, covered, inHole, pieces)
			}
		}
	})
}

func TestResolveLAPI(t *testing.T) {
	t.Parallel()
	lookup := func(_ context.Context, _, host string) ([]netip.Addr, error) {
		if host == "lapi.internal" {
			return []netip.Addr{netip.MustParseAddr("::ffff:10.0.0.9"), netip.MustParseAddr("fd00::9"), netip.MustParseAddr("10.0.0.9")}, nil
		}
		return nil, errors.New("no such host")
	}
	cases := []struct {
		name, url string
		want      string
		err       string
	}{
		{name: "ipv4", url: "http://10.99.0.3:8080/", want: "[10.99.0.3]"},
		{name: "ipv6", url: "https://[fd00::3]:8080/", want: "[fd00::3]"},
		{name: "name", url: "http://lapi.internal:8080/", want: "[10.0.0.9 fd00::9]"},
		{name: "unix socket", url: "unix:///run/phalanx/lapi.sock", want: "[]"},
		{name: "unknown name", url: "http://nowhere:8080/", err: `resolving the LAPI host "nowhere"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			host, err := lapiHost(tc.url)
			require.NoError(t, err)
			got, err := resolveLAPI(context.Background(), lookup, host)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			s := make([]string, len(got))
			for i, a := range got {
				s[i] = a.String()
			}
			require.Equal(t, tc.want, "["+strings.Join(s, " ")+"]")
		})
	}
}
