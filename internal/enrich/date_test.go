package enrich

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

var testNow = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

// refParseDate is the reference: CrowdSec's algorithm written plainly
// (format, then every layout in order with time.Parse, then epoch seconds).
// ParseDate's dispatch and hand-written parsers must agree with it.
func refParseDate(s, format string, now time.Time) (time.Time, bool) {
	year := now.UTC().Year()
	try := func(layout string) (time.Time, bool) {
		t, err := time.Parse(layout, s)
		if err != nil || t.IsZero() {
			return time.Time{}, false
		}
		if t.Year() == 0 {
			t = t.AddDate(year, 0, 0)
		}
		return t, true
	}
	if format != "" {
		if t, ok := try(format); ok {
			return t, true
		}
	}
	for _, l := range dateLayouts {
		if t, ok := try(l); ok {
			return t, true
		}
	}
	i, err := strconv.ParseInt(strings.Split(s, ".")[0], 10, 64)
	if err != nil || i <= 0 {
		return time.Time{}, false
	}
	return time.Unix(i, 0).UTC(), true
}

func requireSameAsReference(t testing.TB, s, format string) {
	got, err := ParseDate(s, format, testNow)
	want, ok := refParseDate(s, format, testNow)
	require.Equal(t, ok, err == nil, "input %q format %q: ParseDate err=%v, reference ok=%v", s, format, err, ok)
	if ok {
		require.True(t, want.Equal(got), "input %q: got %s want %s", s, got, want)
		require.Equal(t, marshalTime(want), marshalTime(got), "input %q", s)
	}
}

