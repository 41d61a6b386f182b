package netguard

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"syscall"
)

// rawListener returns a non-blocking duplicate of a TCP listener's
// descriptor, registered with the runtime's poller, and its RawConn
// (whose Read waits for a connection to accept: the listener's own
// RawConn supports Control only); nil, nil for other listeners or on
// failure (the connections are then accepted through net).
func rawListener(ln net.Listener) (*os.File, syscall.RawConn) {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return nil, nil
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return nil, nil
	}
	dup := -1
	var derr error
	cerr := rc.Control(func(fd uintptr) {
		if dup, derr = syscall.Dup(int(fd)); derr != nil {
			return
		}
		syscall.CloseOnExec(dup)
		if derr = syscall.SetNonblock(dup, true); derr != nil {
			_ = syscall.Close(dup)
		}
	})
	if cerr != nil || derr != nil {
		return nil, nil
	}
	f := os.NewFile(uintptr(dup), "netguard-listener")
	raw, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, nil
	}
	return f, raw
}

// acceptRaw accepts from the listener's descriptor: a refused connection
// costs accept4, setsockopt (linger 0: a reset) and close, with no poller
// registration, address lookups or allocation, and every connection
// waiting in the backlog is taken in one wake-up. Under a flood of
// connections over max_conns that is most of what the server does, and
// about two thirds of what accepting through net costs (BenchmarkRefused:
// 14.8 vs 22.7 µs of server CPU per refused connection). An
// admitted connection becomes a net.Conn through net.FileConn.
func (ln *limitListener) acceptRaw() (net.Conn, error) {
	var (
		nfd  = -1
		key  netip.Prefix
		aerr error
		err  error
	)
	for nfd < 0 && aerr == nil && err == nil {
		err = ln.raw.Read(func(fd uintptr) bool { return ln.drain(int(fd), &nfd, &key, &aerr) })
		if nfd < 0 && aerr == nil && err == nil {
			// A batch of refusals is done: let the goroutines serving
			// admitted clients run before the next batch.
			runtime.Gosched()
		}
	}
	if errors.Is(err, os.ErrClosed) {
		err = net.ErrClosed // closed by Close: what a closed net.Listener answers
	}
	if err == nil {
		err = aerr
	}
	if err != nil {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: ln.Addr(), Err: err}
	}
	f := os.NewFile(uintptr(nfd), "")
	c, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		ln.l.release(key)
		// Out of descriptors (EMFILE) is temporary: the server waits
		// and accepts again.
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: ln.Addr(), Err: err}
	}
	ln.l.g.met.opened()
	return &countedConn{Conn: c, l: ln.l, key: key}, nil
}

// refuseBatch is how many connections drain refuses before it yields.
const refuseBatch = 32

// drain accepts from the listener descriptor fd until it admits a
// connection (*nfd, *key), fails (*aerr), has refused refuseBatch (true,
// nothing set: the caller yields and comes back) or finds the backlog
// empty (false: wait for the next connection). It is RawConn.Read's
// callback.
func (ln *limitListener) drain(fd int, nfd *int, key *netip.Prefix, aerr *error) bool {
	for refused := 0; refused < refuseBatch; {
		s, sa, err := syscall.Accept4(fd, syscall.SOCK_CLOEXEC)
		switch err {
		case nil:
		case syscall.EAGAIN:
			return false
		case syscall.EINTR, syscall.ECONNABORTED:
			continue
		default:
			*aerr = os.NewSyscallError("accept4", err)
			return true
		}
		k, reason := ln.l.admit(sockaddrAddr(sa))
		if reason == "" {
			*nfd, *key = s, k
			return true
		}
		ln.l.g.met.refused(reason)
		_ = syscall.SetsockoptLinger(s, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1})
		_ = syscall.Close(s)
		refused++
	}
	return true
}

// sockaddrAddr is the IP address of sa (invalid when not IP), IPv4-mapped
// IPv6 unmapped and the zone dropped, as connAddr.
func sockaddrAddr(sa syscall.Sockaddr) netip.Addr {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrFrom4(a.Addr)
	case *syscall.SockaddrInet6:
		return netip.AddrFrom16(a.Addr).Unmap()
	}
	return netip.Addr{}
}
