package acquire_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/acquire"
	"github.com/phalanx-ids/phalanx/internal/acquire/builtin"
	"github.com/phalanx-ids/phalanx/internal/acquire/file"
	"github.com/phalanx-ids/phalanx/internal/acquire/syslog"
	"github.com/phalanx-ids/phalanx/internal/event"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	type want struct {
		module, mode, typ string
		line              int
		timeMachine       bool
	}
	cases := []struct {
		name string
		yaml string
		want []want
		err  string // substring of the error
	}{
		{
			name: "multi-document with inferred sources",
			yaml: `filenames:
  - /var/log/nginx/*.log
labels:
  type: nginx
---
journalctl_filter:
  - _SYSTEMD_UNIT=ssh.service
labels:
  type: syslog
---
source: syslog
listen_port: 4242
labels:
  type: syslog
---
source: http
listen_addr: 127.0.0.1:8081
auth_type: headers
headers:
  key: secret
labels:
  type: nginx
---
filename: /var/log/auth.log
mode: cat
name: auth
labels:
  type: syslog
---
`,
			want: []want{
				{"file", "tail", "nginx", 1, false},
				{"journalctl", "tail", "syslog", 6, false},
				{"syslog", "tail", "syslog", 11, false},
				{"http", "tail", "nginx", 16, false},
				{"file", "cat", "syslog", 24, true},
			},
		},
		{name: "server mode is tail, time machine", yaml: "filename: /x\nmode: server\nuse_time_machine: true\nlabels: {type: t}\n", want: []want{{"file", "tail", "t", 1, true}}},
		{name: "transform compiles", yaml: "filename: /x\ntransform: 'evt.Line.Raw + \"!\"'\nlabels: {type: t}\n", want: []want{{"file", "tail", "t", 1, false}}},
		{name: "empty file", yaml: "", want: nil},
		{name: "unknown key", yaml: "filename: /a\nlabels: {type: t}\n---\nfilename: /x\nfilenamez: /y\nlabels: {type: t}\n", err: "acq.yaml:5: field filenamez: unknown field"},
		{name: "unknown key of a module", yaml: "source: syslog\nlisten_port: 1\nfilename: /x\nlabels: {type: t}\n", err: "acq.yaml:3: field filename: unknown field"},
		{name: "missing source", yaml: "labels: {type: t}\n", err: "acq.yaml:1: missing 'source' field"},
		{name: "unknown source", yaml: "source: kafkaa\nlabels: {type: t}\n", err: `unknown data source "kafkaa"`},
		{name: "missing labels", yaml: "filename: /x\n", err: "labels: missing"},
		{name: "missing type", yaml: "filename: /x\nlabels: {foo: bar}\n", err: "labels.type: missing"},
		{name: "bad mode", yaml: "filename: /x\nmode: follow\nlabels: {type: t}\n", err: `mode "follow"`},
		{name: "bad transform", yaml: "filename: /x\ntransform: 'evt.Nope('\nlabels: {type: t}\n", err: "transform"},
		{name: "module validation", yaml: "source: syslog\nprotocol: sctp\nlabels: {type: t}\n", err: "acq.yaml:1: syslog: syslog: protocol"},
		{name: "wrong type", yaml: "filename: /x\nlabels: {type: t}\nmax_buffer_size: lots\n", err: "acq.yaml:3"},
		{name: "not a mapping", yaml: "- a\n- b\n", err: "want a mapping"},
		{name: "syntax error", yaml: "filename: [\n", err: "acq.yaml"},
	}
	reg := builtin.NewRegistry()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srcs, err := reg.LoadBytes("acq.yaml", []byte(tc.yaml), acquire.Deps{})
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				require.True(t, strings.HasPrefix(err.Error(), "acquire: "), err.Error())
				return
			}
			require.NoError(t, err)
			require.Len(t, srcs, len(tc.want))
			for i, w := range tc.want {
				s := srcs[i]
				require.Equal(t, w, want{s.Module, s.Common.Mode, s.Common.Labels["type"], s.Line, s.TimeMachine()}, "source %d", i)
			}
		})
	}
}

func TestUnknownKeyIsYAMLError(t *testing.T) {
	_, err := builtin.NewRegistry().LoadBytes("a.yaml", []byte("filename: /x\nbogus: 1\nlabels: {type: t}\n"), acquire.Deps{})
	var ye *acquire.YAMLError
	require.True(t, errors.As(err, &ye))
}

