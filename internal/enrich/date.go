package enrich

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/phalanx-ids/phalanx/internal/event"
)

// dateLayouts are the layouts the ParseDate method tries, in this order, when
// evt.StrTimeFormat is empty or does not match (CrowdSec's dateparse
// enricher tries the same list in the same order; the first match wins).
var dateLayouts = [...]string{
	time.RFC3339,
	"02/Jan/2006:15:04:05 -0700",
	"Mon Jan 2 15:04:05 2006",
	"02-Jan-2006 15:04:05 europe/paris",
	"01/02/2006 15:04:05",
	"2006-01-02 15:04:05.999999999 -0700 MST",
	"Jan  2 15:04:05",
	"Mon Jan 02 15:04:05.000000 2006",
	"2006-01-02T15:04:05Z07:00",
	"2006/01/02",
	"2006/01/02 15:04",
	"2006-01-02",
	"2006-01-02 15:04",
	"2006/01/02 15:04:05",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05",
}

// Every layout above starts with either a numeric field (02, 01, 2006) or a
// name (Mon, Jan), and time.Parse rejects a value whose first byte does not
// fit. So a value starting with a digit can only match the digit layouts and
// one starting with a letter only the name layouts; the order inside each
// list is the upstream order.
var (
	digitLayouts = [...]string{
		time.RFC3339,
		"02/Jan/2006:15:04:05 -0700",
		"02-Jan-2006 15:04:05 europe/paris",
		"01/02/2006 15:04:05",
		"2006-01-02 15:04:05.999999999 -0700 MST",
		"2006-01-02T15:04:05Z07:00",
		"2006/01/02",
		"2006/01/02 15:04",
		"2006-01-02",
		"2006-01-02 15:04",
		"2006/01/02 15:04:05",
		"2006-01-02 15:04:05",
		"2006-01-02T15:04:05",
	}
	letterLayouts = [...]string{
		"Mon Jan 2 15:04:05 2006",
		"Jan  2 15:04:05",
		"Mon Jan 02 15:04:05.000000 2006",
	}
)

// errNoDate is returned by ParseDate when no layout matches.
var errNoDate = errors.New("enrich: no date layout matches")

// ParseDate parses a log timestamp: format first if not empty, then the
// known layouts, then a unix epoch. A layout without a year takes now's year.
//
// Layouts are tried in CrowdSec's order; the first that parses to a non-zero
// time wins. Times without a zone are UTC; times with a numeric offset keep
// it. The epoch form is decimal seconds (an optional fractional part after
// the first '.' is ignored, as upstream does), strictly positive, returned in
// UTC. Milliseconds are not detected: a 13-digit value is taken as seconds,
// like upstream.
func ParseDate(s, format string, now time.Time) (time.Time, error) {
	return parseDate(s, format, &yearOf{year: now.UTC().Year(), used: true})
}

// yearOf is the year yearless dates take: now's, read on first need (most
// timestamps carry their year), and whether a parse needed it.
type yearOf struct {
	now  func() time.Time
	year int
	used bool
}

func (y *yearOf) get() int {
	if !y.used {
		y.year, y.used = y.now().UTC().Year(), true
	}
	return y.year
}

