// Package guardtest performs the attacks netguard defends against, over
// real loopback connections, so that every server of Phalanx can prove in
// its own tests that it is guarded: Suite runs them all against a running
// server; the primitives (DialFrom, RefusedAtOnce, ClosedWithin,
// ReadStatus, Trickle) build more specific tests.
//
// Client addresses: on Linux the whole 127.0.0.0/8 is loopback, so a test
// plays several clients by binding 127.0.0.x as the source address.
package guardtest

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Target is a running server to attack. The server must be configured
// with the limits given here (short timeouts keep the suite fast), and
// with the attackers' addresses not exempt: Suite attacks from
// 127.0.0.71 to 127.0.0.75, one address per attack (a connection the
// server is still closing must not count against the next attack).
type Target struct {
	// Addr is host:port.
	Addr string
	// TLS dials with this client configuration; nil: plain TCP.
	TLS *tls.Config
	// Request is a request the server answers (any status) without a
	// body, e.g. "GET /health HTTP/1.1\r\nHost: x\r\n\r\n". Default: GET /.
	Request string
	// Method and Path of the request with a body the trickle attack sends
	// (default POST /), with Header (raw header lines, each ending in
	// "\r\n": the credentials a route needs to read the body).
	Method, Path, Header string
	// ReadHeaderTimeout, ReadTimeout and IdleTimeout the server uses.
	ReadHeaderTimeout, ReadTimeout, IdleTimeout time.Duration
	// MaxHeaderBytes the server uses.
	MaxHeaderBytes int
	// MaxConnsPerAddress the server uses (0: not attacked).
	MaxConnsPerAddress int
}

// attacker is the source address of Suite's n-th attack.
func attacker(n int) string { return fmt.Sprintf("127.0.0.%d", 71+n) }

// Suite runs every attack against tg as subtests:
//   - silent: a connection that never sends is closed after read_header_timeout;
//   - unfinished large headers: 431 once past max_header_bytes;
//   - trickled body: cut after read_timeout;
//   - idle keep-alive: closed after idle_timeout;
//   - connection flood: the connection beyond max_conns_per_address is closed at once.
func Suite(t *testing.T, tg Target) {
	t.Helper()
	if tg.Request == "" {
		tg.Request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	}
	if tg.Method == "" {
		tg.Method = "POST"
	}
	if tg.Path == "" {
		tg.Path = "/"
	}
	// Generous for a loaded machine, and still shorter than the defaults
	// a server would fall back to (read_header_timeout 10s).
	margin := func(d time.Duration) time.Duration { return 5*d + 5*time.Second }
	t.Run("silent connection closed", func(t *testing.T) {
		c := tg.Dial(t, attacker(0))
		require.True(t, ClosedWithin(c, margin(tg.ReadHeaderTimeout)), "a connection that sends nothing must be closed")
	})
	// The next two attacks must reach the server before its own
	// read_header_timeout (300 ms in the tests) cuts them, which a loaded
	// machine under -race can miss (the TLS handshake's end starts that
	// clock on the server's side): a connection closed before the attack
	// was sent or answered is tried again, three tries in all. A server
	// without the defence fails every try.
	const tries = 3
	t.Run("unfinished large headers refused", func(t *testing.T) {
		pad := bytes.Repeat([]byte("a"), 4*tg.MaxHeaderBytes+(64<<10))
		status := 0
		for try := 1; status == 0 && try <= tries; try++ {
			c := tg.Dial(t, attacker(1))
			go func() {
				_ = c.SetWriteDeadline(time.Now().Add(margin(tg.ReadHeaderTimeout)))
				_, _ = c.Write(append([]byte("GET / HTTP/1.1\r\nHost: x\r\nX-Pad: "), pad...))
			}()
			status = ReadStatus(c, margin(0))
			_ = c.Close()
		}
		require.Equal(t, 431, status, "headers past max_header_bytes are refused before read_header_timeout (%d tries)", tries)
	})
	t.Run("trickled body cut", func(t *testing.T) {
		var c net.Conn
		for try := 1; ; try++ {
			c = tg.Dial(t, attacker(2))
			_, err := fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: x\r\n%sContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n[",
				tg.Method, tg.Path, tg.Header)
			if err == nil {
				break
			}
			_ = c.Close()
			require.Less(t, try, tries, "the request head could not be sent in %d tries: %v", tries, err)
		}
		stop := Trickle(c, 20*time.Millisecond)
		defer stop()
		require.True(t, ClosedWithin(c, margin(tg.ReadTimeout)), "a trickled body must be cut after read_timeout")
	})
	t.Run("idle keep-alive closed", func(t *testing.T) {
		c := tg.Dial(t, attacker(3))
		_, err := io.WriteString(c, tg.Request)
		require.NoError(t, err)
		require.NotZero(t, ReadStatus(c, margin(0)), "the request is answered")
		require.True(t, ClosedWithin(c, margin(tg.IdleTimeout)), "an idle keep-alive connection must be closed")
	})
	if tg.MaxConnsPerAddress > 0 {
		t.Run("connection flood from one address", func(t *testing.T) {
			src := attacker(4)
			for range tg.MaxConnsPerAddress {
				c := tg.Dial(t, src)
				_ = c // held open until the test ends
			}
			// The server counts a connection once it accepts it: retry
			// until the one beyond the limit is refused.
			require.Eventually(t, func() bool { return RefusedAtOnce(t, src, tg.Addr) },
				margin(0), 20*time.Millisecond, "the connection beyond max_conns_per_address must be closed at once")
		})
	}
}

// Dial connects to tg from src (TLS when tg.TLS is set).
func (tg Target) Dial(t testing.TB, src string) net.Conn {
	t.Helper()
	c := DialFrom(t, src, tg.Addr)
	if tg.TLS == nil {
		return c
	}
	tc := tls.Client(c, tg.TLS)
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	require.NoError(t, tc.Handshake())
	_ = tc.SetDeadline(time.Time{})
	return tc
}

// DialFrom connects to addr from the loopback address src (127.0.0.x);
// the connection is closed when the test ends.
func DialFrom(t testing.TB, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// RefusedAtOnce connects from src and reports whether the server closes
// the connection within a second without answering (a reset may already
// fail the dial).
func RefusedAtOnce(t testing.TB, src, addr string) bool {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return errors.Is(err, syscall.ECONNRESET)
	}
	defer func() { _ = c.Close() }()
	return ClosedWithin(c, time.Second)
}

// ClosedWithin waits up to d for the server to close c (a read returns EOF
// or a reset; what the server sends first is read and dropped). It reports
// false when c is still open after d.
func ClosedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		return !(errors.As(err, &ne) && ne.Timeout())
	}
}

// ReadStatus reads the status of an HTTP answer from c (0 when none
// arrives within d). It reads the status line only.
func ReadStatus(c net.Conn, d time.Duration) int {
	_ = c.SetReadDeadline(time.Now().Add(d))
	var line []byte
	b := make([]byte, 1)
	for len(line) < 256 {
		if _, err := c.Read(b); err != nil {
			return 0
		}
		line = append(line, b[0])
		if b[0] == '\n' {
			var proto string
			var code int
			if _, err := fmt.Sscanf(strings.TrimSpace(string(line)), "%s %d", &proto, &code); err == nil {
				return code
			}
			return 0
		}
	}
	return 0
}

// Trickle writes one byte to c every interval until the write fails or
// stop is called (the slow-body attack).
func Trickle(c net.Conn, interval time.Duration) (stop func()) {
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if _, err := c.Write([]byte("1")); err != nil {
					return
				}
			}
		}
	}()
	return func() { close(done) }
}