func TestRegistry(t *testing.T) {
	r := acquire.NewRegistry()
	require.NoError(t, r.Register(file.Module()))
	require.ErrorContains(t, r.Register(file.Module()), "already registered")
	require.ErrorContains(t, r.Register(acquire.Module{Name: "x"}), "required")
	require.ErrorContains(t, r.Register(acquire.Module{}), "without a name")
	require.Equal(t, []string{"file", "http", "journalctl", "syslog"}, builtin.NewRegistry().Names())
	_, ok := r.Module("file")
	require.True(t, ok)
}

func TestPaths(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "acquis.yaml")
	require.NoError(t, os.WriteFile(main, nil, 0o644))
	sub := filepath.Join(dir, "acquis.d")
	require.NoError(t, os.Mkdir(sub, 0o755))
	for _, n := range []string{"b.yml", "a.yaml", "c.txt"} {
		require.NoError(t, os.WriteFile(filepath.Join(sub, n), nil, 0o644))
	}
	got, err := acquire.Paths(main, sub)
	require.NoError(t, err)
	require.Equal(t, []string{main, filepath.Join(sub, "a.yaml"), filepath.Join(sub, "b.yml")}, got)
	got, err = acquire.Paths("", filepath.Join(dir, "missing"))
	require.NoError(t, err)
	require.Empty(t, got)
	_, err = acquire.Paths(filepath.Join(dir, "missing.yaml"), "")
	require.Error(t, err)
}

func TestSetRunTransformAndMetrics(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	require.NoError(t, os.WriteFile(a, []byte("x,y\nz\n"), 0o644))
	require.NoError(t, os.WriteFile(b, []byte("one\ntwo\n"), 0o644))
	yaml := "filename: " + a + "\nmode: cat\nlabels: {type: split}\ntransform: 'split(evt.Line.Raw, \",\")'\n---\n" +
		"filename: " + b + "\nmode: cat\nlabels: {type: upper}\ntransform: 'evt.Line.Raw == \"two\" ? 42 : upper(evt.Line.Raw)'\n"
	reg := builtin.NewRegistry()
	srcs, err := reg.LoadBytes("acq.yaml", []byte(yaml), acquire.Deps{})
	require.NoError(t, err)
	preg := prometheus.NewRegistry()
	m, err := acquire.NewMetrics(preg, reg)
	require.NoError(t, err)
	_, err = acquire.NewMetrics(preg, reg) // a reload reuses the collectors
	require.NoError(t, err)
	var got []event.Line
	require.NoError(t, acquire.NewSet(srcs, m, nil).Run(context.Background(), func(l event.Line) error {
		got = append(got, l)
		return nil
	}))
	byType := map[string][]string{}
	for _, l := range got {
		require.True(t, l.Process)
		require.Equal(t, "file", l.Module)
		byType[l.Labels["type"]] = append(byType[l.Labels["type"]], l.Raw)
	}
	require.Equal(t, map[string][]string{"split": {"x", "y", "z"}, "upper": {"ONE"}}, byType)
	require.InDelta(t, 2, testutil.ToFloat64(m.Hits("file").WithLabelValues(a, "file", "split")), 0)
	require.InDelta(t, 2, testutil.ToFloat64(m.Hits("file").WithLabelValues(b, "file", "upper")), 0)
	n, err := testutil.GatherAndCount(preg, "cs_filesource_hits_total")
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.InDelta(t, 1, testutil.ToFloat64(m.TransformErrors().WithLabelValues("file")), 0)
}

func TestSetRunStopsOnEmitError(t *testing.T) {
	t.Parallel()
	port := 0
	src, err := syslog.New(&syslog.Config{CommonConfig: acquire.CommonConfig{Mode: "tail", Labels: map[string]string{"type": "t"}}, ListenPort: &port}, acquire.Deps{})
	require.NoError(t, err)
	dir := t.TempDir()
	f := filepath.Join(dir, "a.log")
	require.NoError(t, os.WriteFile(f, []byte("l1\nl2\n"), 0o644))
	fsrc, err := file.New(&file.Config{CommonConfig: acquire.CommonConfig{Mode: "cat", Labels: map[string]string{"type": "t"}}, Filename: f}, acquire.Deps{})
	require.NoError(t, err)
	set := acquire.NewSet([]*acquire.Source{{Module: "syslog", DS: src}, {Module: "file", DS: fsrc}}, nil, nil)
	boom := errors.New("consumer gone")
	err = set.Run(context.Background(), func(event.Line) error { return boom })
	require.ErrorIs(t, err, boom)
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte("filename: /x\nlabels: {type: t}\n---\nsource: syslog\nlabels: {type: s}\n"))
	f.Add([]byte("journalctl_filter: [a]\nlabels: {type: t}\ntransform: 'evt.Line.Raw'\n"))
	f.Add([]byte("source: http\nlisten_addr: :1\nauth_type: basic_auth\nbasic_auth: {username: u, password: p}\nlabels: {type: t}\n"))
	reg := builtin.NewRegistry()
	f.Fuzz(func(t *testing.T, b []byte) {
		srcs, err := reg.LoadBytes("fuzz.yaml", b, acquire.Deps{})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "acquire: ") {
				t.Fatalf("error without component prefix: %v", err)
			}
			return
		}
		for _, s := range srcs {
			if s.DS == nil || s.Common.Labels["type"] == "" {
				t.Fatalf("accepted an incomplete source: %+v", s)
			}
		}
	})
}

