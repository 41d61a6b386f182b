// Package replay is the forensic-replay input: it reads log files once, line
// by line, like CrowdSec's `-dsn file://PATH -type TYPE -label k:v` mode,
// and hands each line to the pipeline as an event.Line.
//
// Files may be plain or gzip-compressed (detected by their magic bytes, not
// their name); "-" reads standard input; a path with glob characters reads
// every match in name order.
//
// Concurrency: a Source is configured, then Read is called; one Read at a
// time per Source. Read calls out synchronously from its own goroutine and
// returns when the input is used up, out fails or ctx is cancelled. The
// Labels map of every emitted Line is the same map: treat it as read-only.
package replay

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/phalanx-ids/phalanx/internal/event"
)

// DefaultMaxLineSize is the longest line kept whole (upstream's scanner
// limit). Longer lines are truncated (or skipped) and counted.
const DefaultMaxLineSize = 64 * 1024

// Module is Line.Module for replayed lines.
const Module = "file"

// StdinSrc is Line.Src for lines read from standard input.
const StdinSrc = "stdin"

const readBufferSize = 256 * 1024

// Source reads one file, a glob of files, or standard input ("-").
type Source struct {
	// Path is a file path, a glob pattern or "-" (standard input).
	Path string
	// Type is labels.type; it is added to Labels when not empty.
	Type string
	// Labels go on every line (shared, read-only).
	Labels map[string]string
	// MaxLineSize is the longest line kept whole, in bytes
	// (0: DefaultMaxLineSize).
	MaxLineSize int
	// SkipLongLines drops lines longer than MaxLineSize instead of keeping
	// their first MaxLineSize bytes (cut back to a UTF-8 boundary).
	SkipLongLines bool
	// LogLevel is the DSN's log_level, if any (informational).
	LogLevel string
	// Stdin is read for Path "-" (nil: os.Stdin).
	Stdin io.Reader
	// Now stamps Line.Time (nil: time.Now). It is read when the input is
	// opened and whenever the reader's buffer is empty, before the read
	// that refills it: the lines of a buffer (up to 256 KiB of a file)
	// share one reading, and a line that arrives alone (a pipe) gets its
	// own.
	Now func() time.Time
	// BytesRead, if set, is increased as input bytes (compressed bytes for
	// .gz files) are read, so another goroutine can show progress.
	BytesRead *atomic.Int64
	// Logger (nil: discard).
	Logger *slog.Logger
}

// Stats counts what Read did.
type Stats struct {
	Files     int   // inputs opened
	Lines     int64 // lines handed to out
	Empty     int64 // empty lines skipped
	LongLines int64 // lines longer than MaxLineSize (truncated or skipped)
	Bytes     int64 // input bytes read (compressed bytes for .gz)
}

