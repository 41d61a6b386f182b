package install

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDataSpecs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, doc string
		want      []string
		err       string
	}{
		{name: "two documents", doc: "name: a\ndata:\n  - source_url: https://x/a.txt\n    dest_file: a.txt\n    type: string\n---\nname: b\ndata:\n  - source_url: https://x/b.txt\n    dest_file: sub/b.txt\n", want: []string{"a.txt", filepath.FromSlash("sub/b.txt")}},
		{name: "no data", doc: "name: a\nfilter: 1 == 1\n"},
		{name: "escaping dest_file", doc: "data:\n  - source_url: https://x/a\n    dest_file: ../../etc/cron.d/x\n", err: "leaves the data dir"},
		{name: "absolute dest_file", doc: "data:\n  - source_url: https://x/a\n    dest_file: /etc/passwd\n", err: "leaves the data dir"},
		{name: "not yaml", doc: "data: [", err: "data:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			specs, err := DataSpecs([]byte(tc.doc))
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			var got []string
			for _, s := range specs {
				got = append(got, filepath.FromSlash(s.DestFile))
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func FuzzDataSpecs(f *testing.F) {
	f.Add([]byte("data:\n  - source_url: https://x/a.txt\n    dest_file: a.txt\n    type: string\n"))
	f.Add([]byte("---\ndata:\n  - dest_file: ../x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		specs, err := DataSpecs(b)
		if err != nil {
			return
		}
		for _, s := range specs {
			if !filepath.IsLocal(filepath.FromSlash(s.DestFile)) {
				t.Fatalf("dest_file %q accepted", s.DestFile)
			}
		}
	})
}
