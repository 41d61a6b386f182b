package backends_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/store/backends"
)

func TestOpen(t *testing.T) {
	cases := []struct {
		name    string
		cfg     backends.Config
		wantErr string
	}{
		{"default is sqlite", backends.Config{DBPath: filepath.Join(t.TempDir(), "a.db")}, ""},
		{"sqlite by name", backends.Config{Type: "SQLite", DBPath: filepath.Join(t.TempDir(), "b.db")}, ""},
		{"unknown type", backends.Config{Type: "mysql"}, `unknown database type "mysql"`},
		{"postgres needs a server", backends.Config{Type: "pgx", DSN: "postgres://u@127.0.0.1:1/db?connect_timeout=1"}, "store/postgres"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := backends.Open(context.Background(), tc.cfg)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			defer s.Close()
			require.NoError(t, s.CreateMachine(context.Background(), &store.Machine{ID: "m"}))
		})
	}
}
