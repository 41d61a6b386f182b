package atomicfile

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// The parent folders are created; the writes themselves are secfile's
// (tested there).
func TestCreatesParents(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, WriteFile(filepath.Join(dir, "a", "b", "f"), []byte("x"), 0o644))
	require.NoError(t, Write(filepath.Join(dir, "c", "g"), 0o644, func(w io.Writer) error {
		_, err := w.Write([]byte("y"))
		return err
	}, nil))
	require.NoError(t, Symlink("../a/b/f", filepath.Join(dir, "d", "l")))
	b, err := os.ReadFile(filepath.Join(dir, "d", "l"))
	require.NoError(t, err)
	require.Equal(t, "x", string(b))
}
