package server

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/phalanx-ids/phalanx/internal/central/centralstore"
)

// list is a replica's copy of the community list, following the
// database's feed (whoever the curator is). Stream pulls are served from
// it.
//
// Concurrency: safe for concurrent use; refresh is called by one
// goroutine (the follower loop) and by the curator after it writes.
type list struct {
	st *centralstore.Store

	mu      sync.RWMutex
	entries map[string]centralstore.Listing
	cursor  int64                    // last feed id applied
	recent  []centralstore.FeedEvent // the last maxRecent events, by id
	changed chan struct{}            // closed and replaced at every change
	loaded  bool
	refMu   sync.Mutex // one refresh at a time

	// sorted is entries by IP as of cursor sortedAt, built at the first
	// full pull after a change (full pulls then skip the sort).
	sortMu   sync.Mutex
	sorted   []centralstore.Listing
	sortedAt int64
}

const maxRecent = 200_000

func newList(st *centralstore.Store) *list {
	return &list{st: st, entries: map[string]centralstore.Listing{}, changed: make(chan struct{})}
}

// refresh applies the feed events committed since the last refresh (the
// whole list the first time).
func (l *list) refresh(ctx context.Context) error {
	l.refMu.Lock()
	defer l.refMu.Unlock()
	if !l.loaded {
		_, hi, err := l.st.FeedBounds(ctx)
		if err != nil {
			return err
		}
		ls, err := l.st.Listings(ctx)
		if err != nil {
			return err
		}
		l.mu.Lock()
		for _, e := range ls {
			l.entries[e.IP] = e
		}
		// Listings may already hold changes after hi: applying those
		// events again below is harmless (same final state).
		l.cursor = hi
		l.loaded = true
		l.mu.Unlock()
	}
	for {
		l.mu.RLock()
		after := l.cursor
		l.mu.RUnlock()
		evs, err := l.st.FeedAfter(ctx, after, 5000)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return nil
		}
		l.mu.Lock()
		for _, ev := range evs {
			if ev.Op == "delete" {
				delete(l.entries, ev.IP)
			} else {
				prev := l.entries[ev.IP]
				listed := prev.ListedAt
				if listed.IsZero() {
					listed = ev.At
				}
				l.entries[ev.IP] = centralstore.Listing{IP: ev.IP, Tier: ev.Tier, Scenarios: ev.Scenarios, ListedAt: listed, ExpiresAt: ev.ExpiresAt}
			}
			l.cursor = ev.ID
		}
		l.recent = append(l.recent, evs...)
		if len(l.recent) > maxRecent {
			l.recent = slices.Clone(l.recent[len(l.recent)-maxRecent/2:])
		}
		close(l.changed)
		l.changed = make(chan struct{})
		l.mu.Unlock()
		if len(evs) < 5000 {
			return nil
		}
	}
}

// wait returns a channel closed at the next change after cursor (at once
// when the list is already past it).
func (l *list) wait(cursor int64) <-chan struct{} {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.cursor > cursor {
		c := make(chan struct{})
		close(c)
		return c
	}
	return l.changed
}

// Cursor is the last feed id applied.
func (l *list) Cursor() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.cursor
}

// Len is the number of entries.
func (l *list) Len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.entries)
}

// diff is a stream answer's content.
type diff struct {
	added   []centralstore.Listing
	deleted []string
	cursor  int64
	full    bool
}

// since returns what changed after cursor for an install declaring
// scenarios (nil: all): the whole list when full is asked, when cursor is
// 0 or older than the events kept.
func (l *list) since(cursor int64, full bool, scenarios []string, now time.Time) diff {
	l.mu.RLock()
	defer l.mu.RUnlock()
	want := tailor(scenarios)
	d := diff{cursor: l.cursor}
	if !full && cursor > 0 && cursor < l.cursor {
		if len(l.recent) == 0 || l.recent[0].ID > cursor+1 {
			full = true
		}
	}
	if full || cursor <= 0 {
		d.full = true
		for _, e := range l.sortedEntries() {
			if e.ExpiresAt.After(now) && want(e.Scenarios) {
				d.added = append(d.added, e)
			}
		}
		return d
	}
	i := sort.Search(len(l.recent), func(i int) bool { return l.recent[i].ID > cursor })
	seen := map[string]bool{}
	for j := len(l.recent) - 1; j >= i; j-- {
		ev := l.recent[j]
		if seen[ev.IP] {
			continue
		}
		seen[ev.IP] = true
		if e, ok := l.entries[ev.IP]; ok {
			if e.ExpiresAt.After(now) && want(e.Scenarios) {
				d.added = append(d.added, e)
			}
		} else {
			d.deleted = append(d.deleted, ev.IP)
		}
	}
	sortListings(d.added)
	sort.Strings(d.deleted)
	return d
}

// sortedEntries returns the entries sorted by IP (shared: read only).
// The caller holds l.mu (read): entries do not change meanwhile.
func (l *list) sortedEntries() []centralstore.Listing {
	l.sortMu.Lock()
	defer l.sortMu.Unlock()
	if l.sorted == nil || l.sortedAt != l.cursor {
		s := make([]centralstore.Listing, 0, len(l.entries))
		for _, e := range l.entries {
			s = append(s, e)
		}
		sortListings(s)
		l.sorted, l.sortedAt = s, l.cursor
	}
	return l.sorted
}

func sortListings(ls []centralstore.Listing) {
	slices.SortFunc(ls, func(a, b centralstore.Listing) int {
		if a.IP < b.IP {
			return -1
		}
		if a.IP > b.IP {
			return 1
		}
		return 0
	})
}

// tailor returns the filter of an install's declared scenarios: an entry
// goes to an install that declared one of its scenarios, or to every
// install that declared none.
func tailor(scenarios []string) func([]string) bool {
	if len(scenarios) == 0 {
		return func([]string) bool { return true }
	}
	set := make(map[string]struct{}, len(scenarios))
	for _, s := range scenarios {
		set[s] = struct{}{}
	}
	return func(es []string) bool {
		for _, s := range es {
			if _, ok := set[s]; ok {
				return true
			}
		}
		return false
	}
}
