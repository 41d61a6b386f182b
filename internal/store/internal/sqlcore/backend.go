// Package sqlcore implements store.Store once, over SQL, for the SQLite and
// PostgreSQL backends: both use the same schema semantics (times as int64
// Unix nanoseconds, addresses as 16-byte binary, JSON text for events, meta
// and labels) and differ only in what Backend abstracts: placeholders,
// transactions (SQLite batches them in one writer goroutine), the decision
// change sequence, and error classification.
package sqlcore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Rows is the subset of *sql.Rows / pgx.Rows the engine uses.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Querier runs statements, inside or outside a transaction.
type Querier interface {
	Exec(ctx context.Context, query string, args ...any) (rowsAffected int64, err error)
	Query(ctx context.Context, query string, args ...any) (Rows, error)
}

// Backend is what a database driver supplies to the engine.
//
// Concurrency: Read and Write may be called from any goroutine at once.
type Backend interface {
	// Name prefixes errors ("store/sqlite").
	Name() string
	// Placeholder returns the n-th (1-based) bind parameter.
	Placeholder(n int) string
	// SeqPlaceholder returns the n-th bind parameter of a statement whose
	// parameters all appear once, in binding order ("?" for SQLite, whose
	// driver resolves numbered parameters in quadratic time, "$n" for
	// PostgreSQL). A statement must not mix the two forms.
	SeqPlaceholder(n int) string
	// Read returns a querier for reads (a pool).
	Read() Querier
	// Write runs fn in a write transaction (committed when fn returns nil).
	// fn may run in another goroutine, must not call Write itself, and may
	// be retried only by the backend before it had any effect.
	Write(ctx context.Context, fn func(q Querier) error) error
	// AllocSeq reserves n consecutive decision change sequence numbers in
	// the transaction q and returns the first; n = 0 only takes the lock
	// that orders sequence allocation (held until the transaction ends). Sequence numbers must become
	// visible in increasing order (allocation serialises writers until commit).
	AllocSeq(ctx context.Context, q Querier, n int64) (first int64, err error)
	// LockSuffix is appended to read-modify-write selects (" FOR UPDATE").
	LockSuffix() string
	// IsUnique says whether err is a unique-constraint violation.
	IsUnique(err error) bool
	// Close releases the database.
	Close() error
}

// Migrate applies the numbered migrations NNNN_name.sql found in dir of fsys
// that are newer than the schema_version table says, each in its own write
// transaction, recording each version. lock, if not nil, is run first in
// each transaction (PostgreSQL: an advisory lock against concurrent starts).
func Migrate(ctx context.Context, b Backend, fsys embed.FS, dir string, lock string) error {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return fmt.Errorf("%s: migrate: %w", b.Name(), err)
	}
	type mig struct {
		version int
		name    string
	}
	var migs []mig
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return fmt.Errorf("%s: migrate: bad migration file name %q", b.Name(), e.Name())
		}
		migs = append(migs, mig{v, e.Name()})
	}
	sort.Slice(migs, func(i, j int) bool { return migs[i].version < migs[j].version })
	create := "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)"
	for _, m := range migs {
		body, err := fsys.ReadFile(dir + "/" + m.name)
		if err != nil {
			return fmt.Errorf("%s: migrate: %w", b.Name(), err)
		}
		err = b.Write(ctx, func(q Querier) error {
			if lock != "" {
				if _, err := q.Exec(ctx, lock); err != nil {
					return err
				}
			}
			if _, err := q.Exec(ctx, create); err != nil {
				return err
			}
			rows, err := q.Query(ctx, "SELECT COUNT(*) FROM schema_version WHERE version = "+b.Placeholder(1), m.version)
			if err != nil {
				return err
			}
			var n int64
			for rows.Next() {
				if err := rows.Scan(&n); err != nil {
					rows.Close()
					return err
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			for _, stmt := range splitSQL(string(body)) {
				if _, err := q.Exec(ctx, stmt); err != nil {
					return fmt.Errorf("%s: %w", firstLine(stmt), err)
				}
			}
			_, err = q.Exec(ctx, "INSERT INTO schema_version (version, applied_at) VALUES ("+b.Placeholder(1)+", "+b.Placeholder(2)+")",
				m.version, time.Now().UnixNano())
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: migrate %s: %w", b.Name(), m.name, err)
		}
	}
	return nil
}

// splitSQL splits a migration on semicolons that end a line; comment-only
// statements are dropped.
func splitSQL(s string) []string {
	var out []string
	var cur strings.Builder
	for line := range strings.SplitSeq(s, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, strings.TrimSpace(cur.String()))
	}
	return out
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
