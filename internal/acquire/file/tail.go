package file

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/phalanx-ids/phalanx/internal/acquire"
)

// reader is one open file being consumed.
type reader struct {
	f        *os.File
	dev, ino uint64
	off      int64  // offset just after the last line emitted (start of partial)
	readOff  int64  // offset read so far (off + len(partial), unless discarding)
	partial  []byte // bytes read after off, no newline yet
	discard  bool   // dropping the rest of an over-long line
	fp       []byte // the last bytes before readOff (fingerprint)
	buf      []byte
	doneLast bool      // partial was flushed (file finished)
	mtime    time.Time // modification time at the last check
}

// tailer follows one path across rotations.
type tailer struct {
	path        string
	cur         *reader
	prev        *reader // rotated away, read until prevUntil
	prevUntil   time.Time
	goneSince   time.Time
	rotations   int
	truncations int
}

type tailRun struct {
	s     *Source
	emit  acquire.Emit
	tails map[string]*tailer
	state *stateFile
}

func (s *Source) tail(ctx context.Context, emit acquire.Emit) error {
	st, existed, err := loadState(s.statePath)
	if err != nil {
		s.log.Warn("file: state unreadable, starting without it", "path", s.statePath, "err", err)
	}
	t := &tailRun{s: s, emit: emit, tails: map[string]*tailer{}, state: st}
	defer t.closeAll()
	if err := t.discover(!existed); err != nil {
		return err
	}
	if len(t.tails) == 0 {
		s.log.Warn("file: no file matches yet, waiting for one", "globs", s.globs)
	}
	now := s.now()
	nextDiscovery := now.Add(s.discovery)
	nextSave := now.Add(saveInterval)
	timer := time.NewTimer(s.poll)
	defer timer.Stop()
	wait := min(activePoll, s.poll)
	for {
		progressed := false
		for _, p := range t.sortedPaths() {
			got, err := t.pollOne(t.tails[p])
			if err != nil {
				t.save()
				return err
			}
			progressed = progressed || got
		}
		now := s.now()
		if !now.Before(nextDiscovery) {
			if err := t.discover(false); err != nil {
				t.save()
				return err
			}
			nextDiscovery = now.Add(s.discovery)
		}
		if !now.Before(nextSave) {
			t.save()
			nextSave = now.Add(saveInterval)
		}
		if progressed {
			if ctx.Err() != nil {
				t.save()
				return nil
			}
			wait = min(activePoll, s.poll)
			continue
		}
		// A file that was just written to is likely to be written to
		// again soon: poll it again after activePoll, then twice as late
		// each time nothing came, up to poll_interval. A busy log's lines
		// then wait a few ms to be read, not a poll_interval.
		timer.Reset(wait)
		wait = min(2*wait, s.poll)
		select {
		case <-ctx.Done():
			t.save()
			return nil
		case <-timer.C:
		}
	}
}

