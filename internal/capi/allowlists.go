package capi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/phalanx-ids/phalanx/internal/allowlist"
	"github.com/phalanx-ids/phalanx/internal/capi/wire"
	"github.com/phalanx-ids/phalanx/internal/store"
)

// applyAllowlist fetches a centralized allowlist the stream links to
// (JSON lines: {"value", "description", "expiration"}) and makes it the
// local allowlist of that name, replacing its content (as CrowdSec does);
// then the active decisions it covers expire. A link whose URL and
// updated_at are those of the last fetch is not fetched again. It
// returns the number of items (-1: not fetched).
func (s *Service) applyAllowlist(ctx context.Context, l wire.AllowlistLink) (int, error) {
	if l.Name == "" {
		return 0, errors.New("link without a name")
	}
	key := l.URL + "|" + l.UpdatedAt
	if s.allowMod[l.Name] == key {
		return -1, nil
	}
	lines, _, _, err := s.cl.FetchList(ctx, l.URL, time.Time{})
	if err != nil {
		return 0, err
	}
	now := s.now()
	items, bad := ParseAllowlistItems(lines, now)
	if bad > 0 {
		s.log.Warn("capi: allowlist link: lines skipped", "list", l.Name, "skipped", bad)
	}
	if err := s.replaceAllowlist(ctx, l, items); err != nil {
		return 0, err
	}
	if _, err := store.ExpireAllowlisted(ctx, s.d.Store, now, items); err != nil {
		return 0, fmt.Errorf("expire allowlisted decisions: %w", err)
	}
	s.allowMod[l.Name] = key
	return len(items), nil
}

// replaceAllowlist makes items the content of the local allowlist of the
// link's name, in the store and in the LAPI's set.
func (s *Service) replaceAllowlist(ctx context.Context, l wire.AllowlistLink, items []store.AllowlistItem) error {
	st := s.d.Store
	cur, err := st.GetAllowlist(ctx, l.Name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if err := st.CreateAllowlist(ctx, &store.Allowlist{Name: l.Name, Description: l.Description, Items: items}); err != nil {
			return fmt.Errorf("create allowlist: %w", err)
		}
	case err != nil:
		return fmt.Errorf("allowlist: %w", err)
	default:
		keep := map[string]bool{}
		for _, it := range items {
			keep[it.Value] = true
		}
		var gone []string
		for _, it := range cur.Items {
			if !keep[it.Value] {
				gone = append(gone, it.Value)
			}
		}
		if len(gone) > 0 {
			if _, err := st.RemoveAllowlistItems(ctx, l.Name, gone); err != nil {
				return fmt.Errorf("allowlist: %w", err)
			}
		}
		if len(items) > 0 {
			if _, err := st.AddAllowlistItems(ctx, l.Name, items); err != nil {
				return fmt.Errorf("allowlist: %w", err)
			}
		}
	}
	if s.d.Allowlists == nil {
		return nil
	}
	list := allowlist.List{Name: l.Name, ID: l.ID, Description: l.Description, ConsoleManaged: true, UpdatedAt: s.now()}
	for _, it := range items {
		list.Items = append(list.Items, allowlist.Item{Value: it.Value, Comment: it.Comment, CreatedAt: it.CreatedAt, Expiration: it.Expiration})
	}
	return s.d.Allowlists.Put(list)
}

// ParseAllowlistItems reads the lines of a centralized allowlist (one
// JSON item a line: {"value", "description", "expiration"}) at now: the
// items in force (values normalised to a prefix, expired ones left out)
// and how many lines were not items (bad JSON, value or expiry).
func ParseAllowlistItems(lines []string, now time.Time) (items []store.AllowlistItem, bad int) {
	for _, line := range lines {
		var it wire.AllowlistItem
		if err := json.Unmarshal([]byte(line), &it); err != nil {
			bad++
			continue
		}
		p, err := allowlist.ParseValue(it.Value)
		if err != nil {
			bad++
			continue
		}
		item := store.AllowlistItem{Value: p.String(), Comment: it.Description, CreatedAt: now}
		if it.Expiration != "" {
			exp, err := time.Parse(time.RFC3339, it.Expiration)
			if err != nil {
				bad++
				continue
			}
			if !exp.After(now) {
				continue
			}
			item.Expiration = exp
		}
		items = append(items, item)
	}
	return items, bad
}
