package httpbouncer

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// solve finds a nonce for challenge at bits (tests use few bits).
func solve(t testing.TB, challenge string, bits int) string {
	t.Helper()
	for n := 0; n < 1<<26; n++ {
		s := strconv.Itoa(n)
		if leadingZeroBits(challenge, s) >= bits {
			return s
		}
	}
	t.Fatal("no nonce found")
	return ""
}

func testChallenger(now *time.Time) *challenger {
	return &challenger{key: []byte(strings.Repeat("k", 32)), bits: 8, challengeTTL: 5 * time.Minute, passTTL: time.Hour,
		now: func() time.Time { return *now }}
}

func TestChallengeVerify(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	c := testChallenger(&now)
	ip := netip.MustParseAddr("198.51.100.9")
	ch := c.issue(ip, "/target?x=1")
	nonce := solve(t, ch, 8)
	bad := "0"
	for leadingZeroBits(ch, bad) >= 8 {
		bad += "0"
	}
	other := &challenger{key: []byte(strings.Repeat("x", 32)), bits: 8, challengeTTL: 5 * time.Minute, now: c.now}
	cases := []struct {
		name      string
		c         *challenger
		ip        string
		challenge string
		nonce     string
		redirect  string // default /target?x=1
		advance   time.Duration
		want      error
	}{
		{name: "solved", c: c, ip: "198.51.100.9", challenge: ch, nonce: nonce},
		{name: "wrong nonce", c: c, ip: "198.51.100.9", challenge: ch, nonce: bad, want: ErrWorkInsufficient},
		{name: "other client", c: c, ip: "198.51.100.10", challenge: ch, nonce: nonce, want: ErrChallengeForged},
		{name: "other key", c: other, ip: "198.51.100.9", challenge: ch, nonce: nonce, want: ErrChallengeForged},
		{name: "expired", c: c, ip: "198.51.100.9", challenge: ch, nonce: nonce, advance: 6 * time.Minute, want: ErrChallengeExpired},
		{name: "tampered redirect", c: c, ip: "198.51.100.9", challenge: ch, nonce: nonce, redirect: "/elsewhere", want: ErrChallengeForged},
		{name: "redirect dropped", c: c, ip: "198.51.100.9", challenge: ch, nonce: nonce, redirect: "-", want: ErrChallengeForged},
		{name: "tampered time", c: c, ip: "198.51.100.9", challenge: strings.Replace(ch, "v1.18", "v1.19", 1), nonce: nonce, want: ErrChallengeForged},
		{name: "empty nonce", c: c, ip: "198.51.100.9", challenge: ch, want: ErrChallengeMalformed},
		{name: "long nonce", c: c, ip: "198.51.100.9", challenge: ch, nonce: strings.Repeat("1", 65), want: ErrChallengeMalformed},
		{name: "garbage", c: c, ip: "198.51.100.9", challenge: "v1.x.y", nonce: "1", want: ErrChallengeMalformed},
		{name: "bad mac encoding", c: c, ip: "198.51.100.9", challenge: "v1.1.ab.!!", nonce: "1", want: ErrChallengeMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cc := *tc.c
			at := now.Add(tc.advance)
			cc.now = func() time.Time { return at }
			redirect := tc.redirect
			switch redirect {
			case "":
				redirect = "/target?x=1"
			case "-":
				redirect = ""
			}
			err := cc.verify(netip.MustParseAddr(tc.ip), tc.challenge, tc.nonce, redirect)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.want)
			require.ErrorContains(t, err, "httpbouncer: verify")
		})
	}
}

func TestPassCookie(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	c := testChallenger(&now)
	ip := netip.MustParseAddr("2001:db8::7")
	val, exp := c.pass(ip)
	require.Equal(t, now.Add(time.Hour), exp)
	require.True(t, c.validPass(ip, val))
	cases := map[string]struct {
		ip, val string
		advance time.Duration
	}{
		"other ip":       {ip: "2001:db8::8", val: val},
		"expired":        {ip: "2001:db8::7", val: val, advance: time.Hour},
		"extended":       {ip: "2001:db8::7", val: "1900000000" + val[strings.IndexByte(val, '.'):]},
		"no dot":         {ip: "2001:db8::7", val: "abc"},
		"bad signature":  {ip: "2001:db8::7", val: val[:len(val)-2] + "AA"},
		"bad base64":     {ip: "2001:db8::7", val: "1900000000.***"},
		"non numeric ts": {ip: "2001:db8::7", val: "x." + val},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			at := now.Add(tc.advance)
			cc := *c
			cc.now = func() time.Time { return at }
			require.False(t, cc.validPass(netip.MustParseAddr(tc.ip), tc.val))
		})
	}
}

func FuzzChallengeAnswer(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	c := testChallenger(&now)
	ip := netip.MustParseAddr("198.51.100.9")
	f.Add(c.issue(ip, "/"), "1", "/")
	f.Add("v1.1.2.3", "", "")
	f.Add("...", "x", "//evil")
	f.Fuzz(func(t *testing.T, ch, nonce, redirect string) {
		_ = c.verify(ip, ch, nonce, redirect)
		_ = c.validPass(ip, ch+nonce)
	})
}
