package replay

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/event"
)

var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func gz(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, err := w.Write([]byte(s))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return b.Bytes()
}

func collect(t testing.TB, s *Source) ([]string, []event.Line, Stats, error) {
	t.Helper()
	var raws []string
	var lines []event.Line
	st, err := s.Read(context.Background(), func(l event.Line) error {
		raws = append(raws, l.Raw)
		lines = append(lines, l)
		return nil
	})
	return raws, lines, st, err
}

func TestRead(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 100)
	cases := []struct {
		name      string
		file      string // file name (the content decides gzip, not the name)
		content   []byte
		max       int
		skipLong  bool
		want      []string
		wantEmpty int64
		wantLong  int64
	}{
		{name: "plain", file: "a.log", content: []byte("one\ntwo\nthree\n"), want: []string{"one", "two", "three"}},
		{name: "no final newline", file: "a.log", content: []byte("one\ntwo"), want: []string{"one", "two"}},
		{name: "crlf", file: "a.log", content: []byte("one\r\ntwo\r\nthree"), want: []string{"one", "two", "three"}},
		{name: "only one cr stripped", file: "a.log", content: []byte("one\r\r\nmid\rdle\r"), want: []string{"one\r", "mid\rdle"}},
		{name: "empty lines skipped", file: "a.log", content: []byte("\n\none\n\r\n\ntwo\n\n"), want: []string{"one", "two"}, wantEmpty: 5},
		{name: "whitespace kept", file: "a.log", content: []byte("  \n\tx\n"), want: []string{"  ", "\tx"}},
		{name: "empty file", file: "a.log", content: nil},
		{name: "gzip", file: "a.log.gz", content: gz(t, "one\r\ntwo\n"), want: []string{"one", "two"}},
		{name: "gzip without .gz name", file: "rotated.1", content: gz(t, "x\ny\n"), want: []string{"x", "y"}},
		{name: ".gz name but plain", file: "fake.gz", content: []byte("plain\n"), want: []string{"plain"}},
		{name: "binary and invalid utf8 kept", file: "b.log", content: []byte("\x00\xff\xfe ok\n\xc3\x28\n"), want: []string{"\x00\xff\xfe ok", "\xc3\x28"}},
		{name: "long line truncated", file: "a.log", content: []byte("short\n" + long + "\nafter\n"), max: 10,
			want: []string{"short", "aaaaaaaaaa", "after"}, wantLong: 1},
		{name: "long line skipped", file: "a.log", content: []byte("short\n" + long + "\r\nafter\n"), max: 10, skipLong: true,
			want: []string{"short", "after"}, wantLong: 1},
		{name: "exactly max with crlf is not long", file: "a.log", content: []byte("0123456789\r\n"), max: 10, want: []string{"0123456789"}},
		{name: "truncation keeps utf8 whole", file: "a.log", content: []byte("abcdefghié-tail\n"), max: 10, want: []string{"abcdefghi"}, wantLong: 1},
		{name: "line longer than read buffer", file: "big.log",
			content: []byte("x\n" + strings.Repeat("b", readBufferSize*2+7) + "\r\ny\n"),
			want:    []string{"x", strings.Repeat("b", DefaultMaxLineSize), "y"}, wantLong: 1},
		{name: "line longer than read buffer within a larger max", file: "big.log",
			content: []byte(strings.Repeat("c", readBufferSize+5) + "\r\n"), max: readBufferSize * 2,
			want: []string{strings.Repeat("c", readBufferSize+5)}},
		{name: "line longer than read buffer at eof with cr", file: "big.log",
			content: []byte(strings.Repeat("d", readBufferSize+1) + "\r"), max: readBufferSize * 2,
			want: []string{strings.Repeat("d", readBufferSize+1)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, tc.file)
			require.NoError(t, os.WriteFile(path, tc.content, 0o600))
			var progress atomic.Int64
			s := &Source{Path: path, Type: "nginx", Labels: map[string]string{"env": "test"}, MaxLineSize: tc.max,
				SkipLongLines: tc.skipLong, Now: func() time.Time { return fixedNow }, BytesRead: &progress}
			raws, lines, st, err := collect(t, s)
			require.NoError(t, err)
			require.Equal(t, tc.want, raws)
			require.Equal(t, int64(len(tc.want)), st.Lines)
			require.Equal(t, tc.wantEmpty, st.Empty)
			require.Equal(t, tc.wantLong, st.LongLines)
			require.Equal(t, 1, st.Files)
			require.Equal(t, int64(len(tc.content)), st.Bytes)
			require.Equal(t, int64(len(tc.content)), progress.Load())
			for _, l := range lines {
				require.Equal(t, event.Line{Raw: l.Raw, Src: path, Time: fixedNow, Process: true, Module: "file",
					Labels: map[string]string{"env": "test", "type": "nginx"}}, l)
			}
		})
	}
}

