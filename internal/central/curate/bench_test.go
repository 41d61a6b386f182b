package curate

import (
	"net/netip"
	"runtime"
	"testing"
)

// BenchmarkMemory1M: heap held by the engine for 1,000,000 active
// addresses (one report each, a listing on none), and the ingestion rate.
func BenchmarkMemory1M(b *testing.B) {
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		e, _ := newEngine(&testing.T{})
		crowd(e)
		for i := range 1_000_000 {
			ip := netip.AddrFrom4([4]byte{byte(1 + i>>24%200), byte(i >> 16), byte(i >> 8), byte(i)})
			e.Ingest(Signal{Install: []string{"a", "b", "c"}[i%3], IP: ip, Scenario: "crowdsecurity/ssh-bf", Version: "1.0", Hash: goodHash})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB/1M-IPs")
		runtime.KeepAlive(e)
	}
}