func TestParseDateMethod(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in, format, want string
		fallback               bool // MarshaledTime is now
	}{
		{name: "rfc3339 utc", in: "2024-02-12T14:10:21Z", want: "2024-02-12T14:10:21Z"},
		{name: "rfc3339 micro", in: "2023-01-31T15:05:01.896185Z", want: "2023-01-31T15:05:01.896185Z"},
		{name: "rfc3339 trailing zeros trimmed", in: "2023-01-31T15:05:05.305390Z", want: "2023-01-31T15:05:05.30539Z"},
		{name: "rfc3339 offset", in: "2024-02-12T14:10:21.123+01:00", want: "2024-02-12T14:10:21.123+01:00"},
		{name: "rfc3339 negative offset", in: "2022-02-07T10:49:33-05:00", want: "2022-02-07T10:49:33-05:00"},
		{name: "nginx plus one", in: "12/Feb/2024:14:10:21 +0100", want: "2024-02-12T14:10:21+01:00"},
		{name: "nginx utc", in: "12/Feb/2024:14:10:21 +0000", want: "2024-02-12T14:10:21Z"},
		{name: "nginx minus", in: "03/Sep/2021:07:01:02 -0530", want: "2021-09-03T07:01:02-05:30"},
		{name: "nginx lowercase month", in: "12/feb/2024:14:10:21 +0000", want: "2024-02-12T14:10:21Z"},
		{name: "nginx fraction", in: "12/Feb/2024:14:10:21.5 +0000", want: "2024-02-12T14:10:21.5Z"},
		{name: "syslog two digit day", in: "Feb 12 14:10:21", want: "2026-02-12T14:10:21Z"},
		{name: "syslog padded day", in: "Feb  2 14:10:21", want: "2026-02-02T14:10:21Z"},
		{name: "syslog single space", in: "Feb 2 14:10:21", want: "2026-02-02T14:10:21Z"},
		{name: "syslog fraction", in: "Jul  9 12:34:56.789", want: "2026-07-09T12:34:56.789Z"},
		{name: "syslog feb 29 rolls like upstream", in: "Feb 29 10:00:00", want: "2026-03-01T10:00:00Z"},
		{name: "syslog bad day", in: "Feb 30 10:00:00", fallback: true},
		{name: "ansi c", in: "Mon Jun 9 12:00:00 2025", want: "2025-06-09T12:00:00Z"},
		{name: "ansi c micro", in: "Mon Jan 02 15:04:05.000001 2006", want: "2006-01-02T15:04:05.000001Z"},
		{name: "us slash", in: "01/02/2024 15:04:05", want: "2024-01-02T15:04:05Z"},
		{name: "go default with zone", in: "2024-01-31 15:05:01.123 +0100 CET", want: "2024-01-31T15:05:01.123+01:00"},
		{name: "european literal zone", in: "02-Jan-2024 15:04:05 europe/paris", want: "2024-01-02T15:04:05Z"},
		{name: "slash date", in: "2024/01/31", want: "2024-01-31T00:00:00Z"},
		{name: "slash minutes", in: "2024/01/31 15:04", want: "2024-01-31T15:04:00Z"},
		{name: "slash seconds", in: "2024/01/31 15:04:05", want: "2024-01-31T15:04:05Z"},
		{name: "slash micro", in: "2023/05/17 21:45:39.123456", want: "2023-05-17T21:45:39.123456Z"},
		{name: "iso date", in: "2024-01-31", want: "2024-01-31T00:00:00Z"},
		{name: "iso minutes", in: "2024-01-31 15:04", want: "2024-01-31T15:04:00Z"},
		{name: "iso space", in: "2024-01-31 15:04:05", want: "2024-01-31T15:04:05Z"},
		{name: "iso space comma millis", in: "2024-01-31 15:04:05,123", want: "2024-01-31T15:04:05.123Z"},
		{name: "iso space one digit hour", in: "2024-01-31  9:04:05", want: "2024-01-31T09:04:05Z"},
		{name: "iso T no zone", in: "2024-01-31T15:04:05", want: "2024-01-31T15:04:05Z"},
		{name: "iso T micro no zone", in: "2024-01-31T15:04:05.123456", want: "2024-01-31T15:04:05.123456Z"},
		{name: "epoch", in: "1700000000", want: "2023-11-14T22:13:20Z"},
		{name: "epoch fraction ignored", in: "1700000000.987", want: "2023-11-14T22:13:20Z"},
		{name: "epoch zero", in: "0", fallback: true},
		{name: "epoch negative", in: "-5", fallback: true},
		{name: "garbage", in: "not a date", fallback: true},
		{name: "empty", in: "", fallback: true},
		{name: "format first", in: "2024-01-31T15:04:05.12Z", format: "2006-01-02T15:04:05.999Z", want: "2024-01-31T15:04:05.12Z"},
		{name: "format wins over layouts", in: "01/02/2024 15:04:05", format: "02/01/2006 15:04:05", want: "2024-02-01T15:04:05Z"},
		{name: "format yearless", in: "31.01 15:04", format: "02.01 15:04", want: "2026-01-31T15:04:00Z"},
		{name: "format mismatch falls back to layouts", in: "2024-01-31 15:04:05", format: "Jan 2", want: "2024-01-31T15:04:05Z"},
	}
	set, err := New(Config{Now: func() time.Time { return testNow }})
	require.NoError(t, err)
	m, ok := set.Method(MethodParseDate)
	require.True(t, ok)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, mode := range []int{event.LIVE, event.TIMEMACHINE} {
				evt := event.New(event.Line{Raw: "x"})
				evt.ExpectMode = mode
				evt.StrTimeFormat = tc.format
				out, err := results(m, tc.in, evt)
				require.NoError(t, err)
				if tc.fallback {
					require.Equal(t, map[string]string{"MarshaledTime": "2026-03-01T12:00:00Z"}, out)
					require.True(t, evt.Time.IsZero(), "evt.Time is left alone on fallback")
					continue
				}
				require.Equal(t, map[string]string{"MarshaledTime": tc.want}, out)
				if mode == event.TIMEMACHINE {
					require.Equal(t, tc.want, marshalTime(evt.Time))
				} else {
					require.True(t, evt.Time.IsZero(), "live mode keeps the acquisition time")
				}
			}
			requireSameAsReference(t, tc.in, tc.format)
		})
	}
}

func TestParseDateError(t *testing.T) {
	t.Parallel()
	_, err := ParseDate("nope", "", testNow)
	require.ErrorIs(t, err, errNoDate)
	require.ErrorContains(t, err, `enrich: no date layout matches: "nope"`)
}

