package exprenv

import (
	"context"
	"hash/maphash"
	"net/netip"
	"regexp"
	"strings"
	"sync/atomic"

	"github.com/phalanx-ids/phalanx/internal/datafile"
)

// dataHelpers: lookups in the data files of Deps.Data. A file that is not
// loaded answers empty (upstream logs an error and does the same).
func (e *Env) dataHelpers() []helper {
	return []helper{
		{"File", e.file, []any{new(func(string) []string)}},
		{"RegexpInFile", e.regexpInFile, []any{new(func(string, string) bool)}},
		{"FileMap", e.fileMap, []any{new(func(string) []map[string]string)}},
		{"LookupFile", e.lookupFile, []any{new(func(string, string) string)}},
		{"MatchKnownBot", e.matchKnownBot, []any{new(func(string, string, string, ...string) bool)}},
	}
}

// File(name) []string: the lines of a string data file.
func (e *Env) file(p ...any) (any, error) {
	if e.d.Data != nil {
		if s := e.d.Data.Strings(argStr(p, 0)); s != nil {
			return s, nil
		}
	}
	e.log.Debug("File: data file not loaded", "file", argStr(p, 0))
	return []string{}, nil
}

// regexpCache returns the RegexpInFile result cache of a data file, or nil
// when its spec asks for none (no cache/strategy/size/ttl, or cache: false).
func (e *Env) regexpCache(name string) *resultCache {
	if v, ok := e.reCaches.Load(name); ok {
		c, _ := v.(*resultCache)
		return c
	}
	spec, ok := e.d.Data.Spec(name)
	if !ok {
		return nil
	}
	var c *resultCache
	if (spec.Cache == nil || *spec.Cache) && (spec.Strategy != "" || spec.TTL != "" || spec.Size != nil) {
		size := 50
		if spec.Size != nil && *spec.Size > 0 {
			size = *spec.Size
		}
		c = newResultCache(size)
	}
	v, _ := e.reCaches.LoadOrStore(name, c)
	c, _ = v.(*resultCache)
	return c
}

// resultCache remembers RegexpInFile results by the hash of the string
// matched (maphash, the Env's seed), in a direct-mapped table: a slot
// holds the hash's upper 62 bits, a set bit and the result. A result
// depends on the string and the loaded file only, so which results the
// cache holds changes nothing but the time taken; CrowdSec's strategy
// and TTL (an LRU evicting after ttl) are not kept: a lookup is one
// atomic load, a store one atomic store, without a lock, an allocation
// or a clock read, and a miss costs what the prefiltered match costs.
// Safe for concurrent use.
type resultCache struct {
	slots []atomic.Uint64
	mask  uint64
}

const (
	rcSet    = 2 // the slot holds a result
	rcResult = 1 // ... which is true
	rcMinLen = 64
	rcMaxLen = 1 << 16
)

// newResultCache returns a cache with room for about size results (at
// least rcMinLen slots, four per result against collisions).
func newResultCache(size int) *resultCache {
	n := rcMinLen
	for n < 4*size && n < rcMaxLen {
		n <<= 1
	}
	return &resultCache{slots: make([]atomic.Uint64, n), mask: uint64(n - 1)}
}

// Get returns the result stored for hash h.
func (c *resultCache) Get(h uint64) (result, ok bool) {
	v := c.slots[h&c.mask].Load()
	if v&rcSet == 0 || v>>2 != h>>2 {
		return false, false
	}
	return v&rcResult != 0, true
}

// Set stores the result for hash h (in place of the slot's previous one).
func (c *resultCache) Set(h uint64, result bool) {
	v := h>>2<<2 | rcSet
	if result {
		v |= rcResult
	}
	c.slots[h&c.mask].Store(v)
}

// Len returns the number of results held.
func (c *resultCache) Len() int {
	n := 0
	for i := range c.slots {
		if c.slots[i].Load()&rcSet != 0 {
			n++
		}
	}
	return n
}

// RegexpInFile(s, name) bool: whether any pattern of a regexp data file
// matches s. Results are cached per file when its data spec configures a
// cache (resultCache: the results, not the spec's strategy and TTL).
func (e *Env) regexpInFile(p ...any) (any, error) {
	return e.regexpMatch(argStr(p, 0), argStr(p, 1)), nil
}

// regexpMatch is RegexpInFile(s, name).
func (e *Env) regexpMatch(s, name string) bool {
	f, ok := e.regexpFileOf(name)
	if !ok {
		return false
	}
	return e.matchRegexpFile(f, s)
}

