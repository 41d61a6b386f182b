package firewall

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
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
	tp := topo{srv: fmt.Sprintf("phx%ds%d", os.Getpid(), n), att: fmt.Sprintf("phx%da%d", os.Getpid(), n)}
	vs, va := fmt.Sprintf("pv%ds%d", os.Getpid()%100000, n), fmt.Sprintf("pv%da%d", os.Getpid()%100000, n)
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

// inNS runs fn on an OS thread switched into the named namespace.
// Sockets created by fn stay in that namespace.
func inNS(t testing.TB, name string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	defer unix.Close(orig)
	target, err := unix.Open(filepath.Join("/run/netns", name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	defer unix.Close(target)
	require.NoError(t, unix.Setns(target, unix.CLONE_NEWNET))
	defer func() {
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread() // else the thread dies with the goroutine
		}
	}()
	fn()
}

// serve listens on port 8080 (IPv4 and IPv6) in the server namespace and
// answers "ok" to every connection.
func (tp topo) serve(t testing.TB) {
	t.Helper()
	var lns []net.Listener
	inNS(t, tp.srv, func() {
		for _, a := range []string{srvV4 + ":8080", "[" + srvV6 + "]:8080"} {
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

// reach tries one connection from the attacker namespace to the server.
func (tp topo) reach(t testing.TB, v6 bool) bool {
	t.Helper()
	addr := srvV4 + ":8080"
	if v6 {
		addr = "[" + srvV6 + "]:8080"
	}
	var conn net.Conn
	var err error
	inNS(t, tp.att, func() {
		d := net.Dialer{Timeout: 300 * time.Millisecond}
		conn, err = d.Dial("tcp", addr)
	})
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && line == "ok\n"
}

// inSrv runs a command in the server namespace and returns its output.
func (tp topo) inSrv(t testing.TB, args ...string) string {
	t.Helper()
	return sh(t, append([]string{"ip", "netns", "exec", tp.srv}, args...)...)
}
