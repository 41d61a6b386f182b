package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/netguard"
	"github.com/phalanx-ids/phalanx/internal/netguard/guardtest"
)

// The slow-client attacks against a bouncer's /metrics server.
func TestBouncerMetricsResistsSlowClients(t *testing.T) {
	t.Parallel()
	var out, errw bytes.Buffer
	a := &app{out: &out, err: &errw}
	limits := netguard.Config{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: time.Second,
		IdleTimeout: 300 * time.Millisecond, MaxConnsPerAddress: 3}
	reg := newBouncerRegistry()
	stop, err := serveMetricsLimited(a, "bouncer test", "127.0.0.1:0", reg, limits)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, stop()) })
	_, rest, ok := strings.Cut(errw.String(), "metrics on http://")
	require.True(t, ok, errw.String())
	addr, _, _ := strings.Cut(rest, "/metrics")
	guardtest.Suite(t, guardtest.Target{Addr: addr, Request: "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
		ReadHeaderTimeout: limits.ReadHeaderTimeout, ReadTimeout: limits.ReadTimeout, IdleTimeout: limits.IdleTimeout,
		MaxHeaderBytes: 32 << 10, MaxConnsPerAddress: limits.MaxConnsPerAddress})
}
