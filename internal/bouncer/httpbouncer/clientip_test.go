package httpbouncer

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestClientIP(t *testing.T) {
	t.Parallel()
	trusted := []string{"10.0.0.0/8", "192.0.2.1", "2001:db8:ffff::/48"}
	cases := []struct {
		name    string
		trusted []string
		remote  string
		xff     []string
		want    string
	}{
		{name: "no proxy configured ignores xff", remote: "203.0.113.7:5555", xff: []string{"1.1.1.1"}, want: "203.0.113.7"},
		{name: "untrusted peer ignores xff", trusted: trusted, remote: "203.0.113.7:5555", xff: []string{"1.1.1.1"}, want: "203.0.113.7"},
		{name: "trusted peer single hop", trusted: trusted, remote: "10.1.2.3:80", xff: []string{"198.51.100.9"}, want: "198.51.100.9"},
		{name: "spoofed left entries skipped", trusted: trusted, remote: "10.1.2.3:80", xff: []string{"6.6.6.6, 198.51.100.9"}, want: "198.51.100.9"},
		{name: "chain of trusted proxies", trusted: trusted, remote: "10.1.2.3:80", xff: []string{"198.51.100.9, 192.0.2.1, 10.9.9.9"}, want: "198.51.100.9"},
		{name: "several headers", trusted: trusted, remote: "10.1.2.3:80", xff: []string{"6.6.6.6", "198.51.100.9, 10.0.0.5"}, want: "198.51.100.9"},
		{name: "all trusted takes leftmost", trusted: trusted, remote: "10.1.2.3:80", xff: []string{"10.0.0.9, 10.0.0.8"}, want: "10.0.0.9"},
		{name: "garbage stops at nearest trusted", trusted: trusted, remote: "10.1.2.3:80", xff: []string{"1.2.3.4, junk, 10.0.0.8"}, want: "10.0.0.8"},
		{name: "garbage left of client ignored", trusted: trusted, remote: "10.1.2.3:80", xff: []string{"junk, 198.51.100.9"}, want: "198.51.100.9"},
		{name: "empty xff uses peer", trusted: trusted, remote: "10.1.2.3:80", want: "10.1.2.3"},
		{name: "ipv6 peer and client", trusted: trusted, remote: "[2001:db8:ffff::1]:443", xff: []string{"2001:db8:1::5"}, want: "2001:db8:1::5"},
		{name: "xff with port and brackets", trusted: trusted, remote: "10.1.2.3:80", xff: []string{"[2001:db8:1::5]:1234"}, want: "2001:db8:1::5"},
		{name: "ipv4 with port in xff", trusted: trusted, remote: "10.1.2.3:80", xff: []string{"198.51.100.9:4711"}, want: "198.51.100.9"},
		{name: "mapped peer is unmapped", remote: "[::ffff:203.0.113.7]:80", want: "203.0.113.7"},
		{name: "mapped xff entry is unmapped", trusted: trusted, remote: "10.1.2.3:80", xff: []string{"::ffff:198.51.100.9"}, want: "198.51.100.9"},
		{name: "mapped trusted peer", trusted: trusted, remote: "[::ffff:10.1.2.3]:80", xff: []string{"198.51.100.9"}, want: "198.51.100.9"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := NewClientIP(tc.trusted)
			require.NoError(t, err)
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.remote
			for _, x := range tc.xff {
				r.Header.Add("X-Forwarded-For", x)
			}
			got, ok := c.Resolve(r)
			require.True(t, ok)
			require.Equal(t, tc.want, got.String())
		})
	}
}

func TestClientIPNotAnIP(t *testing.T) {
	t.Parallel()
	c, err := NewClientIP(nil)
	require.NoError(t, err)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "@"
	_, ok := c.Resolve(r)
	require.False(t, ok)
}

func TestNewClientIPErrors(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]string{"bad cidr": "10.0.0.0/33", "bad address": "10.0.0", "word": "proxy"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := NewClientIP([]string{in})
			require.ErrorContains(t, err, "httpbouncer: trusted proxy")
		})
	}
}

func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.1:80", "1.2.3.4, 10.0.0.2")
	f.Add("[::1]:80", "[2001:db8::1]:80,junk")
	f.Add("garbage", ",,,")
	c, err := NewClientIP([]string{"10.0.0.0/8", "::1"})
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		a, ok := c.Resolve(r)
		if ok && (!a.IsValid() || a.Is4In6() || a.Zone() != "") {
			t.Fatalf("resolved %v from %q %q", a, remote, xff)
		}
		// What the upstream is told: the client first, every entry an
		// address, X-Real-IP the client.
		out := http.Header{}
		setForwarded(c, r, out)
		if !ok {
			if out.Get("X-Forwarded-For") != "" || out.Get("X-Real-Ip") != "" {
				t.Fatalf("forwarded %v for a non-IP peer %q", out, remote)
			}
			return
		}
		entries := strings.Split(out.Get("X-Forwarded-For"), ", ")
		if out.Get("X-Real-Ip") != a.String() || entries[0] != a.String() {
			t.Fatalf("forwarded %v, resolved %v", out, a)
		}
		for _, e := range entries {
			if _, err := netip.ParseAddr(e); err != nil {
				t.Fatalf("forwarded entry %q: %v", e, err)
			}
		}
	})
}
