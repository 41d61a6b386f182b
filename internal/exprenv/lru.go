package exprenv

import (
	"container/list"
	"sync"
	"time"
)

// lru is a size-bounded LRU cache whose entries may expire. Safe for
// concurrent use. Expired entries are dropped when met (Get, eviction).
type lru[K comparable, V any] struct {
	mu    sync.Mutex
	size  int
	ttl   time.Duration // default per-entry TTL; 0: entries never expire
	now   func() time.Time
	items map[K]*list.Element
	order *list.List // front = most recently used
}

type lruEntry[K comparable, V any] struct {
	key K
	val V
	exp time.Time // zero: no expiry
}

func newLRU[K comparable, V any](size int, ttl time.Duration, now func() time.Time) *lru[K, V] {
	if size <= 0 {
		size = 1
	}
	return &lru[K, V]{size: size, ttl: ttl, now: now, items: make(map[K]*list.Element), order: list.New()}
}

// Get returns the live value for k and marks it recently used.
func (c *lru[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero V
	el, ok := c.items[k]
	if !ok {
		return zero, false
	}
	ent := el.Value.(*lruEntry[K, V])
	if !ent.exp.IsZero() && !c.now().Before(ent.exp) {
		c.order.Remove(el)
		delete(c.items, k)
		return zero, false
	}
	c.order.MoveToFront(el)
	return ent.val, true
}

// Set stores k=v with the cache's TTL.
func (c *lru[K, V]) Set(k K, v V) { c.SetTTL(k, v, c.ttl) }

// SetTTL stores k=v expiring after ttl (0: never).
func (c *lru[K, V]) SetTTL(k K, v V, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var exp time.Time
	if ttl > 0 {
		exp = c.now().Add(ttl)
	}
	if el, ok := c.items[k]; ok {
		ent := el.Value.(*lruEntry[K, V])
		ent.val, ent.exp = v, exp
		c.order.MoveToFront(el)
		return
	}
	for c.order.Len() >= c.size {
		back := c.order.Back()
		c.order.Remove(back)
		delete(c.items, back.Value.(*lruEntry[K, V]).key)
	}
	c.items[k] = c.order.PushFront(&lruEntry[K, V]{key: k, val: v, exp: exp})
}

// Len returns the number of entries, expired ones included.
func (c *lru[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
