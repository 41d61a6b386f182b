package file

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// stateEntry is the saved position of one path.
type stateEntry struct {
	Dev    uint64 `json:"dev"`
	Ino    uint64 `json:"ino"`
	Offset int64  `json:"offset"`
	FP     []byte `json:"fp"` // bytes just before Offset
}

// stateFile is the saved positions of one file datasource. The path is
// empty when no state is kept (writes are then no-ops).
type stateFile struct {
	path     string
	Version  int                   `json:"version"`
	Files    map[string]stateEntry `json:"files"`
	warnedGz map[string]bool
}

// stateID names the state file of a source: its name, else its globs.
func stateID(name string, globs []string) string {
	key := "name:" + name
	if name == "" {
		key = "globs:" + strings.Join(globs, "\x00")
	}
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:8])
}

// loadState reads the state file; existed says whether there was one.
func loadState(path string) (*stateFile, bool, error) {
	st := &stateFile{path: path, Version: 1, Files: map[string]stateEntry{}, warnedGz: map[string]bool{}}
	if path == "" {
		return st, false, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, false, nil
	}
	if err != nil {
		return st, false, fmt.Errorf("file: state: %w", err)
	}
	if err := json.Unmarshal(data, st); err != nil {
		st.Files = map[string]stateEntry{}
		return st, false, fmt.Errorf("file: state %s: %w", path, err)
	}
	if st.Files == nil {
		st.Files = map[string]stateEntry{}
	}
	return st, true, nil
}

// write saves the state atomically (temp file + rename).
func (s *stateFile) write() error {
	if s.path == "" {
		return nil
	}
	data, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("file: state: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o750); err != nil {
		return fmt.Errorf("file: state: %w", err)
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o640); err != nil {
		return fmt.Errorf("file: state: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("file: state: %w", err)
	}
	return nil
}
