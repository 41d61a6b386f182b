package postgres_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/store/postgres"
	"github.com/phalanx-ids/phalanx/internal/store/postgres/pgtest"
	"github.com/phalanx-ids/phalanx/internal/store/storetest"
)

// pg is the package run's PostgreSQL server: PHALANX_TEST_PG_DSN, or
// started by scripts/pg.sh on first use and stopped by TestMain.
var pg pgtest.Server

func TestMain(m *testing.M) {
	code := m.Run()
	if err := pg.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// freshDSN returns the DSN of a new empty database.
func freshDSN(t testing.TB) string { return pg.DSN(t) }

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

// TestMigrateDuplicateUUIDs: a database written before alert uuids were
// unique (duplicates included) migrates without losing a row.
func TestMigrateDuplicateUUIDs(t *testing.T) {
	ctx := context.Background()
	dsn := freshDSN(t)
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	v1, err := os.ReadFile("migrations/0001_init.sql")
	require.NoError(t, err)
	for _, q := range []string{string(v1),
		"CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL); INSERT INTO schema_version VALUES (1, 0);",
		storetest.DuplicateUUIDsV1(time.Now())} {
		_, err = conn.Exec(ctx, q)
		require.NoError(t, err)
	}
	require.NoError(t, conn.Close(ctx))
	storetest.CheckUUIDMigration(t, open(t, dsn))
}
