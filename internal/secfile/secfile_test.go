package secfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWriteFile(t *testing.T) {
	old := syscall.Umask(0) // the umask must not widen nor narrow the mode
	defer syscall.Umask(old)
	dir := t.TempDir()
	p := filepath.Join(dir, "creds.yaml")
	require.NoError(t, os.WriteFile(p, []byte("old"), 0o666))
	require.NoError(t, WriteFile(p, []byte("new"), 0o600))
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, "new", string(b))
	st, err := os.Stat(p)
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o600), st.Mode().Perm())

	syscall.Umask(0o077)
	require.NoError(t, WriteFile(p, []byte("x"), 0o640))
	st, err = os.Stat(p)
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o640), st.Mode().Perm())
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, ents, 1, "no temporary file left")

	require.Error(t, WriteFile(filepath.Join(dir, "missing", "x"), nil, 0o600))
}

func TestCheckNotWorldWritable(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	root := t.TempDir()
	require.NoError(t, os.Chmod(root, 0o700))
	mk := func(rel string, mode fs.FileMode) string {
		p := filepath.Join(root, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte("x"), mode))
		require.NoError(t, os.Chmod(p, mode))
		return p
	}
	dirMode := func(rel string, mode fs.FileMode) {
		require.NoError(t, os.Chmod(filepath.Join(root, rel), mode))
	}
	ok := mk("ok/config.yaml", 0o644)
	private := mk("ok/creds.yaml", 0o600)
	ww := mk("ok/ww.yaml", 0o666)
	inOpen := mk("open/config.yaml", 0o600)
	dirMode("open", 0o777)
	inSticky := mk("sticky/config.yaml", 0o600)
	dirMode("sticky", 0o777|fs.ModeSticky)
	link := filepath.Join(root, "ok", "link.yaml")
	require.NoError(t, os.Symlink(ww, link))
	linkToOpen := filepath.Join(root, "ok", "link2.yaml")
	require.NoError(t, os.Symlink(inOpen, linkToOpen))
	for _, tc := range []struct {
		name, path string
		bad        bool
	}{
		{"0644 file", ok, false},
		{"0600 file", private, false},
		{"0666 file", ww, true},
		{"in a world-writable folder", inOpen, true},
		{"in a sticky world-writable folder (/tmp)", inSticky, false},
		{"symlink to a world-writable file", link, true},
		{"symlink into a world-writable folder", linkToOpen, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckNotWorldWritable(tc.path)
			if !tc.bad {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrWorldWritable)
			require.Contains(t, err.Error(), "world-writable")
		})
	}
	err := CheckNotWorldWritable(filepath.Join(root, "nope.yaml"))
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.False(t, errors.Is(err, ErrWorldWritable))
}
