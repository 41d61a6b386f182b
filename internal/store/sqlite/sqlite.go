// Package sqlite is the default store backend: one SQLite file (pure Go,
// modernc.org/sqlite) in WAL mode with a busy timeout and foreign keys on.
// Every write goes through one writer goroutine that runs the writes
// pending at that moment in one transaction (each isolated by a savepoint),
// so a burst of alert pushes costs one commit; reads use a pool of
// read-only connections and never wait for the writer. The schema is
// versioned by embedded migrations (table schema_version).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/store/internal/sqlcore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Config configures the SQLite store. The zero value of every field but
// Path is a sensible default.
type Config struct {
	// Path of the database file (created if missing).
	Path string
	// BusyTimeout is how long a connection waits for a lock held by another
	// process (default 30s).
	BusyTimeout time.Duration
	// MaxReaders bounds the read pool (default 4).
	MaxReaders int
	// MaxBatch bounds how many pending writes share one transaction (default 256).
	MaxBatch int
	// SyncFull makes every commit durable against power loss
	// (synchronous=FULL); the default (NORMAL) is durable against crashes
	// of the process.
	SyncFull bool
}

// Open opens (creating and migrating if needed) the database at cfg.Path.
// The returned store is safe for concurrent use; Close stops its writer.
func Open(ctx context.Context, cfg Config) (store.Store, error) {
	if cfg.Path == "" {
		return nil, errors.New("store/sqlite: open: empty path")
	}
	if cfg.BusyTimeout <= 0 {
		cfg.BusyTimeout = 30 * time.Second
	}
	if cfg.MaxReaders <= 0 {
		cfg.MaxReaders = 4
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 256
	}
	if err := restrictMode(cfg.Path); err != nil {
		return nil, fmt.Errorf("store/sqlite: open %s: %w", cfg.Path, err)
	}
	sync := "NORMAL"
	if cfg.SyncFull {
		sync = "FULL"
	}
	common := cfg.Path + "?_pragma=busy_timeout(" + strconv.FormatInt(cfg.BusyTimeout.Milliseconds(), 10) + ")" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(" + sync + ")"
	w, err := sql.Open("sqlite", common+"&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: open %s: %w", cfg.Path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("store/sqlite: open %s: %w", cfg.Path, err)
	}
	r, err := sql.Open("sqlite", common+"&_pragma=query_only(1)")
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("store/sqlite: open %s: %w", cfg.Path, err)
	}
	r.SetMaxOpenConns(cfg.MaxReaders)
	r.SetMaxIdleConns(cfg.MaxReaders)
	b := &backend{w: w, r: r, ws: newStmtCache(w), rs: newStmtCache(r), reqs: make(chan *writeReq), quit: make(chan struct{}), maxBatch: cfg.MaxBatch}
	b.wg.Add(1)
	go b.writer()
	if err := sqlcore.Migrate(ctx, b, migrations, "migrations", ""); err != nil {
		_ = b.Close()
		return nil, err
	}
	return sqlcore.New(b), nil
}

// restrictMode makes the database owner-only before SQLite opens it: it
// holds password hashes, API key hashes and alert data, and SQLite would
// create it (and its -wal and -shm files, which take the database's mode)
// 0644. A missing file is created empty with mode 0600 (an empty file is
// an empty database); an existing one readable or writable by others is
// narrowed to its owner and group (0644 becomes 0640), with its -wal and
// -shm. A file of another owner is left alone (chmod is not allowed).
func restrictMode(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		return f.Close()
	}
	if !errors.Is(err, fs.ErrExist) {
		return err
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm()&0o007 == 0 {
			continue
		}
		if err := os.Chmod(p, st.Mode().Perm()&^0o007); err != nil && !errors.Is(err, fs.ErrPermission) {
			return err
		}
	}
	return nil
}

// backend implements sqlcore.Backend.
type backend struct {
	w, r     *sql.DB
	ws, rs   *stmtCache // prepared statements of w and r
	reqs     chan *writeReq
	quit     chan struct{}
	wg       sync.WaitGroup
	closed   atomic.Bool
	once     sync.Once
	maxBatch int
}

type writeReq struct {
	ctx  context.Context
	fn   func(sqlcore.Querier) error
	done chan error
}

func (b *backend) Name() string              { return "store/sqlite" }
func (b *backend) Placeholder(n int) string  { return "?" + strconv.Itoa(n) }
func (b *backend) SeqPlaceholder(int) string { return "?" }
func (b *backend) LockSuffix() string        { return "" }

func (b *backend) Read() sqlcore.Querier { return &querier{q: b.r, stmts: b.rs, closed: &b.closed} }

