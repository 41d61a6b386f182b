package cli

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// newBouncerRegistry returns a bouncer process's metrics registry, with the
// Go runtime and process collectors.
func newBouncerRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// serveBouncerMetrics serves reg on addr at /metrics until the returned
// close function is called; name ("bouncer http") prefixes errors and the
// line telling where the metrics are.
func serveBouncerMetrics(a *app, name, addr string, reg *prometheus.Registry) (func() error, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: metrics: listen: %w", name, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	fmt.Fprintf(a.err, "%s: metrics on http://%s/metrics\n", name, ln.Addr())
	return srv.Close, nil
}
