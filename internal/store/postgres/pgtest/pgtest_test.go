package pgtest_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/store/postgres/pgtest"
)

var pg pgtest.Server

func TestMain(m *testing.M) {
	code := m.Run()
	if err := pg.Close(); err != nil && code == 0 {
		code = 1
	}
	os.Exit(code)
}

func TestDSNFreshDatabases(t *testing.T) {
	ctx := context.Background()
	a, b := pg.DSN(t), pg.DSN(t)
	require.NotEqual(t, a, b)
	ca, err := pgx.Connect(ctx, a)
	require.NoError(t, err)
	defer func() { _ = ca.Close(ctx) }()
	_, err = ca.Exec(ctx, "CREATE TABLE x (n int)")
	require.NoError(t, err)
	cb, err := pgx.Connect(ctx, b)
	require.NoError(t, err)
	defer func() { _ = cb.Close(ctx) }()
	var n int
	require.NoError(t, cb.QueryRow(ctx, "SELECT COUNT(*) FROM pg_tables WHERE tablename = 'x'").Scan(&n))
	require.Zero(t, n, "a table of one test database is visible in another")
}

func TestFindUp(t *testing.T) {
	cases := map[string]struct {
		rel     string
		wantErr bool
	}{
		"script":  {rel: "scripts/pg.sh"},
		"missing": {rel: "no/such/file-pgtest", wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := pgtest.FindUp(tc.rel)
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.FileExists(t, p)
		})
	}
}
