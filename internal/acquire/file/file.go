// Package file is the `file` datasource: it follows files named by globs,
// like CrowdSec's file acquisition.
//
// Tail mode polls (no inotify): each open file is read to its end every
// poll_interval, the globs are re-evaluated every discovery_poll_interval
// so files that appear later are picked up (read from their start). After
// lines were read, the next poll comes after 10 ms, then twice as late
// each time nothing came, up to poll_interval: a busy log's lines are read
// within a few ms of their writing, a quiet one costs what it did.
//
//   - First start (no state): existing files are tailed from their end.
//   - Offsets are remembered in a state file (StateDir/file-<id>.json)
//     keyed by path, device and inode, with a fingerprint of the bytes just
//     before the offset; a restart resumes exactly after the last line
//     emitted (saved every second and on stop).
//   - Rotation by rename: when the path names a new inode, the old file is
//     read to its end (its unterminated last line is emitted), then kept
//     open for rotation_grace in case its writer is late, and the new file
//     is read from offset 0.
//   - Rotation by copytruncate: when the open file shrinks, or the bytes
//     before our offset change (truncated then refilled between polls), the
//     lines written between our last read and the truncation are recovered
//     from the copy (a sibling named <base>.* or <base>-* whose bytes at our
//     offset match), then the file is read again from 0.
//   - A partial last line is held until its newline (tail mode); lines
//     longer than max_buffer_size are cut to that size (rest dropped).
//   - Empty lines are skipped; a trailing "\r" is removed.
//
// Cat mode reads every match once from its start (.gz files decompressed)
// and returns.
package file

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/phalanx-ids/phalanx/internal/acquire"
	"github.com/phalanx-ids/phalanx/internal/event"
)

// Name is the `source` value of this module.
const Name = "file"

// Defaults.
const (
	DefaultMaxLineSize       = 64 * 1024
	DefaultPollInterval      = 250 * time.Millisecond
	DefaultDiscoveryInterval = time.Second
	DefaultRotationGrace     = 5 * time.Second
	saveInterval             = time.Second
	activePoll               = 10 * time.Millisecond // the first wait after lines were read (tail.go)
	fingerprintLen           = 64
	readChunk                = 64 * 1024
	chunksPerPoll            = 16
)

// Config is the YAML configuration of a file datasource.
type Config struct {
	acquire.CommonConfig `yaml:",inline"`
	Filename             string   `yaml:"filename"`
	Filenames            []string `yaml:"filenames"`
	ExcludeRegexps       []string `yaml:"exclude_regexps"`
	// MaxBufferSize is the longest line kept whole, in bytes.
	MaxBufferSize int `yaml:"max_buffer_size"`
	// Accepted for CrowdSec compatibility; polling is always used.
	ForceInotify       bool `yaml:"force_inotify"`
	PollWithoutInotify bool `yaml:"poll_without_inotify"`
	// DiscoveryPollEnable is accepted; discovery polling is always on.
	DiscoveryPollEnable   bool          `yaml:"discovery_poll_enable"`
	DiscoveryPollInterval time.Duration `yaml:"discovery_poll_interval"`
	// PollInterval is how often open files are checked (Phalanx).
	PollInterval time.Duration `yaml:"poll_interval"`
	// RotationGrace is how long a rotated-away file stays open (Phalanx).
	RotationGrace time.Duration `yaml:"rotation_grace"`
}

// Module returns the registry entry of the file datasource.
func Module() acquire.Module {
	return acquire.Module{
		Name:       Name,
		HitsMetric: "cs_filesource_hits_total",
		NewConfig:  func() acquire.Config { return &Config{} },
		New: func(c acquire.Config, d acquire.Deps) (acquire.Datasource, error) {
			return New(c.(*Config), d)
		},
	}
}

// Source is a provisioned file datasource.
//
// Concurrency: see acquire.Datasource. Run reads every file from one
// goroutine, so emit is called serially, in file order per file.
type Source struct {
	cfg       Config
	globs     []string
	excl      []*regexp.Regexp
	maxLine   int
	poll      time.Duration
	discovery time.Duration
	grace     time.Duration
	statePath string
	log       *slog.Logger
	now       func() time.Time
}

