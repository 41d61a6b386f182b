package netguard_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/netguard"
	"github.com/phalanx-ids/phalanx/internal/netguard/guardtest"
)

// The attack: a client sends its headers, then the body one byte at a
// time, holding a connection (and a goroutine) for as long as it likes.
// The whole request must arrive within read_timeout, or it is cut.
func TestTrickledBodyIsCut(t *testing.T) {
	t.Parallel()
	bodyErr := make(chan error, 1)
	s := serve(t, netguard.Config{ReadHeaderTimeout: 500 * time.Millisecond, ReadTimeout: time.Second},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, err := io.Copy(io.Discard, r.Body)
			bodyErr <- err
		}))
	c := guardtest.DialFrom(t, "127.0.0.1", s.addr)
	_, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
	require.NoError(t, err)
	stop := guardtest.Trickle(c, 20*time.Millisecond)
	defer stop()
	select {
	case err := <-bodyErr:
		require.Error(t, err, "the handler must see the body cut")
	case <-time.After(20 * time.Second):
		t.Fatal("a trickled body held the request past read_timeout")
	}
	require.True(t, guardtest.ClosedWithin(c, 20*time.Second), "the connection must be closed")
}

// The attack: many connections each send a huge header block that never
// ends. Each must be refused (431, or the connection cut) once it passes
// max_header_bytes, long before read_header_timeout, and the server must
// not hold the bytes.
func TestUnfinishedLargeHeadersRefused(t *testing.T) {
	const conns, pad = 100, 512 << 10
	s := serve(t, netguard.Config{MaxHeaderBytes: 16 << 10, ReadHeaderTimeout: 5 * time.Minute,
		ReadTimeout: 5 * time.Minute, MaxConnsPerAddress: -1}, http.HandlerFunc(okHandler))
	payload := append([]byte("GET / HTTP/1.1\r\nHost: x\r\nX-Pad: "), bytes.Repeat([]byte("a"), pad)...)

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	cs := make([]net.Conn, conns)
	var wg sync.WaitGroup
	for i := range cs {
		cs[i] = guardtest.DialFrom(t, "127.0.0.1", s.addr)
		wg.Go(func() {
			_ = cs[i].SetWriteDeadline(time.Now().Add(30 * time.Second))
			_, _ = cs[i].Write(payload) // fails once the server refuses
		})
	}
	wg.Wait()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("heap in use grew by %d KiB for %d connections with %d KiB of headers each", grown>>10, conns, pad>>10)
	require.Less(t, grown, int64(16<<20), "the server must not keep unfinished headers beyond max_header_bytes")

	for i, c := range cs {
		st := guardtest.ReadStatus(c, 20*time.Second)
		if st == 0 {
			require.True(t, guardtest.ClosedWithin(c, 20*time.Second), "connection %d: neither refused nor cut", i)
			continue
		}
		require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, st, "connection %d", i)
	}
}

func TestConnectionLimits(t *testing.T) {
	t.Parallel()
	t.Run("per address", func(t *testing.T) {
		t.Parallel()
		s := serve(t, netguard.Config{MaxConns: 100, MaxConnsPerAddress: 3, Exempt: []string{}}, http.HandlerFunc(okHandler))
		for range 3 {
			guardtest.DialFrom(t, "127.0.0.2", s.addr)
		}
		require.Eventually(t, func() bool { return s.g.OpenConns() == 3 }, 10*time.Second, 5*time.Millisecond)
		require.True(t, guardtest.RefusedAtOnce(t, "127.0.0.2", s.addr), "a fourth connection from one address is closed at once")
		require.Equal(t, 3, s.g.OpenConns())
		require.Equal(t, 1.0, metricValue(t, s, "phalanx_http_connections_refused_total", "reason", "max_conns_per_address"))
		// Another address is served.
		require.Equal(t, http.StatusOK, get(t, "127.0.0.3", "http://"+s.addr+"/"))
	})
	t.Run("global with a reserve for exempt addresses", func(t *testing.T) {
		t.Parallel()
		// max_conns 8: 7 for anyone, the last one for exempt addresses.
		s := serve(t, netguard.Config{MaxConns: 8, MaxConnsPerAddress: -1, Exempt: []string{"127.0.0.9"}}, http.HandlerFunc(okHandler))
		for i := range 7 {
			guardtest.DialFrom(t, fmt.Sprintf("127.0.1.%d", i+1), s.addr)
		}
		require.Eventually(t, func() bool { return s.g.OpenConns() == 7 }, 10*time.Second, 5*time.Millisecond)
		require.True(t, guardtest.RefusedAtOnce(t, "127.0.1.100", s.addr), "connection over max_conns is closed at once")
		require.Equal(t, 1.0, metricValue(t, s, "phalanx_http_connections_refused_total", "reason", "max_conns"))
		require.Equal(t, http.StatusOK, get(t, "127.0.0.9", "http://"+s.addr+"/"), "an exempt address uses the reserve")
	})
	t.Run("slots come back when connections close", func(t *testing.T) {
		t.Parallel()
		s := serve(t, netguard.Config{MaxConns: 100, MaxConnsPerAddress: 2, Exempt: []string{}}, http.HandlerFunc(okHandler))
		a, b := guardtest.DialFrom(t, "127.0.0.4", s.addr), guardtest.DialFrom(t, "127.0.0.4", s.addr)
		require.Eventually(t, func() bool { return s.g.OpenConns() == 2 }, 10*time.Second, 5*time.Millisecond)
		require.NoError(t, a.Close())
		require.NoError(t, b.Close())
		require.Eventually(t, func() bool { return s.g.OpenConns() == 0 }, 10*time.Second, 5*time.Millisecond)
		require.Equal(t, http.StatusOK, get(t, "127.0.0.4", "http://"+s.addr+"/"))
	})
}

