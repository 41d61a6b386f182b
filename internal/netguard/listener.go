package netguard

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
)

// connLimiter counts the open connections, in total and per address.
//
// Concurrency: safe for concurrent use.
type connLimiter struct {
	g     *Guard
	mu    sync.Mutex
	total int
	per   map[netip.Prefix]int
}

// Reasons a connection is refused (the metric's reason label).
const (
	reasonGlobal  = "max_conns"
	reasonPerAddr = "max_conns_per_address"
)

// admit counts a new connection from a, or says why it is refused.
func (l *connLimiter) admit(a netip.Addr) (key netip.Prefix, reason string) {
	lim := &l.g.lim
	exempt := Contains(lim.exempt, a)
	key = AddrKey(a)
	l.mu.Lock()
	defer l.mu.Unlock()
	if lim.connLimitOn {
		cap := lim.maxConns - lim.reserve
		if exempt {
			cap = lim.maxConns
		}
		if l.total >= cap {
			return key, reasonGlobal
		}
	}
	if lim.perAddrConnLimitOn && !exempt && key.IsValid() && l.per[key] >= lim.maxPerAddr {
		return key, reasonPerAddr
	}
	l.total++
	if key.IsValid() {
		l.per[key]++
	}
	return key, ""
}

func (l *connLimiter) release(key netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if key.IsValid() {
		if n := l.per[key] - 1; n > 0 {
			l.per[key] = n
		} else {
			delete(l.per, key)
		}
	}
}

// open is how many connections are counted now.
func (l *connLimiter) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// limitListener closes the connections the limits refuse as soon as they
// are accepted, and hands the others on.
//
// Concurrency: Accept may be called from several goroutines (http.Server
// calls it from one).
type limitListener struct {
	net.Listener
	l *connLimiter
	// raw is a duplicate of a TCP listener's descriptor, accepted from
	// directly (acceptRaw) so that a refused connection costs three
	// system calls; nil: through net (other listeners, other systems).
	raw     syscall.RawConn
	rawFile *os.File
}

func (g *Guard) newLimitListener(ln net.Listener, viaNet bool) *limitListener {
	l := &limitListener{Listener: ln, l: g.conns}
	if !viaNet {
		l.rawFile, l.raw = rawListener(ln)
	}
	return l
}

// Close closes the listener (and the duplicate descriptor of the raw
// path, which wakes a blocked Accept).
func (ln *limitListener) Close() error {
	if ln.rawFile != nil {
		_ = ln.rawFile.Close()
	}
	return ln.Listener.Close()
}

// Accept returns the next admitted connection; refused ones are closed
// (with a reset, freeing the socket at once) and counted, never returned.
func (ln *limitListener) Accept() (net.Conn, error) {
	if ln.raw != nil {
		return ln.acceptRaw()
	}
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key, reason := ln.l.admit(connAddr(c))
		if reason != "" {
			ln.l.g.met.refused(reason)
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = c.Close()
			continue
		}
		ln.l.g.met.opened()
		return &countedConn{Conn: c, l: ln.l, key: key}, nil
	}
}

// countedConn gives its slot back when closed (once).
type countedConn struct {
	net.Conn
	l      *connLimiter
	key    netip.Prefix
	closed atomic.Bool
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.l.release(c.key)
		c.l.g.met.closed()
	}
	return err
}

// CloseWrite half-closes the connection when the underlying one can (the
// HTTP server uses it to let a client read an error answer before the
// connection goes).
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
