package exprenv

import (
	"fmt"
	"sync"
	"time"
)

// DefaultStashSize is the size of a stash cache configured with size <= 0
// (the parser `stash:` default).
const DefaultStashSize = 100

// Stash is a set of named TTL caches (parser `stash:` sections,
// GetFromStash/SetInStash). Every strategy is served by an LRU: "LFU" and
// "ARC" are accepted and mapped to LRU. Safe for concurrent use.
type Stash struct {
	mu     sync.RWMutex
	now    func() time.Time
	caches map[string]*lru[string, string]
}

// NewStash returns an empty stash on the wall clock.
func NewStash() *Stash {
	return &Stash{now: time.Now, caches: make(map[string]*lru[string, string])}
}

// SetClock sets the clock that TTLs are measured on (nil: time.Now). Set it
// before use; caches created earlier follow it too.
func (s *Stash) SetClock(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	s.mu.Lock()
	s.now = now
	s.mu.Unlock()
}

func (s *Stash) clock() time.Time {
	s.mu.RLock()
	now := s.now
	s.mu.RUnlock()
	return now()
}

// Configure creates (or keeps, if it exists) the named cache.
// strategy is "LRU" (default), "LFU" or "ARC"; size <= 0 means
// DefaultStashSize; ttl <= 0 means entries never expire.
func (s *Stash) Configure(name string, size int, ttl time.Duration, strategy string) error {
	switch strategy {
	case "", "LRU", "LFU", "ARC":
	default:
		return fmt.Errorf("stash: %s: unknown strategy %q", name, strategy)
	}
	if name == "" {
		return fmt.Errorf("stash: empty cache name")
	}
	if size <= 0 {
		size = DefaultStashSize
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.caches[name]; !ok {
		s.caches[name] = newLRU[string, string](size, ttl, s.clock)
	}
	return nil
}

func (s *Stash) cache(name string) *lru[string, string] {
	s.mu.RLock()
	c := s.caches[name]
	s.mu.RUnlock()
	return c
}

// Set stores key=value in the named cache with the cache's TTL (error if
// the cache is unknown).
func (s *Stash) Set(name, key, value string) error {
	c := s.cache(name)
	if c == nil {
		return fmt.Errorf("stash: unknown cache %q", name)
	}
	c.Set(key, value)
	return nil
}

// SetTTL stores key=value in the named cache, expiring after ttl.
func (s *Stash) SetTTL(name, key, value string, ttl time.Duration) error {
	c := s.cache(name)
	if c == nil {
		return fmt.Errorf("stash: unknown cache %q", name)
	}
	c.SetTTL(key, value, ttl)
	return nil
}

// Get returns the value for key in the named cache.
func (s *Stash) Get(name, key string) (string, bool) {
	c := s.cache(name)
	if c == nil {
		return "", false
	}
	return c.Get(key)
}

// Has reports whether the named cache exists.
func (s *Stash) Has(name string) bool { return s.cache(name) != nil }
