package httpbouncer

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Errors of the challenge verification (wrapped; test with errors.Is).
var (
	ErrChallengeMalformed = errors.New("malformed challenge")
	ErrChallengeForged    = errors.New("challenge not issued to this client")
	ErrChallengeExpired   = errors.New("challenge expired")
	ErrWorkInsufficient   = errors.New("nonce does not solve the challenge")
)

const (
	challengeVersion = "v1"
	maxNonceLen      = 64
	macTagChallenge  = "phalanx-pow-challenge\x00"
	macTagPass       = "phalanx-pow-pass\x00"
)

// challenger issues proof-of-work challenges bound to a client address and
// verifies the answers; a solved challenge earns a pass cookie (HMAC over
// the address and an expiry). It keeps no state: everything it needs to
// verify travels in the challenge and the cookie, authenticated by key.
//
// Concurrency: immutable; safe for concurrent use.
type challenger struct {
	key          []byte
	bits         int
	challengeTTL time.Duration
	passTTL      time.Duration
	now          func() time.Time
}

func (c *challenger) mac(tag string, ip netip.Addr, rest ...string) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(tag))
	var buf [16]byte
	m.Write(ip.AppendTo(buf[:0]))
	for _, s := range rest {
		m.Write([]byte{0})
		m.Write([]byte(s))
	}
	return m.Sum(nil)
}

// issue returns a fresh challenge for ip that sends it back to redirect
// once solved: "v1.<unix issue time>.<random hex>.<mac>", the MAC covering
// the address, the time, the random part and redirect (which travels
// beside the challenge, in the answer form).
func (c *challenger) issue(ip netip.Addr, redirect string) string {
	var rnd [12]byte
	_, _ = rand.Read(rnd[:]) // crypto/rand.Read never fails (Go >= 1.24)
	issued := strconv.FormatInt(c.now().Unix(), 10)
	r := hex.EncodeToString(rnd[:])
	sum := c.mac(macTagChallenge, ip, issued, r, redirect)
	return challengeVersion + "." + issued + "." + r + "." + base64.RawURLEncoding.EncodeToString(sum[:16])
}

// verify checks that challenge was issued to ip with this redirect
// (ErrChallengeForged otherwise: a redirect changed after issue is
// refused), is still fresh, and that SHA-256(challenge || nonce) starts
// with c.bits zero bits. The MAC is checked before the time and the work:
// ErrChallengeExpired and ErrWorkInsufficient mean redirect is authentic.
func (c *challenger) verify(ip netip.Addr, challenge, nonce, redirect string) error {
	parts := strings.Split(challenge, ".")
	if len(parts) != 4 || parts[0] != challengeVersion || nonce == "" || len(nonce) > maxNonceLen {
		return fmt.Errorf("httpbouncer: verify: %w", ErrChallengeMalformed)
	}
	issued, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return fmt.Errorf("httpbouncer: verify: %w", ErrChallengeMalformed)
	}
	got, err := base64.RawURLEncoding.DecodeString(parts[3])
	if err != nil {
		return fmt.Errorf("httpbouncer: verify: %w", ErrChallengeMalformed)
	}
	want := c.mac(macTagChallenge, ip, parts[1], parts[2], redirect)[:16]
	if !hmac.Equal(got, want) {
		return fmt.Errorf("httpbouncer: verify: %w", ErrChallengeForged)
	}
	age := c.now().Sub(time.Unix(issued, 0))
	if age > c.challengeTTL || age < -time.Minute {
		return fmt.Errorf("httpbouncer: verify: %w", ErrChallengeExpired)
	}
	if leadingZeroBits(challenge, nonce) < c.bits {
		return fmt.Errorf("httpbouncer: verify: %w", ErrWorkInsufficient)
	}
	return nil
}

// leadingZeroBits counts the leading zero bits of SHA-256(challenge||nonce).
func leadingZeroBits(challenge, nonce string) int {
	h := sha256.New()
	h.Write([]byte(challenge))
	h.Write([]byte(nonce))
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	n := 0
	for _, b := range sum {
		if b != 0 {
			return n + bits.LeadingZeros8(b)
		}
		n += 8
	}
	return n
}

// pass returns the cookie value proving ip solved a challenge, valid until
// now + passTTL: "<unix expiry>.<mac>".
func (c *challenger) pass(ip netip.Addr) (value string, expires time.Time) {
	expires = c.now().Add(c.passTTL).Truncate(time.Second)
	exp := strconv.FormatInt(expires.Unix(), 10)
	return exp + "." + base64.RawURLEncoding.EncodeToString(c.mac(macTagPass, ip, exp)), expires
}

// validPass reports whether value is an unexpired pass cookie for ip.
func (c *challenger) validPass(ip netip.Addr, value string) bool {
	exp, sig, ok := strings.Cut(value, ".")
	if !ok {
		return false
	}
	t, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || c.now().Unix() >= t {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return false
	}
	return hmac.Equal(got, c.mac(macTagPass, ip, exp))
}
