package enrich

import (
	"container/list"
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/phalanx-ids/phalanx/internal/event"
)

// Reverse-DNS defaults.
const (
	DefaultDNSTimeout     = time.Second
	DefaultDNSCacheTTL    = 10 * time.Minute
	DefaultDNSNegativeTTL = time.Minute
	DefaultDNSCacheSize   = 10000
)

// addrResolver is the part of *net.Resolver reverse_dns uses.
type addrResolver interface {
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// rdnsCache resolves addresses to their first PTR name, remembering answers
// (TTL) and failures (negative TTL) in a size-bounded LRU. Concurrent
// lookups of the same address share one query.
//
// Concurrency: safe for concurrent use.
type rdnsCache struct {
	res     addrResolver
	timeout time.Duration
	ttl     time.Duration
	negTTL  time.Duration
	size    int
	now     func() time.Time
	logger  *slog.Logger

	mu       sync.Mutex
	lru      *list.List // of *rdnsEntry, most recent first
	entries  map[string]*list.Element
	inflight map[string]*rdnsCall
}

type rdnsEntry struct {
	addr    string
	name    string // "" for a negative entry
	expires time.Time
}

type rdnsCall struct {
	done chan struct{}
	name string
}

func newRDNSCache(res addrResolver, timeout, ttl, negTTL time.Duration, size int, now func() time.Time, logger *slog.Logger) *rdnsCache {
	if timeout <= 0 {
		timeout = DefaultDNSTimeout
	}
	if ttl <= 0 {
		ttl = DefaultDNSCacheTTL
	}
	if negTTL <= 0 {
		negTTL = DefaultDNSNegativeTTL
	}
	if size <= 0 {
		size = DefaultDNSCacheSize
	}
	return &rdnsCache{
		res: res, timeout: timeout, ttl: ttl, negTTL: negTTL, size: size, now: now, logger: logger,
		lru:      list.New(),
		entries:  make(map[string]*list.Element),
		inflight: make(map[string]*rdnsCall),
	}
}

// lookup returns the first PTR name of addr ("" when there is none, the
// query failed or timed out).
func (c *rdnsCache) lookup(addr string) string {
	now := c.now()
	c.mu.Lock()
	if el, ok := c.entries[addr]; ok {
		e := el.Value.(*rdnsEntry)
		if now.Before(e.expires) {
			c.lru.MoveToFront(el)
			c.mu.Unlock()
			return e.name
		}
		c.lru.Remove(el)
		delete(c.entries, addr)
	}
	if call, ok := c.inflight[addr]; ok {
		c.mu.Unlock()
		<-call.done
		return call.name
	}
	call := &rdnsCall{done: make(chan struct{})}
	c.inflight[addr] = call
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	names, err := c.res.LookupAddr(ctx, addr)
	cancel()
	ttl := c.ttl
	if err != nil || len(names) == 0 {
		c.logger.Debug("reverse dns: no answer", "ip", addr, "err", err)
		ttl = c.negTTL
	} else {
		call.name = names[0]
	}

	c.mu.Lock()
	delete(c.inflight, addr)
	c.entries[addr] = c.lru.PushFront(&rdnsEntry{addr: addr, name: call.name, expires: c.now().Add(ttl)})
	for c.lru.Len() > c.size {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.entries, old.Value.(*rdnsEntry).addr)
	}
	c.mu.Unlock()
	close(call.done)
	return call.name
}

// len returns the number of cached entries.
func (c *rdnsCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// reverseDNSMethod writes reverse_dns, the first PTR name of the address
// (with its trailing dot), when there is one.
func reverseDNSMethod(c *rdnsCache) Method {
	return Method{Outputs: []string{"reverse_dns"}, Run: func(value string, _ *event.Event, out []string) (bool, error) {
		if value == "" || c == nil {
			return false, nil
		}
		ip, ok := parseIP(value)
		if !ok {
			return false, nil
		}
		name := c.lookup(ip.String())
		if name == "" {
			return false, nil
		}
		out[0] = name
		return true, nil
	}}
}

// noopRun is the Run of a registered method that enriches nothing (a
// disabled feature).
func noopRun(string, *event.Event, []string) (bool, error) { return false, nil }
