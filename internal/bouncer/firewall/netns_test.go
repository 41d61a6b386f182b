package firewall

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The firewall tests need root (network namespaces, netfilter). They fail
// when not root, unless PHALANX_SKIP_NETNS=1 asks to skip them.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("PHALANX_SKIP_NETNS") == "1" {
		t.Skip("not root and PHALANX_SKIP_NETNS=1: firewall tests skipped")
	}
	t.Fatal("the firewall tests need root (network namespaces); set PHALANX_SKIP_NETNS=1 to skip them")
}

var nsSeq atomic.Int64

// topo is two namespaces joined by a veth pair: a server (10.99.0.1,
// fd99::1) and an attacker (10.99.0.2, fd99::2).
type topo struct {
	srv, att string
	attIf    string // the attacker's end of the veth pair
}

const (
	srvV4, attV4 = "10.99.0.1", "10.99.0.2"
	srvV6, attV6 = "fd99::1", "fd99::2"
)

func sh(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput() //nolint:gosec // test commands
	require.NoError(t, err, "%s: %s", strings.Join(args, " "), out)
	return string(out)
}

func newTopo(t testing.TB) topo {
	t.Helper()
	requireRoot(t)
	n := nsSeq.Add(1)
	vs, va := fmt.Sprintf("pv%ds%d", os.Getpid()%100000, n), fmt.Sprintf("pv%da%d", os.Getpid()%100000, n)
	tp := topo{srv: fmt.Sprintf("phx%ds%d", os.Getpid(), n), att: fmt.Sprintf("phx%da%d", os.Getpid(), n), attIf: va}
	sh(t, "ip", "netns", "add", tp.srv)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", tp.srv).Run() })
	sh(t, "ip", "netns", "add", tp.att)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", tp.att).Run() })
	sh(t, "ip", "link", "add", vs, "netns", tp.srv, "type", "veth", "peer", "name", va, "netns", tp.att)
	for _, c := range [][]string{
		{tp.srv, "ip", "addr", "add", srvV4 + "/24", "dev", vs},
		{tp.srv, "ip", "-6", "addr", "add", srvV6 + "/64", "dev", vs, "nodad"},
		{tp.srv, "ip", "link", "set", vs, "up"},
		{tp.srv, "ip", "link", "set", "lo", "up"},
		{tp.att, "ip", "addr", "add", attV4 + "/24", "dev", va},
		{tp.att, "ip", "-6", "addr", "add", attV6 + "/64", "dev", va, "nodad"},
		{tp.att, "ip", "link", "set", va, "up"},
		{tp.att, "ip", "link", "set", "lo", "up"},
	} {
		sh(t, append([]string{"ip", "netns", "exec"}, c...)...)
	}
	return tp
}

// withNetNS runs fn on an OS thread switched into the named namespace.
// Sockets created by fn stay in that namespace.
func withNetNS(name string, fn func()) error {
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer unix.Close(orig)
	target, err := unix.Open(filepath.Join("/run/netns", name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer func() {
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread() // else the thread dies with the goroutine
		}
	}()
	fn()
	return nil
}

// inNS is withNetNS failing the test on error.
func inNS(t testing.TB, name string, fn func()) {
	t.Helper()
	require.NoError(t, withNetNS(name, fn))
}

// dialIn returns a DialContext whose connections start from inside the
// namespace ns (for an http.Transport).
func dialIn(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		var err error
		if nerr := withNetNS(ns, func() {
			c, err = (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, network, addr)
		}); nerr != nil {
			return nil, nerr
		}
		return c, err
	}
}

// serve listens on port 8080 (IPv4 and IPv6) in the server namespace and
// answers "ok" to every connection.
func (tp topo) serve(t testing.TB) {
	t.Helper()
	serveOn(t, tp.srv, srvV4+":8080", "["+srvV6+"]:8080")
}

// serveOn listens on addrs inside namespace ns and answers "ok" to every
// connection, until the test ends.
func serveOn(t testing.TB, ns string, addrs ...string) {
	t.Helper()
	var lns []net.Listener
	inNS(t, ns, func() {
		for _, a := range addrs {
			ln, err := net.Listen("tcp", a)
			require.NoError(t, err)
			lns = append(lns, ln)
		}
	})
	for _, ln := range lns {
		t.Cleanup(func() { _ = ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				_, _ = c.Write([]byte("ok\n"))
				_ = c.Close()
			}
		}()
	}
}

// connect tries one connection from the attacker namespace to the server
// and reads its greeting, within timeout.
func (tp topo) connect(t testing.TB, v6 bool, timeout time.Duration) bool {
	t.Helper()
	addr := srvV4 + ":8080"
	if v6 {
		addr = "[" + srvV6 + "]:8080"
	}
	return connectFrom(t, tp.att, addr, timeout)
}

