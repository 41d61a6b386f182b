package allowlist

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/phalanx-ids/phalanx/internal/duration"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
)

// wireTime is the date-time format of the LAPI (go-openapi strfmt,
// RFC 3339 with milliseconds).
const wireTime = "2006-01-02T15:04:05.000Z07:00"

// ParseCSV reads the `cscli allowlists import` CSV shape: a header line with
// a `value` column and optional `expiration` (a duration from now: "1h",
// "7d", "1d12h"; empty: never) and `comment` columns, in any order. Every
// value must parse (ParseValue); errors give the line.
func ParseCSV(r io.Reader, now time.Time) ([]Item, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	head, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("allowlist: csv: empty input (a header with a value column is required)")
	}
	if err != nil {
		return nil, fmt.Errorf("allowlist: csv: %w", err)
	}
	col := map[string]int{"value": -1, "expiration": -1, "comment": -1}
	for i, h := range head {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if _, ok := col[h]; ok && col[h] < 0 {
			col[h] = i
		}
	}
	if col["value"] < 0 {
		return nil, errors.New("allowlist: csv: line 1: no value column in the header")
	}
	field := func(rec []string, name string) string {
		if i := col[name]; i >= 0 && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var out []Item
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			return nil, fmt.Errorf("allowlist: csv: %w", err)
		}
		v := field(rec, "value")
		if v == "" && len(rec) == 1 {
			continue // blank line
		}
		if _, err := parseValue(v); err != nil {
			return nil, fmt.Errorf("allowlist: csv: line %d: %w", line, err)
		}
		it := Item{Value: v, Comment: field(rec, "comment"), CreatedAt: now}
		if e := field(rec, "expiration"); e != "" {
			d, err := duration.Positive(e)
			if err != nil {
				return nil, fmt.Errorf("allowlist: csv: line %d: expiration: %w", line, err)
			}
			it.Expiration = now.Add(d)
		}
		out = append(out, it)
	}
}

// FromModel converts a wire allowlist (GET /v1/allowlists/{name}, or the
// JSON of `cscli allowlists inspect -o json`) to a List. Values are checked
// (ParseValue); empty or zero ("0001-01-01...") dates mean unset.
func FromModel(m *models.GetAllowlistResponse) (List, error) {
	if m == nil {
		return List{}, errors.New("allowlist: nil allowlist")
	}
	l := List{Name: m.Name, ID: m.AllowlistID, Description: m.Description, ConsoleManaged: m.ConsoleManaged}
	var err error
	if l.CreatedAt, err = parseWireTime(m.CreatedAt); err != nil {
		return List{}, fmt.Errorf("allowlist: %q: created_at: %w", m.Name, err)
	}
	if l.UpdatedAt, err = parseWireTime(m.UpdatedAt); err != nil {
		return List{}, fmt.Errorf("allowlist: %q: updated_at: %w", m.Name, err)
	}
	for i, it := range m.Items {
		if it == nil {
			continue
		}
		if _, err := parseValue(it.Value); err != nil {
			return List{}, fmt.Errorf("allowlist: %q: item %d: %w", m.Name, i+1, err)
		}
		item := Item{Value: it.Value, Comment: it.Description}
		if item.CreatedAt, err = parseWireTime(it.CreatedAt); err != nil {
			return List{}, fmt.Errorf("allowlist: %q: item %d: created_at: %w", m.Name, i+1, err)
		}
		if item.Expiration, err = parseWireTime(it.Expiration); err != nil {
			return List{}, fmt.Errorf("allowlist: %q: item %d: expiration: %w", m.Name, i+1, err)
		}
		l.Items = append(l.Items, item)
	}
	return l, nil
}

// ToModel converts l to its wire shape; withContent includes the items
// (the with_content query parameter).
func ToModel(l List, withContent bool) *models.GetAllowlistResponse {
	m := &models.GetAllowlistResponse{
		Name: l.Name, AllowlistID: l.ID, Description: l.Description, ConsoleManaged: l.ConsoleManaged,
		CreatedAt: formatWireTime(l.CreatedAt), UpdatedAt: formatWireTime(l.UpdatedAt),
	}
	m.Items = []*models.AllowlistItem{} // CrowdSec sends [] without content
	if withContent {
		m.Items = make([]*models.AllowlistItem, len(l.Items))
		for i, it := range l.Items {
			m.Items[i] = &models.AllowlistItem{Value: it.Value, Description: it.Comment,
				CreatedAt: formatWireTime(it.CreatedAt), Expiration: formatWireTime(it.Expiration)}
		}
	}
	return m
}

// parseWireTime reads a wire date ("" and go-openapi's zero date are the
// zero time); store.ParseTime refuses what the store cannot hold.
func parseWireTime(s string) (time.Time, error) {
	if strings.HasPrefix(s, "0001-01-01T") {
		return time.Time{}, nil
	}
	return store.ParseTime(s)
}

func formatWireTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(wireTime)
}
