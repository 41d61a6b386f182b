package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStmtCache runs statements as the writer does (in transactions on
// the database's only connection) and as a reader does, and checks which
// texts end up prepared and that the prepared runs give what unprepared
// ones give.
func TestStmtCache(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "c.db"))
	require.NoError(t, err)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { _ = db.Close() })
	_, err = db.Exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
	require.NoError(t, err)
	c := newStmtCache(db)
	var closed atomic.Bool
	ins := "INSERT INTO t (k, v) VALUES (?1, ?2) ON CONFLICT (k) DO NOTHING RETURNING k"
	count := "SELECT count(*) FROM t"
	// inTx runs fn in a transaction as the writer does, then prepares
	// what it noted.
	inTx := func(fn func(q *querier)) {
		tx, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		fn(&querier{q: tx, tx: tx, stmts: c, closed: &closed})
		require.NoError(t, tx.Commit())
		c.prepareWanted()
	}
	scalar := func(q *querier, query string, args ...any) int64 {
		rows, err := q.Query(ctx, query, args...)
		require.NoError(t, err)
		defer rows.Close()
		var n int64
		if rows.Next() {
			require.NoError(t, rows.Scan(&n))
		}
		require.NoError(t, rows.Err())
		return n
	}
	inTx(func(q *querier) {
		require.Nil(t, c.m[ins])
		require.EqualValues(t, 1, scalar(q, ins, 1, "a"))
		require.Nil(t, c.m[ins], "prepared while its transaction holds the connection")
	})
	require.NotNil(t, c.m[ins])
	cases := []struct {
		name string
		k    int
		want int64 // the id returned, 0: none (conflict)
	}{
		{name: "new row", k: 2, want: 2},
		{name: "conflict returns nothing", k: 1, want: 0},
		{name: "another new row", k: 3, want: 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inTx(func(q *querier) {
				require.Equal(t, tc.want, scalar(q, ins, tc.k, tc.name))
				n, err := q.Exec(ctx, "UPDATE t SET v = v || 'x' WHERE k = ?1", tc.k)
				require.NoError(t, err)
				require.EqualValues(t, 1, n)
			})
		})
	}
	// A script (two statements) runs whole, prepared or not.
	script := "UPDATE t SET v = 'a' WHERE k = 1; UPDATE t SET v = 'b' WHERE k = 2"
	for range 2 {
		inTx(func(q *querier) {
			_, err := q.Exec(ctx, script)
			require.NoError(t, err)
		})
	}
	var a, b string
	require.NoError(t, db.QueryRow("SELECT v FROM t WHERE k = 1").Scan(&a))
	require.NoError(t, db.QueryRow("SELECT v FROM t WHERE k = 2").Scan(&b))
	require.Equal(t, []string{"a", "b"}, []string{a, b})
	// A reader prepares at first use.
	r := &querier{q: db, stmts: c, closed: &closed}
	require.Nil(t, c.m[count])
	require.EqualValues(t, 3, scalar(r, count))
	require.NotNil(t, c.m[count])
	require.EqualValues(t, 3, scalar(r, count))
	// The bound: texts beyond it run unprepared.
	for i := range maxCachedStmts + 10 {
		require.EqualValues(t, i, scalar(r, fmt.Sprintf("SELECT %d", i)))
	}
	require.Len(t, c.m, maxCachedStmts)
	require.NoError(t, c.close())
	require.Empty(t, c.m)
}

// TestStmtCacheReaders: readers preparing the same texts at once share
// one statement each, and every run gives the right answer.
func TestStmtCacheReaders(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "r.db"))
	require.NoError(t, err)
	db.SetMaxOpenConns(3)
	t.Cleanup(func() { _ = db.Close() })
	c := newStmtCache(db)
	var closed atomic.Bool
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			q := &querier{q: db, stmts: c, closed: &closed}
			for i := range 50 {
				want := (g + i) % 5
				rows, err := q.Query(ctx, fmt.Sprintf("SELECT %d + ?1", want), 1)
				if err != nil {
					errs <- err
					return
				}
				var n int
				rows.Next()
				err = rows.Scan(&n)
				rows.Close()
				if err == nil && n != want+1 {
					err = fmt.Errorf("SELECT %d + 1 gave %d", want, n)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		require.NoError(t, <-errs)
	}
	require.Len(t, c.m, 5)
	require.NoError(t, c.close())
}
