package httpbouncer

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/phalanx-ids/phalanx/internal/models"
)

// ClientIP finds the address a request comes from: the direct peer
// (RemoteAddr), or, when the peer is a trusted proxy, the X-Forwarded-For
// chain walked right to left skipping trusted proxies. The first untrusted
// hop is the client. An entry that does not parse ends the walk: the client
// is then the nearest trusted hop (only a trusted proxy could have written
// past it). When every hop is trusted, the leftmost one is the client.
// IPv4-mapped IPv6 addresses are unmapped.
//
// Concurrency: immutable after NewClientIP; safe for concurrent use.
type ClientIP struct {
	trusted []netip.Prefix
}

// NewClientIP compiles the trusted proxies (addresses or CIDR prefixes).
func NewClientIP(trusted []string) (*ClientIP, error) {
	c := &ClientIP{}
	for _, s := range trusted {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := models.ParseIPOrRange(s)
		if err != nil {
			return nil, fmt.Errorf("httpbouncer: trusted proxy %q: %w", s, err)
		}
		c.trusted = append(c.trusted, p)
	}
	return c, nil
}

func (c *ClientIP) isTrusted(a netip.Addr) bool {
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Resolve returns the client address of r; ok is false when RemoteAddr does
// not hold an IP (a unix socket peer, for instance).
func (c *ClientIP) Resolve(r *http.Request) (netip.Addr, bool) { return c.walk(r, nil) }

// walk resolves the client address of r. hop, when not nil, is called with
// each address on the way from the direct peer (first) back to the client
// (last): the path the request is known to have taken.
func (c *ClientIP) walk(r *http.Request, hop func(netip.Addr)) (netip.Addr, bool) {
	peer, ok := models.ParseHostAddr(r.RemoteAddr)
	if !ok {
		return netip.Addr{}, false
	}
	if hop != nil {
		hop(peer)
	}
	if len(c.trusted) == 0 || !c.isTrusted(peer) {
		return peer, true
	}
	hdrs := r.Header["X-Forwarded-For"]
	client := peer
	// Walk the headers last to first, each one right to left.
	for i := len(hdrs) - 1; i >= 0; i-- {
		h := hdrs[i]
		for h != "" {
			var part string
			if j := strings.LastIndexByte(h, ','); j >= 0 {
				part, h = h[j+1:], h[:j]
			} else {
				part, h = h, ""
			}
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			a, ok := models.ParseHostAddr(part)
			if !ok {
				return client, true
			}
			client = a
			if hop != nil {
				hop(a)
			}
			if !c.isTrusted(a) {
				return a, true
			}
		}
	}
	return client, true
}

// IsHTTPS reports whether the client asked over HTTPS: r came over TLS,
// or r comes from a trusted proxy (the direct peer) whose
// X-Forwarded-Proto (its last value: the one the nearest proxy wrote) is
// https. An untrusted peer's X-Forwarded-Proto is ignored.
func (c *ClientIP) IsHTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	vals := r.Header.Values("X-Forwarded-Proto")
	if len(vals) == 0 {
		return false
	}
	if peer, ok := models.ParseHostAddr(r.RemoteAddr); !ok || !c.isTrusted(peer) {
		return false
	}
	last := vals[len(vals)-1]
	if j := strings.LastIndexByte(last, ','); j >= 0 {
		last = last[j+1:]
	}
	return strings.EqualFold(strings.TrimSpace(last), "https")
}
