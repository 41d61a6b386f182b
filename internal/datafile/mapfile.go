package datafile

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// parseMapRow decodes one JSON line of a map file. "pattern", "tag" and
// "type" (equals, contains or regex) are mandatory, as upstream.
func parseMapRow(line string) (map[string]string, error) {
	var row map[string]string
	if err := json.Unmarshal([]byte(line), &row); err != nil {
		return nil, fmt.Errorf("bad json line: %w", err)
	}
	for _, k := range [...]string{"pattern", "tag", "type"} {
		if row[k] == "" {
			return nil, fmt.Errorf("missing mandatory %q field", k)
		}
	}
	switch row["type"] {
	case "equals", "contains", "regex":
	default:
		return nil, fmt.Errorf("unknown entry type %q", row["type"])
	}
	return row, nil
}

// mapIndex answers Store.Lookup; immutable once built.
type mapIndex struct {
	equals   map[string]string // pattern -> tag (first row wins)
	contains []string          // patterns, in file order
	cTags    []string
	cIndex   *Substrings // over contains
	regexps  []*regexp.Regexp
	rTags    []string
}

func buildIndex(rows []map[string]string) (*mapIndex, error) {
	idx := &mapIndex{equals: make(map[string]string)}
	for i, r := range rows {
		switch r["type"] {
		case "equals":
			if _, dup := idx.equals[r["pattern"]]; !dup {
				idx.equals[r["pattern"]] = r["tag"]
			}
		case "contains":
			idx.contains = append(idx.contains, r["pattern"])
			idx.cTags = append(idx.cTags, r["tag"])
		case "regex":
			re, err := regexp.Compile(r["pattern"])
			if err != nil {
				return nil, fmt.Errorf("row %d: %w", i+1, err)
			}
			idx.regexps = append(idx.regexps, re)
			idx.rTags = append(idx.rTags, r["tag"])
		default:
			return nil, errors.New("unreachable: row type checked at parse")
		}
	}
	idx.cIndex = NewSubstrings(idx.contains, false)
	return idx, nil
}

func (m *mapIndex) lookup(h string) (string, bool) {
	if tag, ok := m.equals[h]; ok {
		return tag, true
	}
	best, bestAt := -1, len(h)+1
	// Leftmost occurrence, then the row listed first.
	m.cIndex.Each(h, func(id, end int) bool {
		if at := end - m.cIndex.Len(id); at < bestAt || (at == bestAt && id < best) {
			best, bestAt = id, at
		}
		return true
	})
	if best >= 0 {
		return m.cTags[best], true
	}
	for i, re := range m.regexps {
		if re.MatchString(h) {
			return m.rTags[i], true
		}
	}
	return "", false
}

// lookupPlain is lookup without the contains index (the reference).
func (m *mapIndex) lookupPlain(h string) (string, bool) {
	if tag, ok := m.equals[h]; ok {
		return tag, true
	}
	best, bestAt := -1, len(h)+1
	for i, p := range m.contains {
		// Only a match starting before the best one so far can win.
		limit := bestAt + len(p) - 1
		if limit > len(h) {
			limit = len(h)
		}
		if at := strings.Index(h[:limit], p); at >= 0 && at < bestAt {
			best, bestAt = i, at
			if at == 0 {
				break
			}
		}
	}
	if best >= 0 {
		return m.cTags[best], true
	}
	for i, re := range m.regexps {
		if re.MatchString(h) {
			return m.rTags[i], true
		}
	}
	return "", false
}
