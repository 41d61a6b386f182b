package secfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// A failed fill or check leaves the old file and no temporary file.
func TestWriteRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	require.NoError(t, WriteFile(p, []byte("one"), 0o644))
	require.Error(t, Write(p, 0o644, func(w io.Writer) error {
		_, _ = w.Write([]byte("half"))
		return errors.New("network gone")
	}, nil))
	require.ErrorContains(t, Write(p, 0o644, func(w io.Writer) error {
		_, err := w.Write([]byte("corrupt"))
		return err
	}, func(string) error { return errors.New("does not parse") }), "does not parse")
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, "one", string(b))
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, ents, 1, "no temporary file left")
}

func TestSymlink(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "link")
	require.NoError(t, os.WriteFile(p, []byte("a regular file"), 0o644))
	for _, target := range []string{"target-1", "target-2"} {
		require.NoError(t, Symlink(target, p))
		got, err := os.Readlink(p)
		require.NoError(t, err)
		require.Equal(t, target, got)
	}
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, ents, 1)
}
