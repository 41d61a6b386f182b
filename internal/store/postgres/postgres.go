// Package postgres is the store backend for installs that outgrow one
// machine: several LAPI replicas share one PostgreSQL database through
// pgx's connection pool. The decision change sequence is a database
// sequence allocated under a transaction-scoped advisory lock, so that
// every replica sees sequence numbers become visible in increasing order.
// The schema is versioned by embedded migrations (table schema_version),
// applied under an advisory lock so that replicas may start together.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/store/internal/sqlcore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Advisory lock keys (arbitrary, fixed: every replica must use the same).
const (
	seqLockKey     = 0x5048_414c_0001 // decision change sequence
	migrateLockKey = 0x5048_414c_0002 // schema migrations
)

// Config configures the PostgreSQL store.
type Config struct {
	// DSN is a libpq/pgx connection string or URL
	// ("postgres://user:pass@host:5432/db?sslmode=disable"); runtime
	// parameters such as search_path may be given in it.
	DSN string
	// MaxConns bounds the pool (default: pgx's, max(4, CPUs)).
	MaxConns int32
}

// Open connects, migrates the schema, and returns the store. The returned
// store is safe for concurrent use, as are several processes on one database.
func Open(ctx context.Context, cfg Config) (store.Store, error) {
	pc, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("store/postgres: open: parse dsn: %w", errors.New(redact(err)))
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("store/postgres: open: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store/postgres: open: %w", err)
	}
	b := &backend{pool: pool}
	lock := "SELECT pg_advisory_xact_lock(" + strconv.FormatInt(migrateLockKey, 10) + ")"
	if err := sqlcore.Migrate(ctx, b, migrations, "migrations", lock); err != nil {
		pool.Close()
		return nil, err
	}
	return sqlcore.New(b), nil
}

// redact keeps a DSN parse error from echoing the password.
func redact(err error) string {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return "invalid connection string"
	}
	return err.Error()
}

// backend implements sqlcore.Backend over a pgx pool.
type backend struct {
	pool   *pgxpool.Pool
	closed atomic.Bool
}

func (b *backend) Name() string                { return "store/postgres" }
func (b *backend) Placeholder(n int) string    { return "$" + strconv.Itoa(n) }
func (b *backend) SeqPlaceholder(n int) string { return "$" + strconv.Itoa(n) }
func (b *backend) LockSuffix() string          { return " FOR UPDATE" }

func (b *backend) IsUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func (b *backend) Read() sqlcore.Querier { return &querier{q: b.pool, closed: &b.closed} }

// Write runs fn in a READ COMMITTED transaction.
func (b *backend) Write(ctx context.Context, fn func(sqlcore.Querier) error) error {
	if b.closed.Load() {
		return store.ErrClosed
	}
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return err
	}
	q := &querier{q: tx, closed: &b.closed}
	if err := fn(q); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	return tx.Commit(ctx)
}

// AllocSeq takes the sequence lock (once per transaction) and reserves n
// numbers. Holding the lock until commit makes allocation order commit order.
func (b *backend) AllocSeq(ctx context.Context, q sqlcore.Querier, n int64) (int64, error) {
	pq, ok := q.(*querier)
	if !ok {
		return 0, errors.New("alloc seq: foreign querier")
	}
	if !pq.seqLocked {
		if _, err := q.Exec(ctx, "SELECT pg_advisory_xact_lock("+strconv.FormatInt(seqLockKey, 10)+")"); err != nil {
			return 0, err
		}
		pq.seqLocked = true
	}
	if n <= 0 {
		return 0, nil
	}
	var last int64
	if err := pq.q.QueryRow(ctx, "SELECT setval('decision_change_seq', nextval('decision_change_seq') + $1 - 1)", n).Scan(&last); err != nil {
		return 0, err
	}
	return last - n + 1, nil
}

// Close closes the pool; later calls return ErrClosed.
func (b *backend) Close() error {
	if b.closed.CompareAndSwap(false, true) {
		b.pool.Close()
	}
	return nil
}

type pgxQuerier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// querier adapts a pool or a transaction to sqlcore.Querier.
type querier struct {
	q         pgxQuerier
	closed    *atomic.Bool
	seqLocked bool // this transaction holds the sequence lock
}

func (q *querier) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	if q.closed.Load() {
		return 0, store.ErrClosed
	}
	tag, err := q.q.Exec(ctx, sql, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (q *querier) Query(ctx context.Context, sql string, args ...any) (sqlcore.Rows, error) {
	if q.closed.Load() {
		return nil, store.ErrClosed
	}
	rows, err := q.q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return rows, nil
}
