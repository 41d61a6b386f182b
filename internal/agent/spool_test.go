package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func drain(t *testing.T, s *Spool) []string {
	t.Helper()
	var out []string
	for {
		rec, ok, err := s.Peek()
		require.NoError(t, err)
		if !ok {
			return out
		}
		out = append(out, string(rec.Payload))
		require.NoError(t, s.Ack(rec))
	}
}

func TestSpool(t *testing.T) {
	cases := []struct {
		name     string
		opts     SpoolOptions
		appends  int
		ackFirst int  // records acked before reopening
		reopen   bool // close and reopen before draining
		tear     bool // append garbage (a torn record) before reopening
		want     []string
		dropped  int64
	}{
		{name: "in order", appends: 3, want: []string{"r0", "r1", "r2"}},
		{name: "reopen keeps unacked", appends: 4, ackFirst: 2, reopen: true, want: []string{"r2", "r3"}},
		{name: "reopen after all acked", appends: 2, ackFirst: 2, reopen: true, want: nil},
		{name: "torn tail cut", appends: 2, reopen: true, tear: true, want: []string{"r0", "r1"}},
		{name: "full drops oldest segments", opts: SpoolOptions{MaxBytes: 4 * (headerLen + 2), SegmentBytes: headerLen + 2},
			appends: 6, want: []string{"r2", "r3", "r4", "r5"}, dropped: 2},
		{name: "many segments survive reopen", opts: SpoolOptions{MaxBytes: 1 << 20, SegmentBytes: 3 * (headerLen + 2)},
			appends: 10, ackFirst: 4, reopen: true, want: []string{"r4", "r5", "r6", "r7", "r8", "r9"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := OpenSpool(dir, tc.opts)
			require.NoError(t, err)
			for i := range tc.appends {
				_, err := s.Append(fmt.Appendf(nil, "r%d", i), 1)
				require.NoError(t, err)
			}
			for range tc.ackFirst {
				rec, ok, err := s.Peek()
				require.NoError(t, err)
				require.True(t, ok)
				require.NoError(t, s.Ack(rec))
			}
			if tc.reopen {
				require.NoError(t, s.Close())
				if tc.tear {
					segs, _ := filepath.Glob(filepath.Join(dir, segPrefix+"*"))
					f, err := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
					require.NoError(t, err)
					_, err = f.Write([]byte{0, 0, 0, 50, 0, 0, 0, 1, 1, 2, 3, 4, 'x'})
					require.NoError(t, err)
					require.NoError(t, f.Close())
				}
				s, err = OpenSpool(dir, tc.opts)
				require.NoError(t, err)
			}
			require.Equal(t, tc.want, drain(t, s))
			st := s.Stats()
			require.Equal(t, tc.dropped, st.DroppedItems)
			require.Zero(t, st.Records)
			require.Zero(t, st.Items)
			// Appending after a drain (and after a torn tail) works.
			_, err = s.Append([]byte("late"), 1)
			require.NoError(t, err)
			require.Equal(t, []string{"late"}, drain(t, s))
			require.NoError(t, s.Close())
		})
	}
}

func TestSpoolTooLarge(t *testing.T) {
	s, err := OpenSpool(t.TempDir(), SpoolOptions{MaxBytes: 100})
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Append(make([]byte, 200), 3)
	require.ErrorIs(t, err, ErrTooLarge)
	require.EqualValues(t, 3, s.Stats().DroppedItems)
}

func FuzzSpoolRecover(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 'a', 'b'})
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, seg []byte) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, segPrefix+"0000000000000001"+segSuffix), seg, 0o600))
		s, err := OpenSpool(dir, SpoolOptions{})
		require.NoError(t, err)
		drain(t, s)
		_, err = s.Append([]byte("x"), 1)
		require.NoError(t, err)
		require.Equal(t, []string{"x"}, drain(t, s))
		require.NoError(t, s.Close())
	})
}

