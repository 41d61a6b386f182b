package backends_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/store/backends"
	"github.com/phalanx-ids/phalanx/internal/store/postgres/pgtest"
)

var pg pgtest.Server

func TestMain(m *testing.M) {
	code := m.Run()
	_ = pg.Close()
	os.Exit(code)
}

func TestKindOf(t *testing.T) {
	cases := []struct {
		typ  string
		want backends.Kind
		err  string
	}{
		{"", backends.SQLite, ""},
		{"sqlite", backends.SQLite, ""},
		{"SQLite3", backends.SQLite, ""},
		{"postgres", backends.Postgres, ""},
		{"PostgreSQL", backends.Postgres, ""},
		{"pgx", backends.Postgres, ""},
		{"mysql", "", `unknown database type "mysql" (want sqlite or postgres)`},
		{" sqlite", "", `unknown database type " sqlite"`},
	}
	for _, tc := range cases {
		t.Run(tc.typ, func(t *testing.T) {
			k, err := backends.KindOf(tc.typ)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, k)
			c, err := backends.Config{Type: tc.typ}.Normalize()
			require.NoError(t, err)
			require.Equal(t, string(tc.want), c.Type)
		})
	}
}

func TestFromTarget(t *testing.T) {
	cases := []struct {
		name, db string
		want     backends.Config
	}{
		{"url", "postgres://u:p@h:5432/db?sslmode=disable", backends.Config{Type: "postgres", DSN: "postgres://u:p@h:5432/db?sslmode=disable"}},
		{"postgresql url", "postgresql://h/db", backends.Config{Type: "postgres", DSN: "postgresql://h/db"}},
		{"scheme is case-insensitive", "POSTGRES://h/db", backends.Config{Type: "postgres", DSN: "POSTGRES://h/db"}},
		{"socket url", "postgres://postgres@/phalanx?host=/tmp/pg", backends.Config{Type: "postgres", DSN: "postgres://postgres@/phalanx?host=/tmp/pg"}},
		{"absolute path", "/var/lib/phalanx/phalanx.db", backends.Config{Type: "sqlite", DBPath: "/var/lib/phalanx/phalanx.db"}},
		{"relative path", "data/p.db", backends.Config{Type: "sqlite", DBPath: "data/p.db"}},
		{"a file named like a dsn keyword", "host=x dbname=y", backends.Config{Type: "sqlite", DBPath: "host=x dbname=y"}},
		{"other scheme is a path", "mysql://h/db", backends.Config{Type: "sqlite", DBPath: "mysql://h/db"}},
		{"scheme not at the start", "/tmp/postgres://x", backends.Config{Type: "sqlite", DBPath: "/tmp/postgres://x"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := backends.FromTarget(tc.db)
			require.Equal(t, tc.want, c)
			require.Equal(t, tc.db, c.Target())
		})
	}
	// A config's keyword DSN is PostgreSQL by its type.
	c := backends.Config{Type: "pgx", DSN: "host=/tmp dbname=x", DBPath: "/ignored.db"}
	require.Equal(t, "host=/tmp dbname=x", c.Target())
	require.Equal(t, "/ignored.db", backends.Config{DBPath: "/ignored.db", DSN: "postgres://h/x"}.Target())
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name    string
		cfg     func(t *testing.T) backends.Config
		wantErr string
	}{
		{"default is sqlite", func(*testing.T) backends.Config { return backends.Config{DBPath: filepath.Join(dir, "a.db")} }, ""},
		{"sqlite by name", func(*testing.T) backends.Config {
			return backends.Config{Type: "SQLite", DBPath: filepath.Join(dir, "b.db"), MaxOpenConns: 1}
		}, ""},
		{"sqlite from a target", func(*testing.T) backends.Config { return backends.FromTarget(filepath.Join(dir, "c.db")) }, ""},
		{"postgres", func(t *testing.T) backends.Config { return backends.Config{Type: "postgresql", DSN: pg.DSN(t)} }, ""},
		{"postgres from a target", func(t *testing.T) backends.Config { return backends.FromTarget(pg.DSN(t)) }, ""},
		{"unknown type", func(*testing.T) backends.Config { return backends.Config{Type: "mysql", DBPath: "/x"} }, `store: open: unknown database type "mysql"`},
		{"sqlite without a path", func(*testing.T) backends.Config { return backends.Config{DSN: "postgres://h/x"} }, "store: open: sqlite needs a db_path"},
		{"postgres without a dsn", func(*testing.T) backends.Config { return backends.Config{Type: "postgres", DBPath: "/x.db"} }, "store: open: postgres needs a dsn"},
		{"postgres needs a server", func(*testing.T) backends.Config {
			return backends.Config{Type: "pgx", DSN: "postgres://u@127.0.0.1:1/db?connect_timeout=1"}
		}, "store/postgres"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg(t)
			s, err := backends.Open(context.Background(), cfg)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			defer s.Close()
			id := "m-" + strings.ReplaceAll(tc.name, " ", "-")
			require.NoError(t, s.CreateMachine(context.Background(), &store.Machine{ID: id}))
			if k, _ := cfg.Kind(); k == backends.SQLite {
				_, err := os.Stat(cfg.DBPath)
				require.NoError(t, err, "the SQLite file is where the config says")
			}
		})
	}
}
