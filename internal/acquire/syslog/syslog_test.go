package syslog

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/acquire"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/netguard"
	"github.com/phalanx-ids/phalanx/internal/netguard/guardtest"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

var now = time.Date(2024, time.March, 5, 10, 0, 0, 0, time.UTC)

func TestParse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   string
		want string // Line(UTC), or "error"
		fmt  string
	}{
		{"rfc3164 classic", "<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed", "Oct 11 22:14:15 mymachine su[123]: 'su root' failed", "rfc3164"},
		{"rfc3164 space padded day", "<13>Mar  5 09:01:02 web sshd[42]: Failed password for root", "Mar  5 09:01:02 web sshd[42]: Failed password for root", "rfc3164"},
		{"rfc3164 zero padded day", "<13>Mar 05 09:01:02 web sshd: hi", "Mar  5 09:01:02 web sshd: hi", "rfc3164"},
		{"rfc3164 no host", "<13>Mar  5 09:01:02 sshd[42]: hello", "Mar  5 09:01:02  sshd[42]: hello", "rfc3164"},
		{"rfc3164 no tag", "<13>Mar  5 09:01:02 host just a message", "Mar  5 09:01:02 host just a message", "rfc3164"},
		{"rfc3164 rfc3339 time", "<13>2024-03-05T09:01:02.123+00:00 host app[7]: m", "Mar  5 09:01:02 host app[7]: m", "rfc3164"},
		{"rfc5424 full", `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 1234 ID47 [exampleSDID@32473 iut="3" eventSource="Appl]ication"] BOM'su root' failed`, "Oct 11 22:14:15 mymachine.example.com evntslog[1234]: BOM'su root' failed", "rfc5424"},
		{"rfc5424 nil values", "<13>1 2024-03-05T09:01:02Z host app - - - the msg", "Mar  5 09:01:02 host app: the msg", "rfc5424"},
		{"rfc5424 bom", "<13>1 2024-03-05T09:01:02Z host app 9 - - \xef\xbb\xbfbom msg", "Mar  5 09:01:02 host app[9]: bom msg", "rfc5424"},
		{"rfc5424 no msg", "<13>1 2024-03-05T09:01:02Z host app 9 ID -", "Mar  5 09:01:02 host app[9]: ", "rfc5424"},
		{"no pri", "Mar  5 09:01:02 host app: x", "error", ""},
		{"bad pri", "<999>Mar  5 09:01:02 host app: x", "error", ""},
		{"bad time", "<13>Foo  5 09:01:02 host app: x", "error", ""},
		{"empty", "", "error", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := Parse([]byte(tc.in), now, time.UTC)
			if tc.want == "error" {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.fmt, m.Format)
			require.Equal(t, tc.want, m.Line(time.UTC))
		})
	}
}

func TestRFC3164YearRollover(t *testing.T) {
	jan := time.Date(2025, time.January, 1, 0, 0, 5, 0, time.UTC)
	m, err := ParseRFC3164([]byte("<13>Dec 31 23:59:59 h a: x"), jan, time.UTC)
	require.NoError(t, err)
	require.Equal(t, 2024, m.Time.Year())
}

func TestReadFrame(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   string
		max  int
		want []string
		err  bool
	}{
		{"newline", "<13>a\n<13>b\n", 100, []string{"<13>a", "<13>b"}, false},
		{"octet counting", "5 <13>a6 <13>bc", 100, []string{"<13>a", "<13>bc"}, false},
		{"mixed and blank lines", "\n\n5 <13>a<13>b\n", 100, []string{"<13>a", "<13>b"}, false},
		{"newline cut at max", "<13>abcdefgh\n<13>x\n", 6, []string{"<13>ab", "<13>x"}, false},
		{"octet count too big", "50 <13>a", 10, nil, true},
		{"last message without newline", "<13>a", 100, []string{"<13>a"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := bufio.NewReader(strings.NewReader(tc.in))
			var got []string
			var err error
			for {
				var m []byte
				m, err = ReadFrame(r, tc.max)
				if len(m) > 0 {
					got = append(got, string(m))
				}
				if err != nil {
					break
				}
			}
			require.Equal(t, tc.want, got)
			if tc.err {
				require.ErrorContains(t, err, "max_message_len")
			}
		})
	}
}

type sink struct {
	mu    sync.Mutex
	lines []event.Line
	ch    chan struct{}
}

func (s *sink) emit(l event.Line) error {
	s.mu.Lock()
	s.lines = append(s.lines, l)
	s.mu.Unlock()
	select {
	case s.ch <- struct{}{}:
	default:
	}
	return nil
}

func (s *sink) wait(t *testing.T, n int) []event.Line {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		if len(s.lines) >= n {
			out := append([]event.Line(nil), s.lines...)
			s.mu.Unlock()
			return out
		}
		s.mu.Unlock()
		select {
		case <-s.ch:
		case <-deadline:
			t.Fatalf("timeout (10 s) waiting for %d lines", n)
		}
	}
}

