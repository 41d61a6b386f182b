// Package cstest helps tests open central stores on the test PostgreSQL.
package cstest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"

	"github.com/phalanx-ids/phalanx/internal/central/centralstore"
)

// PGForTest opens a store on PostgreSQL in a fresh schema of the database
// dsn names (dropped at the end of the test), for tests. DSN returns the
// DSN of that schema so that a second Open (a second replica) shares it.
func PGForTest(t testing.TB, dsn string) *centralstore.Store {
	t.Helper()
	s, _ := PGForTestDSN(t, dsn)
	return s
}

// PGForTestDSN is PGForTest that also returns the schema's DSN.
func PGForTestDSN(t testing.TB, dsn string) (*centralstore.Store, string) {
	t.Helper()
	ctx := context.Background()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "central_" + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", dsn)
		if err == nil {
			_, _ = a.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			_ = a.Close()
		}
	})
	sdsn := withSearchPath(dsn, schema)
	s, err := centralstore.Open(ctx, sdsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, sdsn
}

func withSearchPath(dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " search_path=" + schema
}