func parseDate(s, format string, year *yearOf) (time.Time, error) {
	if format != "" {
		if t, ok := parseLayout(format, s, year); ok {
			return t, nil
		}
	}
	if t, ok := parseKnown(s, year); ok {
		return t, nil
	}
	if t, ok := parseEpoch(s); ok {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%w: %q", errNoDate, s)
}

// parseDateMethod is the ParseDate enrichment method: it writes
// MarshaledTime (RFC3339 with nanoseconds when present, the zone the date
// carried, UTC otherwise) and, in time-machine mode, sets evt.Time. When
// nothing parses, MarshaledTime is now (UTC) and evt.Time is left alone, as
// upstream does.
//
// Consecutive lines mostly carry the same timestamp (a busy log writes
// many lines a second): the last date parsed is kept (dateMemo, one per
// P through a sync.Pool, so parse workers do not evict each other's), and
// the same value and format give the same time without parsing or
// formatting again. A yearless date is reused only in the same year.
func parseDateMethod(now func() time.Time) Method {
	var memos sync.Pool // *dateMemo
	return Method{Outputs: []string{"MarshaledTime"}, Run: func(value string, evt *event.Event, out []string) (bool, error) {
		year := yearOf{now: now}
		if value != "" {
			format := ""
			if evt != nil {
				format = evt.StrTimeFormat
			}
			m, _ := memos.Get().(*dateMemo)
			if m == nil {
				m = &dateMemo{}
			}
			t, marshaled, ok := m.parse(value, format, &year)
			memos.Put(m)
			if ok {
				if evt != nil && evt.ExpectMode == event.TIMEMACHINE {
					evt.Time = t
				}
				out[0] = marshaled
				return true, nil
			}
		}
		out[0] = marshalTime(now().UTC())
		return true, nil
	}}
}

// dateMemo is the last date a ParseDate method parsed: its input (value,
// format, and the year it took when it had none: yearless) and its
// results.
type dateMemo struct {
	value, format string
	yearless      bool
	year          int
	set           bool
	t             time.Time
	marshaled     string
}

// parse is parseDate and marshalTime, answered from m when value and
// format are the last ones (and, for a yearless date, the year is the
// same); ok false: nothing parses (not kept).
func (m *dateMemo) parse(value, format string, year *yearOf) (time.Time, string, bool) {
	if m.set && m.value == value && m.format == format && (!m.yearless || year.get() == m.year) {
		return m.t, m.marshaled, true
	}
	t, err := parseDate(value, format, year)
	if err != nil {
		return time.Time{}, "", false
	}
	*m = dateMemo{value: value, format: format, yearless: year.used, year: year.year, set: true, t: t, marshaled: marshalTime(t)}
	return t, m.marshaled, true
}

// marshalTime formats t like time.Time.MarshalText (RFC3339 with as many
// fractional digits as needed), without MarshalText's year-range error.
func marshalTime(t time.Time) string {
	var buf [40]byte
	return string(t.AppendFormat(buf[:0], time.RFC3339Nano))
}

// parseLayout parses s with one layout, CrowdSec style: a zero result is a
// failure, and year 0 (layouts without a year) becomes year.
func parseLayout(layout, s string, year *yearOf) (time.Time, bool) {
	t, err := time.Parse(layout, s)
	if err != nil || t.IsZero() {
		return time.Time{}, false
	}
	return fixYear(t, year), true
}

func fixYear(t time.Time, year *yearOf) time.Time {
	if t.Year() == 0 {
		return t.AddDate(year.get(), 0, 0)
	}
	return t
}

// parseKnown tries the known layouts, with hand-written parsers for the hot
// shapes first. A fast parser only answers when its answer is the one the
// layout list would give; otherwise it declines and the list decides.
func parseKnown(s string, year *yearOf) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	c := s[0]
	switch {
	case isDigit(c):
		if epochLike(s) {
			return time.Time{}, false
		}
		if t, ok := fastNginx(s); ok {
			return t, true
		}
		if t, ok := fastISOSpace(s); ok {
			return t, true
		}
		for _, l := range digitLayouts {
			if t, ok := parseLayout(l, s, year); ok {
				return t, true
			}
		}
	case isLetter(c):
		if t, ok := fastSyslog(s, year); ok {
			return t, true
		}
		for _, l := range letterLayouts {
			if t, ok := parseLayout(l, s, year); ok {
				return t, true
			}
		}
	}
	return time.Time{}, false
}

// parseEpoch parses unix seconds; anything from the first '.' on is ignored.
func parseEpoch(s string) (time.Time, bool) {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		s = s[:i]
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil || sec <= 0 {
		return time.Time{}, false
	}
	return time.Unix(sec, 0).UTC(), true
}

// epochLike reports whether s starts with five digits or is all digits:
// every digit layout has a '/' or '-' at index 2 or 4, so no layout can
// match and only the epoch form is left.
func epochLike(s string) bool {
	n := 0
	for n < len(s) && n < 5 && isDigit(s[n]) {
		n++
	}
	return n == 5 || n == len(s)
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }

func num2(s string, i int) (int, bool) {
	a, b := s[i], s[i+1]
	if !isDigit(a) || !isDigit(b) {
		return 0, false
	}
	return int(a-'0')*10 + int(b-'0'), true
}

func num4(s string, i int) (int, bool) {
	h, ok1 := num2(s, i)
	l, ok2 := num2(s, i+2)
	return h*100 + l, ok1 && ok2
}

// month3 maps a capitalised English month abbreviation to its number.
// time.Parse also accepts other cases; those go to the slow path.
func month3(s string) (time.Month, bool) {
	switch s {
	case "Jan":
		return time.January, true
	case "Feb":
		return time.February, true
	case "Mar":
		return time.March, true
	case "Apr":
		return time.April, true
	case "May":
		return time.May, true
	case "Jun":
		return time.June, true
	case "Jul":
		return time.July, true
	case "Aug":
		return time.August, true
	case "Sep":
		return time.September, true
	case "Oct":
		return time.October, true
	case "Nov":
		return time.November, true
	case "Dec":
		return time.December, true
	}
	return 0, false
}

// clock parses "hh:mm:ss" at s[i:i+8] with time.Parse's ranges.
func clock(s string, i int) (h, m, sec int, ok bool) {
	if s[i+2] != ':' || s[i+5] != ':' {
		return 0, 0, 0, false
	}
	h, ok1 := num2(s, i)
	m, ok2 := num2(s, i+3)
	sec, ok3 := num2(s, i+6)
	if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || sec > 59 {
		return 0, 0, 0, false
	}
	return h, m, sec, true
}

