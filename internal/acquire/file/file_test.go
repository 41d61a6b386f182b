package file

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/acquire"
	"github.com/phalanx-ids/phalanx/internal/event"
)

// collector gathers emitted lines; it checks emit is never called
// concurrently.
type collector struct {
	mu      sync.Mutex
	lines   []event.Line
	busy    atomic.Bool
	onLine  func(event.Line)
	changed chan struct{}
}

func newCollector() *collector { return &collector{changed: make(chan struct{}, 1)} }

func (c *collector) emit(l event.Line) error {
	if !c.busy.CompareAndSwap(false, true) {
		panic("emit called concurrently")
	}
	defer c.busy.Store(false)
	c.mu.Lock()
	c.lines = append(c.lines, l)
	c.mu.Unlock()
	if c.onLine != nil {
		c.onLine(l)
	}
	select {
	case c.changed <- struct{}{}:
	default:
	}
	return nil
}

func (c *collector) raws() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.lines))
	for i, l := range c.lines {
		out[i] = l.Raw
	}
	return out
}

// waitFor waits until n lines arrived.
func (c *collector) waitFor(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if r := c.raws(); len(r) >= n {
			return r
		}
		select {
		case <-c.changed:
		case <-deadline:
			t.Fatalf("timeout waiting for %d lines, got %d: %q", n, len(c.raws()), c.raws())
		}
	}
}

// running starts src and returns a stop function that cancels it and
// returns Run's error.
func running(t *testing.T, src *Source, c *collector) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, c.emit) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("file source did not stop")
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func newSrc(t *testing.T, cfg Config, stateDir string) *Source {
	t.Helper()
	s, _ := newWatchedSrc(t, cfg, stateDir)
	return s
}

// follows reports the files a Source starts following (its "file:
// following" log records).
type follows struct{ paths chan string }

func (f follows) Enabled(context.Context, slog.Level) bool { return true }
func (f follows) WithAttrs([]slog.Attr) slog.Handler       { return f }
func (f follows) WithGroup(string) slog.Handler            { return f }
func (f follows) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "file: following" {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "path" {
				select {
				case f.paths <- a.Value.String():
				default: // the test does not wait for this one
				}
			}
			return true
		})
	}
	return nil
}

// wait waits until the source follows path.
func (f follows) wait(t *testing.T, path string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case p := <-f.paths:
			if p == path {
				return
			}
		case <-deadline:
			t.Fatalf("the source never followed %s", path)
		}
	}
}

// newWatchedSrc is newSrc with the files it follows reported.
func newWatchedSrc(t *testing.T, cfg Config, stateDir string) (*Source, follows) {
	t.Helper()
	f := follows{paths: make(chan string, 64)}
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{"type": "test"}
	}
	if cfg.Mode == "" {
		cfg.Mode = acquire.ModeTail
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 5 * time.Millisecond
	}
	if cfg.DiscoveryPollInterval == 0 {
		cfg.DiscoveryPollInterval = 20 * time.Millisecond
	}
	s, err := New(&cfg, acquire.Deps{StateDir: stateDir, Logger: slog.New(f)})
	require.NoError(t, err)
	return s, f
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	require.NoError(t, err)
	_, err = f.WriteString(s)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func gzData(t *testing.T, s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, err := w.Write([]byte(s))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return b.Bytes()
}

