package httpbouncer

import (
	"net/http"
	"net/netip"
	"strings"
)

// setForwarded writes the headers that tell the upstream who the client
// is, replacing whatever the client sent under those names:
//
//   - X-Forwarded-For: the path from the client to this proxy, client
//     first: the client (resolved as ClientIP.Resolve does), the trusted
//     proxies it came through, then the direct peer. Entries left of the
//     client (anything an untrusted hop wrote) are dropped, each entry is
//     a bare address. An upstream that trusts this proxy and the same
//     trusted_proxies (nginx: set_real_ip_from for each, real_ip_recursive
//     on) finds the client; one that reads the leftmost entry too.
//   - X-Real-IP: the client alone (nginx: real_ip_header X-Real-IP with
//     set_real_ip_from this proxy's address).
//   - X-Forwarded-Proto: https or http, as ClientIP.IsHTTPS says.
//   - X-Forwarded-Host: the Host the client asked for.
//
// A unix socket peer gives no X-Forwarded-For nor X-Real-IP. Forwarded
// (RFC 7239) is removed: nothing vouches for it.
func setForwarded(ips *ClientIP, in *http.Request, out http.Header) {
	for _, h := range []string{"X-Forwarded-For", "X-Real-Ip", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded"} {
		out.Del(h)
	}
	var path []netip.Addr
	if client, ok := ips.walk(in, func(a netip.Addr) { path = append(path, a) }); ok {
		var b strings.Builder
		for i := len(path) - 1; i >= 0; i-- {
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			b.WriteString(path[i].String())
		}
		out.Set("X-Forwarded-For", b.String())
		out.Set("X-Real-Ip", client.String())
	}
	proto := "http"
	if ips.IsHTTPS(in) {
		proto = "https"
	}
	out.Set("X-Forwarded-Proto", proto)
	if in.Host != "" {
		out.Set("X-Forwarded-Host", in.Host)
	}
}
