// Package pgtest gives tests a real PostgreSQL server and a fresh,
// empty database per test.
//
// The server is the one of PHALANX_TEST_PG_DSN when set; otherwise it is
// started on first use with scripts/pg.sh (found by walking up from the
// working directory, i.e. the package under test) and stopped by Close.
//
//	var pg pgtest.Server // in the test package
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		_ = pg.Close()
//		os.Exit(code)
//	}
//
//	func TestX(t *testing.T) { dsn := pg.DSN(t); ... }
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names the environment variable of an existing server's DSN.
const EnvDSN = "PHALANX_TEST_PG_DSN"

// Server is a PostgreSQL server for tests. The zero value is ready: the
// server is found or started by the first DSN call.
//
// Concurrency: DSN may be called from parallel tests; Close must be called
// once, after every test (TestMain).
type Server struct {
	mu      sync.Mutex
	started bool
	dsn     string // admin DSN (its own database)
	dir     string // cluster directory when this Server started it
	script  string
	err     error
	dbs     atomic.Int64
}

// DSN returns the DSN of a new empty database, dropped when tb ends
// (after the cleanups registered later, e.g. closing stores). It fails tb
// when no server can be found or started.
func (s *Server) DSN(tb testing.TB) string {
	tb.Helper()
	admin, err := s.admin()
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := fmt.Sprintf("t%d_%d", os.Getpid(), s.dbs.Add(1))
	if err := exec1(ctx, admin, "CREATE DATABASE "+name+" TEMPLATE template0"); err != nil {
		tb.Fatalf("pgtest: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := exec1(ctx, admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Logf("pgtest: drop database %s: %v", name, err)
		}
	})
	dsn, err := withDatabase(admin, name)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// Close stops the server when this Server started it.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir == "" {
		return nil
	}
	cmd := exec.Command("bash", s.script, "stop", s.dir)
	cmd.Stderr = os.Stderr
	s.dir = ""
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pgtest: %s stop: %w", s.script, err)
	}
	return nil
}

// admin returns the server's DSN, starting the server on first use.
func (s *Server) admin() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return s.dsn, s.err
	}
	s.started = true
	s.dsn, s.err = s.start()
	return s.dsn, s.err
}

func (s *Server) start() (string, error) {
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		return dsn, nil
	}
	script, err := FindUp("scripts/pg.sh")
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "phalanx-pgtest.")
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	cmd := exec.Command("bash", script, "start", dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("pgtest: %s start: %w", script, err)
	}
	s.dir, s.script = dir, script
	dsn := strings.TrimSpace(string(out))
	if dsn == "" {
		return "", errors.New("pgtest: pg.sh printed no DSN")
	}
	return dsn, nil
}

// FindUp walks up from the working directory to the first directory
// holding rel and returns that path.
func FindUp(rel string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	for {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("pgtest: %s not found above the working directory", rel)
		}
		dir = parent
	}
}

func exec1(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase returns dsn (URL or key=value form) naming database db.
func withDatabase(dsn, db string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("pgtest: parse dsn: %w", err)
		}
		u.Path = "/" + db
		return u.String(), nil
	}
	return dsn + " dbname=" + db, nil // later keys win
}
