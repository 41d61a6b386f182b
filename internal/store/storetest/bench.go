package storetest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
)

// benchAlert is an alert with 5 events and 1 decision.
func benchAlert(n int) *models.Alert {
	v := fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255)
	a := Alert("crowdsecurity/ssh-bf", "Ip", v, t0, Dec{})
	for i := range 3 {
		a.Events = append(a.Events, &models.Event{
			Timestamp: sp(t0.Add(time.Duration(i+2) * time.Second).Format(time.RFC3339)),
			Meta:      models.Meta{{Key: "source_ip", Value: v}, {Key: "service", Value: "ssh"}, {Key: "user", Value: "root"}},
		})
	}
	return a
}

// BenchIngest measures alert ingestion: batches of 50 alerts, each with 5
// events and 1 decision, pushed by 4 concurrent clients; reports alerts/s.
func BenchIngest(b *testing.B, s store.Store) {
	ctx := context.Background()
	const batch = 50
	b.ResetTimer()
	start := time.Now()
	next := make(chan int)
	go func() {
		for i := range b.N {
			next <- i
		}
		close(next)
	}()
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			var err error
			for i := range next {
				if err != nil {
					continue
				}
				alerts := make([]*models.Alert, batch)
				for j := range alerts {
					alerts[j] = benchAlert(i*batch + j)
				}
				_, err = s.CreateAlerts(ctx, "", alerts)
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "alerts/s")
}

// BenchDecisionCount is the size of BenchListActive's table:
// PHALANX_BENCH_DECISIONS or 1,000,000.
func BenchDecisionCount() int {
	if n, err := strconv.Atoi(os.Getenv("PHALANX_BENCH_DECISIONS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// SeedDecisions stores n active Ip decisions (1,000 per alert).
func SeedDecisions(tb testing.TB, s store.Store, n int) {
	ctx := context.Background()
	for off := 0; off < n; off += 1000 {
		a := Alert("crowdsecurity/http-bf", "Ip", "10.0.0.1", t0)
		for i := off; i < min(off+1000, n); i++ {
			a.Decisions = append(a.Decisions, &models.Decision{
				Origin: sp("crowdsec"), Type: sp("ban"), Scope: sp("Ip"),
				Value:    sp(fmt.Sprintf("%d.%d.%d.%d", 1+i>>24&127, i>>16&255, i>>8&255, i&255)),
				Duration: sp("4h"), Scenario: sp("crowdsecurity/http-bf"),
			})
		}
		if _, err := s.CreateAlerts(ctx, "", []*models.Alert{a}); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchListActive seeds s with n decisions (SeedDecisions), once, then
// measures full ListActiveDecisions walks in a sub-benchmark "walk".
func BenchListActive(b *testing.B, s store.Store, n int) {
	start := time.Now()
	SeedDecisions(b, s, n)
	b.Logf("seeded %d decisions in %s", n, time.Since(start).Round(time.Millisecond))
	b.Run("walk", func(b *testing.B) { benchWalk(b, s, n) })
}

func benchWalk(b *testing.B, s store.Store, n int) {
	ctx := context.Background()
	for range b.N {
		count := 0
		if err := s.ListActiveDecisions(ctx, time.Now(), func(*store.Decision) error { count++; return nil }); err != nil {
			b.Fatal(err)
		}
		if count != n {
			b.Fatalf("walked %d decisions, want %d", count, n)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}
