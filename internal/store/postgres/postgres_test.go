package postgres_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/store/postgres"
	"github.com/phalanx-ids/phalanx/internal/store/storetest"
)

// testServer is the package run's PostgreSQL server: from
// PHALANX_TEST_PG_DSN, or started by scripts/pg.sh in TestMain.
type testServer struct {
	dsn     string
	schemas atomic.Int64
}

// server is set once by TestMain before any test runs and only read after.
var server testServer

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	server.dsn = os.Getenv("PHALANX_TEST_PG_DSN")
	if server.dsn == "" {
		script, err := findScript()
		if err != nil {
			fmt.Fprintln(os.Stderr, "postgres tests:", err)
			return 1
		}
		dir, err := os.MkdirTemp("", "phalanx-pg.")
		if err != nil {
			fmt.Fprintln(os.Stderr, "postgres tests:", err)
			return 1
		}
		cmd := exec.Command("bash", script, "start", dir)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			fmt.Fprintf(os.Stderr, "postgres tests: %s start: %v\n", script, err)
			return 1
		}
		defer func() {
			stop := exec.Command("bash", script, "stop", dir)
			stop.Stderr = os.Stderr
			_ = stop.Run()
		}()
		server.dsn = strings.TrimSpace(string(out))
	}
	return m.Run()
}

// findScript walks up from the package directory to scripts/pg.sh.
func findScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "scripts", "pg.sh")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("scripts/pg.sh not found above the package directory")
		}
		dir = parent
	}
}

// freshDSN creates an empty schema and returns a DSN whose search_path is it.
func freshDSN(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, server.dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	name := fmt.Sprintf("t%d_%d", os.Getpid(), server.schemas.Add(1))
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+name)
	require.NoError(t, err)
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), server.dsn)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP SCHEMA "+name+" CASCADE")
			_ = c.Close(context.Background())
		}
	})
	sep := "?"
	if strings.Contains(server.dsn, "?") {
		sep = "&"
	}
	return server.dsn + sep + "search_path=" + name
}

func open(t testing.TB, dsn string) store.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgres.Config{DSN: dsn})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, freshDSN(t)) })
}

func TestShared(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) (store.Store, store.Store) {
		dsn := freshDSN(t)
		return open(t, dsn), open(t, dsn)
	})
}

func TestConcurrentStartsMigrateOnce(t *testing.T) {
	dsn := freshDSN(t)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := postgres.Open(context.Background(), postgres.Config{DSN: dsn})
			if err == nil {
				err = s.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		require.NoError(t, <-errs)
	}
}

func TestOpenErrors(t *testing.T) {
	cases := []struct {
		name, dsn, notIn string
	}{
		{"bad dsn hides password", "postgres://u:hunter2@[::1", "hunter2"},
		{"unreachable", "postgres://u:hunter2@127.0.0.1:1/db?connect_timeout=2", "hunter2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := postgres.Open(context.Background(), postgres.Config{DSN: tc.dsn})
			require.Error(t, err)
			require.Contains(t, err.Error(), "store/postgres")
			require.NotContains(t, err.Error(), tc.notIn)
		})
	}
}

func BenchmarkIngest(b *testing.B) {
	storetest.BenchIngest(b, open(b, freshDSN(b)))
}

func BenchmarkListActiveDecisions(b *testing.B) {
	s := open(b, freshDSN(b))
	storetest.BenchListActive(b, s, storetest.BenchDecisionCount())
}
