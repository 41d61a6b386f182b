package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
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
	c := startCentral(b, Config{})
	ctx := context.Background()
	now := time.Now()
	var ls []centralstore.Listing
	var evs []centralstore.FeedEvent
	for i := range 15000 {
		ip := fmt.Sprintf("%d.%d.%d.%d", 1+i%200, (i/200)%250, i%251, 1+i%250)
		ls = append(ls, centralstore.Listing{IP: ip, Tier: "community", Scenarios: []string{sshBF}, ListedAt: now, ExpiresAt: now.Add(4 * time.Hour)})
		evs = append(evs, centralstore.FeedEvent{Op: "add", IP: ip, Tier: "community", Scenarios: []string{sshBF}, ExpiresAt: now.Add(4 * time.Hour), At: now})
	}
	if err := c.st.ApplyChanges(ctx, ls, evs, nil); err != nil {
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
		return int(n)
	}
	for c.srv.list.Len() < 15000 {
		time.Sleep(10 * time.Millisecond)
	}
	b.Run("full", func(b *testing.B) {
		var n int
		for b.Loop() {
			n = pull("/v3/decisions/stream?startup=true")
		}
		b.ReportMetric(float64(n), "bytes/pull")
	})
	b.Run("incremental-empty", func(b *testing.B) {
		pull("/v3/decisions/stream?startup=true")
		for b.Loop() {
			pull("/v3/decisions/stream")
		}
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
