package cli

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/phalanx-ids/phalanx/internal/netguard"
)

// newBouncerRegistry returns a bouncer process's metrics registry, with the
// Go runtime and process collectors.
func newBouncerRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// serveBouncerMetrics serves reg on addr at /metrics, hardened by
// netguard (netguard.MetricsDefaults), until the returned close function
// is called; name ("bouncer http") prefixes errors and the line telling
// where the metrics are.
func serveBouncerMetrics(a *app, name, addr string, reg *prometheus.Registry) (func() error, error) {
	return serveMetricsLimited(a, name, addr, reg, netguard.Config{})
}

// serveMetricsLimited is serveBouncerMetrics with limits (zero fields take
// netguard.MetricsDefaults).
func serveMetricsLimited(a *app, name, addr string, reg *prometheus.Registry, limits netguard.Config) (func() error, error) {
	g, err := netguard.New(limits.Or(netguard.MetricsDefaults()), netguard.Deps{Name: "bouncer_metrics",
		Logger: a.logger(), Registerer: reg, Render: netguard.RenderText})
	if err != nil {
		return nil, fmt.Errorf("%s: metrics: %w", name, err)
	}
	ln, err := netguard.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: metrics: listen: %w", name, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, ln, mux, netguard.ServeOptions{Grace: time.Second}) }()
	fmt.Fprintf(a.err, "%s: metrics on http://%s/metrics\n", name, ln.Addr())
	return func() error {
		cancel()
		return <-done
	}, nil
}