// The attack: connections that send nothing, or nothing more after one
// request, each hold a socket and a goroutine. They are closed after
// read_header_timeout and idle_timeout.
func TestIdleConnectionsReaped(t *testing.T) {
	t.Parallel()
	s := serve(t, netguard.Config{ReadHeaderTimeout: 300 * time.Millisecond, IdleTimeout: 300 * time.Millisecond},
		http.HandlerFunc(okHandler))
	silent := guardtest.DialFrom(t, "127.0.0.1", s.addr)
	require.True(t, guardtest.ClosedWithin(silent, 20*time.Second), "a connection that never sends is closed")

	kept := guardtest.DialFrom(t, "127.0.0.1", s.addr)
	_, err := io.WriteString(kept, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, guardtest.ReadStatus(kept, 10*time.Second))
	require.True(t, guardtest.ClosedWithin(kept, 20*time.Second), "an idle keep-alive connection is closed")
	require.Eventually(t, func() bool { return s.g.OpenConns() == 0 }, 10*time.Second, 5*time.Millisecond)
}

func TestRequestRateLimit(t *testing.T) {
	t.Parallel()
	s := serve(t, netguard.Config{RequestRate: netguard.Rate(1.0 / 60), RequestBurst: 3, Exempt: []string{"127.0.0.1"}},
		http.HandlerFunc(okHandler))
	url := "http://" + s.addr + "/"
	for i := range 3 {
		require.Equal(t, http.StatusOK, get(t, "127.0.0.5", url), "request %d within the burst", i)
	}
	resp := do(t, "127.0.0.5", url)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	require.NoError(t, err)
	require.Greater(t, ra, 0)
	require.LessOrEqual(t, ra, 60)
	for range 10 {
		require.Equal(t, http.StatusOK, get(t, "127.0.0.1", url), "exempt addresses are not limited")
	}
	require.Equal(t, http.StatusOK, get(t, "127.0.0.6", url), "another address has its own bucket")
}

// A panic or an internal error must not reach the client: a generic
// message with the request id, the real one in the log with that id.
func TestPanicAnswersGenericError(t *testing.T) {
	t.Parallel()
	s := serve(t, netguard.Config{}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("store: open /var/lib/phalanx/secret.db: password=hunter2")
	}))
	resp := do(t, "127.0.0.1", "http://"+s.addr+"/")
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	id := resp.Header.Get("X-Request-Id")
	require.Len(t, id, 16)
	require.NotContains(t, string(body), "hunter2")
	require.NotContains(t, string(body), "store:")
	require.JSONEq(t, `{"message":"internal server error (request id `+id+`)"}`, string(body))
	require.Eventually(t, func() bool { return strings.Contains(s.log.String(), "request_id="+id) }, 5*time.Second, 5*time.Millisecond)
	require.Contains(t, s.log.String(), "hunter2", "the real error is logged")
	require.Equal(t, 1.0, metricValue(t, s, "phalanx_http_panics_total"))
}

// A long answer (a big decision stream) outlives write_timeout when its
// route extends the deadline as it writes; without, it is cut.
func TestExtendWrites(t *testing.T) {
	t.Parallel()
	const chunks = 30
	chunk := bytes.Repeat([]byte("x"), 1024)
	slow := func(extend bool) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if extend {
				w = netguard.ExtendWrites(w, time.Second)
			}
			tick := time.NewTicker(100 * time.Millisecond) // a slow producer: 3 s in all
			defer tick.Stop()
			for range chunks {
				<-tick.C
				if _, err := w.Write(chunk); err != nil {
					return
				}
				_ = http.NewResponseController(w).Flush()
			}
		})
	}
	for _, tc := range []struct {
		name   string
		extend bool
		whole  bool
	}{
		{name: "extended", extend: true, whole: true},
		{name: "not extended", extend: false, whole: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := serve(t, netguard.Config{WriteTimeout: time.Second}, slow(tc.extend))
			resp := do(t, "127.0.0.1", "http://"+s.addr+"/")
			b, err := io.ReadAll(resp.Body)
			if tc.whole {
				require.NoError(t, err)
				require.Len(t, b, chunks*len(chunk))
			} else {
				require.Less(t, len(b), chunks*len(chunk), "write_timeout cuts an answer that does not extend it")
			}
		})
	}
}

func TestServeStopsOnCancel(t *testing.T) {
	t.Parallel()
	g, err := netguard.New(netguard.Config{}, netguard.Deps{})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, ln, http.HandlerFunc(okHandler), netguard.ServeOptions{}) }()
	require.Equal(t, http.StatusOK, get(t, "127.0.0.1", "http://"+ln.Addr().String()+"/"))
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	_, err = net.DialTimeout("tcp", ln.Addr().String(), time.Second)
	require.Error(t, err, "the listener is closed")
}

// client returns an HTTP client whose connections come from src.
func client(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

func do(t *testing.T, src, url string) *http.Response {
	t.Helper()
	resp, err := client(src).Get(url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func get(t *testing.T, src, url string) int {
	t.Helper()
	return do(t, src, url).StatusCode
}
