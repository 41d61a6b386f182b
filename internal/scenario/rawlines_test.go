package scenario

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/event"
)

func TestRawLines(t *testing.T) {
	t.Parallel()
	lab := map[string]string{"type": "syslog"}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	origins := newLineOrigins()
	mk := func(raws ...string) []*item {
		var q []*item
		for _, r := range raws {
			e := &event.Event{Type: event.LOG, Line: event.Line{Raw: r, Src: "/var/log/auth.log", Module: "file", Labels: lab, Time: at}}
			q = append(q, newItem(e, origins))
		}
		return q
	}
	ovf := newItem(&event.Event{Type: event.OVFLW}, origins) // reprocessed overflow: no line
	for _, tc := range []struct {
		name  string
		q     []*item
		lim   RawLineLimit
		want  []string
		trunc bool
	}{
		{"all fit", mk("a", "b", "c"), RawLineLimit{MaxLines: 5, MaxBytes: 100}, []string{"a", "b", "c"}, false},
		{"newest lines", mk("a", "b", "c"), RawLineLimit{MaxLines: 2, MaxBytes: 100}, []string{"b", "c"}, false},
		{"byte budget", mk("aaaa", "bbbb", "cccc"), RawLineLimit{MaxLines: 5, MaxBytes: 9}, []string{"bbbb", "cccc"}, false},
		{"long newest line cut", mk("a", strings.Repeat("z", 20)), RawLineLimit{MaxLines: 5, MaxBytes: 8}, []string{"zzzzzzzz"}, true},
		{"no line kept", mk("a"), RawLineLimit{}, nil, false},
		{"overflow events skipped", append(mk("a"), ovf), RawLineLimit{MaxLines: 5, MaxBytes: 100}, []string{"a"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := rawLines(tc.q, tc.lim)
			var raws []string
			for _, l := range got {
				raws = append(raws, l.Raw)
				require.Equal(t, "/var/log/auth.log", l.Source)
				require.Equal(t, "syslog", l.Labels["type"])
				require.Equal(t, "2026-01-02T03:04:05Z", l.Time)
				require.Equal(t, tc.trunc, l.Truncated)
			}
			require.Equal(t, tc.want, raws)
		})
	}
	require.Nil(t, newItem(&event.Event{Type: event.LOG, Line: event.Line{Raw: "x"}}, nil).line, "not kept unless asked")
}