// New validates cfg.
func New(cfg *Config, d acquire.Deps) (*Source, error) {
	s := &Source{cfg: *cfg, log: d.Logger, now: time.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Filename != "" {
		s.globs = append(s.globs, cfg.Filename)
	}
	s.globs = append(s.globs, cfg.Filenames...)
	if len(s.globs) == 0 {
		return nil, errors.New("file: no filename or filenames")
	}
	for _, g := range s.globs {
		if _, err := filepath.Match(g, ""); err != nil {
			return nil, fmt.Errorf("file: glob %q: %w", g, err)
		}
	}
	for _, r := range cfg.ExcludeRegexps {
		re, err := regexp.Compile(r)
		if err != nil {
			return nil, fmt.Errorf("file: exclude_regexps %q: %w", r, err)
		}
		s.excl = append(s.excl, re)
	}
	s.maxLine = pick(cfg.MaxBufferSize, DefaultMaxLineSize)
	if cfg.MaxBufferSize < 0 {
		return nil, fmt.Errorf("file: max_buffer_size %d: must be positive", cfg.MaxBufferSize)
	}
	s.poll = pickDur(cfg.PollInterval, DefaultPollInterval)
	s.discovery = pickDur(cfg.DiscoveryPollInterval, DefaultDiscoveryInterval)
	s.grace = pickDur(cfg.RotationGrace, DefaultRotationGrace)
	if d.StateDir != "" && s.cfg.Mode == acquire.ModeTail {
		s.statePath = filepath.Join(d.StateDir, "file-"+stateID(cfg.Name, s.globs)+".json")
	}
	return s, nil
}

func pick(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

func pickDur(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}

// StatePath returns the state file (empty: none kept).
func (s *Source) StatePath() string { return s.statePath }

// Run follows (tail) or reads (cat) the files. See the package comment.
func (s *Source) Run(ctx context.Context, emit acquire.Emit) error {
	if s.cfg.Mode == acquire.ModeCat {
		return s.cat(ctx, emit)
	}
	return s.tail(ctx, emit)
}

// matches returns the files the globs name now, sorted, excluded ones and
// directories left out.
func (s *Source) matches() []string {
	seen := map[string]bool{}
	var out []string
	for _, g := range s.globs {
		m, _ := filepath.Glob(g) // patterns validated in New
		for _, p := range m {
			if seen[p] || s.excluded(p) {
				continue
			}
			st, err := os.Stat(p)
			if err != nil || st.IsDir() {
				continue
			}
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

func (s *Source) excluded(p string) bool {
	for _, re := range s.excl {
		if re.MatchString(p) {
			return true
		}
	}
	return false
}

// line is the event.Line of raw (its \r cut), read from path at read.
func (s *Source) line(path string, raw []byte, read time.Time) event.Line {
	raw = bytes.TrimSuffix(raw, []byte{'\r'})
	return event.Line{
		Raw:     string(raw),
		Src:     path,
		Time:    read,
		Labels:  s.cfg.Labels,
		Module:  Name,
		Process: true,
	}
}

// cat reads every match once.
func (s *Source) cat(ctx context.Context, emit acquire.Emit) error {
	files := s.matches()
	if len(files) == 0 {
		s.log.Warn("file: no file matches", "globs", s.globs)
	}
	for _, p := range files {
		if err := s.catOne(ctx, p, emit); err != nil {
			return err
		}
	}
	return nil
}

func (s *Source) catOne(ctx context.Context, path string, emit acquire.Emit) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("file: %w", err)
	}
	defer f.Close()
	var r io.Reader = bufio.NewReaderSize(f, readChunk)
	br := r.(*bufio.Reader)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("file: %s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	sc := bufio.NewReaderSize(r, readChunk)
	var long []byte
	for {
		if err := ctx.Err(); err != nil {
			return nil
		}
		chunk, err := sc.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(long) < s.maxLine {
				long = append(long, chunk...)
			}
			continue
		}
		raw := chunk
		if long != nil {
			raw = append(long, chunk...)
			long = nil
		}
		raw = bytes.TrimSuffix(raw, []byte{'\n'})
		if len(raw) > s.maxLine {
			raw = cut(raw, s.maxLine)
		}
		if len(bytes.TrimSuffix(raw, []byte{'\r'})) > 0 {
			if e := emit(s.line(path, raw, s.now())); e != nil {
				return e
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("file: %s: %w", path, err)
		}
	}
}

// cut shortens b to at most n bytes, on a UTF-8 boundary.
func cut(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	b = b[:n]
	for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
		if r, size := utf8.DecodeLastRune(b); r != utf8.RuneError || size != 1 {
			break
		}
		b = b[:len(b)-1]
	}
	return b
}

func fileID(fi os.FileInfo) (dev, ino uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev), uint64(st.Ino)
	}
	return 0, 0
}

func isGz(p string) bool { return strings.HasSuffix(p, ".gz") }