// fraction parses what time.Parse accepts right after a seconds field: a
// '.' or ',' then digits up to the end of s (only the first nine count).
// An empty s is zero nanoseconds.
func fraction(s string) (int, bool) {
	if s == "" {
		return 0, true
	}
	if len(s) < 2 || (s[0] != '.' && s[0] != ',') {
		return 0, false
	}
	ns, n := 0, 0
	for i := 1; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		if n < 9 {
			ns = ns*10 + int(s[i]-'0')
			n++
		}
	}
	for ; n < 9; n++ {
		ns *= 10
	}
	return ns, true
}

// validDate builds the date and reports whether the day exists in that
// month (time.Parse's "day out of range" check).
func validDate(year int, month time.Month, day, h, m, sec, ns int, loc *time.Location) (time.Time, bool) {
	if day < 1 || day > 31 {
		return time.Time{}, false
	}
	t := time.Date(year, month, day, h, m, sec, ns, loc)
	if t.Day() != day {
		return time.Time{}, false
	}
	return t, true
}

// fastNginx parses exactly "02/Jan/2006:15:04:05 -0700" (the common log
// format). RFC3339, the only layout tried before it, cannot match this shape.
func fastNginx(s string) (time.Time, bool) {
	if len(s) != 26 || s[2] != '/' || s[6] != '/' || s[11] != ':' || s[20] != ' ' {
		return time.Time{}, false
	}
	day, ok := num2(s, 0)
	if !ok {
		return time.Time{}, false
	}
	month, ok := month3(s[3:6])
	if !ok {
		return time.Time{}, false
	}
	year, ok := num4(s, 7)
	if !ok || year == 0 {
		return time.Time{}, false
	}
	h, m, sec, ok := clock(s, 12)
	if !ok {
		return time.Time{}, false
	}
	oh, ok1 := num2(s, 22)
	om, ok2 := num2(s, 24)
	if !ok1 || !ok2 || oh > 24 || om > 60 {
		return time.Time{}, false
	}
	off := (oh*60 + om) * 60
	switch s[21] {
	case '+':
	case '-':
		off = -off
	default:
		return time.Time{}, false
	}
	loc := time.UTC
	if off != 0 {
		loc = time.FixedZone("", off)
	}
	t, ok := validDate(year, month, day, h, m, sec, 0, loc)
	if !ok || t.IsZero() {
		return time.Time{}, false
	}
	return t, true
}

// fastSyslog parses "Jan _2 15:04:05" with an optional fraction (the
// "Jan  2 15:04:05" layout). The only layout before it needs a weekday
// name first, which a month name is not.
func fastSyslog(s string, year *yearOf) (time.Time, bool) {
	if len(s) < 15 || s[3] != ' ' || s[6] != ' ' {
		return time.Time{}, false
	}
	month, ok := month3(s[:3])
	if !ok {
		return time.Time{}, false
	}
	var day int
	switch {
	case s[4] == ' ' && isDigit(s[5]):
		day = int(s[5] - '0')
	case isDigit(s[4]) && isDigit(s[5]):
		day = int(s[4]-'0')*10 + int(s[5]-'0')
	default:
		return time.Time{}, false
	}
	h, m, sec, ok := clock(s, 7)
	if !ok {
		return time.Time{}, false
	}
	ns, ok := fraction(s[15:])
	if !ok {
		return time.Time{}, false
	}
	t, ok := validDate(0, month, day, h, m, sec, ns, time.UTC)
	if !ok {
		return time.Time{}, false
	}
	return t.AddDate(year.get(), 0, 0), true
}

// fastISOSpace parses "2006-01-02 15:04:05" with an optional fraction (the
// "2006-01-02 15:04:05" layout). Every earlier layout needs either a 'T',
// a '/', a month name, a zone or fewer fields, so none can match.
func fastISOSpace(s string) (time.Time, bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' {
		return time.Time{}, false
	}
	year, ok := num4(s, 0)
	if !ok {
		return time.Time{}, false
	}
	mo, ok := num2(s, 5)
	if !ok || mo < 1 || mo > 12 {
		return time.Time{}, false
	}
	day, ok := num2(s, 8)
	if !ok {
		return time.Time{}, false
	}
	h, m, sec, ok := clock(s, 11)
	if !ok {
		return time.Time{}, false
	}
	ns, ok := fraction(s[19:])
	if !ok {
		return time.Time{}, false
	}
	t, ok := validDate(year, time.Month(mo), day, h, m, sec, ns, time.UTC)
	if !ok || t.IsZero() || year == 0 {
		return time.Time{}, false
	}
	return t, true
}