func (b *backend) IsUnique(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	c := se.Code()
	return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// AllocSeq bumps the one-row counter; the write transaction already
// excludes every other writer, of this process or another.
func (b *backend) AllocSeq(ctx context.Context, q sqlcore.Querier, n int64) (int64, error) {
	if n <= 0 {
		return 0, nil
	}
	rows, err := q.Query(ctx, "UPDATE decision_seq SET v = v + ?1 WHERE id = 1 RETURNING v", n)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var last int64
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return 0, err
		}
		return 0, errors.New("decision_seq row missing")
	}
	if err := rows.Scan(&last); err != nil {
		return 0, err
	}
	return last - n + 1, rows.Err()
}

// Write hands fn to the writer goroutine and waits for its outcome.
func (b *backend) Write(ctx context.Context, fn func(sqlcore.Querier) error) error {
	if b.closed.Load() {
		return store.ErrClosed
	}
	req := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case b.reqs <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-b.quit:
		return store.ErrClosed
	}
	return <-req.done
}

// writer runs batches until Close.
func (b *backend) writer() {
	defer b.wg.Done()
	for {
		var first *writeReq
		select {
		case first = <-b.reqs:
		case <-b.quit:
			return
		}
		batch := []*writeReq{first}
	drain:
		for len(batch) < b.maxBatch {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		b.run(batch)
	}
}

// run executes a batch in one transaction, each request in a savepoint so
// that one failing request does not undo the others.
func (b *backend) run(batch []*writeReq) {
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	// The statements this batch ran first are prepared once its
	// transaction ended (the connection is the transaction's until then).
	defer b.ws.prepareWanted()
	tx, err := b.w.BeginTx(context.Background(), nil)
	if err != nil {
		for _, r := range live {
			r.done <- err
		}
		return
	}
	results := make([]error, len(live))
	single := len(live) == 1
	for i, r := range live {
		q := &querier{q: tx, tx: tx, stmts: b.ws, closed: &b.closed}
		if single {
			results[i] = callFn(r, q)
			continue
		}
		if _, err := tx.Exec("SAVEPOINT w"); err != nil {
			results[i] = err
			continue
		}
		results[i] = callFn(r, q)
		if results[i] != nil {
			if _, err := tx.Exec("ROLLBACK TO w"); err != nil {
				// The transaction is unusable: fail the whole batch.
				_ = tx.Rollback()
				for _, r := range live {
					r.done <- fmt.Errorf("rollback to savepoint: %w", err)
				}
				return
			}
		}
		if _, err := tx.Exec("RELEASE w"); err != nil && results[i] == nil {
			results[i] = err
		}
	}
	if single && results[0] != nil {
		_ = tx.Rollback()
		live[0].done <- results[0]
		return
	}
	if err := tx.Commit(); err != nil {
		for i, r := range live {
			if results[i] == nil {
				results[i] = fmt.Errorf("commit: %w", err)
			}
			r.done <- results[i]
		}
		return
	}
	for i, r := range live {
		r.done <- results[i]
	}
}

// callFn runs a request's function, turning a panic into an error so that
// the writer goroutine survives a caller's bug.
func callFn(r *writeReq, q sqlcore.Querier) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in write: %v", p)
		}
	}()
	return r.fn(q)
}

// Close stops the writer (pending writes get ErrClosed) and closes the pools.
func (b *backend) Close() error {
	var err error
	b.once.Do(func() {
		b.closed.Store(true)
		close(b.quit)
		b.wg.Wait()
		// Requests that raced with Close are still blocked in Write's send:
		// quit is closed, so they return ErrClosed by themselves.
		err = errors.Join(b.rs.close(), b.ws.close(), b.r.Close(), b.w.Close())
	})
	return err
}

type execQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// querier adapts database/sql to sqlcore.Querier, running the statements
// stmts holds prepared (in the transaction tx, when not nil).
type querier struct {
	q      execQuerier
	tx     *sql.Tx
	stmts  *stmtCache
	closed *atomic.Bool
}

// prepared returns q's query as a prepared statement (of the
// transaction's, if q has one), or q.q when it has none.
func (q *querier) prepared(ctx context.Context, query string) execQuerier {
	st := q.stmts.get(ctx, query, q.tx != nil)
	if st == nil {
		return q.q
	}
	if q.tx != nil {
		st = q.tx.StmtContext(ctx, st)
	}
	return stmtQuerier{st}
}

// stmtQuerier runs a prepared statement (the query text it is given is
// that statement's).
type stmtQuerier struct{ st *sql.Stmt }

func (s stmtQuerier) ExecContext(ctx context.Context, _ string, args ...any) (sql.Result, error) {
	return s.st.ExecContext(ctx, args...)
}

func (s stmtQuerier) QueryContext(ctx context.Context, _ string, args ...any) (*sql.Rows, error) {
	return s.st.QueryContext(ctx, args...)
}

func (q *querier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	if q.closed.Load() {
		return 0, store.ErrClosed
	}
	eq := q.prepared(ctx, query)
	res, err := eq.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q *querier) Query(ctx context.Context, query string, args ...any) (sqlcore.Rows, error) {
	if q.closed.Load() {
		return nil, store.ErrClosed
	}
	eq := q.prepared(ctx, query)
	rows, err := eq.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }
