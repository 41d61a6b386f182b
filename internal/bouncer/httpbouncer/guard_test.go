package httpbouncer

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/bouncer"
	"github.com/phalanx-ids/phalanx/internal/netguard"
	"github.com/phalanx-ids/phalanx/internal/netguard/guardtest"
)

// The slow-client attacks of issue 8 item 2 against the reverse proxy
// (500 unfinished 1 MB headers took it from 27 MB to 1.19 GB before). No
// LAPI is needed: the proxy serves (fail open) while it retries the
// stream.
func TestProxyResistsSlowClients(t *testing.T) {
	t.Parallel()
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	lapiURL := "http://" + dead.Addr().String() + "/"
	require.NoError(t, dead.Close())
	limits := netguard.Config{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: time.Second,
		IdleTimeout: 300 * time.Millisecond, MaxConnsPerAddress: 3}
	p, err := NewProxy(ProxyConfig{
		Config:   bouncer.Config{APIURL: lapiURL, APIKey: bouncerSecret("k"), UpdateFrequency: time.Minute, UserAgent: "phalanx-http-bouncer/test"},
		Upstream: readingUpstream(t), Limits: limits,
	})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("proxy: Run did not return")
		}
	})
	guardtest.Suite(t, guardtest.Target{Addr: ln.Addr().String(), ReadHeaderTimeout: limits.ReadHeaderTimeout,
		ReadTimeout: limits.ReadTimeout, IdleTimeout: limits.IdleTimeout, MaxHeaderBytes: 64 << 10,
		MaxConnsPerAddress: limits.MaxConnsPerAddress})
}

// readingUpstream is an application that reads the whole body before
// answering (so that a trickled body is read through the proxy).
func readingUpstream(t *testing.T) string {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)
	return up.URL
}