// listDS emits its lines in order (from a goroutine of its own when
// ownGoroutine), stops at the first emit error and returns it, else
// returns err.
type listDS struct {
	lines        []string
	err          error
	ownGoroutine bool
}

func (d listDS) Run(_ context.Context, emit acquire.Emit) error {
	run := func() error {
		for _, l := range d.lines {
			if err := emit(event.Line{Raw: l, Src: "list"}); err != nil {
				return err
			}
		}
		return d.err
	}
	if !d.ownGoroutine {
		return run()
	}
	done := make(chan error, 1)
	go func() { done <- run() }()
	return <-done
}

// TestSetRun runs sets of one source (called on the caller's goroutine, no
// channel) and of two through the same cases: every line delivered in
// order per source, emit's error returned and the sources stopped, a
// source's error returned with its component prefix.
func TestSetRun(t *testing.T) {
	t.Parallel()
	boom := errors.New("consumer gone")
	broken := errors.New("disk gone")
	cases := []struct {
		name      string
		ds        []listDS
		failAt    int      // emit fails on this call (1-based); 0: never
		want      []string // lines emit took, in order (one source) or sorted (several)
		wantErrIs error
		wantErr   string
	}{
		{name: "one source", ds: []listDS{{lines: []string{"a", "b", "c"}}}, want: []string{"a", "b", "c"}},
		{name: "one source emitting from its own goroutine", ds: []listDS{{lines: []string{"a", "b"}, ownGoroutine: true}},
			want: []string{"a", "b"}},
		{name: "one source, emit fails", ds: []listDS{{lines: []string{"a", "b", "c"}}}, failAt: 2,
			want: []string{"a"}, wantErrIs: boom},
		{name: "one source fails", ds: []listDS{{lines: []string{"a"}, err: broken}}, want: []string{"a"},
			wantErrIs: broken, wantErr: "acquire: "},
		{name: "two sources", ds: []listDS{{lines: []string{"a", "b"}}, {lines: []string{"c"}, ownGoroutine: true}},
			want: []string{"a", "b", "c"}},
		{name: "two sources, emit fails", ds: []listDS{{lines: []string{"a", "b"}}, {lines: []string{"c"}}}, failAt: 1,
			wantErrIs: boom},
		{name: "two sources, one fails", ds: []listDS{{lines: []string{"a"}, err: broken}, {lines: []string{"b"}}},
			want: []string{"a", "b"}, wantErrIs: broken, wantErr: "acquire: "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var srcs []*acquire.Source
			for _, d := range tc.ds {
				srcs = append(srcs, &acquire.Source{Module: "list", DS: d, Common: acquire.CommonConfig{Labels: map[string]string{"type": "t"}}})
			}
			var got []string
			calls := 0
			err := acquire.NewSet(srcs, nil, nil).Run(context.Background(), func(l event.Line) error {
				calls++
				require.True(t, l.Process)
				require.Equal(t, "list", l.Module)
				require.Equal(t, "t", l.Labels["type"])
				if calls == tc.failAt {
					return boom
				}
				got = append(got, l.Raw)
				return nil
			})
			if tc.wantErrIs != nil {
				require.ErrorIs(t, err, tc.wantErrIs)
				require.Contains(t, err.Error(), tc.wantErr)
			} else {
				require.NoError(t, err)
			}
			if tc.failAt > 0 {
				require.Equal(t, tc.failAt, calls, "emit called after it failed")
			}
			if len(tc.ds) > 1 {
				slices.Sort(got)
			}
			require.Equal(t, tc.want, got)
		})
	}
}
