package server

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/central/centralstore/cstest"
	"github.com/phalanx-ids/phalanx/internal/netguard/guardtest"
)

// TestTwoReplicasOnePostgres: two centrals over one PostgreSQL database
// serve one list: installs registered on one log in on the other, reports
// sent to either count together, and both streams agree.
func TestTwoReplicasOnePostgres(t *testing.T) {
	dsn := os.Getenv("PHALANX_TEST_PG_DSN")
	if dsn == "" {
		t.Skip("PHALANX_TEST_PG_DSN not set")
	}
	_, sdsn := cstest.PGForTestDSN(t, dsn)
	a := startCentral(t, Config{DB: sdsn})
	b := startCentral(t, Config{DB: sdsn})
	seed, bi, d, consumer := crowd(t, a)
	// The same installs through replica b.
	for _, in := range []*install{bi, consumer} {
		in.c = b
		in.login(sshBF)
	}
	seed.report("1.2.3.4") // via a
	bi.report("1.2.3.4")   // via b
	d.report("1.2.3.4")    // via a
	require.True(t, consumer.listedSoon("1.2.3.4", 5*time.Second), "replica b serves the listing")
	consumer.c = a
	require.True(t, consumer.listedSoon("1.2.3.4", 10*time.Second), "replica a serves it too")
	aa, _ := consumer.pull(true)
	consumer.c = b
	bb, _ := consumer.pull(true)
	require.Equal(t, len(aa), len(bb))
	require.NoError(t, b.st.AddDelist(context.Background(), "1.2.3.4", "appeal"))
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		x, _ := consumer.pull(true)
		consumer.c = a
		y, _ := consumer.pull(true)
		consumer.c = b
		if len(x) == 0 && len(y) == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the delisting did not reach both replicas")
}

func TestCentralResistsSlowClients(t *testing.T) {
	lim := Config{}
	lim.Limits.ReadHeaderTimeout = 300 * time.Millisecond
	lim.Limits.ReadTimeout = 600 * time.Millisecond
	lim.Limits.IdleTimeout = 300 * time.Millisecond
	lim.Limits.MaxHeaderBytes = 4096
	lim.Limits.MaxConnsPerAddress = 4
	lim.Limits.Exempt = []string{}
	c := startCentral(t, lim)
	guardtest.Suite(t, guardtest.Target{Addr: c.srv.Addr(), Request: "GET /v3/decisions/stream HTTP/1.1\r\nHost: x\r\n\r\n",
		Method: "POST", Path: "/v3/watchers",
		ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 600 * time.Millisecond, IdleTimeout: 300 * time.Millisecond,
		MaxHeaderBytes: 4096, MaxConnsPerAddress: 4})
}
