package models

import (
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseIPOrRange(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in, want, err string
	}{
		{name: "ipv4", in: "192.0.2.1", want: "192.0.2.1/32"},
		{name: "ipv6", in: "2001:db8::1", want: "2001:db8::1/128"},
		{name: "mapped address is ipv4", in: "::ffff:192.0.2.1", want: "192.0.2.1/32"},
		{name: "mapped address hex form", in: "::ffff:c000:201", want: "192.0.2.1/32"},
		{name: "range masked", in: "192.0.2.77/24", want: "192.0.2.0/24"},
		{name: "ipv6 range masked", in: "2001:db8:1::5/48", want: "2001:db8:1::/48"},
		{name: "mapped /128 is a /32", in: "::ffff:192.0.2.1/128", want: "192.0.2.1/32"},
		{name: "mapped /104 is a /8", in: "::ffff:10.1.2.3/104", want: "10.0.0.0/8"},
		{name: "mapped /96 is all of ipv4", in: "::ffff:0.0.0.0/96", want: "0.0.0.0/0"},
		{name: "mapped /95 is ipv6", in: "::ffff:0.0.0.0/95", want: "::fffe:0:0/95"},
		{name: "mapped /90 is ipv6", in: "::ffff:10.0.0.0/90", want: "::ffc0:0:0/90"},
		{name: "mapped /80 is ipv6", in: "::ffff:0:0/80", want: "::/80"},
		{name: "ipv4-compatible stays ipv6", in: "::192.0.2.1", want: "::c000:201/128"},
		{name: "zone refused", in: "fe80::1%eth0", err: "zones are not allowed"},
		{name: "zone in a range refused", in: "fe80::1%eth0/64", err: "ParsePrefix"},
		{name: "spaces are not trimmed", in: " 10.1.2.3", err: "ParseAddr"},
		{name: "garbage", in: "nope", err: "unable to parse IP"},
		{name: "bits too long", in: "10.0.0.0/33", err: "ParsePrefix"},
		{name: "mapped bits too long", in: "::ffff:10.0.0.0/129", err: "ParsePrefix"},
		{name: "empty", in: "", err: "ParseAddr"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := ParseIPOrRange(tc.in)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, p.String())
		})
	}
}

func TestParseIP(t *testing.T) {
	t.Parallel()
	a, err := ParseIP("::ffff:203.0.113.5")
	require.NoError(t, err)
	require.Equal(t, "203.0.113.5", a.String())
	_, err = ParseIP("10.0.0.0/8")
	require.Error(t, err, "a range is not an address")
	_, err = ParseRange("10.0.0.1")
	require.Error(t, err, "an address is not a range")
}

// FuzzParseIPOrRange checks the normaliser against the net package's
// reading (CrowdSec's: net.ParseIP, net.ParseCIDR, To4): whatever is
// accepted is masked, never mapped and without zone, and names the same
// family and addresses as net does.
func FuzzParseIPOrRange(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "::ffff:192.0.2.1", "::ffff:10.0.0.0/104", "::ffff:0:0/80",
		"::ffff:0.0.0.0/95", "2001:db8::/32", "fe80::1%eth0", "10.1.2.3/8", "::/0", "0.0.0.0/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseIPOrRange(s)
		if err != nil {
			return
		}
		a := p.Addr()
		if p != p.Masked() || a.Is4In6() || a.Zone() != "" {
			t.Fatalf("%q: not normalised: %v", s, p)
		}
		if _, nn, err := net.ParseCIDR(s); err == nil {
			ones, _ := nn.Mask.Size()
			want4 := nn.IP.To4() != nil
			if want4 != a.Is4() {
				t.Fatalf("%q: family %v, net says ipv4=%v", s, p, want4)
			}
			if want4 && len(nn.Mask) == net.IPv6len {
				ones -= 96 // a mapped network: net keeps its 128-bit mask
			}
			first, _ := netip.AddrFromSlice(nn.IP)
			if first.Unmap() != a || ones != p.Bits() {
				t.Fatalf("%q: %v, net says %v/%d", s, p, first.Unmap(), ones)
			}
		} else if ip := net.ParseIP(s); ip != nil {
			if (ip.To4() != nil) != a.Is4() || !net.IP(a.AsSlice()).Equal(ip) {
				t.Fatalf("%q: %v, net says %v", s, p, ip)
			}
		}
	})
}

func TestIsGlobal(t *testing.T) {
	for s, want := range map[string]bool{
		"1.2.3.4": true, "8.8.8.8": true, "2606:4700::1111": true, "::ffff:1.2.3.4": true,
		"10.1.2.3": false, "192.168.1.1": false, "172.20.0.1": false, "100.64.1.1": false,
		"127.0.0.1": false, "169.254.1.1": false, "192.0.2.1": false, "198.51.100.7": false,
		"203.0.113.9": false, "0.1.2.3": false, "240.0.0.1": false, "255.255.255.255": false,
		"224.0.0.1": false, "::1": false, "fe80::1": false, "fd00::1": false, "2001:db8::1": false,
		"::ffff:10.0.0.1": false, "ff02::1": false,
	} {
		if got := IsGlobal(netip.MustParseAddr(s)); got != want {
			t.Errorf("IsGlobal(%s) = %v, want %v", s, got, want)
		}
	}
}
