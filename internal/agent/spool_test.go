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
