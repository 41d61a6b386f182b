package file_test

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/notify"
	"github.com/phalanx-ids/phalanx/internal/notify/file"
	"github.com/phalanx-ids/phalanx/internal/notify/notifytest"
)

func open(t *testing.T, cfg *file.Config) notify.Notifier {
	t.Helper()
	cfg.Name = "f"
	n, err := file.New(cfg, notify.Deps{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close() })
	return n
}

func write(t *testing.T, n notify.Notifier, text string) {
	t.Helper()
	retry, err := notifytest.Send(t, n, text)
	require.NoError(t, err)
	require.False(t, retry)
}

// line is one JSON line of about 200 bytes, numbered.
func line(i int) string {
	return fmt.Sprintf(`{"n":%d,"pad":%q}`, i, strings.Repeat("x", 180)) + "\n"
}

// numbers reads the JSON lines of a file (gzipped or not) and returns
// their "n".
func numbers(t *testing.T, path string) []int {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var sc *bufio.Scanner
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		require.NoError(t, err)
		sc = bufio.NewScanner(zr)
	} else {
		sc = bufio.NewScanner(f)
	}
	var out []int
	for sc.Scan() {
		var v struct{ N int }
		require.NoError(t, json.Unmarshal(sc.Bytes(), &v), sc.Text())
		out = append(out, v.N)
	}
	require.NoError(t, sc.Err())
	return out
}

func TestJSONLines(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "sub", "alerts.json")
	n := open(t, &file.Config{LogPath: p})
	write(t, n, `{"n":1}`) // a newline is added
	write(t, n, "{\"n\":2}\n{\"n\":3}\n")
	require.Equal(t, []int{1, 2, 3}, numbers(t, p))
	st, err := os.Stat(p)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o640), st.Mode().Perm())
}

func TestRotation(t *testing.T) {
	t.Parallel()
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("compress=%v", compress), func(t *testing.T) {
			t.Parallel()
			p := filepath.Join(t.TempDir(), "alerts.json")
			n := open(t, &file.Config{LogPath: p, Rotate: file.Rotate{Enabled: true, MaxSize: 1024, MaxFiles: 3, Compress: compress}})
			for i := range 30 { // 5 lines (≈1000 B) a file: 6 files written, 3 rotated kept
				write(t, n, line(i))
			}
			suffix := ""
			if compress {
				suffix = ".gz"
			}
			var all []int
			for i := 3; i >= 1; i-- {
				got := numbers(t, fmt.Sprintf("%s.%d%s", p, i, suffix))
				require.Len(t, got, 5)
				all = append(all, got...)
			}
			all = append(all, numbers(t, p)...)
			require.Equal(t, seq(10, 30), all, "newest files kept, in order")
			_, err := os.Stat(fmt.Sprintf("%s.4%s", p, suffix))
			require.True(t, os.IsNotExist(err), "max_files kept")
			ents, _ := os.ReadDir(filepath.Dir(p))
			require.Len(t, ents, 4)
			for _, e := range ents {
				info, _ := e.Info()
				if !compress || e.Name() == "alerts.json" {
					require.LessOrEqual(t, info.Size(), int64(1024), e.Name())
				}
			}
		})
	}
}

func seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func TestMaxAge(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "alerts.json")
	n := open(t, &file.Config{LogPath: p, Rotate: file.Rotate{Enabled: true, MaxSize: 300, MaxFiles: 5, MaxAge: 2}})
	write(t, n, line(0))
	write(t, n, line(1)) // rotates: .1 holds line 0
	old := time.Now().Add(-72 * time.Hour)
	require.NoError(t, os.Chtimes(p+".1", old, old))
	write(t, n, line(2)) // rotates: line 1 to .1, the old .1 (now .2) is expired
	require.Equal(t, []int{1}, numbers(t, p+".1"))
	_, err := os.Stat(p + ".2")
	require.True(t, os.IsNotExist(err), "older than max_age: removed")
}

// TestMovedAway: a file rotated by someone else (logrotate) is reopened.
func TestMovedAway(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "alerts.json")
	n := open(t, &file.Config{LogPath: p})
	write(t, n, line(1))
	require.NoError(t, os.Rename(p, p+".old"))
	write(t, n, line(2))
	require.Equal(t, []int{1}, numbers(t, p+".old"))
	require.Equal(t, []int{2}, numbers(t, p))
}

func TestConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, yaml string
		want       file.Size
		err        string
	}{
		{"a number is MB (CrowdSec)", "max_size: 500", 500 << 20, ""},
		{"KB", "max_size: 512KB", 512 << 10, ""},
		{"bytes", "max_size: 100B", 100, ""},
		{"GiB", "max_size: 1GiB", 1 << 30, ""},
		{"unknown unit", "max_size: 5PB", 0, "unknown unit"},
		{"not a size", "max_size: lots", 0, "not a size"},
		{"negative", "max_size: -5", 0, "not a size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r file.Rotate
			err := yaml.Unmarshal([]byte(tc.yaml), &r)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, r.MaxSize)
		})
	}
	_, err := file.New(&file.Config{LogPath: filepath.Join(t.TempDir(), "x"), Rotate: file.Rotate{Enabled: true}}, notify.Deps{})
	require.ErrorContains(t, err, "rotate.max_size: required")
	_, err = file.New(&file.Config{}, notify.Deps{})
	require.ErrorContains(t, err, "log_path: missing")
	_, err = file.New(&file.Config{LogPath: t.TempDir()}, notify.Deps{})
	require.Error(t, err, "a directory is not a log file")
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"500", "10MB", "512KB", "1GiB", "100B", "", "-1", "99999999999999999999GB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := file.ParseSize(s)
		if err != nil {
			return
		}
		if v < 0 {
			t.Fatalf("%q: negative size %d", s, v)
		}
		back, err := file.ParseSize(v.String())
		if err != nil || back != v {
			t.Fatalf("%q: %d prints as %q which parses as %d (%v)", s, v, v.String(), back, err)
		}
	})
}
