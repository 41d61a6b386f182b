package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

func TestDashboardUsers(t *testing.T) {
	dir := newDataDir(t)
	runSteps(t, []string{"--data-dir", dir}, []step{
		{name: "bad role", args: []string{"dashboard", "users", "add", "alice", "--role", "root", "--password", "long-password"}, code: ExitUsage, err: []string{"--role"}},
		{name: "short password", args: []string{"dashboard", "users", "add", "alice", "--role", "admin", "--password", "short"}, code: ExitError, err: []string{"too short"}},
		{name: "add with flag", args: []string{"dashboard", "users", "add", "alice", "--role", "admin", "--password", "long-password"}, err: []string{"'alice' (admin) added"}},
		{name: "add prompted (stdin)", stdin: "viewer-password\n", args: []string{"dashboard", "users", "add", "bob"}, err: []string{"'bob' (viewer) added"}},
		{name: "no password on stdin", stdin: "", args: []string{"dashboard", "users", "add", "carol"}, code: ExitError, err: []string{"no password given"}},
		{name: "duplicate", args: []string{"dashboard", "users", "add", "alice", "--password", "long-password"}, code: ExitError, err: []string{"already exists"}},
		{name: "list", args: []string{"dashboard", "users", "list"}, out: []string{"alice", "admin", "bob", "viewer"}, notIn: []string{"carol", "$2"}},
		{name: "list json", args: []string{"dashboard", "users", "list", "-o", "json"}, out: []string{`"name": "alice"`}},
		{name: "delete", args: []string{"dashboard", "users", "delete", "bob"}, err: []string{"'bob' deleted"}},
		{name: "delete again", args: []string{"dashboard", "users", "delete", "bob"}, code: ExitError, err: []string{"not found"}},
	})
	st := openTestStore(t, dir)
	u, err := st.GetDashboardUser(context.Background(), "alice")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(u.PasswordHash, "$2"))
	require.NoError(t, bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte("long-password")))
}
