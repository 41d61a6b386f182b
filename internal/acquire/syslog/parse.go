package syslog

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Message is a parsed syslog message.
type Message struct {
	Format   string // "rfc5424" or "rfc3164"
	Priority int    // -1 when absent
	Time     time.Time
	Host     string
	App      string
	PID      string
	MsgID    string // RFC 5424 only
	Message  string
}

// Line renders m as the classic syslog line hub parsers expect:
// "Jan _2 15:04:05 host prog[pid]: msg" (without "[pid]" when there is
// none, without "prog: " when there is no program). The time is shown in
// loc.
func (m Message) Line(loc *time.Location) string {
	var b strings.Builder
	b.Grow(len(m.Message) + len(m.Host) + len(m.App) + 32)
	b.WriteString(m.Time.In(loc).Format(time.Stamp))
	b.WriteByte(' ')
	b.WriteString(m.Host)
	b.WriteByte(' ')
	if m.App != "" {
		b.WriteString(m.App)
		if m.PID != "" {
			b.WriteByte('[')
			b.WriteString(m.PID)
			b.WriteByte(']')
		}
		b.WriteString(": ")
	}
	b.WriteString(m.Message)
	return b.String()
}

var errNoPri = errors.New("syslog: no <priority>")

// parsePri reads "<N>" (0..191) at the start of b.
func parsePri(b []byte) (int, []byte, error) {
	if len(b) < 3 || b[0] != '<' {
		return 0, b, errNoPri
	}
	end := bytes.IndexByte(b[:min(len(b), 5)], '>')
	if end < 2 {
		return 0, b, errors.New("syslog: bad <priority>")
	}
	n, err := strconv.Atoi(string(b[1:end]))
	if err != nil || n < 0 || n > 191 {
		return 0, b, fmt.Errorf("syslog: bad priority %q", b[1:end])
	}
	return n, b[end+1:], nil
}

// Parse parses an RFC 5424 message, else an RFC 3164 one. now (in loc)
// completes RFC 3164 timestamps, which have no year or zone, and stands in
// for missing ones.
func Parse(b []byte, now time.Time, loc *time.Location) (Message, error) {
	b = bytes.TrimRight(b, "\r\n\x00")
	if m, err := ParseRFC5424(b); err == nil {
		return m, nil
	}
	return ParseRFC3164(b, now, loc)
}

// ParseRFC5424 parses "<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG".
func ParseRFC5424(b []byte) (Message, error) {
	pri, rest, err := parsePri(b)
	if err != nil {
		return Message{}, err
	}
	if len(rest) < 2 || rest[0] != '1' || rest[1] != ' ' {
		return Message{}, errors.New("syslog: not rfc5424 (version)")
	}
	rest = rest[2:]
	m := Message{Format: "rfc5424", Priority: pri}
	var f [5]string
	for i := range f {
		sp := bytes.IndexByte(rest, ' ')
		if sp <= 0 {
			if i == 4 && len(rest) > 0 { // MSGID ends the message
				f[i], rest = string(rest), nil
				break
			}
			return Message{}, fmt.Errorf("syslog: rfc5424: header field %d missing", i+1)
		}
		f[i], rest = string(rest[:sp]), rest[sp+1:]
	}
	if f[0] != "-" {
		t, err := time.Parse(time.RFC3339Nano, f[0])
		if err != nil {
			return Message{}, fmt.Errorf("syslog: rfc5424: timestamp %q: %w", f[0], err)
		}
		m.Time = t
	}
	m.Host, m.App, m.PID, m.MsgID = nilDash(f[1]), nilDash(f[2]), nilDash(f[3]), nilDash(f[4])
	// structured data: "-" or one or more [id k="v" ...] elements
	switch {
	case len(rest) == 0:
	case rest[0] == '-':
		rest = rest[1:]
	case rest[0] == '[':
		n, err := skipSD(rest)
		if err != nil {
			return Message{}, err
		}
		rest = rest[n:]
	default:
		return Message{}, errors.New("syslog: rfc5424: bad structured data")
	}
	if len(rest) > 0 {
		if rest[0] != ' ' {
			return Message{}, errors.New("syslog: rfc5424: no space before message")
		}
		rest = rest[1:]
	}
	rest = bytes.TrimPrefix(rest, []byte("\xef\xbb\xbf")) // BOM
	m.Message = validUTF8(rest)
	return m, nil
}