func (t *tailRun) sortedPaths() []string {
	out := make([]string, 0, len(t.tails))
	for p := range t.tails {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// discover opens the files that match and are not followed yet. Initial
// files with no saved state start at their end when atEnd.
func (t *tailRun) discover(atEnd bool) error {
	for _, p := range t.s.matches() {
		if _, ok := t.tails[p]; ok {
			continue
		}
		if isGz(p) {
			if !t.state.warnedGz[p] {
				t.s.log.Warn("file: .gz files are only read in cat mode, skipped", "path", p)
				t.state.warnedGz[p] = true
			}
			continue
		}
		r, err := t.open(p, atEnd)
		if err != nil {
			t.s.log.Warn("file: cannot open", "path", p, "err", err)
			continue
		}
		t.s.log.Info("file: following", "path", p, "offset", r.off)
		t.tails[p] = &tailer{path: p, cur: r}
	}
	return nil
}

// open opens path and positions it from the saved state, at its end
// (atEnd, first start) or at 0.
func (t *tailRun) open(path string, atEnd bool) (*reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	dev, ino := fileID(fi)
	r := &reader{f: f, dev: dev, ino: ino, buf: make([]byte, readChunk)}
	if e, ok := t.state.Files[path]; ok && e.Dev == dev && e.Ino == ino && e.Offset <= fi.Size() {
		if fp := readFP(f, e.Offset); bytes.Equal(fp, e.FP) {
			r.off, r.readOff, r.fp = e.Offset, e.Offset, fp
			return r, nil
		}
	}
	if _, ok := t.state.Files[path]; !ok && atEnd {
		r.off, r.readOff = fi.Size(), fi.Size()
		r.fp = readFP(f, r.off)
	}
	return r, nil
}

// readFP returns the up-to-fingerprintLen bytes before off.
func readFP(f *os.File, off int64) []byte {
	start := max(off-fingerprintLen, 0)
	b := make([]byte, off-start)
	n, _ := f.ReadAt(b, start)
	return b[:n]
}

// pollOne reads what is new for one path and handles rotations. It reports
// whether anything happened.
func (t *tailRun) pollOne(tl *tailer) (bool, error) {
	progressed := false
	if tl.prev != nil {
		got, err := t.read(tl.path, tl.prev)
		if err != nil {
			return false, err
		}
		progressed = got
		if !got && !t.s.now().Before(tl.prevUntil) {
			if err := t.finish(tl.path, tl.prev); err != nil {
				return false, err
			}
			tl.prev = nil
		}
	}
	if tl.cur == nil {
		return t.reopen(tl)
	}
	got, err := t.read(tl.path, tl.cur)
	if err != nil {
		return false, err
	}
	if got {
		return true, nil
	}
	// at the end of the open file: has the path moved on?
	fi, err := os.Stat(tl.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if tl.goneSince.IsZero() {
			tl.goneSince = t.s.now()
		}
		if t.s.now().Sub(tl.goneSince) > t.s.grace {
			t.s.log.Info("file: gone, no longer followed", "path", tl.path)
			if err := t.finish(tl.path, tl.cur); err != nil {
				return false, err
			}
			if tl.prev != nil {
				if err := t.finish(tl.path, tl.prev); err != nil {
					return false, err
				}
			}
			delete(t.tails, tl.path)
			delete(t.state.Files, tl.path)
		}
		return progressed, nil
	case err != nil:
		return progressed, nil
	}
	tl.goneSince = time.Time{}
	if dev, ino := fileID(fi); dev == tl.cur.dev && ino == tl.cur.ino {
		return progressed, nil
	}
	// rotated by rename: drain the old file, keep it a while, follow the new one
	if _, err := t.read(tl.path, tl.cur); err != nil {
		return false, err
	}
	if tl.prev != nil {
		if err := t.finish(tl.path, tl.prev); err != nil {
			return false, err
		}
	}
	tl.prev, tl.prevUntil, tl.cur = tl.cur, t.s.now().Add(t.s.grace), nil
	tl.rotations++
	_, err = t.reopen(tl)
	return true, err
}

// reopen opens the path anew (after a rotation) from offset 0.
func (t *tailRun) reopen(tl *tailer) (bool, error) {
	r, err := t.open(tl.path, false)
	if err != nil {
		return false, nil // not there yet; try again next poll
	}
	if r.off != 0 { // a state entry cannot apply to a rotated-in file
		r.off, r.readOff, r.fp = 0, 0, nil
	}
	tl.cur = r
	return true, nil
}

// finish reads r to its end, flushes its unterminated last line and
// closes it.
func (t *tailRun) finish(path string, r *reader) error {
	defer r.f.Close()
	if _, err := t.readAll(path, r); err != nil {
		return err
	}
	if !r.doneLast && len(r.partial) > 0 && !r.discard {
		r.doneLast = true
		if err := t.emit(t.s.line(path, r.partial, t.s.now())); err != nil {
			return err
		}
	}
	r.partial = nil
	return nil
}

// read consumes what was appended to r since the last call, detecting
// truncation. It reports whether bytes were read.
func (t *tailRun) read(path string, r *reader) (bool, error) {
	progressed := false
	for i := 0; i < chunksPerPoll; i++ {
		fi, err := r.f.Stat()
		if err != nil {
			return progressed, nil
		}
		size := fi.Size()
		// a changed file of the same size may have been truncated and
		// refilled to our offset exactly: check the fingerprint too
		changed := size > r.readOff || (size == r.readOff && !fi.ModTime().Equal(r.mtime))
		r.mtime = fi.ModTime()
		if size < r.readOff || (changed && len(r.fp) > 0 && !bytes.Equal(readFP(r.f, r.readOff), r.fp)) {
			if err := t.truncated(path, r); err != nil {
				return false, err
			}
			progressed = true
			continue
		}
		if size == r.readOff {
			return progressed, nil
		}
		n, err := r.f.ReadAt(r.buf, r.readOff)
		if n > 0 {
			progressed = true
			if err := t.consume(path, r, r.buf[:n]); err != nil {
				return false, err
			}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return progressed, nil
		}
		if n < len(r.buf) {
			return progressed, nil
		}
	}
	return progressed, nil
}

// consume splits data (read at r.readOff) into lines and emits them,
// each with the time data was read (one clock read a chunk, not a line).
func (t *tailRun) consume(path string, r *reader, data []byte) error {
	read := t.s.now()
	start := r.readOff
	r.readOff += int64(len(data))
	r.fp = appendFP(r.fp, data)
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			if !r.discard {
				r.partial = append(r.partial, data...)
				if len(r.partial) > t.s.maxLine {
					raw := cut(r.partial, t.s.maxLine)
					r.partial = r.partial[:0]
					r.discard = true
					if err := t.emit(t.s.line(path, raw, read)); err != nil {
						return err
					}
				}
			}
			return nil
		}
		seg := data[:i]
		data = data[i+1:]
		start += int64(i + 1)
		if r.discard {
			r.discard = false
			r.off = start
			continue
		}
		raw := seg
		if len(r.partial) > 0 {
			raw = append(r.partial, seg...)
		}
		if len(raw) > t.s.maxLine {
			raw = cut(raw, t.s.maxLine)
		}
		r.partial = r.partial[:0]
		if len(raw) > 0 && !(len(raw) == 1 && raw[0] == '\r') {
			if err := t.emit(t.s.line(path, raw, read)); err != nil {
				return err
			}
		}
		r.off = start
	}
	return nil
}

