// Package journald is the `journalctl` datasource: it runs journalctl with
// JSON output and re-emits each entry as journalctl's short line
// ("Jan 02 15:04:05 host ident[pid]: message"), which hub parsers read as
// syslog.
//
// Tail mode runs `journalctl --follow -n 0 -o json <journalctl_filter...>`;
// when journalctl exits it is restarted with backoff (1 s doubling to 30 s,
// reset after a run of 30 s), resuming after the last entry read
// (`--after-cursor`), so nothing is lost or read twice across restarts.
// Cat mode runs `journalctl -o json [--since SINCE] <filters...>` once.
// journalctl is looked up on PATH at each start.
package journald

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/phalanx-ids/phalanx/internal/acquire"
	"github.com/phalanx-ids/phalanx/internal/event"
)

// Name is the `source` value of this module.
const Name = "journalctl"

const maxEntry = 1 << 20

// Config is the YAML configuration of a journalctl datasource.
type Config struct {
	acquire.CommonConfig `yaml:",inline"`
	Filters              []string `yaml:"journalctl_filter"`
	// Since bounds cat mode (journalctl --since syntax).
	Since string `yaml:"since"`
}

// Module returns the registry entry of the journalctl datasource.
func Module() acquire.Module {
	return acquire.Module{
		Name:       Name,
		HitsMetric: "cs_journalctlsource_hits_total",
		NewConfig:  func() acquire.Config { return &Config{} },
		New: func(c acquire.Config, d acquire.Deps) (acquire.Datasource, error) {
			return New(c.(*Config), d)
		},
	}
}

// Source is a provisioned journalctl datasource.
//
// Concurrency: see acquire.Datasource; emit is called from Run's
// goroutine only.
type Source struct {
	cfg        Config
	src        string
	log        *slog.Logger
	now        func() time.Time
	loc        *time.Location
	minBackoff time.Duration
	maxBackoff time.Duration
	stableRun  time.Duration
}

// New validates cfg.
func New(cfg *Config, d acquire.Deps) (*Source, error) {
	if len(cfg.Filters) == 0 {
		return nil, errors.New("journalctl: journalctl_filter is required")
	}
	for _, f := range cfg.Filters {
		if f == "--follow" || f == "-f" || strings.HasPrefix(f, "--output") || f == "-o" {
			return nil, fmt.Errorf("journalctl: journalctl_filter %q: set by the datasource", f)
		}
	}
	s := &Source{cfg: *cfg, log: d.Logger, now: time.Now, loc: time.Local,
		minBackoff: time.Second, maxBackoff: 30 * time.Second, stableRun: 30 * time.Second}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.src = "journalctl-" + strings.Join(cfg.Filters, "-")
	return s, nil
}

