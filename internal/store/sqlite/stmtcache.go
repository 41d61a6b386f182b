package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// maxCachedStmts bounds a stmtCache. The engine's statements are a few
// dozen texts; those built for a variable number of rows (multi-row
// inserts, IN lists) may be more, and beyond the bound they run
// unprepared, as every statement did before the cache.
const maxCachedStmts = 128

// stmtCache keeps a database's prepared statements by SQL text, so that a
// statement run again is not parsed and planned again by SQLite: in
// bench/live's burst, where the LAPI stores an alert batch at every push,
// preparing statements took more of the daemon's CPU than running them.
//
// The writer's database has one connection, held by the transaction while
// it runs: a text first seen in a transaction is prepared once that
// transaction ended (prepareWanted, called by the writer goroutine), and
// the transactions after it run it as tx.StmtContext, which reuses the
// statement prepared on that connection. A reader's cache prepares on
// first use (database/sql prepares it again on each pooled connection
// that needs it).
//
// Concurrency: safe for concurrent use.
type stmtCache struct {
	db   *sql.DB
	mu   sync.Mutex
	m    map[string]*sql.Stmt
	want map[string]struct{} // writer: texts to prepare once the transaction ended
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}, want: map[string]struct{}{}}
}

// get returns the prepared statement of query, nil if there is none (yet).
// Writer (later true): a query not yet prepared is noted for
// prepareWanted. Reader: it is prepared now.
func (c *stmtCache) get(ctx context.Context, query string, later bool) *sql.Stmt {
	c.mu.Lock()
	if st := c.m[query]; st != nil || len(c.m)+len(c.want) >= maxCachedStmts {
		c.mu.Unlock()
		return st
	}
	if later {
		c.want[query] = struct{}{}
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	// Prepared without the lock: it waits for a connection of the pool.
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil // the caller runs it unprepared, and gets the error
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[query]; old != nil { // prepared meanwhile by another reader
		_ = st.Close()
		return old
	}
	if len(c.m)+len(c.want) >= maxCachedStmts {
		_ = st.Close()
		return nil
	}
	c.m[query] = st
	return st
}

// prepareWanted prepares the texts get noted (no transaction may be open
// on the writer's only connection). A text that fails to prepare is not
// tried again.
func (c *stmtCache) prepareWanted() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q := range c.want {
		delete(c.want, q)
		if st, err := c.db.PrepareContext(context.Background(), q); err == nil {
			c.m[q] = st
		}
	}
}

// close closes every statement.
func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var first error
	for q, st := range c.m {
		if err := st.Close(); err != nil && first == nil {
			first = err
		}
		delete(c.m, q)
	}
	return first
}
