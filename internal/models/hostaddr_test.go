package models_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/models"
)

func TestParseHostAddr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in, want string // want "": refused
	}{
		{"ipv4", "192.0.2.1", "192.0.2.1"},
		{"ipv4 with port", "192.0.2.1:8080", "192.0.2.1"},
		{"ipv6", "2001:db8::1", "2001:db8::1"},
		{"ipv6 in brackets", "[2001:db8::1]", "2001:db8::1"},
		{"ipv6 with port", "[2001:db8::1]:443", "2001:db8::1"},
		{"mapped ipv4", "::ffff:192.0.2.1", "192.0.2.1"},
		{"mapped ipv4 with port", "[::ffff:192.0.2.1]:80", "192.0.2.1"},
		{"zone dropped", "fe80::1%eth0", "fe80::1"},
		{"zone with port", "[fe80::1%eth0]:22", "fe80::1"},
		{"loopback v6 peer", "[::1]:40001", "::1"},
		{"empty", "", ""},
		{"host name", "example.com:80", ""},
		{"port out of range", "192.0.2.1:70000", ""},
		{"non-numeric port", "192.0.2.1:http", ""},
		{"unbracketed ipv6 with port", "2001:db8::1:443:x", ""},
		{"truncated ipv4", "192.0.2", ""},
		{"unix socket peer", "@", ""},
		{"brackets around ipv4 and junk", "[192.0.2.1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, ok := models.ParseHostAddr(tc.in)
			if tc.want == "" {
				require.False(t, ok, "got %s", a)
				return
			}
			require.True(t, ok)
			require.Equal(t, tc.want, a.String())
		})
	}
}

func FuzzParseHostAddr(f *testing.F) {
	for _, s := range []string{"192.0.2.1:80", "[::ffff:1.2.3.4]:1", "fe80::1%eth0", "[", "::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, ok := models.ParseHostAddr(s)
		if !ok {
			return
		}
		if !a.IsValid() || a.Zone() != "" || a.Is4In6() {
			t.Fatalf("ParseHostAddr(%q) = %v", s, a)
		}
	})
}
