package sqlcore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/phalanx-ids/phalanx/internal/store"
)

// Engine implements store.Store over a Backend.
//
// Concurrency: safe for concurrent use; see store.Store.
type Engine struct {
	b Backend
	// Now is the clock for created/updated stamps (time.Now).
	now func() time.Time
}

var _ store.Store = (*Engine)(nil)

// New returns an engine over b; the schema must already be migrated.
func New(b Backend) *Engine { return &Engine{b: b, now: time.Now} }

// Close closes the backend.
func (e *Engine) Close() error { return e.b.Close() }

// errf wraps err with the backend name and the operation.
func (e *Engine) errf(err error, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", e.b.Name(), fmt.Sprintf(format, args...), err)
}

// createErr names a failed insert of the kind what called name, mapping a
// unique violation to store.ErrExists; nil stays nil.
func (e *Engine) createErr(ctx context.Context, err error, what, name string) error {
	if err == nil {
		return nil
	}
	if e.b.IsUnique(err) {
		err = store.ErrExists
	}
	return e.errf(ctxErr(ctx, err), "create %s %q", what, name)
}

// stampNew sets zero creation and update times to now.
func stampNew(now time.Time, created, updated *time.Time) {
	if created.IsZero() {
		*created = now
	}
	if updated.IsZero() {
		*updated = now
	}
}

// builder accumulates WHERE conditions and bind arguments.
type builder struct {
	ph    func(int) string
	args  []any
	conds []string
}

func (e *Engine) builder() *builder { return &builder{ph: e.b.Placeholder} }

// arg binds v and returns its placeholder.
func (q *builder) arg(v any) string {
	q.args = append(q.args, v)
	return q.ph(len(q.args))
}

// in returns "(p1, p2...)" for the values.
func (q *builder) in(vals []any) string {
	ps := make([]string, len(vals))
	for i, v := range vals {
		ps[i] = q.arg(v)
	}
	return "(" + strings.Join(ps, ", ") + ")"
}

func (q *builder) where(cond string) { q.conds = append(q.conds, cond) }

func (q *builder) clause() string {
	if len(q.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(q.conds, " AND ")
}

func ns(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNS(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// blob returns a bind value for an address: NULL when absent (a zero-length
// blob would compare lower than every address).
func blob(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

func boolArg(v bool) any {
	if v {
		return true
	}
	return false
}

// queryAll runs a query and scans each row with scan.
func queryAll(ctx context.Context, q Querier, sql string, args []any, scan func(Rows) error) error {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// queryInt runs a query returning one integer.
func queryInt(ctx context.Context, q Querier, sql string, args ...any) (int64, error) {
	var n int64
	found := false
	err := queryAll(ctx, q, sql, args, func(r Rows) error {
		found = true
		var v *int64
		if err := r.Scan(&v); err != nil {
			return err
		}
		if v != nil {
			n = *v
		}
		return nil
	})
	if err == nil && !found {
		return 0, store.ErrNotFound
	}
	return n, err
}

// ctxErr returns ctx's error when ctx ended, so that callers see
// context.Canceled rather than a driver's wording of it.
func ctxErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}
