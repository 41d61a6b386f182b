// Package atomicfile writes the files the hub install and setup own:
// secfile's atomic writes (temporary file, sync, rename; a failure leaves
// the target as it was), creating the parent folders (0755) first.
package atomicfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/phalanx-ids/phalanx/internal/secfile"
)

func parent(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	return nil
}

// WriteFile writes data to path with mode perm.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	if err := parent(path); err != nil {
		return err
	}
	return secfile.WriteFile(path, data, perm)
}

// Write streams fill's output to path with mode perm; check, if not nil,
// runs on the complete temporary file before it replaces path.
func Write(path string, perm os.FileMode, fill func(io.Writer) error, check func(tmp string) error) error {
	if err := parent(path); err != nil {
		return err
	}
	return secfile.Write(path, perm, fill, check)
}

// Symlink makes path a symbolic link to target, replacing what was there.
func Symlink(target, path string) error {
	if err := parent(path); err != nil {
		return err
	}
	return secfile.Symlink(target, path)
}