func TestServerUDPAndTCP(t *testing.T) {
	t.Parallel()
	port := 0
	src, err := New(&Config{
		CommonConfig:  acquire.CommonConfig{Labels: map[string]string{"type": "syslog"}, Mode: acquire.ModeTail},
		ListenPort:    &port,
		MaxMessageLen: 512,
	}, acquire.Deps{})
	require.NoError(t, err)
	src.loc = time.UTC
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &sink{ch: make(chan struct{}, 1)}
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, s.emit) }()
	actx, acancel := context.WithTimeout(ctx, 10*time.Second)
	defer acancel()
	udpAddr, tcpAddr, err := src.Addrs(actx)
	require.NoError(t, err, "sockets not bound")
	require.Equal(t, udpAddr.(*net.UDPAddr).Port, tcpAddr.(*net.TCPAddr).Port, "listen_port 0: one port for both")

	u, err := net.Dial("udp", udpAddr.String())
	require.NoError(t, err)
	_, err = u.Write([]byte("<38>Mar  5 09:01:02 web sshd[42]: Failed password for root from 1.2.3.4 port 22 ssh2"))
	require.NoError(t, err)
	got := s.wait(t, 1)
	require.Equal(t, "Mar  5 09:01:02 web sshd[42]: Failed password for root from 1.2.3.4 port 22 ssh2", got[0].Raw)
	require.Equal(t, "127.0.0.1", got[0].Src)
	require.Equal(t, "syslog", got[0].Module)
	require.Equal(t, "syslog", got[0].Labels["type"])
	_, err = u.Write([]byte("not syslog at all")) // dropped
	require.NoError(t, err)
	require.NoError(t, u.Close())

	c, err := net.Dial("tcp", tcpAddr.String())
	require.NoError(t, err)
	m1 := "<13>1 2024-03-05T09:01:02Z host app 9 - - octet counted"
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", len(m1), m1)
	b.WriteString("<13>Mar  5 09:01:03 host app: newline framed\n")
	for i := range 100 {
		fmt.Fprintf(&b, "<13>Mar  5 09:01:04 host app: n%d\n", i)
	}
	_, err = c.Write([]byte(b.String()))
	require.NoError(t, err)
	got = s.wait(t, 103)
	require.Equal(t, "Mar  5 09:01:02 host app[9]: octet counted", got[1].Raw)
	require.Equal(t, "Mar  5 09:01:03 host app: newline framed", got[2].Raw)
	for i := range 100 {
		require.Equal(t, fmt.Sprintf("Mar  5 09:01:04 host app: n%d", i), got[3+i].Raw)
	}
	// cancel with a connection still open: Run returns
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("syslog server did not stop")
	}
	require.NoError(t, c.Close())
}

// When Run cannot bind, it returns the error and Addrs returns it too
// (a wait on Addrs must not outlive Run): the port is taken, for TCP or
// UDP, or listen_port 0's pairing keeps finding the UDP port taken.
func TestRunFailsBeforeBinding(t *testing.T) {
	t.Parallel()
	tcpTaken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { tcpTaken.Close() }) // after the parallel subtests
	udpTaken, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { udpTaken.Close() })
	tcpPort, udpPort, zero := tcpTaken.Addr().(*net.TCPAddr).Port, udpTaken.LocalAddr().(*net.UDPAddr).Port, 0
	cases := []struct {
		name     string
		protocol string
		port     *int
		udpInUse bool // every UDP bind fails with EADDRINUSE
		want     string
	}{
		{"tcp port taken", "tcp", &tcpPort, false, "syslog: listen tcp 127.0.0.1:" + strconv.Itoa(tcpPort)},
		{"udp port taken", "udp", &udpPort, false, "syslog: listen udp 127.0.0.1:" + strconv.Itoa(udpPort)},
		{"tcp port taken, both protocols", "", &tcpPort, false, "syslog: listen tcp 127.0.0.1:" + strconv.Itoa(tcpPort)},
		{"port 0: udp always taken", "", &zero, true, "syslog: listen udp 127.0.0.1:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, err := New(&Config{CommonConfig: acquire.CommonConfig{Mode: acquire.ModeTail}, Protocol: tc.protocol, ListenPort: tc.port}, acquire.Deps{})
			require.NoError(t, err)
			udpTries := 0
			if tc.udpInUse {
				src.listenUDP = func(context.Context, string) (net.PacketConn, error) {
					udpTries++
					return nil, &net.OpError{Op: "listen", Net: "udp", Err: os.NewSyscallError("bind", syscall.EADDRINUSE)}
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			addrs := make(chan error, 1)
			go func() { _, _, err := src.Addrs(ctx); addrs <- err }() // waiting before Run starts
			runErr := src.Run(ctx, (&sink{ch: make(chan struct{}, 1)}).emit)
			require.ErrorContains(t, runErr, tc.want)
			require.ErrorIs(t, runErr, syscall.EADDRINUSE)
			require.Equal(t, runErr, testutil.Recv(t, addrs, "Addrs returns once Run has"), "Addrs returns Run's error")
			if tc.udpInUse {
				require.Equal(t, pairTries, udpTries, "a new port per try, then it gives up")
			}
		})
	}
}

