// Package secfile handles the files that hold secrets or alert data:
// it writes them atomically with a fixed mode, and checks that the files
// Phalanx reads secrets or settings from cannot be changed by any local
// user.
package secfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile writes data to path atomically: a temporary file in the same
// folder, created with mode perm (the umask cannot widen it), written,
// synced, then renamed over path. A reader sees the old content or the
// new, never a part; a crash leaves at worst a stray temporary file.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}, nil)
}

// Write is WriteFile for content streamed by fill (a download). check, if
// not nil, runs on the complete temporary file before it replaces path: an
// error there (a corrupt download) leaves path as it was.
func Write(path string, perm fs.FileMode, fill func(io.Writer) error, check func(tmp string) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("secfile: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	// CreateTemp makes the file 0600; Chmod sets perm exactly.
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("secfile: %w", err)
	}
	if err := fill(f); err != nil {
		return fmt.Errorf("secfile: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("secfile: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("secfile: write %s: %w", path, err)
	}
	if check != nil {
		if err := check(tmp); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("secfile: %w", err)
	}
	ok = true
	syncDir(dir)
	return nil
}

// Symlink makes path a symbolic link to target, replacing whatever path
// was (a file or another link) in one rename.
func Symlink(target, path string) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".lnk-*")
	if err != nil {
		return fmt.Errorf("secfile: %w", err)
	}
	tmp := f.Name()
	_ = f.Close()
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("secfile: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("secfile: %w", err)
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename in dir survive a power loss.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// ErrWorldWritable is wrapped by CheckNotWorldWritable's errors.
var ErrWorldWritable = errors.New("any local user can change it")

// CheckNotWorldWritable returns an error wrapping ErrWorldWritable when
// the file at path (after symbolic links) has the write bit for others,
// or when a folder on its path does without the sticky bit (anyone could
// then replace the file; /tmp, sticky, is fine). Other errors (a missing
// file) are returned as they are.
func CheckNotWorldWritable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Mode().Perm()&0o002 != 0 {
		return fmt.Errorf("%s is world-writable (mode %04o): %w", path, st.Mode().Perm(), ErrWorldWritable)
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(real)
	if err != nil {
		return err
	}
	for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
		ds, err := os.Stat(dir)
		if err != nil {
			return err
		}
		if m := ds.Mode(); m.Perm()&0o002 != 0 && m&fs.ModeSticky == 0 {
			return fmt.Errorf("%s is in %s, a world-writable folder (mode %04o) without the sticky bit: %w", path, dir, m.Perm(), ErrWorldWritable)
		}
		if parent := filepath.Dir(dir); parent == dir {
			return nil
		}
	}
}
