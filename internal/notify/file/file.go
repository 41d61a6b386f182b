// Package file is the `file` notifier (ID notify.file): the format's
// output is appended to a file (the default format writes one JSON object
// per alert per line: JSON lines), with CrowdSec's file plugin keys
// log_path and rotate {enabled, max_size, max_files, max_age, compress}.
//
// Rotation, when enabled: before a message would take the file past
// max_size, the file becomes log_path.1 (log_path.1.gz when compressed),
// the older ones shift up to log_path.<max_files> and the oldest goes;
// rotated files older than max_age days go too. A file moved away by
// someone else (logrotate) is noticed and log_path reopened.
package file

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/phalanx-ids/phalanx/internal/notify"
)

// ID of the module; the `type` is "file".
const ID = notify.IDPrefix + "file"

// DefaultFormat writes one JSON object per alert per line.
const DefaultFormat = "{{range .}}{{toJson .}}\n{{end}}"

// Defaults of rotate.
const (
	DefaultMaxFiles = 5
	fileMode        = 0o640
)

// Config is the YAML configuration of a file notification.
type Config struct {
	notify.CommonConfig `yaml:",inline"`
	// LogPath is the file written (its directory is created).
	LogPath string `yaml:"log_path"`
	Rotate  Rotate `yaml:"rotate"`
}

// Rotate configures rotation by size.
type Rotate struct {
	Enabled bool `yaml:"enabled"`
	// MaxSize: a number is megabytes (CrowdSec); "512KB" and the like too.
	MaxSize Size `yaml:"max_size"`
	// MaxFiles rotated files are kept (default 5).
	MaxFiles int `yaml:"max_files"`
	// MaxAge removes rotated files older than this many days (0: no limit).
	MaxAge int `yaml:"max_age"`
	// Compress gzips rotated files.
	Compress bool `yaml:"compress"`
}

// Module returns the file notifier module.
func Module() notify.Module {
	return notify.Define(ID, DefaultFormat, func() *Config { return &Config{} }, New)
}

// Notifier appends messages to a file.
type Notifier struct {
	path string
	rot  Rotate
	f    *os.File
	size int64
	now  func() time.Time
}

var _ notify.Notifier = (*Notifier)(nil)

// New checks cfg and opens the file (creating it and its directory).
//
// Retry policy: a message is written whole or not at all as far as the
// file's size goes (a short write is truncated back). Write, reopen and
// rotation errors are retryable (a full disk may get space back); none is
// permanent, since the file opened at start.
func New(cfg *Config, _ notify.Deps) (*Notifier, error) {
	if cfg.LogPath == "" {
		return nil, errors.New("log_path: missing")
	}
	r := cfg.Rotate
	if r.Enabled {
		switch {
		case r.MaxSize <= 0:
			return nil, errors.New("rotate.max_size: required when rotate.enabled (a number of MB, or \"512KB\"...)")
		case r.MaxFiles < 0 || r.MaxAge < 0:
			return nil, errors.New("rotate.max_files and rotate.max_age must not be negative")
		case r.MaxFiles == 0:
			r.MaxFiles = DefaultMaxFiles
		}
	}
	path, err := filepath.Abs(cfg.LogPath)
	if err != nil {
		return nil, fmt.Errorf("log_path: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("log_path: %w", err)
	}
	n := &Notifier{path: path, rot: r, now: time.Now}
	if err := n.open(); err != nil {
		return nil, fmt.Errorf("log_path: %w", err)
	}
	return n, nil
}

func (n *Notifier) open() error {
	f, err := os.OpenFile(n.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, fileMode)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return err
	}
	if !st.Mode().IsRegular() {
		_ = f.Close()
		return fmt.Errorf("%s: not a regular file", n.path)
	}
	n.f, n.size = f, st.Size()
	return nil
}

// Send appends the message (a newline is added when it has none).
func (n *Notifier) Send(_ context.Context, msg notify.Message) (bool, error) {
	text := msg.Text
	if text == "" {
		return false, nil
	}
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	if err := n.reopenIfMoved(); err != nil {
		return true, fmt.Errorf("file: reopen %s: %w", n.path, err)
	}
	if n.rot.Enabled && n.size > 0 && n.size+int64(len(text)) > int64(n.rot.MaxSize) {
		if err := n.rotate(); err != nil {
			return true, fmt.Errorf("file: rotate %s: %w", n.path, err)
		}
	}
	w, err := io.WriteString(n.f, text)
	if err != nil {
		// Keep messages whole: cut what a short write left.
		if w > 0 {
			_ = n.f.Truncate(n.size)
		}
		return true, fmt.Errorf("file: write %s: %w", n.path, err)
	}
	n.size += int64(w)
	return false, nil
}

// reopenIfMoved reopens the path when the open file is no longer it.
func (n *Notifier) reopenIfMoved() error {
	if n.f == nil { // a failed rotation left it closed
		return n.open()
	}
	cur, err := n.f.Stat()
	if err != nil {
		return err
	}
	st, err := os.Stat(n.path)
	if err == nil && os.SameFile(cur, st) {
		return nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	_ = n.f.Close()
	n.f = nil
	return n.open()
}

func (n *Notifier) backup(i int) string {
	p := n.path + "." + strconv.Itoa(i)
	if n.rot.Compress {
		p += ".gz"
	}
	return p
}

// rotate moves the file to .1, shifting the older ones, and reopens.
func (n *Notifier) rotate() error {
	err := n.f.Close()
	n.f = nil
	if err != nil {
		return err
	}
	_ = os.Remove(n.backup(n.rot.MaxFiles))
	for i := n.rot.MaxFiles - 1; i >= 1; i-- {
		if err := os.Rename(n.backup(i), n.backup(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	first := n.path + ".1"
	if err := os.Rename(n.path, first); err != nil {
		return errors.Join(err, n.open())
	}
	if n.rot.Compress {
		if err := gzipFile(first); err != nil {
			return errors.Join(err, n.open())
		}
	}
	n.expire()
	return n.open()
}

// expire removes rotated files older than max_age days.
func (n *Notifier) expire() {
	if n.rot.MaxAge <= 0 {
		return
	}
	limit := n.now().Add(-time.Duration(n.rot.MaxAge) * 24 * time.Hour)
	for i := 1; i <= n.rot.MaxFiles; i++ {
		if st, err := os.Stat(n.backup(i)); err == nil && st.ModTime().Before(limit) {
			_ = os.Remove(n.backup(i))
		}
	}
}

// gzipFile replaces p by p.gz.
func gzipFile(p string) (err error) {
	in, err := os.Open(p)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(p+".gz", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fileMode)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(out)
	if _, err = io.Copy(zw, in); err == nil {
		err = zw.Close()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(p + ".gz")
		return err
	}
	return os.Remove(p)
}

// Close closes the file.
func (n *Notifier) Close() error {
	if n.f == nil {
		return nil
	}
	err := n.f.Close()
	n.f = nil
	return err
}
