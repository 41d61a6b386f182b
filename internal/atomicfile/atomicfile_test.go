package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWriteFile(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "sub", "f.txt")
	require.NoError(t, WriteFile(p, []byte("one"), 0o640))
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, "one", string(b))
	st, err := os.Stat(p)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o640), st.Mode().Perm())

	// A failed fill or check leaves the old file and no temporary file.
	require.Error(t, Write(p, 0o640, func(w io.Writer) error {
		_, _ = w.Write([]byte("half"))
		return errors.New("network gone")
	}))
	require.ErrorContains(t, Write(p, 0o640, func(w io.Writer) error {
		_, err := w.Write([]byte("corrupt"))
		return err
	}, func(string) error { return errors.New("does not parse") }), "does not parse")
	b, err = os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, "one", string(b))
	ents, err := os.ReadDir(filepath.Dir(p))
	require.NoError(t, err)
	require.Len(t, ents, 1, "no temporary file left")
}

func TestSymlink(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "link")
	require.NoError(t, os.WriteFile(p, []byte("a regular file"), 0o644))
	require.NoError(t, Symlink("target-1", p))
	got, err := os.Readlink(p)
	require.NoError(t, err)
	require.Equal(t, "target-1", got)
	require.NoError(t, Symlink("target-2", p))
	got, err = os.Readlink(p)
	require.NoError(t, err)
	require.Equal(t, "target-2", got)
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, ents, 1)
}
