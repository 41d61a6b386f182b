package lapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/lapi"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/store/storetest"
)

// BenchmarkIngest: alerts per second through POST /v1/alerts (batches of
// 50 overflows, profiles deciding a ban each), 4 agents in parallel.
func BenchmarkIngest(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			var st store.Store
			if backend == "sqlite" {
				st = openSQLite(b)
			} else {
				st = openPG(b, pgDSN(b))
			}
			srv := startServer(b, st, lapi.Config{JWTSecret: testSecret}, lapi.Deps{})
			const agents, batch = 4, 50
			for i := range agents {
				addMachine(b, st, fmt.Sprintf("agent%d", i), "pw", true)
			}
			clients := make([]func([]*models.Alert) error, agents)
			for i := range agents {
				c := agentClient(b, srv.url, fmt.Sprintf("agent%d", i), "pw")
				clients[i] = func(a []*models.Alert) error {
					_, err := c.PushAlerts(context.Background(), a)
					return err
				}
			}
			var seq atomic.Int64
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			var next atomic.Int64
			errs := make(chan error, agents)
			for i := range agents {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						alerts := make([]*models.Alert, batch)
						for j := range alerts {
							n := seq.Add(1)
							alerts[j] = overflow("crowdsecurity/ssh-bf", fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255))
						}
						if err := clients[i](alerts); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "alerts/s")
		})
	}
}

// BenchmarkStreamStartup: a bouncer's startup=true pull with
// storetest.BenchDecisionCount() (default 1,000,000) active decisions. The
// store is seeded once (b.Loop), e.g. -benchtime=3x.
func BenchmarkStreamStartup(b *testing.B) {
	n := storetest.BenchDecisionCount()
	st := openSQLite(b)
	t0 := time.Now()
	storetest.SeedDecisions(b, st, n)
	b.Logf("seeded %d decisions in %s", n, time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	srv := startServer(b, st, lapi.Config{}, lapi.Deps{})
	b.Logf("index built from the store in %s", time.Since(t0).Round(time.Millisecond))
	key := addBouncer(b, st, "fw")
	client := &http.Client{}
	var bytes int64
	var worst time.Duration
	for b.Loop() {
		start := time.Now()
		req, _ := http.NewRequest("GET", srv.url+"/v1/decisions/stream?startup=true", nil)
		req.Header.Set("X-Api-Key", key)
		resp, err := client.Do(req)
		require.NoError(b, err)
		k, err := io.Copy(io.Discard, resp.Body)
		require.NoError(b, err)
		_ = resp.Body.Close()
		require.Equal(b, http.StatusOK, resp.StatusCode)
		bytes = k
		worst = max(worst, time.Since(start))
	}
	b.ReportMetric(float64(bytes), "bytes/stream")
	b.ReportMetric(worst.Seconds(), "s/stream(max)")
	b.ReportMetric(float64(n), "decisions")
}

// BenchmarkPoll1000: incremental pulls of 1,000 bouncers (8 at a time)
// over 100,000 active decisions while new decisions arrive; reports the
// latency p50/p99 of one pull. One iteration is 800 pulls (8 workers x
// 100); the setup runs once (b.Loop), e.g. -benchtime=30x.
func BenchmarkPoll1000(b *testing.B) {
	const bouncers = 1000
	st := openSQLite(b)
	storetest.SeedDecisions(b, st, 100_000)
	srv := startServer(b, st, lapi.Config{}, lapi.Deps{})
	keys := make([]string, bouncers)
	for i := range keys {
		keys[i] = addBouncer(b, st, fmt.Sprintf("b%04d", i))
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	pull := func(key string, startup bool) time.Duration {
		start := time.Now()
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/decisions/stream?startup=%t", srv.url, startup), nil)
		req.Header.Set("X-Api-Key", key)
		req.Header.Set("User-Agent", "cs-firewall-bouncer/v0.0.31")
		resp, err := client.Do(req)
		if err != nil {
			b.Error(err)
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Errorf("status %d", resp.StatusCode)
		}
		return time.Since(start)
	}
	// Every bouncer starts, then pulls once, so that auth is warm.
	for _, k := range keys[:bouncers] {
		pull(k, true)
	}
	for _, k := range keys {
		pull(k, false)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // a trickle of new decisions
		for i := 0; ctx.Err() == nil; i++ {
			_, _ = st.CreateAlerts(ctx, "", []*models.Alert{decided("x", "Ip", "192.0.2.1",
				storetest.Dec{Type: "ban", Scope: "Ip", Value: fmt.Sprintf("172.16.%d.%d", i>>8&255, i&255), Origin: "cscli", Duration: "1h"})})
			time.Sleep(100 * time.Millisecond)
		}
	}()
	const workers, round = 8, 800
	var lat []time.Duration
	var k int
	stopProfile := measuredProfile(b)
	defer stopProfile()
	for b.Loop() {
		got := make([]time.Duration, round)
		var next atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1) - 1
					if i >= round {
						return
					}
					got[i] = pull(keys[(k+int(i))%bouncers], false)
				}
			}()
		}
		wg.Wait()
		k += round
		lat = append(lat, got...)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-p50")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "ms-p99")
}

