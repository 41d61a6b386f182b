package netguard_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/netguard"
)

// served is a guarded server running on a loopback port.
type served struct {
	g    *netguard.Guard
	addr string
	reg  *prometheus.Registry
	log  *syncBuffer
}

// serve runs h behind a Guard of cfg on 127.0.0.1:0 until the test ends.
func serve(t *testing.T, cfg netguard.Config, h http.Handler) *served {
	t.Helper()
	s := &served{reg: prometheus.NewRegistry(), log: &syncBuffer{}}
	g, err := netguard.New(cfg, netguard.Deps{Name: "test", Registerer: s.reg,
		Logger: slog.New(slog.NewTextHandler(s.log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	require.NoError(t, err)
	s.g = g
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, ln, h, netguard.ServeOptions{Grace: time.Second}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after cancel")
		}
	})
	return s
}

// dialFrom connects to addr from the loopback address src (127.0.0.x).
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// refusedAtOnce connects from src and reports whether the server closed
// the connection (the dial itself may see the reset).
func refusedAtOnce(t *testing.T, src, addr string) bool {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return errors.Is(err, syscall.ECONNRESET)
	}
	defer func() { _ = c.Close() }()
	return closedBy(c, 10*time.Second)
}

// closedBy waits (up to d) for the server to close c: a read returns
// EOF or a reset. It returns false if c is still open after d.
func closedBy(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return false
		}
		return true
	}
}

// readStatus reads an HTTP answer's status from c (0 if none arrives
// within d).
func readStatus(c net.Conn, d time.Duration) int {
	_ = c.SetReadDeadline(time.Now().Add(d))
	var buf bytes.Buffer
	b := make([]byte, 512)
	for {
		n, err := c.Read(b)
		buf.Write(b[:n])
		if bytes.Contains(buf.Bytes(), []byte("\r\n")) {
			var proto string
			var code int
			if _, serr := fmt.Sscanf(buf.String(), "%s %d", &proto, &code); serr == nil {
				return code
			}
		}
		if err != nil {
			return 0
		}
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func okHandler(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	_, _ = io.WriteString(w, "ok")
}

// metricValue reads a metric of the server's registry (labels: the
// server label is implied; more as name, value pairs).
func metricValue(t *testing.T, s *served, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := s.reg.Gather()
	require.NoError(t, err)
	want := map[string]string{"server": "test"}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if got[k] != v {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	return 0
}