// listen_port 0 with both protocols: TCP's port is taken for UDP a few
// times (another program's UDP socket); a new port is tried each time,
// the listeners of the failed tries are closed, and both protocols end
// on one port.
func TestPortZeroRetriesTakenUDPPort(t *testing.T) {
	t.Parallel()
	port := 0
	src, err := New(&Config{CommonConfig: acquire.CommonConfig{Mode: acquire.ModeTail}, ListenPort: &port}, acquire.Deps{})
	require.NoError(t, err)
	var tried []net.Listener
	var udpAddrs []string
	listenTCP, listenUDP := src.listenTCP, src.listenUDP
	src.listenTCP = func(ctx context.Context, addr string) (net.Listener, error) {
		ln, err := listenTCP(ctx, addr)
		if err == nil {
			tried = append(tried, ln)
		}
		return ln, err
	}
	src.listenUDP = func(ctx context.Context, addr string) (net.PacketConn, error) {
		udpAddrs = append(udpAddrs, addr)
		if len(udpAddrs) <= 2 {
			return nil, &net.OpError{Op: "listen", Net: "udp", Err: os.NewSyscallError("bind", syscall.EADDRINUSE)}
		}
		return listenUDP(ctx, addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- src.Run(rctx, (&sink{ch: make(chan struct{}, 1)}).emit) }()
	udp, tcp, err := src.Addrs(ctx)
	require.NoError(t, err)
	require.Equal(t, udp.(*net.UDPAddr).Port, tcp.(*net.TCPAddr).Port)
	require.Len(t, udpAddrs, 3)
	require.Equal(t, tcp.String(), udpAddrs[2], "UDP on the port TCP got")
	require.Len(t, tried, 3)
	for i, ln := range tried[:2] {
		require.Equal(t, ln.Addr().String(), udpAddrs[i], "try %d: UDP on the port TCP got", i)
		_, err := ln.Accept()
		require.ErrorIs(t, err, net.ErrClosed, "try %d: the TCP listener is closed", i)
	}
	stop()
	require.NoError(t, testutil.Recv(t, done, "Run stops"))
}

func TestNewErrors(t *testing.T) {
	bad := 70000
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"protocol", Config{Protocol: "sctp"}, "protocol"},
		{"port", Config{ListenPort: &bad}, "listen_port"},
		{"cat", Config{CommonConfig: acquire.CommonConfig{Mode: "cat"}}, "cat mode"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(&tc.cfg, acquire.Deps{})
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed",
		`<165>1 2003-10-11T22:14:15.003Z host app 1 ID [a b="c\"]"][d] msg`,
		"<13>2024-03-05T09:01:02Z host app: m",
		"<13>1 - - - - - -",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b, now, time.UTC)
		if err != nil {
			return
		}
		_ = m.Line(time.UTC)
		if m.Priority < 0 || m.Priority > 191 {
			t.Fatalf("priority %d", m.Priority)
		}
	})
}

func FuzzReadFrame(f *testing.F) {
	f.Add([]byte("5 <13>a<13>b\n12 x"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(strings.NewReader(string(b)))
		for range 1000 {
			m, err := ReadFrame(r, 64)
			if len(m) > 64 {
				t.Fatalf("frame of %d bytes > max", len(m))
			}
			if err != nil {
				return
			}
		}
	})
}

// The TCP server bounds its connections (each holds a 64 KiB buffer): per
// address, and silent ones are closed after idle_timeout.
func TestTCPConnectionLimits(t *testing.T) {
	t.Parallel()
	port := 0
	src, err := New(&Config{
		CommonConfig: acquire.CommonConfig{Labels: map[string]string{"type": "syslog"}, Mode: acquire.ModeTail},
		Protocol:     "tcp", ListenPort: &port,
		Limits: netguard.Config{MaxConnsPerAddress: 2, IdleTimeout: 300 * time.Millisecond, Exempt: []string{}},
	}, acquire.Deps{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	s := &sink{ch: make(chan struct{}, 1)}
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, s.emit) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("syslog server did not stop")
		}
	})
	actx, acancel := context.WithTimeout(ctx, 10*time.Second)
	defer acancel()
	_, tcpAddr, err := src.Addrs(actx)
	require.NoError(t, err, "socket not bound")
	addr := tcpAddr.String()

	a := guardtest.DialFrom(t, "127.0.0.2", addr)
	guardtest.DialFrom(t, "127.0.0.2", addr)
	require.Eventually(t, func() bool { return guardtest.RefusedAtOnce(t, "127.0.0.2", addr) }, 10*time.Second, 20*time.Millisecond,
		"a third connection from one address is closed at once")
	// The others still deliver.
	_, err = a.Write([]byte("<13>Mar  5 09:01:03 host app: still here\n"))
	require.NoError(t, err)
	require.Equal(t, "Mar  5 09:01:03 host app: still here", s.wait(t, 1)[0].Raw)
	// Silent connections are closed after idle_timeout.
	require.True(t, guardtest.ClosedWithin(a, 10*time.Second))
}