// TestParseDateFastPathEdges runs inputs near the hand-written parsers'
// boundaries through the reference comparison.
func TestParseDateFastPathEdges(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"00/Jan/2024:00:00:00 +0000", "31/Apr/2024:00:00:00 +0000", "29/Feb/2023:00:00:00 +0000",
		"29/Feb/2024:23:59:59 +2400", "29/Feb/2024:23:59:59 +2500", "01/Jan/2024:24:00:00 +0000",
		"01/Jan/0000:00:00:00 +0000", "01/Jan/0001:00:00:00 +0000", "01/Jan/2024:00:00:60 +0000",
		"01/Jan/2024:00:00:00 +0060", "01/Jan/2024:00:00:00 +0061", "01/Jan/2024:00:00:00 -0000",
		"01/Jan/2024:00:00:00 *0000", "01/JAN/2024:00:00:00 +0000", "01/Jan/2024:00:00:00  +0000",
		"Jan  0 00:00:00", "Jan 00 00:00:00", "Jan 32 00:00:00", "Jan 31 23:59:59", "Jan 31 24:00:00",
		"Feb 29 00:00:00", "Jan 1 00:00:00", "jan  1 00:00:00", "Jan  1 00:00:00.", "Jan  1 00:00:00.1234567891234",
		"Jan  1 00:00:00,5", "Jan  1 00:00:00.5x", "Jan  1 00:00:00 ", "Jan  1 0:00:00", "Jan \t1 00:00:00",
		"0000-01-01 00:00:00", "0001-01-01 00:00:00", "2024-02-30 00:00:00", "2024-13-01 00:00:00",
		"2024-00-01 00:00:00", "2024-01-01 00:00:00.", "2024-01-01 00:00:00,123456789123", "2024-01-01 00:00:00 +0100",
		"2024-01-01 00:00:00.1 +0100 CET", "2024-01-01 00:00", "2024-01-01 00:00:00Z", "2024-01-01T00:00:00+01:00",
		"0001-01-01T00:00:00Z", "0000-01-01T00:00:00Z",
	} {
		requireSameAsReference(t, s, "")
	}
}

// TestParseDateHubLogs takes the timestamps of the hub's test logs (syslog,
// common log format, ISO 8601 prefixes) and checks that each parses, the
// same way as the reference.
func TestParseDateHubLogs(t *testing.T) {
	t.Parallel()
	logs, err := filepath.Glob(filepath.Join(testutil.Hub(t), "tests", "*", "*.log"))
	require.NoError(t, err)
	require.NotEmpty(t, logs)
	extract := []*regexp.Regexp{
		regexp.MustCompile(`^([A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d)`),
		regexp.MustCompile(`\[(\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\]`),
		regexp.MustCompile(`^\[?(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:\d\d)?)[\] |]`),
		regexp.MustCompile(`^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d)`),
	}
	seen := 0
	for _, p := range logs {
		f, err := os.Open(p)
		require.NoError(t, err)
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			for _, re := range extract {
				m := re.FindStringSubmatch(sc.Text())
				if m == nil {
					continue
				}
				_, err := ParseDate(m[1], "", testNow)
				require.NoError(t, err, "%s: %q", filepath.Base(p), m[1])
				requireSameAsReference(t, m[1], "")
				seen++
			}
		}
		require.NoError(t, sc.Err())
		require.NoError(t, f.Close())
	}
	require.Greater(t, seen, 500, "too few timestamps found in the hub logs")
}

func FuzzParseDate(f *testing.F) {
	for _, s := range []string{
		"12/Feb/2024:14:10:21 +0100", "Feb 12 14:10:21", "Feb  2 14:10:21.123", "2024-01-31 15:04:05",
		"2024-01-31 15:04:05,123", "2024-02-12T14:10:21Z", "1700000000.5", "Mon Jun 9 12:00:00 2025",
		"01/02/2024 15:04:05", "2024/01/31 15:04", "", "Feb 29 00:00:00",
	} {
		f.Add(s, "")
	}
	f.Add("31.01 15:04", "02.01 15:04")
	f.Fuzz(func(t *testing.T, s, format string) {
		requireSameAsReference(t, s, format)
	})
}

var sinkTime time.Time

func BenchmarkParseDate(b *testing.B) {
	for _, bc := range []struct{ name, in string }{
		{"nginx", "12/Feb/2024:14:10:21 +0100"},
		{"syslog", "Feb  2 14:10:21"},
		{"rfc3339", "2024-02-12T14:10:21.123Z"},
		{"iso_space", "2024-01-31 15:04:05,123"},
		{"slash", "2024/01/31 15:04:05"},
		{"epoch", "1700000000"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				t, err := ParseDate(bc.in, "", testNow)
				if err != nil {
					b.Fatal(err)
				}
				sinkTime = t
			}
		})
	}
}