// regexpFile is what RegexpInFile reads of one loaded regexp file: its
// patterns, their indexed form (nil: try them in order, Deps.PlainFilters)
// and its result cache (nil: none). Immutable.
type regexpFile struct {
	res   []*regexp.Regexp
	set   *datafile.RegexpSet
	cache *resultCache
}

// regexpFileOf returns the RegexpInFile state of name; ok false when the
// file is not loaded (RegexpInFile is then false).
func (e *Env) regexpFileOf(name string) (*regexpFile, bool) {
	if e.d.Data == nil {
		return nil, false
	}
	res := e.d.Data.Regexps(name)
	if res == nil {
		e.log.Debug("RegexpInFile: data file not loaded", "file", name)
		return nil, false
	}
	f := &regexpFile{res: res, cache: e.regexpCache(name)}
	if !e.d.PlainFilters {
		f.set = e.d.Data.RegexpSet(name)
	}
	return f, true
}

// matchRegexpFile answers RegexpInFile(s, name) from name's state.
func (e *Env) matchRegexpFile(f *regexpFile, s string) bool {
	var h uint64
	if f.cache != nil {
		h = maphash.String(e.seed, s)
		if v, ok := f.cache.Get(h); ok {
			return v
		}
	}
	matched := false
	if f.set != nil {
		matched = f.set.MatchString(s)
	} else {
		for _, re := range f.res {
			if re.MatchString(s) {
				matched = true
				break
			}
		}
	}
	if f.cache != nil {
		f.cache.Set(h, matched)
	}
	return matched
}

// FileMap(name) []map[string]string: the rows of a map data file.
func (e *Env) fileMap(p ...any) (any, error) {
	if e.d.Data != nil {
		if rows := e.d.Data.MapRows(argStr(p, 0)); rows != nil {
			return rows, nil
		}
	}
	return []map[string]string{}, nil
}

// LookupFile(value, name) string: the tag of the first matching row of a
// map data file (equals, then contains, then regex rows), "" if none.
func (e *Env) lookupFile(p ...any) (any, error) {
	if e.d.Data == nil {
		return "", nil
	}
	tag, _ := e.d.Data.Lookup(argStr(p, 1), argStr(p, 0))
	return tag, nil
}

// MatchKnownBot(ip, ua, path, files...) bool: whether the request comes
// from a known bot of the named "bots" data files: the bot's user_agent and
// paths regexps match, and the source is one of its IPs or ranges, or has a
// forward-confirmed reverse DNS name matching its rdns regexps (needs
// Deps.Resolver). Fails closed: bad address, unknown file or DNS failure
// give false.
func (e *Env) matchKnownBot(p ...any) (any, error) {
	if e.d.Data == nil || len(p) < 4 {
		return false, nil
	}
	addr, ok := datafile.ParseBotAddr(argStr(p, 0))
	if !ok {
		return false, nil
	}
	ua, path := argStr(p, 1), argStr(p, 2)
	var rdns []*datafile.Bot
	for _, name := range variadicStrs(p, 3) {
		for _, b := range e.d.Data.Bots(name) {
			if !b.Preconditions(ua, path) {
				continue
			}
			if b.MatchAddr(addr) {
				return true, nil
			}
			if b.NeedsRDNS() {
				rdns = append(rdns, b)
			}
		}
	}
	if len(rdns) == 0 || e.d.Resolver == nil {
		return false, nil
	}
	for _, name := range e.confirmedNames(addr) {
		for _, b := range rdns {
			if b.MatchName(name) {
				return true, nil
			}
		}
	}
	return false, nil
}

// confirmedNames returns the PTR names of addr that resolve back to addr
// (lower case, no trailing dot).
func (e *Env) confirmedNames(addr netip.Addr) []string {
	ctx, cancel := context.WithTimeout(context.Background(), e.d.DNSTimeout)
	defer cancel()
	names, err := e.d.Resolver.LookupAddr(ctx, addr.String())
	if err != nil {
		return nil
	}
	var out []string
	for _, n := range names {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		hosts, err := e.d.Resolver.LookupHost(ctx, n)
		if err != nil {
			continue
		}
		for _, h := range hosts {
			if a, err := netip.ParseAddr(h); err == nil && a.WithZone("").Unmap() == addr {
				out = append(out, n)
				break
			}
		}
	}
	return out
}