func TestReadGlobAndStdin(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.log"), []byte("b1\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.log"), gz(t, "a1\na2\n"), 0o600))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub.log"), 0o700))

	var srcs []string
	s := &Source{Path: filepath.Join(dir, "*.log"), Labels: map[string]string{"type": "syslog"}}
	st, err := s.Read(context.Background(), func(l event.Line) error {
		srcs = append(srcs, filepath.Base(l.Src)+":"+l.Raw)
		require.Equal(t, "syslog", l.Labels["type"])
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, []string{"a.log:a1", "a.log:a2", "b.log:b1"}, srcs)
	require.Equal(t, 2, st.Files)
	size, err := s.TotalSize()
	require.NoError(t, err)
	require.Equal(t, st.Bytes, size)

	in := &Source{Path: "-", Stdin: bytes.NewReader(gz(t, "from\r\nstdin\n")), Type: "t"}
	raws, lines, _, err := collect(t, in)
	require.NoError(t, err)
	require.Equal(t, []string{"from", "stdin"}, raws)
	require.Equal(t, StdinSrc, lines[0].Src)
}

func TestReadErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok.log")
	require.NoError(t, os.WriteFile(ok, []byte(strings.Repeat("line\n", 2000)), 0o600))
	corrupt := filepath.Join(dir, "corrupt.gz")
	good := gz(t, strings.Repeat("zzzz\n", 1000))
	require.NoError(t, os.WriteFile(corrupt, append(good[:len(good)/2:len(good)/2], 0, 1, 2), 0o600))
	stop := errors.New("downstream full")

	cases := []struct {
		name    string
		src     *Source
		ctx     func() context.Context
		out     func(event.Line) error
		wantErr string
		isErr   error
	}{
		{name: "missing file", src: &Source{Path: filepath.Join(dir, "nope.log")}, wantErr: "replay: stat"},
		{name: "glob without match", src: &Source{Path: filepath.Join(dir, "*.nothing")}, wantErr: "replay: no file matches"},
		{name: "bad glob", src: &Source{Path: filepath.Join(dir, "[")}, wantErr: "replay: glob"},
		{name: "directory", src: &Source{Path: dir}, wantErr: "is a directory"},
		{name: "no path", src: &Source{}, wantErr: "replay: no path"},
		{name: "corrupt gzip", src: &Source{Path: corrupt}, wantErr: "replay: " + corrupt},
		{name: "out error returned as is", src: &Source{Path: ok}, out: func(event.Line) error { return stop }, isErr: stop},
		{name: "cancelled", src: &Source{Path: ok}, ctx: func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, isErr: context.Canceled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			if tc.ctx != nil {
				ctx = tc.ctx()
			}
			out := tc.out
			if out == nil {
				out = func(event.Line) error { return nil }
			}
			_, err := tc.src.Read(ctx, out)
			require.Error(t, err)
			if tc.isErr != nil {
				require.Equal(t, tc.isErr, err, "returned unwrapped")
			}
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
			}
		})
	}
}

func TestReadCancelMidway(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "a.log")
	require.NoError(t, os.WriteFile(path, []byte(strings.Repeat("line\n", 10000)), 0o600))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	st, err := (&Source{Path: path}).Read(ctx, func(event.Line) error {
		if n++; n == 300 {
			cancel()
		}
		return nil
	})
	require.ErrorIs(t, err, context.Canceled)
	require.Less(t, st.Lines, int64(1000), "stops soon after cancel")
}

func TestParseDSN(t *testing.T) {
	t.Parallel()
	cases := []struct {
		dsn, wantPath, wantErr string
		wantParams             url.Values
	}{
		{dsn: "file:///var/log/auth.log", wantPath: "/var/log/auth.log", wantParams: url.Values{}},
		{dsn: "file://relative/x.log", wantPath: "relative/x.log", wantParams: url.Values{}},
		{dsn: "file:///a.log?log_level=debug&max_buffer_size=1024", wantPath: "/a.log",
			wantParams: url.Values{"log_level": {"debug"}, "max_buffer_size": {"1024"}}},
		{dsn: "/plain/path.log", wantPath: "/plain/path.log", wantParams: url.Values{}},
		{dsn: "plain.log", wantPath: "plain.log", wantParams: url.Values{}},
		{dsn: "-", wantPath: "-", wantParams: url.Values{}},
		{dsn: "./dir/with://colon.log", wantPath: "./dir/with://colon.log", wantParams: url.Values{}},
		{dsn: "file://", wantErr: "replay: empty file:// dsn"},
		{dsn: "file://?log_level=info", wantErr: "replay: empty file:// dsn"},
		{dsn: "", wantErr: "replay: empty dsn"},
		{dsn: "journalctl://filters=x", wantErr: `replay: dsn scheme "journalctl" is not supported`},
		{dsn: "file:///a?%zz", wantErr: "replay: dsn parameters"},
	}
	for _, tc := range cases {
		t.Run(tc.dsn, func(t *testing.T) {
			t.Parallel()
			p, params, err := ParseDSN(tc.dsn)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantPath, p)
			require.Equal(t, tc.wantParams, params)
		})
	}
}