// TestSpoolCursorCrash: an acknowledgement does not fsync the cursor, so
// a crash may leave an older cursor, none, or a torn one. Each must make
// the reopened spool deliver again from an earlier record, never skip one
// that was not acknowledged.
func TestSpoolCursorCrash(t *testing.T) {
	cases := []struct {
		name   string
		cursor func(t *testing.T, dir string, older []byte) // what the crash left
		want   []string
	}{
		{name: "cursor written", cursor: func(*testing.T, string, []byte) {}, want: []string{"r3", "r4"}},
		{name: "previous cursor", cursor: func(t *testing.T, dir string, older []byte) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, cursorName), older, 0o600))
		}, want: []string{"r1", "r2", "r3", "r4"}},
		{name: "no cursor", cursor: func(t *testing.T, dir string, _ []byte) {
			require.NoError(t, os.Remove(filepath.Join(dir, cursorName)))
		}, want: []string{"r0", "r1", "r2", "r3", "r4"}},
		{name: "empty cursor", cursor: func(t *testing.T, dir string, _ []byte) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, cursorName), nil, 0o600))
		}, want: []string{"r0", "r1", "r2", "r3", "r4"}},
		{name: "zeroed cursor", cursor: func(t *testing.T, dir string, _ []byte) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, cursorName), make([]byte, cursorLen), 0o600))
		}, want: []string{"r0", "r1", "r2", "r3", "r4"}},
		{name: "torn cursor: new offset, old checksum", cursor: func(t *testing.T, dir string, older []byte) {
			b, err := os.ReadFile(filepath.Join(dir, cursorName))
			require.NoError(t, err)
			copy(b[16:], older[16:])
			require.NoError(t, os.WriteFile(filepath.Join(dir, cursorName), b, 0o600))
		}, want: []string{"r0", "r1", "r2", "r3", "r4"}},
		{name: "former 16-byte cursor", cursor: func(t *testing.T, dir string, older []byte) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, cursorName), older[:16], 0o600))
		}, want: []string{"r1", "r2", "r3", "r4"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s, err := OpenSpool(dir, SpoolOptions{})
			require.NoError(t, err)
			for i := range 5 {
				_, err := s.Append(fmt.Appendf(nil, "r%d", i), 1)
				require.NoError(t, err)
			}
			var older []byte
			for i := range 3 {
				rec, ok, err := s.Peek()
				require.NoError(t, err)
				require.True(t, ok)
				require.NoError(t, s.Ack(rec))
				if i == 0 {
					older, err = os.ReadFile(filepath.Join(dir, cursorName))
					require.NoError(t, err)
					require.Len(t, older, cursorLen)
				}
			}
			// The crash: no Close (the cursor was never fsynced).
			require.NoError(t, s.cur.Close())
			require.NoError(t, s.curs.Close())
			tc.cursor(t, dir, older)
			s, err = OpenSpool(dir, SpoolOptions{})
			require.NoError(t, err)
			require.Equal(t, tc.want, drain(t, s))
			require.NoError(t, s.Close())
		})
	}
}

// TestSpoolCloseSyncsCursor: Close writes the cursor of the last
// acknowledgement, so a clean restart delivers nothing twice.
func TestSpoolCloseSyncsCursor(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSpool(dir, SpoolOptions{})
	require.NoError(t, err)
	for i := range 3 {
		_, err := s.Append(fmt.Appendf(nil, "r%d", i), 1)
		require.NoError(t, err)
	}
	rec, ok, err := s.Peek()
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, s.Ack(rec))
	require.True(t, s.unsynced)
	require.NoError(t, s.Close())
	require.False(t, s.unsynced)
	b, err := os.ReadFile(filepath.Join(dir, cursorName))
	require.NoError(t, err)
	c, ok := decodeCursor(b)
	require.True(t, ok)
	require.Equal(t, s.acked, c)
	s, err = OpenSpool(dir, SpoolOptions{})
	require.NoError(t, err)
	require.Equal(t, []string{"r1", "r2"}, drain(t, s))
	require.NoError(t, s.Close())
}

// TestSpoolCursorInPlace: acknowledgements overwrite the cursor file in
// place (no temporary file), a file that was not a cursor of the current
// length is cut to one, and a crash after the acknowledgements (no Close)
// resumes after the last.
func TestSpoolCursorInPlace(t *testing.T) {
	cases := []struct {
		name   string
		before []byte // the cursor file before the spool opens (nil: none)
		want   []string
	}{
		{name: "no cursor", want: []string{"r2", "r3"}},
		{name: "longer garbage", before: make([]byte, 100), want: []string{"r2", "r3"}},
		{name: "former 16-byte cursor", before: make([]byte, 16), want: []string{"r2", "r3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, cursorName)
			if tc.before != nil {
				require.NoError(t, os.WriteFile(path, tc.before, 0o600))
			}
			s, err := OpenSpool(dir, SpoolOptions{})
			require.NoError(t, err)
			for i := range 4 {
				_, err := s.Append(fmt.Appendf(nil, "r%d", i), 1)
				require.NoError(t, err)
			}
			for range 2 {
				rec, ok, err := s.Peek()
				require.NoError(t, err)
				require.True(t, ok)
				require.NoError(t, s.Ack(rec))
				st, err := os.Stat(path)
				require.NoError(t, err)
				require.EqualValues(t, cursorLen, st.Size())
			}
			_, err = os.Stat(path + ".tmp")
			require.ErrorIs(t, err, os.ErrNotExist)
			// The crash: no Close.
			require.NoError(t, s.cur.Close())
			require.NoError(t, s.curs.Close())
			s, err = OpenSpool(dir, SpoolOptions{})
			require.NoError(t, err)
			require.Equal(t, tc.want, drain(t, s))
			require.NoError(t, s.Close())
		})
	}
}

// BenchmarkSpoolAck measures one acknowledgement (the record appended and
// read back before the timer's share of it): what the sender does per
// delivered batch besides the push.
func BenchmarkSpoolAck(b *testing.B) {
	s, err := OpenSpool(b.TempDir(), SpoolOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	payload := []byte(`[{"scenario":"x"}]`)
	for b.Loop() {
		b.StopTimer()
		if _, err := s.Append(payload, 1); err != nil {
			b.Fatal(err)
		}
		rec, ok, err := s.Peek()
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
		b.StartTimer()
		if err := s.Ack(rec); err != nil {
			b.Fatal(err)
		}
	}
}