func TestCat(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 100)
	cases := []struct {
		name    string
		files   map[string][]byte
		cfg     Config
		want    []string
		wantSrc []string
	}{
		{
			name:  "plain with partial last line and blank lines",
			files: map[string][]byte{"a.log": []byte("one\n\ntwo\r\nthree")},
			cfg:   Config{Filename: "a.log"},
			want:  []string{"one", "two", "three"},
		},
		{
			name:  "gz decompressed",
			files: map[string][]byte{"a.log.gz": gzData(t, "g1\ng2\n")},
			cfg:   Config{Filename: "a.log.gz"},
			want:  []string{"g1", "g2"},
		},
		{
			name:  "glob, filenames, exclude",
			files: map[string][]byte{"a.log": []byte("a\n"), "b.log": []byte("b\n"), "c.txt": []byte("c\n"), "skip.log": []byte("s\n")},
			cfg:   Config{Filename: "*.log", Filenames: []string{"c.txt"}, ExcludeRegexps: []string{`skip`}},
			want:  []string{"a", "b", "c"},
		},
		{
			name:  "long line cut",
			files: map[string][]byte{"a.log": []byte(long + "\nshort\n")},
			cfg:   Config{Filename: "a.log", MaxBufferSize: 10},
			want:  []string{"xxxxxxxxxx", "short"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for n, b := range tc.files {
				require.NoError(t, os.WriteFile(filepath.Join(dir, n), b, 0o644))
			}
			cfg := tc.cfg
			cfg.Mode = acquire.ModeCat
			if cfg.Filename != "" {
				cfg.Filename = filepath.Join(dir, cfg.Filename)
			}
			for i := range cfg.Filenames {
				cfg.Filenames[i] = filepath.Join(dir, cfg.Filenames[i])
			}
			src := newSrc(t, cfg, "")
			c := newCollector()
			require.NoError(t, src.Run(context.Background(), c.emit))
			require.Equal(t, tc.want, c.raws())
			for _, l := range c.lines {
				require.True(t, strings.HasPrefix(l.Src, dir), l.Src)
				require.Equal(t, "file", l.Module)
				require.Equal(t, "test", l.Labels["type"])
				require.True(t, l.Process)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no filename", Config{}, "no filename"},
		{"bad glob", Config{Filename: "[x"}, "glob"},
		{"bad exclude", Config{Filename: "x", ExcludeRegexps: []string{"("}}, "exclude_regexps"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(&tc.cfg, acquire.Deps{})
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestTailFromEndPartialAndNewFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := filepath.Join(dir, "a.log")
	appendTo(t, a, "old1\nold2\n")
	src, follows := newWatchedSrc(t, Config{Filename: filepath.Join(dir, "*.log")}, "")
	c := newCollector()
	stop := running(t, src, c)
	follows.wait(t, a) // it opened a.log at its end
	appendTo(t, a, "new1\npart")
	require.Equal(t, []string{"new1"}, c.waitFor(t, 1))
	// The partial line is held: completed, it arrives whole (a "part" line
	// emitted early would be the second line).
	appendTo(t, a, "ial\n")
	require.Equal(t, []string{"new1", "partial"}, c.waitFor(t, 2))
	// a file that appears later is read from its start
	appendTo(t, filepath.Join(dir, "b.log"), "b1\nb2\n")
	require.Equal(t, []string{"new1", "partial", "b1", "b2"}, c.waitFor(t, 4))
	require.NoError(t, stop())
}

func TestRestartResumesFromState(t *testing.T) {
	t.Parallel()
	dir, state := t.TempDir(), t.TempDir()
	a := filepath.Join(dir, "a.log")
	appendTo(t, a, "before-first-start\n")
	cfg := Config{Filename: a}
	c := newCollector()
	src, follows := newWatchedSrc(t, cfg, state)
	stop := running(t, src, c)
	follows.wait(t, a)
	appendTo(t, a, "l1\nl2\nhalf")
	c.waitFor(t, 2)
	require.NoError(t, stop())
	// written while stopped
	appendTo(t, a, "-done\nl3\n")
	c2 := newCollector()
	stop2 := running(t, newSrc(t, cfg, state), c2)
	require.Equal(t, []string{"half-done", "l3"}, c2.waitFor(t, 2))
	// A line written now comes next: nothing was read twice before it.
	appendTo(t, a, "l4\n")
	require.Equal(t, []string{"half-done", "l3", "l4"}, c2.waitFor(t, 3))
	require.NoError(t, stop2())
	require.Equal(t, []string{"half-done", "l3", "l4"}, c2.raws())
	require.Equal(t, []string{"l1", "l2"}, c.raws())

	// rotated while stopped: the new file is read from 0
	require.NoError(t, os.Rename(a, a+".1"))
	appendTo(t, a, "fresh\n")
	c3 := newCollector()
	stop3 := running(t, newSrc(t, cfg, state), c3)
	require.Equal(t, []string{"fresh"}, c3.waitFor(t, 1))
	require.NoError(t, stop3())
}

func TestCopyTruncateRecoversFromCopy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := filepath.Join(dir, "a.log")
	appendTo(t, a, "")
	c := newCollector()
	src := newSrc(t, Config{Filename: a, PollInterval: time.Hour}, "")
	// poll by hand: no goroutine, so the truncation happens between polls
	st, _, err := loadState("")
	require.NoError(t, err)
	tr := &tailRun{s: src, emit: c.emit, tails: map[string]*tailer{}, state: st}
	defer tr.closeAll()
	require.NoError(t, tr.discover(false))
	appendTo(t, a, "one\ntwo\n")
	_, err = tr.pollOne(tr.tails[a])
	require.NoError(t, err)
	appendTo(t, a, "three\nfour\n") // not read before the rotation
	data, err := os.ReadFile(a)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(a+".1", data, 0o644))
	require.NoError(t, os.Truncate(a, 0))
	appendTo(t, a, "five-is-a-longer-line-than-before\n") // refilled past our offset
	for range 3 {
		_, err = tr.pollOne(tr.tails[a])
		require.NoError(t, err)
	}
	require.Equal(t, []string{"one", "two", "three", "four", "five-is-a-longer-line-than-before"}, c.raws())
}

// TestRotations1000 rotates the followed file 1,000 times, by rename and by
// copytruncate, while a writer appends numbered lines: every line must be
// read exactly once, in order within each file generation.
func TestRotations1000(t *testing.T) {
	t.Parallel()
	const rotations = 1000
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendTo(t, path, "")
	src, follows := newWatchedSrc(t, Config{Filename: path, PollInterval: time.Millisecond, RotationGrace: 2 * time.Second}, "")

	var seenGen atomic.Int64
	seenGen.Store(-1)
	c := newCollector()
	c.onLine = func(l event.Line) {
		var g, n int
		if _, err := fmt.Sscanf(l.Raw, "g=%d n=%d", &g, &n); err == nil && int64(g) > seenGen.Load() {
			seenGen.Store(int64(g))
		}
	}
	stop := running(t, src, c)
	follows.wait(t, path)

	rng := rand.New(rand.NewPCG(1, 2))
	seq := 0
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o644)
	require.NoError(t, err)
	write := func(f *os.File, gen int) {
		line := fmt.Sprintf("g=%d n=%d pad=%s\n", gen, seq, strings.Repeat("p", rng.IntN(40)))
		seq++
		if rng.IntN(8) == 0 { // a line in two writes: the reader may see half
			h := rng.IntN(len(line))
			_, err := f.WriteString(line[:h])
			require.NoError(t, err)
			line = line[h:]
		}
		_, err := f.WriteString(line)
		require.NoError(t, err)
	}
	renames, truncs, lastKind := 0, 0, ""
	for gen := 0; gen <= rotations; gen++ {
		for range 1 + rng.IntN(12) {
			write(f, gen)
		}
		// the reader must have opened this generation before it goes away
		deadline := time.Now().Add(10 * time.Second)
		for seenGen.Load() < int64(gen) {
			if !time.Now().Before(deadline) {
				r := c.raws()
				data, _ := os.ReadFile(path)
				t.Fatalf("reader stuck before generation %d (renames %d truncs %d, last %s); last lines %q; file %q", gen, renames, truncs, lastKind, r[max(0, len(r)-5):], data)
			}
			time.Sleep(200 * time.Microsecond)
		}
		for range rng.IntN(4) { // written after the reader caught up
			write(f, gen)
		}
		if gen == rotations {
			break
		}
		rotated := fmt.Sprintf("%s.%d", path, gen)
		if rng.IntN(2) == 0 {
			renames++
			lastKind = "rename"
			require.NoError(t, os.Rename(path, rotated))
			if rng.IntN(3) == 0 { // a late writer still on the old file
				write(f, gen)
			}
			require.NoError(t, f.Close())
			f, err = os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
			require.NoError(t, err)
		} else {
			truncs++
			lastKind = "copytruncate"
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(rotated, data, 0o644))
			require.NoError(t, f.Truncate(0))
		}
	}
	require.NoError(t, f.Close())
	// A last line after every numbered one: once it is read, so is the
	// current file's every line before it.
	appendTo(t, path, "end\n")
	c.waitFor(t, seq+1)
	require.NoError(t, stop())
	got := c.raws()
	require.Contains(t, got, "end")
	got = slices.DeleteFunc(got, func(l string) bool { return l == "end" })
	t.Logf("%d lines, %d renames, %d copytruncates", seq, renames, truncs)
	require.Len(t, got, seq, "every line exactly once")
	seen := make([]bool, seq)
	lastInGen := map[int]int{}
	for _, raw := range got {
		var g, n int
		_, err := fmt.Sscanf(raw, "g=%d n=%d", &g, &n)
		require.NoError(t, err, "torn line %q", raw)
		require.False(t, seen[n], "line %d read twice", n)
		seen[n] = true
		if last, ok := lastInGen[g]; ok {
			require.Greater(t, n, last, "out of order in generation %d", g)
		}
		lastInGen[g] = n
	}
}

// TestBusyFileReadAtOnce: a line written to a file that was just read is
// read within a few polls of activePoll, not a poll_interval later (an
// hour here, which the waits never reach): a busy log's lines wait
// milliseconds, not poll_interval.
func TestBusyFileReadAtOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := filepath.Join(dir, "a.log")
	appendTo(t, a, "")
	src, follows := newWatchedSrc(t, Config{Filename: a, PollInterval: time.Hour}, "")
	c := newCollector()
	stop := running(t, src, c)
	follows.wait(t, a)
	for i := range 5 {
		line := fmt.Sprintf("busy%d", i)
		appendTo(t, a, line+"\n")
		got := c.waitFor(t, i+1)
		require.Equal(t, line, got[i])
	}
	require.NoError(t, stop())
}
