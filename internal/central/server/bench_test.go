package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/phalanx-ids/phalanx/internal/central/centralstore"
	"github.com/phalanx-ids/phalanx/internal/central/centralstore/cstest"
	"github.com/phalanx-ids/phalanx/internal/netguard"
)

// BenchmarkStreamFull15k: a full stream pull (startup=true) of a
// 15,000-entry list over loopback HTTP; the incremental pull with nothing
// new is the baseline of the same run.
func BenchmarkStreamFull15k(b *testing.B) {
	c := startCentral(b, Config{PullRate: 1e6, PullBurst: 1e6})
	ctx := context.Background()
	now := time.Now()
	var ls []centralstore.Listing
	var evs []centralstore.FeedEvent
	for i := range 15000 {
		ip := fmt.Sprintf("%d.%d.%d.%d", 1+i%200, (i/200)%250, i%251, 1+i%250)
		ls = append(ls, centralstore.Listing{IP: ip, Tier: "community", Scenarios: []string{sshBF}, ListedAt: now, ExpiresAt: now.Add(4 * time.Hour)})
		evs = append(evs, centralstore.FeedEvent{Op: "add", IP: ip, Tier: "community", Scenarios: []string{sshBF}, ExpiresAt: now.Add(4 * time.Hour), At: now})
	}
	if err := c.st.ApplyChanges(ctx, centralstore.Changes{Listings: ls, Events: evs}); err != nil {
		b.Fatal(err)
	}
	in := c.newInstall(b, "11.1.1.10")
	pull := func(path string) int {
		req, _ := http.NewRequest("GET", c.url+path, nil)
		req.Header.Set("Authorization", "Bearer "+in.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("pull: %d", resp.StatusCode)
		}
		return int(n)
	}
	for c.srv.list.Len() < 15000 {
		time.Sleep(10 * time.Millisecond)
	}
	// cpu-ms/pull is the process's CPU time (central and client) per
	// pull: on a loaded machine, a figure that the wait for a core does
	// not inflate, unlike ns/op.
	b.Run("full", func(b *testing.B) {
		var n int
		cpu0 := processCPU()
		for b.Loop() {
			n = pull("/v3/decisions/stream?startup=true")
		}
		b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/pull")
		b.ReportMetric(float64(n), "bytes/pull")
	})
	b.Run("incremental-empty", func(b *testing.B) {
		pull("/v3/decisions/stream?startup=true")
		cpu0 := processCPU()
		for b.Loop() {
			pull("/v3/decisions/stream")
		}
		b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/pull")
	})
}

// BenchmarkIngestPostgres: signals/s stored by POST /v3/signals (250 a
// request, committed before the answer) on PostgreSQL, and on SQLite as
// the baseline of the same run.
func BenchmarkIngest(b *testing.B) {
	dsn := os.Getenv("PHALANX_TEST_PG_DSN")
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			cfg := Config{}
			if backend == "postgres" {
				if dsn == "" {
					b.Skip("PHALANX_TEST_PG_DSN not set")
				}
				_, cfg.DB = cstest.PGForTestDSN(b, dsn)
			}
			cfg.SignalRate, cfg.SignalBurst = 1e6, 1e6
			cfg.Limits.RequestRate = netguard.Off
			c := startCentral(b, cfg)
			in := c.newInstall(b, "11.1.1.10")
			n := 0
			for b.Loop() {
				batch := make([]any, 250)
				for i := range batch {
					n++
					batch[i] = map[string]any{"scenario": sshBF, "scenario_hash": sshBFHash, "scenario_version": sshBFVer, "scenario_trust": "certified",
						"uuid": fmt.Sprint(n), "source": map[string]any{"scope": "ip", "value": fmt.Sprintf("%d.%d.%d.%d", 1+n%200, (n/200)%250, (n/50000)%250, 1+n%250)}}
				}
				code, body := c.do(b, "POST", "/v3/signals", in.egress, in.token, batch)
				if code != 200 {
					b.Fatal(code, string(body))
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "signals/s")
		})
	}
}

// BenchmarkManyInstallsPull: incremental pulls (nothing new, the common
// case) by 500 installs in turn, over loopback HTTP with keep-alive, as
// 10,000 installs pulling every 10 s would make them (1,000 pulls/s). It
// reports the CPU time of the whole process per pull: the central and the
// client together, an upper bound of the central's share.
func BenchmarkManyInstallsPull(b *testing.B) {
	c := startCentral(b, Config{})
	const installs = 500
	ins := make([]*install, installs)
	for i := range ins {
		ins[i] = c.newInstall(b, fmt.Sprintf("%d.%d.1.10", 20+i/250, i%250))
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	pull := func(in *install, path string) {
		req, _ := http.NewRequest("GET", c.url+path, nil)
		req.Header.Set("Authorization", "Bearer "+in.token)
		req.Header.Set("X-Forwarded-For", in.egress)
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("pull: %d", resp.StatusCode)
		}
	}
	for _, in := range ins {
		pull(in, "/v3/decisions/stream?startup=true")
	}
	var next atomic.Int64
	cpu0 := processCPU()
	b.ResetTimer()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			pull(ins[next.Add(1)%installs], "/v3/decisions/stream")
		}
	})
	b.StopTimer()
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/pull")
}

// processCPU is the user+system CPU time of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
