package netguard_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/netguard"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// served is a guarded server running on a loopback port.
type served struct {
	g    *netguard.Guard
	addr string
	reg  *prometheus.Registry
	log  *testutil.Buffer
}

// serve runs h behind a Guard of cfg on 127.0.0.1:0 until the test ends.
func serve(t *testing.T, cfg netguard.Config, h http.Handler) *served {
	t.Helper()
	s := &served{reg: prometheus.NewRegistry(), log: &testutil.Buffer{}}
	g, err := netguard.New(cfg, netguard.Deps{Name: "test", Registerer: s.reg,
		Logger: s.log.Logger()})
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
