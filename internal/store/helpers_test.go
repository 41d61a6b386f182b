package store_test

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/store"
)

func TestParseIPRange(t *testing.T) {
	cases := []struct {
		name, in, start, end string // hex of the 16-byte bounds
		err                  bool
	}{
		{"ipv4", "192.0.2.1", "00000000000000000000ffffc0000201", "00000000000000000000ffffc0000201", false},
		{"mapped ipv4 is ipv4", "::ffff:192.0.2.1", "00000000000000000000ffffc0000201", "00000000000000000000ffffc0000201", false},
		{"ipv4 cidr", "192.0.2.77/24", "00000000000000000000ffffc0000200", "00000000000000000000ffffc00002ff", false},
		{"ipv4 /0", "0.0.0.0/0", "00000000000000000000ffff00000000", "00000000000000000000ffffffffffff", false},
		{"mapped cidr", "::ffff:192.0.2.0/120", "00000000000000000000ffffc0000200", "00000000000000000000ffffc00002ff", false},
		{"ipv6", "2001:db8::1", "20010db8000000000000000000000001", "20010db8000000000000000000000001", false},
		{"ipv6 cidr", "2001:db8::/33", "20010db8000000000000000000000000", "20010db87fffffffffffffffffffffff", false},
		{"spaces trimmed", " 10.0.0.1 ", "00000000000000000000ffff0a000001", "00000000000000000000ffff0a000001", false},
		{"garbage", "nope", "", "", true},
		{"bad prefix", "10.0.0.0/33", "", "", true},
		{"zone", "fe80::1%eth0", "", "", true},
		{"empty", "", "", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := store.ParseIPRange(tc.in)
			if tc.err {
				require.ErrorIs(t, err, store.ErrInvalid)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.start, hex.EncodeToString(r.Start[:]))
			require.Equal(t, tc.end, hex.EncodeToString(r.End[:]))
		})
	}
}

func TestIPRangeContains(t *testing.T) {
	mk := func(s string) store.IPRange { r, err := store.ParseIPRange(s); require.NoError(t, err); return r }
	require.True(t, mk("10.0.0.0/8").Contains(mk("10.1.2.3")))
	require.True(t, mk("10.0.0.0/8").Contains(mk("10.0.0.0/8")))
	require.False(t, mk("10.0.0.0/8").Contains(mk("11.0.0.1")))
	require.False(t, mk("10.0.0.0/24").Contains(mk("10.0.0.0/8")))
	require.False(t, mk("2001:db8::/32").Contains(mk("10.0.0.1")))
}

func TestDecisionRange(t *testing.T) {
	_, ok, err := store.DecisionRange("Country", "FR")
	require.NoError(t, err)
	require.False(t, ok)
	_, ok, err = store.DecisionRange("ip", "10.0.0.1")
	require.NoError(t, err)
	require.True(t, ok)
	_, _, err = store.DecisionRange("Range", "10.0.0.1/40")
	require.ErrorIs(t, err, store.ErrInvalid)
}

func TestHashAPIKey(t *testing.T) {
	// SHA-512 of "abc" (FIPS 180-2 test vector).
	require.Equal(t, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
		store.HashAPIKey("abc"))
}

func TestDecisionModel(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := &store.Decision{ID: 7, Origin: "cscli", Type: "ban", Scope: "Ip", Value: "10.0.0.1", Scenario: "manual",
		Until: now.Add(-2500 * time.Millisecond)}
	m := d.Model(now)
	require.Equal(t, "-3s", *m.Duration)
	require.Equal(t, "2025-12-31T23:59:57Z", m.Until)
	require.False(t, d.Active(now))
	require.EqualValues(t, 7, m.ID)
}
