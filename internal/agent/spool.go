package agent

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Spool is a bounded on-disk FIFO of records (alert batches): append-only
// segment files, each record fsynced before Append returns, consumed in
// order with Peek and Ack. The position of the oldest unacknowledged
// record is kept in a small cursor file (with a CRC-32C), so a restart
// redelivers every record that was not acknowledged, and after a clean
// Close nothing that was.
//
// An acknowledgement overwrites the cursor in place (one write to the
// file kept open) and does not fsync it (Close does): a crash of the
// machine may leave the previous cursor, or one torn between the two,
// whose checksum fails and which is read as "from the oldest record still
// on disk". Either
// way the cursor only moves back, so records are delivered again, never
// skipped: the at-least-once guarantee holds without an fsync a batch (the
// records themselves are fsynced before Append returns, before any
// acknowledgement can name them, and Phalanx's LAPI stores a redelivered
// alert once, by its UUID).
//
// Record framing: 4-byte big-endian payload length, 4-byte item count,
// 4-byte CRC-32C of the payload, then the payload. A torn record at the end
// of the last segment (crash during a write) is cut off at open.
//
// When an Append would make the spool larger than MaxBytes, the oldest
// segments are dropped whole (their unacknowledged items are counted by
// DroppedItems) until it fits.
//
// Concurrency: safe for concurrent use; Append and Ack serialise on one
// mutex. One consumer is expected (Peek returns the same record until it is
// acknowledged).
type Spool struct {
	dir     string
	maxSize int64
	segSize int64

	mu       sync.Mutex
	segs     []*segment // oldest first; the last one is written to
	cur      *os.File   // open for append on segs[len-1]
	acked    cursor     // next record to deliver
	size     int64      // bytes of every segment on disk
	pending  int        // records not acknowledged
	items    int64      // items not acknowledged
	dropped  int64      // items dropped because the spool was full
	closed   bool
	curs     *os.File // the cursor file, open once the first acknowledgement wrote it
	unsynced bool     // the cursor was written since it was last fsynced
	notEmpty chan struct{}
}

type segment struct {
	id   uint64
	size int64
	recs []recInfo
}

type recInfo struct {
	off   int64
	n     int   // payload length
	items int32 // items in the record
}

type cursor struct {
	seg uint64
	off int64
}

// Record is one spooled batch.
type Record struct {
	Payload []byte
	Items   int
	seg     uint64
	off     int64
}

// RecordID names a record of a spool (comparable; opaque).
type RecordID struct {
	seg uint64
	off int64
}

// ID returns the record's name, the one Append returned for it.
func (r Record) ID() RecordID { return RecordID{seg: r.seg, off: r.off} }

const (
	headerLen  = 12
	segPrefix  = "seg-"
	segSuffix  = ".spool"
	cursorName = "cursor"
	// asideDir (below the spool's directory) keeps the records SetAside
	// took out of the queue.
	asideDir = "set-aside"
	// DefaultSpoolBytes bounds a spool when SpoolOptions.MaxBytes is 0.
	DefaultSpoolBytes = 64 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// SpoolOptions configures OpenSpool.
type SpoolOptions struct {
	// MaxBytes bounds the spool on disk (default DefaultSpoolBytes).
	MaxBytes int64
	// SegmentBytes is the size after which a new segment is started
	// (default MaxBytes/8, at least 64 KiB).
	SegmentBytes int64
}

// OpenSpool opens (creating if needed) the spool in dir and recovers its
// records.
func OpenSpool(dir string, opts SpoolOptions) (*Spool, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultSpoolBytes
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = max(opts.MaxBytes/8, 64<<10)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("agent: spool: %w", err)
	}
	s := &Spool{dir: dir, maxSize: opts.MaxBytes, segSize: opts.SegmentBytes, notEmpty: make(chan struct{}, 1)}
	if err := s.recover(); err != nil {
		return nil, fmt.Errorf("agent: spool %s: %w", dir, err)
	}
	return s, nil
}

func (s *Spool) segPath(id uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%s%016d%s", segPrefix, id, segSuffix))
}