// skipSD returns the length of the SD elements at the start of b.
func skipSD(b []byte) (int, error) {
	i := 0
	for i < len(b) && b[i] == '[' {
		i++
		inQuote := false
		closed := false
		for i < len(b) {
			c := b[i]
			switch {
			case inQuote && c == '\\' && i+1 < len(b):
				i++
			case c == '"':
				inQuote = !inQuote
			case c == ']' && !inQuote:
				closed = true
			}
			i++
			if closed {
				break
			}
		}
		if !closed {
			return 0, errors.New("syslog: rfc5424: unterminated structured data")
		}
	}
	return i, nil
}

func nilDash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

func validUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

var months = map[string]time.Month{
	"Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6,
	"Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12,
}

// ParseRFC3164 parses "<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG". An RFC 3339
// timestamp is accepted in place of the classic one (rsyslog's high
// precision format); the host may be absent.
func ParseRFC3164(b []byte, now time.Time, loc *time.Location) (Message, error) {
	pri, rest, err := parsePri(b)
	if err != nil {
		return Message{}, err
	}
	m := Message{Format: "rfc3164", Priority: pri}
	t, rest, ok := parse3164Time(rest, now, loc)
	if !ok {
		return Message{}, errors.New("syslog: rfc3164: bad timestamp")
	}
	m.Time = t
	// HOST then TAG: if the first word ends with ':' or has '[', it is the tag
	word, after := cutWord(rest)
	if word == "" {
		return Message{}, errors.New("syslog: rfc3164: no host or tag")
	}
	if !isTag(word) {
		m.Host = word
		rest = after
		word, after = cutWord(rest)
	}
	if isTag(word) {
		tag := strings.TrimSuffix(word, ":")
		if i := strings.IndexByte(tag, '['); i >= 0 && strings.HasSuffix(tag, "]") {
			m.App, m.PID = tag[:i], tag[i+1:len(tag)-1]
		} else {
			m.App = tag
		}
		rest = after
	}
	m.Message = validUTF8(rest)
	return m, nil
}

func isTag(w string) bool {
	return strings.HasSuffix(w, ":") || (strings.Contains(w, "[") && strings.HasSuffix(w, "]:"))
}

func cutWord(b []byte) (string, []byte) {
	b = bytes.TrimLeft(b, " ")
	i := bytes.IndexByte(b, ' ')
	if i < 0 {
		return string(b), nil
	}
	return string(b[:i]), b[i+1:]
}

func parse3164Time(b []byte, now time.Time, loc *time.Location) (time.Time, []byte, bool) {
	// RFC 3339 (rsyslog high precision)
	if len(b) >= 20 && b[4] == '-' && b[10] == 'T' {
		sp := bytes.IndexByte(b, ' ')
		if sp < 0 {
			return time.Time{}, nil, false
		}
		t, err := time.Parse(time.RFC3339Nano, string(b[:sp]))
		if err != nil {
			return time.Time{}, nil, false
		}
		return t, b[sp+1:], true
	}
	// "Mmm dd hh:mm:ss " with dd space- or zero-padded
	if len(b) < 16 || b[3] != ' ' || b[6] != ' ' || b[9] != ':' || b[12] != ':' || b[15] != ' ' {
		return time.Time{}, nil, false
	}
	mon, ok := months[string(b[:3])]
	if !ok {
		return time.Time{}, nil, false
	}
	day, err1 := strconv.Atoi(strings.TrimLeft(string(b[4:6]), " "))
	hh, err2 := strconv.Atoi(string(b[7:9]))
	mm, err3 := strconv.Atoi(string(b[10:12]))
	ss, err4 := strconv.Atoi(string(b[13:15]))
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 {
		return time.Time{}, nil, false
	}
	now = now.In(loc)
	year := now.Year()
	// a December message read in January belongs to last year
	if mon == time.December && now.Month() == time.January {
		year--
	}
	return time.Date(year, mon, day, hh, mm, ss, 0, loc), b[16:], true
}
