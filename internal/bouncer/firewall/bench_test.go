package firewall

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/bouncer"
	"github.com/phalanx-ids/phalanx/internal/bouncer/bouncertest"
	"github.com/phalanx-ids/phalanx/internal/models"
)

// benchDecisions is 100,000 decisions: 90% IPv4 addresses, 5% IPv6
// addresses, 5% IPv4 /24 networks.
func benchDecisions(n int) []bouncertest.Dec {
	out := make([]bouncertest.Dec, 0, n)
	for i := range n {
		switch {
		case i%20 == 0:
			idx := i / 20
			out = append(out, bouncertest.Dec{Scope: "Range", Value: fmt.Sprintf("172.%d.%d.0/24", 16+idx>>8, idx&255)})
		case i%20 == 1:
			out = append(out, bouncertest.Dec{Scope: "Ip", Value: fmt.Sprintf("2001:db8::%x:%x", i>>16, i&0xffff)})
		default:
			out = append(out, bouncertest.Dec{Scope: "Ip", Value: fmt.Sprintf("100.%d.%d.%d", (i>>16)&255, (i>>8)&255, i&255)})
		}
	}
	return out
}

// kernelMem is the kernel's unreclaimable slab plus vmalloc use, in bytes
// (where set memory is allocated).
func kernelMem(t testing.TB) int64 {
	t.Helper()
	f, err := os.Open("/proc/meminfo")
	require.NoError(t, err)
	defer f.Close()
	var total int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && (fields[0] == "SUnreclaim:" || fields[0] == "VmallocUsed:") {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			total += kb << 10
		}
	}
	return total
}

// BenchmarkFirewallStartup100k measures, in a fresh network namespace, the
// time from the firewall bouncer's start to 100,000 decisions (pulled from a
// real LAPI with startup=true) being in nftables, and the kernel memory
// the sets take. Run it with bench/firewall.
func BenchmarkFirewallStartup100k(b *testing.B) {
	const n = 100_000
	tp := newTopo(b)
	l := bouncertest.StartLAPI(b, "")
	key := l.BouncerKey(b, "bench")
	decs := benchDecisions(n)
	for i := 0; i < n; i += 5000 {
		l.AddMany(b, decs[i:min(i+5000, n)])
	}
	// Warm the LAPI (its index catches up with the inserts) with another
	// bouncer's startup pull, so that the figure is the bouncer's own.
	warm, err := apiclient.New(apiclient.Config{URL: l.URL, APIKey: apiclient.Secret(l.BouncerKey(b, "warm")), UserAgent: "warm/1"})
	require.NoError(b, err)
	resp, err := warm.DecisionsStream(context.Background(), apiclient.StreamFilter{Startup: true})
	require.NoError(b, err)
	require.Len(b, resp.New, n)
	for b.Loop() {
		before := kernelMem(b)
		cfg := Config{Backend: BackendNftables, NetNS: tp.srv, Config: bouncer.Config{
			APIURL: l.URL, APIKey: apiclient.Secret(key), Timeout: time.Minute}}.WithDefaults()
		start := time.Now()
		fw, err := New(cfg)
		require.NoError(b, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- fw.Run(ctx) }()
		select {
		case <-fw.Applied():
		case <-time.After(2 * time.Minute):
			b.Fatal("the snapshot was not applied within 2 minutes")
		}
		elapsed := time.Since(start)
		after := kernelMem(b)
		st, err := fw.be.(*nftBackend).Read()
		require.NoError(b, err)
		require.Equal(b, n, len(st.Elems), "elements in the kernel")
		cancel()
		require.NoError(b, <-done)
		b.ReportMetric(elapsed.Seconds(), "s-to-enforce")
		b.ReportMetric(float64(n)/elapsed.Seconds(), "decisions/s")
		b.ReportMetric(float64(after-before)/(1<<20), "kernel-MiB")
		fmt.Fprintf(os.Stderr, "firewall startup: %d decisions pulled and in nftables in %v (%.0f decisions/s); kernel memory +%.1f MiB (SUnreclaim+VmallocUsed)\n",
			n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), float64(after-before)/(1<<20))
	}
}

// BenchmarkNftablesApply100k measures the kernel transaction alone: one
// batch of 100,000 elements into fresh sets.
func BenchmarkNftablesApply100k(b *testing.B) {
	const n = 100_000
	tp := newTopo(b)
	cfg := Config{Backend: BackendNftables, NetNS: tp.srv, Config: bouncer.Config{APIURL: "http://x/", APIKey: "k"}}.WithDefaults()
	be, err := NewBackend(cfg, nil)
	require.NoError(b, err)
	defer be.Close(true)
	var batch Batch
	for _, d := range benchDecisions(n) {
		p, err := models.ParseIPOrRange(d.Value)
		require.NoError(b, err)
		batch.Add = append(batch.Add, Elem{Prefix: p, Timeout: 4 * time.Hour})
	}
	for b.Loop() {
		require.NoError(b, be.Init(false))
		start := time.Now()
		require.NoError(b, be.Apply(batch))
		b.ReportMetric(time.Since(start).Seconds(), "s-per-100k")
	}
}

// BenchmarkDesired100k measures computing what the kernel should hold
// from 100,000 decisions (benchDecisions, plus ranges holding loopback and
// the LAPI), with the protected holes and without (the cost of carving).
func BenchmarkDesired100k(b *testing.B) {
	decs := append(benchDecisions(100_000), bouncertest.Dec{Scope: "Range", Value: "0.0.0.0/0"},
		bouncertest.Dec{Scope: "Range", Value: "10.0.0.0/8"}, bouncertest.Dec{Scope: "Ip", Value: "127.0.0.1"})
	now := time.Now()
	st, err := bouncer.NewStream(bouncer.Config{APIURL: "http://10.1.2.3:8080/", APIKey: "k"})
	require.NoError(b, err)
	for i, d := range decs {
		p, err := models.ParseIPOrRange(d.Value)
		require.NoError(b, err)
		st.Set().Add(&bouncer.Decision{ID: int64(i + 1), Type: "ban", Scope: d.Scope, Value: d.Value, Prefix: p, Until: now.Add(time.Hour)})
	}
	for _, bc := range []struct {
		name  string
		holes []hole
	}{{"without-holes", nil}, {"with-holes", holes([]netip.Addr{netip.MustParseAddr("10.1.2.3")})}} {
		b.Run(bc.name, func(b *testing.B) {
			f := &Firewall{stream: st, types: map[string]bool{"ban": true}, holes: bc.holes, reported: map[netip.Prefix]string{},
				log: testLogger(b), met: newMetrics(nil)}
			b.ReportAllocs()
			for b.Loop() {
				if len(f.desired(now)) < 90_000 {
					b.Fatal("decisions lost")
				}
			}
		})
	}
}