func (s *Spool) recover() error {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	var ids []uint64
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, segPrefix) || !strings.HasSuffix(n, segSuffix) {
			continue
		}
		id, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(n, segPrefix), segSuffix), 10, 64)
		if err != nil {
			continue
		}
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	if c, err := os.ReadFile(filepath.Join(s.dir, cursorName)); err == nil {
		s.acked, _ = decodeCursor(c)
	}
	for i, id := range ids {
		seg, err := scanSegment(s.segPath(id), i == len(ids)-1)
		if err != nil {
			return err
		}
		seg.id = id
		// Drop records already acknowledged.
		if id < s.acked.seg {
			_ = os.Remove(s.segPath(id))
			continue
		}
		s.segs = append(s.segs, seg)
		s.size += seg.size
		for _, r := range seg.recs {
			if id == s.acked.seg && r.off < s.acked.off {
				continue
			}
			s.pending++
			s.items += int64(r.items)
		}
	}
	var next uint64 = 1
	if len(s.segs) > 0 {
		next = s.segs[len(s.segs)-1].id
		if s.segs[len(s.segs)-1].size >= s.segSize {
			next++
		}
	} else if s.acked.seg > 0 {
		next = s.acked.seg + 1
	}
	if err := s.openSegment(next); err != nil {
		return err
	}
	if s.pending > 0 {
		s.signal()
	}
	return nil
}

// scanSegment reads the record index of a segment; a torn or corrupt tail
// is truncated when last (and is an error otherwise).
func scanSegment(path string, last bool) (*segment, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	seg := &segment{}
	r := bufio.NewReaderSize(f, 64<<10)
	var off int64
	hdr := make([]byte, headerLen)
	var buf []byte
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return truncTail(f, path, seg, off, last)
		}
		n := int(binary.BigEndian.Uint32(hdr[0:4]))
		items := int32(binary.BigEndian.Uint32(hdr[4:8]))
		sum := binary.BigEndian.Uint32(hdr[8:12])
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil || crc32.Checksum(buf, crcTable) != sum {
			return truncTail(f, path, seg, off, last)
		}
		seg.recs = append(seg.recs, recInfo{off: off, n: n, items: items})
		off += int64(headerLen + n)
	}
	seg.size = off
	return seg, nil
}

func truncTail(f *os.File, path string, seg *segment, off int64, last bool) (*segment, error) {
	if !last {
		// A sealed segment was fully fsynced: keep what is readable.
		seg.size = off
		return seg, nil
	}
	if err := f.Truncate(off); err != nil {
		return nil, fmt.Errorf("truncate torn record of %s: %w", path, err)
	}
	seg.size = off
	return seg, f.Sync()
}