// measuredProfile writes a CPU profile of the measured part of a benchmark
// to $PHALANX_BENCH_CPUPROFILE when set (-cpuprofile covers the setup too).
func measuredProfile(b *testing.B) func() {
	path := os.Getenv("PHALANX_BENCH_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	require.NoError(b, err)
	require.NoError(b, pprof.StartCPUProfile(f))
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}

// BenchmarkIndexMemory: what the decision index costs per active decision,
// built by lapi.New from a store of storetest.BenchDecisionCount()
// (default 1,000,000) decisions: live heap after GC (B/decision-heap), RSS
// growth (B/decision-rss) and the process RSS once built (MB-rss), then the
// time of a startup stream over it (s/stream). Run with -benchtime=1x.
func BenchmarkIndexMemory(b *testing.B) {
	n := storetest.BenchDecisionCount()
	st := openSQLite(b)
	t0 := time.Now()
	storetest.SeedDecisions(b, st, n)
	b.Logf("seeded %d decisions in %s", n, time.Since(t0).Round(time.Millisecond))
	key := addBouncer(b, st, "fw")
	for b.Loop() {
		heap0, rss0 := settledMemory(b)
		t0 := time.Now()
		srv, err := lapi.New(lapi.Config{}, lapi.Deps{Store: st})
		require.NoError(b, err)
		built := time.Since(t0)
		heap1, rss1 := settledMemory(b)
		b.ReportMetric(float64(heap1-heap0)/float64(n), "B/decision-heap")
		b.ReportMetric(float64(rss1-rss0)/float64(n), "B/decision-rss")
		b.ReportMetric(float64(rss1)/(1<<20), "MB-rss")
		b.ReportMetric(built.Seconds(), "s/build")
		hs := httptest.NewServer(srv.Handler())
		start := time.Now()
		req, _ := http.NewRequest("GET", hs.URL+"/v1/decisions/stream?startup=true", nil)
		req.Header.Set("X-Api-Key", key)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(b, err)
		k, err := io.Copy(io.Discard, resp.Body)
		require.NoError(b, err)
		_ = resp.Body.Close()
		b.ReportMetric(time.Since(start).Seconds(), "s/stream")
		b.ReportMetric(float64(k)/float64(n), "B/decision-stream")
		hs.Close()
		runtime.KeepAlive(srv)
	}
}

// settledMemory returns the live heap and the process RSS after a GC that
// returned freed memory to the OS.
func settledMemory(b *testing.B) (heap, rss uint64) {
	b.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	status, err := os.ReadFile("/proc/self/status")
	require.NoError(b, err)
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(b, err)
			rss = kb << 10
		}
	}
	return ms.HeapAlloc, rss
}

// BenchmarkOversizedPost: one authenticated POST /v1/alerts of 146,000
// small alerts (49 MiB, under the body limit), as in issue 8: the time of
// the request, the bytes allocated meanwhile (MB-alloc) and the answer's
// status. Run with -benchtime=1x.
func BenchmarkOversizedPost(b *testing.B) {
	const n = 146000
	st := openSQLite(b)
	srv := startServer(b, st, lapi.Config{}, lapi.Deps{})
	addMachine(b, st, "agent", "pw", true)
	agent := agentClient(b, srv.url, "agent", "pw")
	require.NoError(b, agent.Login(context.Background()))
	var body strings.Builder
	body.WriteString("[")
	for i := range n {
		if i > 0 {
			body.WriteString(",")
		}
		fmt.Fprintf(&body, `{"scenario":"crowdsecurity/ssh-bf","scenario_hash":"h","scenario_version":"1","message":"m","events_count":1,`+
			`"start_at":"2026-01-01T00:00:00Z","stop_at":"2026-01-01T00:00:01Z","capacity":5,"leakspeed":"10s","simulated":false,`+
			`"remediation":true,"events":[],"source":{"scope":"Ip","value":"10.%d.%d.%d","ip":"10.%d.%d.%d"}}`,
			i>>16&255, i>>8&255, i&255, i>>16&255, i>>8&255, i&255)
	}
	body.WriteString("]")
	tok := login(b, srv.url, "agent", "pw")
	for b.Loop() {
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		start := time.Now()
		req, _ := http.NewRequest("POST", srv.url+"/v1/alerts", strings.NewReader(body.String()))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", agentUA)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(b, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		b.ReportMetric(time.Since(start).Seconds(), "s/request")
		runtime.ReadMemStats(&m1)
		b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/(1<<20), "MB-alloc")
		b.ReportMetric(float64(resp.StatusCode), "status")
		b.ReportMetric(float64(body.Len())/(1<<20), "MiB-body")
	}
}
