// Package backends is the one place that decides which store backend a
// configuration or a database string means, and opens it, so that the
// daemon, the CLI and the installer need not know each backend's package.
//
// The rules (the only ones; every caller goes through this package):
//
//   - A config's type names the backend, case-insensitively: "" (the
//     default), "sqlite" or "sqlite3" is SQLite, opened at db_path;
//     "postgres", "postgresql" or "pgx" (CrowdSec's words) is PostgreSQL,
//     opened with dsn (a postgres:// URL or libpq's "host=... dbname=..."
//     keyword form). Any other type is an error, as is an empty db_path
//     for SQLite or an empty dsn for PostgreSQL.
//   - A single database string (the CLI's --db) is PostgreSQL when it is a
//     URL of scheme postgres:// or postgresql:// (case-insensitive) and a
//     SQLite file path otherwise. The keyword form is not recognised there:
//     put it in a config file's dsn.
package backends

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/store/postgres"
	"github.com/phalanx-ids/phalanx/internal/store/sqlite"
)

// Kind is a backend.
type Kind string

// The backends.
const (
	SQLite   Kind = "sqlite"
	Postgres Kind = "postgres"
)

// KindOf maps a config's type word to its backend.
func KindOf(typ string) (Kind, error) {
	switch strings.ToLower(typ) {
	case "", "sqlite", "sqlite3":
		return SQLite, nil
	case "postgres", "postgresql", "pgx":
		return Postgres, nil
	}
	return "", fmt.Errorf("unknown database type %q (want sqlite or postgres)", typ)
}

// Config selects and configures a backend (CrowdSec's db_config words where
// they exist). It is plain data, decoded from YAML.
type Config struct {
	// Type is "sqlite" (default) or "postgres" ("sqlite3", "postgresql"
	// and "pgx" are accepted as in CrowdSec).
	Type string `yaml:"type"`
	// DBPath is the SQLite file.
	DBPath string `yaml:"db_path"`
	// DSN is the PostgreSQL connection string: a postgres:// URL or libpq's
	// keyword form.
	DSN string `yaml:"dsn"`
	// MaxOpenConns bounds the PostgreSQL pool / the SQLite read pool
	// (0: the backend's default).
	MaxOpenConns int `yaml:"max_open_conns"`
	// BusyTimeout is SQLite's lock wait (0: 30s).
	BusyTimeout time.Duration `yaml:"busy_timeout"`
}

// Kind is the backend c names.
func (c Config) Kind() (Kind, error) { return KindOf(c.Type) }

// Normalize returns c with Type set to its backend's canonical name, or an
// error for an unknown type. It does not require db_path or dsn (a caller
// may fill defaults first); Open does.
func (c Config) Normalize() (Config, error) {
	k, err := c.Kind()
	if err != nil {
		return c, err
	}
	c.Type = string(k)
	return c, nil
}

// FromTarget is the config a single database string names: a postgres://
// or postgresql:// URL is PostgreSQL, anything else a SQLite file path.
func FromTarget(db string) Config {
	if i := strings.Index(db, "://"); i > 0 {
		switch strings.ToLower(db[:i]) {
		case "postgres", "postgresql":
			return Config{Type: string(Postgres), DSN: db}
		}
	}
	return Config{Type: string(SQLite), DBPath: db}
}

// Target is the single database string of c (the inverse of FromTarget for
// URL DSNs): the DSN for PostgreSQL, the file path for SQLite.
func (c Config) Target() string {
	if k, _ := c.Kind(); k == Postgres {
		return c.DSN
	}
	return c.DBPath
}

// Open opens the configured backend (migrating its schema).
func Open(ctx context.Context, c Config) (store.Store, error) {
	k, err := c.Kind()
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	switch k {
	case Postgres:
		if c.DSN == "" {
			return nil, errors.New("store: open: postgres needs a dsn")
		}
		return postgres.Open(ctx, postgres.Config{DSN: c.DSN, MaxConns: int32(min(max(c.MaxOpenConns, 0), math.MaxInt32))})
	default:
		if c.DBPath == "" {
			return nil, errors.New("store: open: sqlite needs a db_path")
		}
		return sqlite.Open(ctx, sqlite.Config{Path: c.DBPath, MaxReaders: c.MaxOpenConns, BusyTimeout: c.BusyTimeout})
	}
}
