// Package backends opens the store backend a configuration names, so that
// the daemon and the CLI need not know each backend's package.
package backends

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/store/postgres"
	"github.com/phalanx-ids/phalanx/internal/store/sqlite"
)

// Config selects and configures a backend (CrowdSec's db_config words where
// they exist). It is plain data, decoded from YAML.
type Config struct {
	// Type is "sqlite" (default) or "postgres" ("postgresql" and "pgx" are
	// accepted as in CrowdSec).
	Type string `yaml:"type"`
	// DBPath is the SQLite file.
	DBPath string `yaml:"db_path"`
	// DSN is the PostgreSQL connection string or URL.
	DSN string `yaml:"dsn"`
	// MaxOpenConns bounds the PostgreSQL pool / the SQLite read pool.
	MaxOpenConns int `yaml:"max_open_conns"`
	// BusyTimeout is SQLite's lock wait (default 30s).
	BusyTimeout time.Duration `yaml:"busy_timeout"`
}

// Open opens the configured backend (migrating its schema).
func Open(ctx context.Context, c Config) (store.Store, error) {
	switch strings.ToLower(c.Type) {
	case "", "sqlite", "sqlite3":
		return sqlite.Open(ctx, sqlite.Config{Path: c.DBPath, MaxReaders: c.MaxOpenConns, BusyTimeout: c.BusyTimeout})
	case "postgres", "postgresql", "pgx":
		return postgres.Open(ctx, postgres.Config{DSN: c.DSN, MaxConns: int32(c.MaxOpenConns)})
	default:
		return nil, fmt.Errorf("store: open: unknown database type %q (want sqlite or postgres)", c.Type)
	}
}