// TestParseDateMethodMemo runs sequences of dates through one method (its
// memo of the last date) and checks every result against a fresh parse,
// across repeated values, format changes, failures and a new year.
func TestParseDateMethodMemo(t *testing.T) {
	t.Parallel()
	type step struct {
		in, format string
		year       int // the clock's year (0: 2026)
		want       string
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{name: "repeated nginx", steps: []step{
			{in: "12/Feb/2024:14:10:21 +0100", want: "2024-02-12T14:10:21+01:00"},
			{in: "12/Feb/2024:14:10:21 +0100", want: "2024-02-12T14:10:21+01:00"},
			{in: "12/Feb/2024:14:10:22 +0100", want: "2024-02-12T14:10:22+01:00"},
			{in: "12/Feb/2024:14:10:21 +0100", want: "2024-02-12T14:10:21+01:00"},
		}},
		{name: "yearless takes the clock's year each time", steps: []step{
			{in: "Feb 12 14:10:21", want: "2026-02-12T14:10:21Z"},
			{in: "Feb 12 14:10:21", want: "2026-02-12T14:10:21Z"},
			{in: "Feb 12 14:10:21", year: 2027, want: "2027-02-12T14:10:21Z"},
			{in: "Feb 12 14:10:21", year: 2027, want: "2027-02-12T14:10:21Z"},
		}},
		{name: "same value other format", steps: []step{
			{in: "01/02/2024 15:04:05", want: "2024-01-02T15:04:05Z"},
			{in: "01/02/2024 15:04:05", format: "02/01/2006 15:04:05", want: "2024-02-01T15:04:05Z"},
			{in: "01/02/2024 15:04:05", want: "2024-01-02T15:04:05Z"},
		}},
		{name: "a failure is not kept", steps: []step{
			{in: "2024-01-31 15:04:05", want: "2024-01-31T15:04:05Z"},
			{in: "not a date", want: "2026-03-01T12:00:00Z"},
			{in: "not a date", year: 2027, want: "2027-03-01T12:00:00Z"},
			{in: "2024-01-31 15:04:05", want: "2024-01-31T15:04:05Z"},
		}},
		{name: "yearless format", steps: []step{
			{in: "31.01 15:04", format: "02.01 15:04", want: "2026-01-31T15:04:00Z"},
			{in: "31.01 15:04", format: "02.01 15:04", year: 2030, want: "2030-01-31T15:04:00Z"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			now := testNow
			set, err := New(Config{Now: func() time.Time { return now }})
			require.NoError(t, err)
			m, ok := set.Method(MethodParseDate)
			require.True(t, ok)
			for i, st := range tc.steps {
				now = testNow
				if st.year != 0 {
					now = testNow.AddDate(st.year-testNow.Year(), 0, 0)
				}
				evt := event.New(event.Line{Raw: "x"})
				evt.ExpectMode = event.TIMEMACHINE
				evt.StrTimeFormat = st.format
				out, err := results(m, st.in, evt)
				require.NoError(t, err)
				require.Equal(t, map[string]string{"MarshaledTime": st.want}, out, "step %d", i)
			}
		})
	}
}

// BenchmarkParseDateMethod: "repeated" is a busy log (the same timestamp
// line after line: the memo answers), "changing" a new timestamp on every
// call (a parse and a format each time).
func BenchmarkParseDateMethod(b *testing.B) {
	for _, bc := range []struct {
		name string
		ins  []string
	}{
		{name: "repeated", ins: []string{"12/Feb/2024:14:10:21 +0100"}},
		{name: "changing", ins: []string{"12/Feb/2024:14:10:21 +0100", "12/Feb/2024:14:10:22 +0100"}},
		{name: "syslog-repeated", ins: []string{"Feb 12 14:10:21"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			set, err := New(Config{Now: func() time.Time { return testNow }})
			require.NoError(b, err)
			m, _ := set.Method(MethodParseDate)
			evt := event.New(event.Line{})
			evt.ExpectMode = event.TIMEMACHINE
			out := make([]string, len(m.Outputs))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := m.Run(bc.ins[i%len(bc.ins)], evt, out); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
