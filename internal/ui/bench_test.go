package ui_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/lapi"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/store/postgres"
	"github.com/phalanx-ids/phalanx/internal/store/sqlite"
	"github.com/phalanx-ids/phalanx/internal/ui"
)

// benchAlerts is the number of alerts the benchmarks seed
// (PHALANX_BENCH_ALERTS, default 1,000,000); one in ten has an active ban.
func benchAlerts() int {
	if n, err := strconv.Atoi(os.Getenv("PHALANX_BENCH_ALERTS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

var benchScenarios = []string{"crowdsecurity/ssh-bf", "crowdsecurity/http-probing", "crowdsecurity/http-crawl-non_statics",
	"crowdsecurity/ssh-slow-bf", "crowdsecurity/http-bad-user-agent", "crowdsecurity/http-sensitive-files"}

var benchCountries = []string{"CN", "US", "RU", "DE", "FR", "NL", "BR", "IN"}

// seed stores n alerts spread over the last 30 days (created now: the
// overview counts by creation time, so all fall in its range), 10% with
// an active 30-day ban, in batches.
func seed(b *testing.B, st store.Store, n int) {
	ctx := context.Background()
	now := time.Now().UTC()
	p := func(s string) *string { return &s }
	const batch = 2000
	start := time.Now()
	for off := 0; off < n; off += batch {
		as := make([]*models.Alert, 0, batch)
		for i := off; i < min(off+batch, n); i++ {
			ip := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
			ts := now.Add(-time.Duration(i%(30*24*60)) * time.Minute).Format(time.RFC3339)
			sc := benchScenarios[i%len(benchScenarios)]
			one, five, no := int32(1), int32(5), false
			a := &models.Alert{Scenario: p(sc), ScenarioHash: p("h"), ScenarioVersion: p("0.1"), Message: p(ip + " " + sc),
				EventsCount: &one, StartAt: p(ts), StopAt: p(ts), Capacity: &five, Leakspeed: p("10s"), Simulated: &no,
				Remediation: true, UUID: fmt.Sprintf("bench-%d", i),
				Events: []*models.Event{{Timestamp: p(ts), Meta: models.Meta{{Key: "source_ip", Value: ip}}}},
				Source: &models.Source{Scope: p("Ip"), Value: p(ip), IP: ip, Cn: benchCountries[i%len(benchCountries)], AsNumber: strconv.Itoa(64496 + i%50), AsName: "AS-NAME"}}
			if i%10 == 0 {
				a.StopAt = p(now.Format(time.RFC3339))
				a.Decisions = []*models.Decision{{Origin: p("crowdsec"), Type: p("ban"), Scope: p("Ip"), Value: p(ip), Duration: p("720h"), Scenario: p(sc)}}
			}
			as = append(as, a)
		}
		_, err := st.CreateAlerts(ctx, "", as)
		require.NoError(b, err)
	}
	b.Logf("seeded %d alerts (%d active decisions) in %v", n, n/10, time.Since(start).Round(time.Second))
}

// benchUI serves a dashboard over st with a logged-in admin; it returns
// a GET function.
func benchUI(b *testing.B, st store.Store) func(path string) {
	ctx := context.Background()
	srv, err := lapi.New(lapi.Config{JWTSecret: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}, lapi.Deps{Store: st})
	require.NoError(b, err)
	u, err := ui.New(ui.Settings{}, ui.Deps{Store: st, Admin: srv})
	require.NoError(b, err)
	_ = st.DeleteDashboardUser(ctx, "bench")
	require.NoError(b, ui.AddUser(ctx, st, "bench", ui.RoleAdmin, "bench-password"))
	hs := httptest.NewServer(u.Handler())
	b.Cleanup(hs.Close)
	e := &env{st: st, srv: srv, ui: u, url: hs.URL + ui.Prefix}
	c := e.client(b)
	c.login("bench", "bench-password")
	return func(path string) {
		resp, body := c.get(path)
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
}

func runPages(b *testing.B, st store.Store) {
	get := benchUI(b, st)
	for _, bc := range []struct{ name, path string }{
		{"overview_1h", "?range=1h"}, {"overview_24h", ""}, {"overview_30d", "?range=30d"}, {"alerts_page", "alerts"}, {"alerts_page_filtered", "alerts?country=FR&scenario=crowdsecurity/ssh-bf"},
		{"decisions_page", "decisions"}, {"why", "why?ip=10.0.0.10"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				get(bc.path)
			}
		})
	}
}

// BenchmarkPagesSQLite: pages over 1,000,000 alerts and 100,000 active
// decisions in SQLite. The database is kept in $TMPDIR between runs
// (phalanx-ui-bench-N.db; delete it to seed again).
func BenchmarkPagesSQLite(b *testing.B) {
	n := benchAlerts()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("phalanx-ui-bench-%d.db", n))
	_, statErr := os.Stat(path)
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: path})
	require.NoError(b, err)
	defer st.Close()
	if statErr != nil {
		seed(b, st, n)
	}
	runPages(b, st)
}

// BenchmarkPagesPostgres: the same on PostgreSQL (PHALANX_TEST_PG_DSN,
// a database the benchmark fills: give it an empty one).
func BenchmarkPagesPostgres(b *testing.B) {
	dsn := os.Getenv("PHALANX_BENCH_PG_DSN")
	if dsn == "" {
		b.Skip("PHALANX_BENCH_PG_DSN (an empty database, or one this benchmark filled) not set")
	}
	st, err := postgres.Open(context.Background(), postgres.Config{DSN: dsn})
	require.NoError(b, err)
	defer st.Close()
	as, err := st.ListAlerts(context.Background(), store.AlertFilter{Limit: 1})
	require.NoError(b, err)
	if len(as) == 0 {
		seed(b, st, benchAlerts())
	}
	runPages(b, st)
}