func TestFromDSN(t *testing.T) {
	t.Parallel()
	s, err := FromDSN("file:///x.log?max_buffer_size=2048&log_level=WARN", map[string]string{"type": "nginx", "k": "v"})
	require.NoError(t, err)
	require.Equal(t, "/x.log", s.Path)
	require.Equal(t, "nginx", s.Type)
	require.Equal(t, 2048, s.MaxLineSize)
	require.Equal(t, "warn", s.LogLevel)
	require.Equal(t, map[string]string{"type": "nginx", "k": "v"}, s.Labels)

	for dsn, want := range map[string]string{
		"file:///x?foo=bar":                 `replay: unknown dsn parameter "foo"`,
		"file:///x?max_buffer_size=0":       "max_buffer_size",
		"file:///x?max_buffer_size=abc":     "max_buffer_size",
		"file:///x?log_level=loud":          "unknown level",
		"file:///x?log_level=a&log_level=b": "expected one value",
	} {
		_, err := FromDSN(dsn, nil)
		require.ErrorContains(t, err, want, dsn)
	}
}

// refLines is the reference line splitter for the fuzz target.
func refLines(data []byte, max int) []string {
	var out []string
	s := string(data)
	parts := strings.Split(s, "\n")
	if strings.HasSuffix(s, "\n") {
		parts = parts[:len(parts)-1]
	}
	for _, p := range parts {
		p = strings.TrimSuffix(p, "\r")
		if p == "" {
			continue
		}
		if len(p) > max {
			p = string(cutRune([]byte(p[:max])))
		}
		out = append(out, p)
	}
	return out
}

func FuzzRead(f *testing.F) {
	f.Add([]byte("a\nb\r\n\n\xff\x00c"), 4)
	f.Add([]byte("\r\r\n\r"), 1)
	f.Add([]byte("héllo wörld\n"), 2)
	f.Fuzz(func(t *testing.T, data []byte, max int) {
		if max <= 0 || max > 1<<20 {
			max = DefaultMaxLineSize
		}
		s := &Source{Path: "-", Stdin: bytes.NewReader(data), MaxLineSize: max}
		raws, _, st, err := collect(t, s)
		if bytes.HasPrefix(data, gzipMagic) {
			return // decoded as gzip: only "no panic" applies
		}
		require.NoError(t, err)
		want := refLines(data, max)
		if len(want) == 0 {
			want = nil
		}
		require.Equal(t, want, raws)
		require.Equal(t, int64(len(data)), st.Bytes)
	})
}

func BenchmarkRead(b *testing.B) {
	const n = 100_000
	path := filepath.Join(b.TempDir(), "access.log")
	var buf bytes.Buffer
	for i := range n {
		fmt.Fprintf(&buf, "192.168.%d.%d - - [12/Feb/2024:14:10:%02d +0100] \"GET /index.php?id=%d HTTP/1.1\" 200 %d \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\"\n",
			i%256, i/256%256, i%60, i, 1000+i%5000)
	}
	require.NoError(b, os.WriteFile(path, buf.Bytes(), 0o600))
	s := &Source{Path: path, Type: "nginx"}
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	start := time.Now()
	var lines int64
	for b.Loop() {
		st, err := s.Read(context.Background(), func(event.Line) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		lines += st.Lines
	}
	b.ReportMetric(float64(lines)/time.Since(start).Seconds(), "lines/s")
}

// oneLineReader returns one line per Read, as a pipe written a line at a
// time does.
type oneLineReader struct{ lines []string }

func (r *oneLineReader) Read(p []byte) (int, error) {
	if len(r.lines) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.lines[0])
	r.lines[0] = r.lines[0][n:]
	if r.lines[0] == "" {
		r.lines = r.lines[1:]
	}
	return n, nil
}

// TestReadClock: Line.Time is the clock read before the read of the input
// that brought the line: one read for the lines of a buffer, one a line
// for lines that arrive one at a time.
func TestReadClock(t *testing.T) {
	t.Parallel()
	many := strings.Repeat("Mar  1 00:00:00 web01 sshd[1]: x\n", 1000)
	cases := []struct {
		name  string
		stdin io.Reader
		want  []int // each line's clock reading (1: the first)
	}{
		{"one buffer", strings.NewReader(many), slices.Repeat([]int{1}, 1000)},
		{"a line a read", &oneLineReader{lines: []string{"a\n", "b\n", "c\n"}}, []int{1, 2, 3}},
		// The buffer never ran empty: b keeps the stamp of the read that
		// began a's.
		{"a line in two reads", &oneLineReader{lines: []string{"a", "a\nb\n"}}, []int{1, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reads := 0
			s := &Source{Path: "-", Stdin: tc.stdin, Now: func() time.Time {
				reads++
				return fixedNow.Add(time.Duration(reads) * time.Second)
			}}
			_, lines, _, err := collect(t, s)
			require.NoError(t, err)
			got := make([]int, len(lines))
			for i, l := range lines {
				got[i] = int(l.Time.Sub(fixedNow) / time.Second)
			}
			require.Equal(t, tc.want, got)
		})
	}
}