// ParseDSN splits a replay DSN: `file://PATH[?k=v&...]` (PATH relative or
// absolute, so `file:///abs` is /abs), a plain path, or "-" for standard
// input. Only the file scheme is accepted.
func ParseDSN(dsn string) (path string, params url.Values, err error) {
	switch {
	case dsn == "":
		return "", nil, errors.New("replay: empty dsn")
	case dsn == "-":
		return "-", url.Values{}, nil
	case strings.HasPrefix(dsn, "file://"):
		rest := strings.TrimPrefix(dsn, "file://")
		path, query, _ := strings.Cut(rest, "?")
		if path == "" {
			return "", nil, errors.New("replay: empty file:// dsn")
		}
		params, err := url.ParseQuery(query)
		if err != nil {
			return "", nil, fmt.Errorf("replay: dsn parameters: %w", err)
		}
		return path, params, nil
	}
	if i := strings.Index(dsn, "://"); i > 0 && !strings.ContainsAny(dsn[:i], `/\`) {
		return "", nil, fmt.Errorf("replay: dsn scheme %q is not supported, only file://", dsn[:i])
	}
	return dsn, url.Values{}, nil
}

var logLevels = map[string]bool{
	"trace": true, "debug": true, "info": true, "warn": true, "warning": true,
	"error": true, "fatal": true, "panic": true,
}

// FromDSN builds a Source from a DSN and labels (labels["type"] becomes
// Type). DSN parameters: max_buffer_size (bytes, > 0) and log_level; any
// other is an error, as upstream.
func FromDSN(dsn string, labels map[string]string) (*Source, error) {
	path, params, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	s := &Source{Path: path, Labels: maps.Clone(labels), Type: labels["type"]}
	for k, v := range params {
		if len(v) != 1 {
			return nil, fmt.Errorf("replay: dsn parameter %s: expected one value, got %d", k, len(v))
		}
		switch k {
		case "max_buffer_size":
			n, err := strconv.Atoi(v[0])
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("replay: dsn parameter max_buffer_size %q: not a positive integer", v[0])
			}
			s.MaxLineSize = n
		case "log_level":
			if !logLevels[strings.ToLower(v[0])] {
				return nil, fmt.Errorf("replay: dsn parameter log_level: unknown level %q", v[0])
			}
			s.LogLevel = strings.ToLower(v[0])
		default:
			return nil, fmt.Errorf("replay: unknown dsn parameter %q", k)
		}
	}
	return s, nil
}

// Files returns the inputs Path names, absolute and in read order ("-" for
// standard input). A glob that matches nothing, or a missing file, is an
// error.
func (s *Source) Files() ([]string, error) {
	if s.Path == "" {
		return nil, errors.New("replay: no path")
	}
	if s.Path == "-" {
		return []string{"-"}, nil
	}
	paths := []string{s.Path}
	if strings.ContainsAny(s.Path, `*?[`) {
		m, err := filepath.Glob(s.Path)
		if err != nil {
			return nil, fmt.Errorf("replay: glob %s: %w", s.Path, err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("replay: no file matches %s", s.Path)
		}
		sort.Strings(m)
		paths = m
	}
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("replay: %s: %w", p, err)
		}
		st, err := os.Stat(abs)
		if err != nil {
			return nil, fmt.Errorf("replay: %w", err)
		}
		if st.IsDir() {
			if len(paths) > 1 {
				continue
			}
			return nil, fmt.Errorf("replay: %s is a directory", abs)
		}
		out = append(out, abs)
	}
	return out, nil
}

// TotalSize returns the summed size of the input files (0 for standard
// input), to turn BytesRead into a percentage.
func (s *Source) TotalSize() (int64, error) {
	files, err := s.Files()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, f := range files {
		if f == "-" {
			continue
		}
		st, err := os.Stat(f)
		if err != nil {
			return 0, fmt.Errorf("replay: %w", err)
		}
		n += st.Size()
	}
	return n, nil
}

// Read reads every input and calls out once per non-empty line, in order.
// It stops at the first error from out (returned as is), on ctx
// cancellation (ctx.Err()), or on a read error; Stats counts what was done
// until then.
func (s *Source) Read(ctx context.Context, out func(event.Line) error) (Stats, error) {
	var st Stats
	files, err := s.Files()
	if err != nil {
		return st, err
	}
	labels := s.Labels
	if s.Type != "" && labels["type"] != s.Type {
		labels = maps.Clone(labels)
		if labels == nil {
			labels = make(map[string]string, 1)
		}
		labels["type"] = s.Type
	}
	r := reader{src: s, labels: labels, stats: &st}
	r.init()
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if err := r.readInput(ctx, f, out); err != nil {
			var stop errStop
			if errors.As(err, &stop) {
				return st, stop.err
			}
			return st, err
		}
	}
	return st, nil
}

// reader holds the per-Read state.
type reader struct {
	src     *Source
	labels  map[string]string
	stats   *Stats
	max     int
	now     func() time.Time
	stamp   time.Time // Line.Time of the lines of the current buffer
	logger  *slog.Logger
	br      *bufio.Reader // over the raw input
	gzbr    *bufio.Reader // over the decompressor, made on first use
	long    []byte        // head of a line longer than the read buffer
	counter countingReader
}

func (r *reader) init() {
	r.max = r.src.MaxLineSize
	if r.max <= 0 {
		r.max = DefaultMaxLineSize
	}
	r.now = r.src.Now
	if r.now == nil {
		r.now = time.Now
	}
	r.logger = r.src.Logger
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	r.br = bufio.NewReaderSize(nil, readBufferSize)
}

// countingReader counts bytes into Stats and the shared progress counter.
type countingReader struct {
	r        io.Reader
	stats    *Stats
	progress *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.stats.Bytes += int64(n)
		if c.progress != nil {
			c.progress.Add(int64(n))
		}
	}
	return n, err
}

var gzipMagic = []byte{0x1f, 0x8b}

func (r *reader) readInput(ctx context.Context, name string, out func(event.Line) error) error {
	var in io.Reader
	src := name
	if name == "-" {
		in = r.src.Stdin
		if in == nil {
			in = os.Stdin
		}
		src = StdinSrc
	} else {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		defer f.Close()
		in = f
	}
	r.stats.Files++
	r.counter = countingReader{r: in, stats: r.stats, progress: r.src.BytesRead}
	r.br.Reset(&r.counter)
	lines := r.br
	if head, _ := r.br.Peek(2); bytes.Equal(head, gzipMagic) {
		zr, err := gzip.NewReader(r.br)
		if err != nil {
			return fmt.Errorf("replay: %s: gzip: %w", src, err)
		}
		defer zr.Close()
		if r.gzbr == nil {
			r.gzbr = bufio.NewReaderSize(zr, readBufferSize)
		} else {
			r.gzbr.Reset(zr)
		}
		lines = r.gzbr
	}
	r.logger.Debug("replay: reading", "src", src, "gzip", lines != r.br)
	if err := r.readLines(ctx, lines, src, out); err != nil {
		var stop errStop
		if errors.As(err, &stop) {
			return stop
		}
		return fmt.Errorf("replay: %s: %w", src, err)
	}
	return nil
}

// errStop carries an error from out or ctx, which Read returns unwrapped.
type errStop struct{ err error }

func (e errStop) Error() string { return e.err.Error() }
func (e errStop) Unwrap() error { return e.err }

func (r *reader) readLines(ctx context.Context, br *bufio.Reader, src string, out func(event.Line) error) error {
	done := ctx.Done()
	r.stamp = r.now() // (the input's first bytes may be buffered: gzip's magic)
	for n := 1; ; n++ {
		if n > 1 && br.Buffered() == 0 {
			r.stamp = r.now()
		}
		head, clen, isLine, err := r.next(br)
		if isLine {
			if e := r.emit(head, clen, src, out); e != nil {
				return e
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if n&255 == 0 && done != nil {
			select {
			case <-done:
				return errStop{ctx.Err()}
			default:
			}
		}
	}
}

// next reads one line. It returns the line's first bytes without its end
// of line ("\n", "\r\n", or a lone "\r" before end of file), at most
// max bytes of them when the line is longer than the read buffer; clen is
// the full length without the end of line; isLine is false at a clean end
// of input.
func (r *reader) next(br *bufio.Reader) (head []byte, clen int, isLine bool, err error) {
	chunk, err := br.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		c := trimEOL(chunk)
		return c, len(c), len(chunk) > 0, err
	}
	r.long = r.long[:0]
	total := 0
	var t0, t1 byte // the line's last two bytes
	for {
		total += len(chunk)
		if room := r.max - len(r.long); room > 0 {
			r.long = append(r.long, chunk[:min(room, len(chunk))]...)
		}
		if len(chunk) >= 2 {
			t0, t1 = chunk[len(chunk)-2], chunk[len(chunk)-1]
		} else if len(chunk) == 1 {
			t0, t1 = t1, chunk[0]
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			break
		}
		chunk, err = br.ReadSlice('\n')
	}
	clen = total
	if t1 == '\n' {
		clen--
		if total > 1 && t0 == '\r' {
			clen--
		}
	} else if t1 == '\r' {
		clen--
	}
	return r.long[:min(clen, len(r.long))], clen, true, err
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// cutRune drops an incomplete UTF-8 sequence at the end of b (left by
// truncation); invalid bytes are left alone.
func cutRune(b []byte) []byte {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i]
			}
			break
		}
	}
	return b
}

func (r *reader) emit(head []byte, clen int, src string, out func(event.Line) error) error {
	if clen == 0 {
		r.stats.Empty++
		return nil
	}
	if clen > r.max {
		r.stats.LongLines++
		if r.src.SkipLongLines {
			return nil
		}
		head = cutRune(head[:r.max])
	}
	r.stats.Lines++
	l := event.Line{Raw: string(head), Src: src, Time: r.stamp, Labels: r.labels, Process: true, Module: Module}
	if err := out(l); err != nil {
		return errStop{err}
	}
	return nil
}