func appendFP(fp, data []byte) []byte {
	if len(data) >= fingerprintLen {
		return append(fp[:0], data[len(data)-fingerprintLen:]...)
	}
	fp = append(fp, data...)
	if len(fp) > fingerprintLen {
		fp = append(fp[:0], fp[len(fp)-fingerprintLen:]...)
	}
	return fp
}

// truncated handles a copytruncate: recover the tail from the copy if one
// is found, flush the partial line, restart at 0.
func (t *tailRun) truncated(path string, r *reader) error {
	if copyPath := t.findCopy(path, r); copyPath != "" {
		if f, err := os.Open(copyPath); err == nil {
			old := r.f
			r.f = f
			_, rerr := t.readAll(path, r)
			r.f = old
			f.Close()
			if rerr != nil {
				return rerr
			}
		}
	}
	if len(r.partial) > 0 && !r.discard {
		if err := t.emit(t.s.line(path, r.partial, t.s.now())); err != nil {
			return err
		}
	}
	r.partial, r.discard = r.partial[:0], false
	r.off, r.readOff, r.fp = 0, 0, nil
	return nil
}

// readAll reads r.f from r.readOff to its end (no truncation checks).
func (t *tailRun) readAll(path string, r *reader) (bool, error) {
	got := false
	for {
		n, err := r.f.ReadAt(r.buf, r.readOff)
		if n > 0 {
			got = true
			if e := t.consume(path, r, r.buf[:n]); e != nil {
				return got, e
			}
		}
		if err != nil || n == 0 {
			return got, nil
		}
	}
}

// findCopy looks for the copy a copytruncate left beside path: a sibling
// named <base>.* or <base>-*, not compressed, holding our fingerprint just
// before our offset. The most recently modified match wins.
func (t *tailRun) findCopy(path string, r *reader) string {
	if r.readOff == 0 || len(r.fp) == 0 {
		return ""
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	type cand struct {
		p string
		m time.Time
	}
	var cands []cand
	for _, e := range ents {
		n := e.Name()
		if n == base || !(strings.HasPrefix(n, base+".") || strings.HasPrefix(n, base+"-")) || isGz(n) || e.IsDir() {
			continue
		}
		fi, err := e.Info()
		if err != nil || fi.Size() < r.readOff {
			continue
		}
		cands = append(cands, cand{filepath.Join(dir, n), fi.ModTime()})
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].m.After(cands[j].m) })
	for i, c := range cands {
		if i >= 8 {
			break
		}
		f, err := os.Open(c.p)
		if err != nil {
			continue
		}
		fp := readFP(f, r.readOff)
		f.Close()
		if bytes.Equal(fp, r.fp) {
			return c.p
		}
	}
	return ""
}

func (t *tailRun) save() {
	for p, tl := range t.tails {
		if tl.cur == nil {
			continue
		}
		t.state.Files[p] = stateEntry{Dev: tl.cur.dev, Ino: tl.cur.ino, Offset: tl.cur.off, FP: readFP(tl.cur.f, tl.cur.off)}
	}
	if err := t.state.write(); err != nil {
		t.s.log.Warn("file: cannot save state", "path", t.state.path, "err", err)
	}
}

func (t *tailRun) closeAll() {
	for _, tl := range t.tails {
		if tl.cur != nil {
			tl.cur.f.Close()
		}
		if tl.prev != nil {
			tl.prev.f.Close()
		}
	}
}
