package netguard

import (
	"net"
	"net/http"
	"net/netip"

	"github.com/phalanx-ids/phalanx/internal/models"
)

// AddrKey is the key per-address limits count a client under: an IPv4
// address (IPv4-mapped IPv6 unmapped) as a /32, an IPv6 address as its
// /64 (one host usually holds a whole /64). The zero Prefix stands for
// clients without an IP address (Unix sockets).
func AddrKey(a netip.Addr) netip.Prefix {
	if !a.IsValid() {
		return netip.Prefix{}
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.Prefix(64)
	return p
}

// PeerAddr is the TCP peer address of r (invalid for Unix sockets).
func PeerAddr(r *http.Request) netip.Addr {
	a, _ := models.ParseHostAddr(r.RemoteAddr)
	return a
}

// connAddr is the peer address of a connection (invalid when not IP).
func connAddr(c net.Conn) netip.Addr {
	switch a := c.RemoteAddr().(type) {
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap().WithZone("")
	case nil:
		return netip.Addr{}
	default:
		p, _ := models.ParseHostAddr(a.String())
		return p
	}
}

// Contains reports whether a is in one of ps.
func Contains(ps []netip.Prefix, a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
