package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/store/sqlite"
	"github.com/phalanx-ids/phalanx/internal/store/storetest"
)

func open(t testing.TB, path string) store.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Config{Path: path})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "phalanx.db"))
	})
}

func TestShared(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) (store.Store, store.Store) {
		p := filepath.Join(t.TempDir(), "phalanx.db")
		return open(t, p), open(t, p)
	})
}

func TestReopenKeepsDataAndSchema(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "phalanx.db")
	s := open(t, p)
	require.NoError(t, s.CreateMachine(ctx, &store.Machine{ID: "m"}))
	require.NoError(t, s.Close())
	s = open(t, p)
	_, err := s.GetMachine(ctx, "m")
	require.NoError(t, err)
}

func TestOpenErrors(t *testing.T) {
	cases := []struct {
		name string
		path string
	}{
		{"empty path", ""},
		{"directory missing", filepath.Join(t.TempDir(), "no", "such", "dir", "x.db")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sqlite.Open(context.Background(), sqlite.Config{Path: tc.path})
			require.Error(t, err)
			require.Contains(t, err.Error(), "store/sqlite")
		})
	}
}

func BenchmarkIngest(b *testing.B) {
	storetest.BenchIngest(b, open(b, filepath.Join(b.TempDir(), "bench.db")))
}

func BenchmarkListActiveDecisions(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "bench.db"))
	storetest.BenchListActive(b, s, storetest.BenchDecisionCount())
}

// TestFileMode: the database holds password and API key hashes and alert
// data: created 0600 (with its -wal and -shm), and an existing database
// readable by everyone (0644, as earlier versions made it) is narrowed to
// 0640 when opened.
func TestFileMode(t *testing.T) {
	ctx := context.Background()
	mode := func(p string) os.FileMode {
		st, err := os.Stat(p)
		require.NoError(t, err)
		return st.Mode().Perm()
	}
	p := filepath.Join(t.TempDir(), "phalanx.db")
	s := open(t, p)
	require.NoError(t, s.CreateMachine(ctx, &store.Machine{ID: "m", PasswordHash: "h"}))
	for _, f := range []string{p, p + "-wal", p + "-shm"} {
		require.Equal(t, os.FileMode(0o600), mode(f), f)
	}
	require.NoError(t, s.Close())

	old := filepath.Join(t.TempDir(), "old.db")
	s = open(t, old)
	require.NoError(t, s.Close())
	for _, f := range []string{old, old + "-wal", old + "-shm"} {
		if _, err := os.Stat(f); err == nil {
			require.NoError(t, os.Chmod(f, 0o644))
		}
	}
	s = open(t, old)
	require.Equal(t, os.FileMode(0o640), mode(old))
	_, err := s.GetMachine(ctx, "nobody")
	require.ErrorIs(t, err, store.ErrNotFound)
}

// TestMigrateDuplicateUUIDs: a database written before alert uuids were
// unique (duplicates included) migrates without losing a row.
func TestMigrateDuplicateUUIDs(t *testing.T) {
	p := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", p)
	require.NoError(t, err)
	v1, err := os.ReadFile("migrations/0001_init.sql")
	require.NoError(t, err)
	_, err = db.Exec(string(v1))
	require.NoError(t, err)
	_, err = db.Exec("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL); INSERT INTO schema_version VALUES (1, 0);")
	require.NoError(t, err)
	_, err = db.Exec(storetest.DuplicateUUIDsV1(time.Now()))
	require.NoError(t, err)
	require.NoError(t, db.Close())
	storetest.CheckUUIDMigration(t, open(t, p))
}