// Run runs journalctl (restarting it in tail mode) until ctx is cancelled.
func (s *Source) Run(ctx context.Context, emit acquire.Emit) error {
	if s.cfg.Mode == acquire.ModeCat {
		args := []string{"-o", "json"}
		if s.cfg.Since != "" {
			args = append(args, "--since", s.cfg.Since)
		}
		_, err := s.runOnce(ctx, append(args, s.cfg.Filters...), emit, nil)
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	cursor := ""
	backoff := s.minBackoff
	for {
		args := []string{"--follow", "-o", "json"}
		if cursor == "" {
			args = append(args, "-n", "0")
		} else {
			args = append(args, "--after-cursor", cursor)
		}
		started := s.now()
		var emitErr error
		last, err := s.runOnce(ctx, append(args, s.cfg.Filters...), emit, &emitErr)
		if last != "" {
			cursor = last
		}
		if ctx.Err() != nil {
			return nil
		}
		if emitErr != nil {
			return emitErr
		}
		if s.now().Sub(started) >= s.stableRun {
			backoff = s.minBackoff
		}
		s.log.Warn("journalctl: exited, restarting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, s.maxBackoff)
	}
}

// runOnce runs journalctl with args and emits its entries. It returns the
// cursor of the last entry emitted.
func (s *Source) runOnce(ctx context.Context, args []string, emit acquire.Emit, emitErr *error) (string, error) {
	bin, err := exec.LookPath("journalctl")
	if err != nil {
		return "", fmt.Errorf("journalctl: %w", err)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.WaitDelay = time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", fmt.Errorf("journalctl: %w", err)
	}
	var stderr tailBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("journalctl: start: %w", err)
	}
	s.log.Debug("journalctl: started", "args", args)
	cursor := ""
	r := bufio.NewReaderSize(stdout, 64*1024)
	var readErr error
	for {
		line, err := readLine(r)
		if len(line) > 0 {
			l, cur, perr := s.entry(line)
			switch {
			case perr != nil:
				s.log.Warn("journalctl: bad entry skipped", "err", perr)
			case l.Raw != "":
				if e := emit(l); e != nil {
					if emitErr != nil {
						*emitErr = e
					}
					readErr = e
				}
			}
			if cur != "" && readErr == nil {
				cursor = cur
			}
		}
		if err != nil || readErr != nil {
			if readErr == nil && !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
	}
	if readErr != nil {
		_ = cmd.Process.Kill()
	}
	werr := cmd.Wait()
	if readErr != nil {
		return cursor, readErr
	}
	if werr != nil {
		return cursor, fmt.Errorf("journalctl: %w: %s", werr, strings.TrimSpace(stderr.String()))
	}
	if msg := strings.TrimSpace(stderr.String()); msg != "" {
		return cursor, fmt.Errorf("journalctl: exited: %s", msg)
	}
	return cursor, nil
}

// readLine reads one line, dropping the part of it beyond maxEntry.
func readLine(r *bufio.Reader) ([]byte, error) {
	var out []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(out) < maxEntry {
			out = append(out, chunk[:min(len(chunk), maxEntry-len(out))]...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimRight(out, "\r\n"), err
	}
}

// Entry parses one journalctl JSON entry into a line; cursor is
// __CURSOR. An entry without MESSAGE gives an empty Raw.
func (s *Source) entry(b []byte) (event.Line, string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return event.Line{}, "", fmt.Errorf("journalctl: entry: %w", err)
	}
	cursor := str(m["__CURSOR"])
	msg, err := message(m["MESSAGE"])
	if err != nil {
		return event.Line{}, cursor, err
	}
	if msg == "" {
		return event.Line{}, cursor, nil
	}
	ts := s.now()
	if us, err := strconv.ParseInt(str(m["__REALTIME_TIMESTAMP"]), 10, 64); err == nil {
		ts = time.UnixMicro(us)
	}
	ident := str(m["SYSLOG_IDENTIFIER"])
	if ident == "" {
		ident = str(m["_COMM"])
	}
	pid := str(m["_PID"])
	if pid == "" {
		pid = str(m["SYSLOG_PID"])
	}
	var raw strings.Builder
	raw.WriteString(ts.In(s.loc).Format("Jan 02 15:04:05"))
	raw.WriteByte(' ')
	raw.WriteString(str(m["_HOSTNAME"]))
	raw.WriteByte(' ')
	if ident != "" {
		raw.WriteString(ident)
		if pid != "" {
			raw.WriteString("[" + pid + "]")
		}
		raw.WriteString(": ")
	}
	raw.WriteString(msg)
	return event.Line{Raw: raw.String(), Src: s.src, Time: s.now(), Labels: s.cfg.Labels, Module: Name, Process: true}, cursor, nil
}

// str returns a JSON string value ("" for anything else).
func str(v json.RawMessage) string {
	var s string
	if len(v) == 0 || json.Unmarshal(v, &s) != nil {
		return ""
	}
	return s
}

// message decodes MESSAGE: a string, or an array of byte values (journald
// uses that for non-UTF-8 data), or null.
func message(v json.RawMessage) (string, error) {
	if len(v) == 0 || string(v) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		return s, nil
	}
	var bs []int
	if err := json.Unmarshal(v, &bs); err != nil {
		return "", fmt.Errorf("journalctl: MESSAGE: want string or byte array: %w", err)
	}
	out := make([]byte, len(bs))
	for i, c := range bs {
		if c < 0 || c > 255 {
			return "", fmt.Errorf("journalctl: MESSAGE: byte %d out of range", c)
		}
		out[i] = byte(c)
	}
	return strings.ToValidUTF8(string(out), "\uFFFD"), nil
}

// tailBuffer keeps the last 4 KiB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 4096 {
		t.buf = t.buf[len(t.buf)-4096:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