func (s *Spool) openSegment(id uint64) error {
	f, err := os.OpenFile(s.segPath(id), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if s.cur != nil {
		_ = s.cur.Close()
	}
	s.cur = f
	if len(s.segs) == 0 || s.segs[len(s.segs)-1].id != id {
		s.segs = append(s.segs, &segment{id: id})
		if err := syncDir(s.dir); err != nil {
			return err
		}
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (s *Spool) signal() {
	select {
	case s.notEmpty <- struct{}{}:
	default:
	}
}

// NotEmpty is signalled (capacity 1, never closed) after an Append, and at
// open when records are pending: the consumer waits on it when Peek finds
// nothing.
func (s *Spool) NotEmpty() <-chan struct{} { return s.notEmpty }

// ErrTooLarge: a record larger than the whole spool.
var ErrTooLarge = errors.New("record larger than the spool")

// Append writes one record holding items items, fsyncs it and returns its
// ID. When the spool is full the oldest segments are dropped (see
// DroppedItems).
func (s *Spool) Append(payload []byte, items int) (RecordID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return RecordID{}, errors.New("agent: spool: closed")
	}
	need := int64(headerLen + len(payload))
	if need > s.maxSize {
		s.dropped += int64(items)
		return RecordID{}, fmt.Errorf("agent: spool: %d bytes: %w", need, ErrTooLarge)
	}
	last := s.segs[len(s.segs)-1]
	if last.size > 0 && last.size+need > s.segSize {
		if err := s.openSegment(last.id + 1); err != nil {
			return RecordID{}, fmt.Errorf("agent: spool: %w", err)
		}
		last = s.segs[len(s.segs)-1]
	}
	for s.size+need > s.maxSize && len(s.segs) > 1 {
		s.dropOldest()
	}
	buf := make([]byte, headerLen+len(payload))
	binary.BigEndian.PutUint32(buf[0:4], uint32(len(payload)))
	binary.BigEndian.PutUint32(buf[4:8], uint32(items))
	binary.BigEndian.PutUint32(buf[8:12], crc32.Checksum(payload, crcTable))
	copy(buf[headerLen:], payload)
	if _, err := s.cur.Write(buf); err != nil {
		return RecordID{}, fmt.Errorf("agent: spool: write: %w", err)
	}
	if err := s.cur.Sync(); err != nil {
		return RecordID{}, fmt.Errorf("agent: spool: fsync: %w", err)
	}
	id := RecordID{seg: last.id, off: last.size}
	last.recs = append(last.recs, recInfo{off: last.size, n: len(payload), items: int32(items)})
	last.size += need
	s.size += need
	s.pending++
	s.items += int64(items)
	s.signal()
	return id, nil
}

// dropOldest removes the oldest segment, counting its unacknowledged items.
func (s *Spool) dropOldest() {
	old := s.segs[0]
	for _, r := range old.recs {
		if old.id == s.acked.seg && r.off < s.acked.off || old.id < s.acked.seg {
			continue
		}
		s.dropped += int64(r.items)
		s.items -= int64(r.items)
		s.pending--
	}
	_ = os.Remove(s.segPath(old.id))
	s.size -= old.size
	s.segs = s.segs[1:]
	if s.acked.seg <= old.id {
		s.acked = cursor{seg: s.segs[0].id}
	}
}

// Peek returns the oldest unacknowledged record; ok is false when there
// is none.
func (s *Spool) Peek() (rec Record, ok bool, err error) { return s.PeekAfter(nil) }

// PeekAfter returns the oldest unacknowledged record that was appended
// after the record named after (nil: the oldest of all); ok is false when
// there is none. A consumer with several records in flight reads them
// with it, and acknowledges them oldest first (Ack).
func (s *Spool) PeekAfter(after *RecordID) (rec Record, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		seg   *segment
		ri    recInfo
		found bool
	)
	if after == nil {
		seg, ri, found = s.nextLocked()
	} else {
		seg, ri, found = s.nextAfterLocked(*after)
	}
	if !found {
		return Record{}, false, nil
	}
	f, err := os.Open(s.segPath(seg.id))
	if err != nil {
		return Record{}, false, fmt.Errorf("agent: spool: %w", err)
	}
	defer f.Close()
	buf := make([]byte, ri.n)
	if _, err := f.ReadAt(buf, ri.off+headerLen); err != nil {
		return Record{}, false, fmt.Errorf("agent: spool: read %s@%d: %w", s.segPath(seg.id), ri.off, err)
	}
	return Record{Payload: buf, Items: int(ri.items), seg: seg.id, off: ri.off}, true, nil
}

func (s *Spool) nextLocked() (*segment, recInfo, bool) {
	for _, seg := range s.segs {
		if seg.id < s.acked.seg {
			continue
		}
		for _, r := range seg.recs {
			if seg.id == s.acked.seg && r.off < s.acked.off {
				continue
			}
			return seg, r, true
		}
	}
	return nil, recInfo{}, false
}

// nextAfterLocked is the oldest unacknowledged record after id.
func (s *Spool) nextAfterLocked(id RecordID) (*segment, recInfo, bool) {
	for _, seg := range s.segs {
		if seg.id < s.acked.seg || seg.id < id.seg {
			continue
		}
		for _, r := range seg.recs {
			if seg.id == s.acked.seg && r.off < s.acked.off || seg.id == id.seg && r.off <= id.off {
				continue
			}
			return seg, r, true
		}
	}
	return nil, recInfo{}, false
}

// Ack marks rec delivered: the cursor moves past it (durably) and fully
// delivered segments are removed. Acking a record that is no longer the
// oldest (it was dropped meanwhile) is a no-op.
func (s *Spool) Ack(rec Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	seg, ri, found := s.nextLocked()
	if !found || seg.id != rec.seg || ri.off != rec.off {
		return nil
	}
	s.acked = cursor{seg: seg.id, off: ri.off + headerLen + int64(ri.n)}
	s.pending--
	s.items -= int64(ri.items)
	if err := s.writeCursor(false); err != nil {
		return err
	}
	s.unsynced = true
	// Remove sealed segments that are fully acknowledged.
	for len(s.segs) > 1 && (s.segs[0].id < s.acked.seg || s.segs[0].id == s.acked.seg && s.acked.off >= s.segs[0].size) {
		old := s.segs[0]
		_ = os.Remove(s.segPath(old.id))
		s.size -= old.size
		s.segs = s.segs[1:]
	}
	return nil
}

// SetAside takes rec (one that must not be delivered: its payload is
// not what it should be) out of the queue: its payload is kept, fsynced, in
// the file whose path it returns (below the spool's directory, outside its
// bound), then rec is acknowledged. The file is written first, so a crash
// in between sets the record aside again at the next start.
func (s *Spool) SetAside(rec Record) (string, error) {
	path, err := s.SaveAside(rec)
	if err != nil {
		return "", err
	}
	return path, s.Ack(rec)
}

// SaveAside is the first half of SetAside: it keeps rec's payload in the
// set-aside file whose path it returns, and leaves rec in the queue (a
// consumer with several records in flight acknowledges them in order).
func (s *Spool) SaveAside(rec Record) (string, error) {
	dir := filepath.Join(s.dir, asideDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("agent: spool: set aside: %w", err)
	}
	path := filepath.Join(dir, fmt.Sprintf("%016d-%016d.record", rec.seg, rec.off))
	if err := writeSynced(path, rec.Payload); err != nil {
		return "", fmt.Errorf("agent: spool: set aside: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return "", fmt.Errorf("agent: spool: set aside: %w", err)
	}
	return path, nil
}

// writeSynced writes b to the file path (created or truncated) and fsyncs
// it.
func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// cursorLen is a cursor file's length: segment, offset, CRC-32C of both.
// A file of 16 bytes is the former format, without the CRC.
const cursorLen = 20

func encodeCursor(c cursor) [cursorLen]byte {
	var b [cursorLen]byte
	binary.BigEndian.PutUint64(b[:8], c.seg)
	binary.BigEndian.PutUint64(b[8:16], uint64(c.off))
	binary.BigEndian.PutUint32(b[16:], crc32.Checksum(b[:16], crcTable))
	return b
}

// decodeCursor reads a cursor file; ok is false (and the cursor the zero
// one: from the oldest record) when it is not one.
func decodeCursor(b []byte) (c cursor, ok bool) {
	switch {
	case len(b) == cursorLen && crc32.Checksum(b[:16], crcTable) == binary.BigEndian.Uint32(b[16:]):
	case len(b) == 16:
	default:
		return cursor{}, false
	}
	return cursor{seg: binary.BigEndian.Uint64(b[:8]), off: int64(binary.BigEndian.Uint64(b[8:16]))}, true
}

// writeCursor overwrites the cursor file in place, opening it at the
// first call; synced, it fsyncs it too (Close), otherwise not (Ack: see
// Spool).
func (s *Spool) writeCursor(synced bool) error {
	if s.curs == nil {
		f, err := os.OpenFile(filepath.Join(s.dir, cursorName), os.O_RDWR|os.O_CREATE, 0o600)
		if err == nil {
			// A file of another length (a former cursor of 16 bytes, or
			// what is not a cursor) is cut to the cursor's.
			err = f.Truncate(cursorLen)
		}
		if err != nil {
			if f != nil {
				_ = f.Close()
			}
			return fmt.Errorf("agent: spool: cursor: %w", err)
		}
		s.curs = f
	}
	b := encodeCursor(s.acked)
	if _, err := s.curs.WriteAt(b[:], 0); err != nil {
		return fmt.Errorf("agent: spool: cursor: %w", err)
	}
	if synced {
		if err := s.curs.Sync(); err != nil {
			return fmt.Errorf("agent: spool: cursor: %w", err)
		}
	}
	return nil
}

// SpoolStats is a snapshot of a spool.
type SpoolStats struct {
	Bytes        int64 // on disk, acknowledged records of live segments included
	Records      int   // not yet acknowledged
	Items        int64 // items in those records
	DroppedItems int64 // items dropped because the spool was full
}

// Stats returns a snapshot.
func (s *Spool) Stats() SpoolStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return SpoolStats{Bytes: s.size, Records: s.pending, Items: s.items, DroppedItems: s.dropped}
}

// Close makes the cursor durable (fsynced) and closes the segment being
// written. Records stay on disk.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var err error
	if s.unsynced {
		if err = s.writeCursor(true); err == nil {
			err = syncDir(s.dir)
		}
		s.unsynced = false
	}
	if s.curs != nil {
		err = errors.Join(err, s.curs.Close())
	}
	if s.cur != nil {
		err = errors.Join(err, s.cur.Close())
	}
	return err
}
