package cli

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/lapi"
	"github.com/phalanx-ids/phalanx/internal/store/sqlite"
)

// testLAPI is the real Local API (internal/lapi) serving the data dir's
// SQLite database on a loopback port.
type testLAPI struct {
	url string
	srv *lapi.Server
}

// waitAllowlisted waits (polling, with a deadline) until the LAPI's
// allowlists, re-read from the database, cover value.
func (l *testLAPI) waitAllowlisted(t *testing.T, value string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := l.srv.Allowlists().Check(value, time.Now()); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the LAPI never allowlisted %s", value)
		}
		time.Sleep(allowlistReload / 4) // polling, with a deadline
	}
}

// allowlistReload is how often the test LAPI re-reads the allowlists the
// CLI writes in the database.
const allowlistReload = 20 * time.Millisecond

func startTestLAPI(t *testing.T, dbPath string) *testLAPI {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: dbPath})
	require.NoError(t, err)
	srv, err := lapi.New(lapi.Config{AllowlistReload: allowlistReload}, lapi.Deps{Store: st})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(15 * time.Second):
			t.Error("lapi: Run did not return after cancel")
		}
		require.NoError(t, st.Close())
	})
	return &testLAPI{url: "http://" + ln.Addr().String() + "/", srv: srv}
}