// connectFrom tries one connection from namespace ns to addr and reads
// its greeting, within timeout.
func connectFrom(t testing.TB, ns, addr string, timeout time.Duration) bool {
	t.Helper()
	var conn net.Conn
	var err error
	inNS(t, ns, func() {
		d := net.Dialer{Timeout: timeout}
		conn, err = d.Dial("tcp", addr)
	})
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && line == "ok\n"
}

// reachable reports whether a connection from the attacker gets through.
// The timeout is generous: a connection nothing drops is answered at
// once; the time only bounds a stall of a loaded machine.
func (tp topo) reachable(t testing.TB, v6 bool) bool {
	t.Helper()
	return tp.connect(t, v6, 15*time.Second)
}

// dropped reports whether a connection from the attacker was stopped by
// the bouncer's rules: it failed and their counters moved meanwhile (so a
// connection that is merely slow under load does not count).
func (tp topo) dropped(t testing.TB, k *kernel, v6 bool) bool {
	t.Helper()
	before := k.packets(t)
	if tp.connect(t, v6, time.Second) {
		return false
	}
	return k.packets(t) > before
}

// inSrv runs a command in the server namespace and returns its output.
func (tp topo) inSrv(t testing.TB, args ...string) string {
	t.Helper()
	return sh(t, append([]string{"ip", "netns", "exec", tp.srv}, args...)...)
}

// kernel reads what a firewall programmed through a backend of its own
// (a Backend serves one goroutine at a time: the firewall's stays with its
// Run loop).
type kernel struct{ be Backend }

func newKernel(t testing.TB, cfg Config) *kernel {
	t.Helper()
	be, err := NewBackend(cfg, testLogger(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = be.Close(false) })
	// The LAPI addresses the firewall installs, for Read's intactness.
	host, err := lapiHost(cfg.APIURL)
	require.NoError(t, err)
	lapi, err := resolveLAPI(context.Background(), defaultResolver, host)
	require.NoError(t, err)
	require.NoError(t, be.SetLAPI(lapi))
	return &kernel{be: be}
}

// state is the kernel's content (empty when the table is missing).
func (k *kernel) state(t testing.TB) State {
	t.Helper()
	st, err := k.be.Read()
	require.NoError(t, err)
	return st
}

// packets is what the drop rules counted so far (0 without a table).
func (k *kernel) packets(t testing.TB) uint64 {
	t.Helper()
	c, err := k.be.Counters()
	if err != nil {
		return 0
	}
	return c.Packets
}

// holds reports whether every prefix is an element of the sets.
func holds(st State, prefixes ...string) bool {
	for _, p := range prefixes {
		if _, ok := st.Elems[netip.MustParsePrefix(p)]; !ok {
			return false
		}
	}
	return true
}

// waitKernel waits until the kernel's content satisfies cond.
func (k *kernel) waitFor(t testing.TB, cond func(State) bool, msg string) {
	t.Helper()
	var last State
	ok := pollUntil(func() bool { last = k.state(t); return cond(last) })
	require.True(t, ok, "%s (kernel holds %v)", msg, last.Elems)
}

// waitDeadline bounds every wait for an observable condition: generous,
// so that a loaded machine only makes the tests slower, never wrong.
const waitDeadline = 90 * time.Second

// pollUntil polls cond every 100ms until it holds (true) or waitDeadline
// passes (false).
func pollUntil(cond func() bool) bool {
	end := time.Now().Add(waitDeadline)
	for {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// relay forwards the TCP connections it accepts on an address inside a
// namespace to a target reached from the test's own namespace.
type relay struct {
	mu       sync.Mutex
	conns    []net.Conn
	accepted atomic.Int64
	ended    atomic.Int64 // relayed connections whose client side ended (closed, reset)
}

func startRelay(t testing.TB, ns, listen, target string) *relay {
	t.Helper()
	var ln net.Listener
	inNS(t, ns, func() {
		var err error
		ln, err = net.Listen("tcp", listen)
		require.NoError(t, err)
	})
	r := &relay{}
	t.Cleanup(func() { _ = ln.Close(); r.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.accepted.Add(1)
			up, err := net.DialTimeout("tcp", target, 10*time.Second)
			if err != nil {
				_ = c.Close()
				continue
			}
			r.mu.Lock()
			r.conns = append(r.conns, c, up)
			r.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); r.ended.Add(1); _ = up.Close() }()
			go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
		}
	}()
	return r
}

// cut closes every connection relayed so far.
func (r *relay) cut() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conns {
		_ = c.Close()
	}
	r.conns = nil
}
