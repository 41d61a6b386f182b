// Package event defines the log event as parsers, scenarios and expressions
// see it. Its shape (field names, map types, methods) is CrowdSec's, because
// hub parsers, scenarios and hubtest assertions address it by those names
// (evt.Parsed.x, evt.Meta.x, evt.Line.Raw, evt.Overflow.Alert...).
//
// evt.Parsed, evt.Meta and evt.Enriched, written on every line by grok,
// statics and enrichers, are not maps on the hot path: an event made by a
// Schema (the loaded content's numbering of their field names, one
// numbering per Part) keeps those fields in slots, read and written by Key
// (a name resolved at load time) or by Part and name; the maps
// expressions see (ParsedView, MetaView, EnrichedView, shown to expr as
// Parsed, Meta, Enriched) are built from the slots on demand (Expose,
// ViewCopy, Clone, Map). Package scenario's doc follows one field from a
// grok capture to a scenario's groupby.
//
// Concurrency: an Event is owned by one goroutine at a time. It is handed
// from stage to stage, never shared; code that keeps an event past its turn
// (a bucket queue, a dump) keeps a Clone.
package event

import (
	"net/netip"
	"strconv"
	"time"
	"unsafe"

	"github.com/phalanx-ids/phalanx/internal/models"
)

// Type of an event.
const (
	LOG    = 0
	OVFLW  = 1
	APPSEC = 2
)

// Mode is how a pipeline tells an event's time: LIVE uses the wall clock,
// TIMEMACHINE the logs' own timestamps (a replay). Its values are those of
// Event.ExpectMode, an int in CrowdSec's shape (hub expressions compare it
// with integers); the constants are untyped so that they serve both.
type Mode int

// The modes (Mode, Event.ExpectMode).
const (
	LIVE        = 0
	TIMEMACHINE = 1
)

// String returns "live" or "timemachine".
func (m Mode) String() string {
	switch m {
	case LIVE:
		return "live"
	case TIMEMACHINE:
		return "timemachine"
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

// Line is a raw log line as an acquisition source read it.
type Line struct {
	Raw     string            `yaml:"Raw,omitempty"`
	Src     string            `yaml:"Src,omitempty"`
	Time    time.Time         `yaml:"time,omitempty"`
	Labels  map[string]string `yaml:"Labels,omitempty"`
	Process bool              `yaml:"process,omitempty"`
	Module  string            `yaml:"Module,omitempty"`
}

// RuntimeAlert is what a bucket overflow carries.
type RuntimeAlert struct {
	Mapkey      string                   `yaml:"MapKey,omitempty"`
	BucketId    string                   `yaml:"BucketId,omitempty"`
	Whitelisted bool                     `yaml:"Whitelisted,omitempty"`
	Reprocess   bool                     `yaml:"Reprocess,omitempty"`
	Sources     map[string]models.Source `yaml:"Sources,omitempty"`
	Alert       *models.Alert            `yaml:"Alert,omitempty"`
	APIAlerts   []models.Alert           `yaml:"APIAlerts,omitempty"`
}

// GetSources returns the keys of Sources (source values), in no fixed order.
func (r RuntimeAlert) GetSources() []string {
	out := make([]string, 0, len(r.Sources))
	for k := range r.Sources {
		out = append(out, k)
	}
	return out
}

// Appsec is the WAF part of an event (AppSec is not built yet; the hub's
// appsec-logs parser reads these fields and methods).
type Appsec struct {
	HasInBandMatches  bool              `yaml:"HasInBandMatches,omitempty"`
	HasOutBandMatches bool              `yaml:"HasOutBandMatches,omitempty"`
	MatchedRules      []map[string]any  `yaml:"MatchedRules,omitempty"`
	Vars              map[string]string `yaml:"Vars,omitempty"`
}

// GetName returns the name of the first matched rule ("" if none).
func (a Appsec) GetName() string {
	for _, r := range a.MatchedRules {
		if n, ok := r["name"].(string); ok {
			return n
		}
	}
	return ""
}

// GetRuleIDs returns the ids of the matched rules.
func (a Appsec) GetRuleIDs() []int {
	var out []int
	for _, r := range a.MatchedRules {
		if id, ok := r["id"].(int); ok {
			out = append(out, id)
		}
	}
	return out
}

// GetVar returns a WAF variable ("" if unset).
func (a Appsec) GetVar(name string) string { return a.Vars[name] }

// Event is one log line (Type LOG) or one overflow (Type OVFLW) in flight.
type Event struct {
	Type            int    `yaml:"Type"`
	ExpectMode      int    `yaml:"ExpectMode"`
	Whitelisted     bool   `yaml:"Whitelisted,omitempty"`
	WhitelistReason string `yaml:"WhitelistReason,omitempty"`
	Stage           string `yaml:"Stage,omitempty"`
	Line            Line   `yaml:"Line,omitempty"`
	// ParsedView, EnrichedView and MetaView are evt.Parsed, evt.Enriched
	// and evt.Meta as expressions and dumps see them: maps built from the
	// event's fields by Expose (nil before, for an event made by a
	// Schema; an event without schema, New, always has them), then kept in
	// step by every write. Go code reads and writes the fields through the
	// methods (Get, Lookup, Set, Put, Each, Map), which never need the
	// maps, and never writes to a view. Their YAML and JSON names are
	// CrowdSec's.
	ParsedView    map[string]string `yaml:"Parsed,omitempty" json:"Parsed" expr:"Parsed"`
	EnrichedView  map[string]string `yaml:"Enriched,omitempty" json:"Enriched" expr:"Enriched"`
	Unmarshaled   map[string]any    `yaml:"Unmarshaled,omitempty"`
	Overflow      RuntimeAlert      `yaml:"Overflow,omitempty"`
	Time          time.Time         `yaml:"Time,omitempty"`
	StrTime       string            `yaml:"StrTime,omitempty"`
	StrTimeFormat string            `yaml:"StrTimeFormat,omitempty"`
	MarshaledTime string            `yaml:"MarshaledTime,omitempty"`
	Process       bool              `yaml:"Process,omitempty"`
	Appsec        Appsec            `yaml:"Appsec,omitempty"`
	MetaView      map[string]string `yaml:"Meta,omitempty" json:"Meta" expr:"Meta"`

	fs      [numParts]fields            // by Part: slots of a Schema + overflow map
	spare   [numParts]map[string]string // dropped views' storage, for reuse
	exposed PartSet                     // the parts whose view is built
	hasMeta bool                        // evt.Meta exists (HasMeta)
}

// New returns a log event for a raw line. Its fields have no schema: they
// live in maps, which are also its views, always exposed (Schema.New makes
// the events of a loaded pipeline).
func New(l Line) *Event {
	e := newEvent(l)
	e.exposeUnslotted()
	return e
}

func newEvent(l Line) *Event {
	return &Event{
		Type:        LOG,
		Line:        l,
		Unmarshaled: make(map[string]any),
		hasMeta:     true,
	}
}

// FromMaps returns a log event without schema whose Meta and Enriched are
// meta and enriched, taken (not copied) as their fields and views; nil
// meta: an event without Meta (HasMeta false).
func FromMaps(meta, enriched map[string]string) *Event {
	e := &Event{Type: LOG, hasMeta: meta != nil}
	if meta != nil {
		e.fs[Meta].extra = meta
		e.Expose(Meta)
	}
	if enriched != nil {
		e.fs[Enriched].extra = enriched
		e.Expose(Enriched)
	}
	return e
}

// Reset makes e a fresh log event for l, as New(l) or Schema.New(l)
// would, reusing its storage (cleared). Only for an event nothing else
// refers to any more (for example a line no parser took).
//
// It is on the path of every line (the detect runner recycles events), so
// it clears what a line wrote and no more: the fields' words when some
// were written (fields.reset), a view only if one was built, a map only
// if it holds something, and every other field of Event one by one
// instead of assigning a whole new Event (a 600-byte copy with pointers,
// and the write barriers that go with it). TestResetClearsEveryField
// fails when a field added to Event is not cleared here.
func (e *Event) Reset(l Line) {
	if len(e.Unmarshaled) > 0 {
		clear(e.Unmarshaled)
	}
	if e.exposed != 0 || e.ParsedView != nil || e.MetaView != nil || e.EnrichedView != nil ||
		e.fs[Parsed].t == nil || e.fs[Meta].t == nil || e.fs[Enriched].t == nil {
		e.resetViews()
	}
	for p := range e.fs {
		e.fs[p].reset(l.Raw)
	}
	e.Type = LOG
	e.ExpectMode = 0
	e.Whitelisted = false
	e.WhitelistReason = ""
	e.Stage = ""
	e.Line = l
	if o := &e.Overflow; o.Alert != nil || o.Sources != nil || o.APIAlerts != nil ||
		o.Mapkey != "" || o.BucketId != "" || o.Whitelisted || o.Reprocess {
		e.Overflow = RuntimeAlert{}
	}
	e.Time = time.Time{}
	e.StrTime = ""
	e.StrTimeFormat = ""
	e.MarshaledTime = ""
	e.Process = false
	if a := &e.Appsec; a.MatchedRules != nil || a.Vars != nil || a.HasInBandMatches || a.HasOutBandMatches {
		e.Appsec = Appsec{}
	}
	e.hasMeta = true
}

// resetViews drops the views of a Reset: a slotted part's view, cleared,
// becomes the part's spare (Expose refills it); a part without schema is
// shown as its map, cleared by fields.reset, and exposed again.
func (e *Event) resetViews() {
	for p := range numParts {
		v := e.view(p)
		if *v != nil && e.fs[p].t != nil {
			clear(*v)
			e.spare[p] = *v
		}
		*v = nil
	}
	e.exposed = 0
	e.exposeUnslotted() // only what has no schema: as New
}

// Init makes sure Unmarshaled is a map and that the event has Meta (as
// CrowdSec's parser does before the first node); the parts without
// schema get their views.
func (e *Event) Init() {
	if e.Unmarshaled == nil {
		e.Unmarshaled = make(map[string]any)
	}
	e.hasMeta = true
	e.exposeUnslotted()
}

// exposeUnslotted exposes the parts that have no schema (their view is
// their map).
func (e *Event) exposeUnslotted() {
	for p := range numParts {
		if e.fs[p].t == nil {
			e.Expose(p)
		}
	}
}

// HasMeta reports whether the event has evt.Meta at all: every event New,
// Schema.New or Init made, or that had a meta field written, does; an
// event built as a bare literal does not (CrowdSec's nil Meta map, which
// an alert skips).
func (e *Event) HasMeta() bool { return e.hasMeta || e.fs[Meta].len() > 0 }

// GetType returns "log" or "overflow" ("appsec" for WAF events).
func (e *Event) GetType() string {
	switch e.Type {
	case OVFLW:
		return "overflow"
	case APPSEC:
		return "appsec"
	}
	return "log"
}

// GetMeta returns Meta[key]. For an overflow it searches the meta of the
// alert's events and returns the first value found.
func (e *Event) GetMeta(key string) string {
	if e.Type == OVFLW {
		for _, a := range e.Overflow.APIAlerts {
			for _, ev := range a.Events {
				if ev == nil {
					continue
				}
				if v := ev.GetMeta(key); v != "" {
					return v
				}
			}
		}
		return ""
	}
	v, _ := e.fs[Meta].name(key)
	return v
}

// SetMeta sets Meta[key]; it returns true so it can be used in filters.
func (e *Event) SetMeta(key, value string) bool {
	e.Put(Meta, key, value)
	return true
}

// SetParsed sets Parsed[key]; it returns true so it can be used in filters.
func (e *Event) SetParsed(key, value string) bool {
	e.Put(Parsed, key, value)
	return true
}

// view returns the address of part p's view.
func (e *Event) view(p Part) *map[string]string {
	switch p {
	case Parsed:
		return &e.ParsedView
	case Meta:
		return &e.MetaView
	}
	return &e.EnrichedView
}

// Put sets the field name of part p.
func (e *Event) Put(p Part, name, value string) {
	f := &e.fs[p]
	if f.t == nil && e.exposed&(1<<p) == 0 {
		e.Expose(p) // an event without schema keeps its view (New)
	}
	f.putName(name, value)
	if p == Meta {
		e.hasMeta = true
	}
	if e.exposed&(1<<p) != 0 {
		(*e.view(p))[name] = value
	}
}

// Set sets the field k (Put for a name resolved at load time). Its fast
// path (the event's schema is k's, no view to keep in step) writes the
// slot's word in place.
func (e *Event) Set(k Key, value string) {
	f := &e.fs[k.p]
	if k.t == f.t && e.exposed&(1<<k.p) == 0 && uint(k.slot) < uint(len(f.val)) {
		var w uint64
		if d := uintptr(unsafe.Pointer(unsafe.StringData(value))) - uintptr(f.base); d < f.blen && uintptr(len(value)) <= f.blen-d {
			w = spanWord(d, uintptr(len(value)))
		} else if len(value) == 0 {
			w = present // an empty span
		} else {
			f.setStr(k.slot, value)
			return
		}
		p := &f.val[k.slot]
		if *p == 0 {
			f.n++
		}
		*p = w
		return
	}
	e.setSlow(k, value)
}

// KeyList is a list of keys resolved at load time that an event is
// written with in one call (SetAll): a grok's captures, all of
// evt.Parsed.
type KeyList struct {
	keys  []Key
	slots []int32    // the keys' slots, when t slots them all
	t     *nameTable // the table of every key (nil: keys of several parts or tables, or unslotted)
	p     Part
}

// NewKeyList returns the list of keys.
func NewKeyList(keys []Key) KeyList {
	l := KeyList{keys: keys}
	if len(keys) == 0 || keys[0].t == nil {
		return l
	}
	l.t, l.p = keys[0].t, keys[0].p
	for _, k := range keys {
		if k.t != l.t || k.p != l.p {
			l.t = nil
			return l
		}
		l.slots = append(l.slots, k.slot)
	}
	return l
}

// Len is the number of keys.
func (l *KeyList) Len() int { return len(l.keys) }

// SetAll sets the field l's i-th key to vals[i] for every key, in order:
// Set for a batch (a grok's captures), without a call per field (vals has
// at least l.Len() elements). When the list's keys are the slots of one
// part of the event's schema, a value that is a span of the line is
// written in place; any other goes through Set.
func (e *Event) SetAll(l *KeyList, vals []string) {
	vals = vals[:len(l.keys)]
	f := &e.fs[l.p]
	if l.t == nil || l.t != f.t || e.exposed&(1<<l.p) != 0 {
		for i := range l.keys {
			e.Set(l.keys[i], vals[i])
		}
		return
	}
	slots := l.slots[:len(vals)]
	val, n := f.val, f.n
	base, blen := uintptr(f.base), f.blen
	for i, v := range vals {
		slot := slots[i]
		d := uintptr(unsafe.Pointer(unsafe.StringData(v))) - base
		var w uint64 // 0: through Set
		switch {
		case uint(slot) >= uint(len(val)):
		case d < blen && uintptr(len(v)) <= blen-d:
			w = spanWord(d, uintptr(len(v)))
		case len(v) == 0:
			w = present // an empty span
		}
		if w != 0 {
			p := &val[slot]
			if *p == 0 {
				n++
			}
			*p = w
			continue
		}
		f.n = n
		e.Set(l.keys[i], v)
		val, n = f.val, f.n
	}
	f.n = n
}

// FieldCopy is a copy of one field to another (Copy), resolved at load
// time: a static `meta: source_ip` from evt.Parsed.remote_addr.
type FieldCopy struct{ Dst, Src Key }

// Copy sets the field c.Dst to the value of the field c.Src when it is
// present and not empty, and reports whether it did, without making a
// string of a value that is a span of the line (its word is copied).
func (e *Event) Copy(c *FieldCopy) bool {
	src, dst := &c.Src, &c.Dst
	fs, fd := &e.fs[src.p], &e.fs[dst.p]
	if src.t == fs.t && uint(src.slot) < uint(len(fs.val)) {
		w := fs.val[src.slot]
		if w&^present == 0 {
			return false // absent, or ""
		}
		if w&isStr == 0 && dst.t == fd.t && e.exposed&(1<<dst.p) == 0 && uint(dst.slot) < uint(len(fd.val)) &&
			fd.base == fs.base && fd.blen == fs.blen {
			fd.putWord(dst.slot, w)
			return true
		}
	}
	v, _ := e.Get(*src)
	if v == "" {
		return false
	}
	e.Set(*dst, v)
	return true
}

func (e *Event) setSlow(k Key, value string) {
	f := &e.fs[k.p]
	if f.t == nil && e.exposed&(1<<k.p) == 0 {
		e.Expose(k.p)
	}
	f.putKey(k, value)
	if e.exposed&(1<<k.p) != 0 {
		(*e.view(k.p))[k.name] = value
	}
}

// Get returns the field k; ok is false when it is absent.
func (e *Event) Get(k Key) (v string, ok bool) {
	f := &e.fs[k.p]
	if k.t == f.t && uint(k.slot) < uint(len(f.val)) {
		if w := f.val[k.slot]; w != 0 {
			return f.value(w), true
		}
		return "", false
	}
	return f.key(k)
}

// GetAll sets dst[i] to the field keys[i] ("" when absent) for every key:
// Get for a batch, without a call per field (dst has at least len(keys)
// elements).
func (e *Event) GetAll(keys []Key, dst []string) {
	dst = dst[:len(keys)]
	for i := range keys {
		k := &keys[i]
		f := &e.fs[k.p]
		if k.t == f.t && uint(k.slot) < uint(len(f.val)) {
			if w := f.val[k.slot]; w != 0 {
				dst[i] = f.value(w)
			} else {
				dst[i] = ""
			}
			continue
		}
		dst[i], _ = f.key(*k)
	}
}

// Lookup returns the field name of part p; ok is false when it is absent.
func (e *Event) Lookup(p Part, name string) (v string, ok bool) { return e.fs[p].name(name) }

// Len is the number of fields of part p.
func (e *Event) Len(p Part) int { return e.fs[p].len() }

// Each calls fn for every field of part p: slotted ones in slot order,
// then the others in map order.
func (e *Event) Each(p Part, fn func(name, v string)) { e.fs[p].each(fn) }

// Map returns a new map of the fields of part p (nil when there are none),
// for code that needs them whole (a dump, a diff).
func (e *Event) Map(p Part) map[string]string {
	f := &e.fs[p]
	if f.len() == 0 {
		return nil
	}
	m := make(map[string]string, f.len())
	f.fill(m)
	return m
}

// Expose makes part p's view (evt.Parsed, evt.Meta or evt.Enriched for
// the expression VM) hold its fields; later writes keep it in step. Call
// it before running an expression VM program on the event, from the
// goroutine that owns the event (it writes to it).
func (e *Event) Expose(p Part) {
	if e.exposed&(1<<p) != 0 {
		return
	}
	f := &e.fs[p]
	if f.t == nil { // no schema: the fields are a map, shown as it is
		if f.extra == nil {
			f.extra = make(map[string]string, 4)
		}
		*e.view(p) = f.extra
		e.exposed |= 1 << p
		return
	}
	m := e.spare[p]
	e.spare[p] = nil
	if m == nil {
		m = make(map[string]string, f.len())
	}
	f.fill(m)
	*e.view(p) = m
	e.exposed |= 1 << p
}

// Exposed reports whether the views of the parts of s are built.
func (e *Event) Exposed(s PartSet) bool { return e.exposed&s == s }

// ExposeAll exposes every part (Expose).
func (e *Event) ExposeAll() { e.ExposeSet(AllParts) }

// ExposeSet exposes the parts of s (Expose).
func (e *Event) ExposeSet(s PartSet) {
	for p := range numParts {
		if s.Has(p) {
			e.Expose(p)
		}
	}
}

// PartsCopy returns a new event holding its own copy of e's fields of
// the parts of s, with e's Type, Time and MarshaledTime and nothing else
// (no line, no other part): what a bucket queues of an event when it
// reads only those parts. The slotted parts are copied as slots (their
// views are built on Expose), the others as maps.
func (e *Event) PartsCopy(s PartSet) *Event {
	c := &Event{Type: e.Type, Time: e.Time, MarshaledTime: e.MarshaledTime, hasMeta: e.HasMeta()}
	for p := range numParts {
		if s.Has(p) {
			c.fs[p] = e.fs[p].clone()
			if c.fs[p].t == nil {
				c.Expose(p)
			}
		}
	}
	return c
}

// Views holds the view maps ViewCopy builds, for reuse.
type Views [numParts]map[string]string

// ViewCopy makes *dst a shallow copy of e whose views of the parts of
// need hold e's fields, built in views (cleared first; nil entries: new
// maps, stored back for reuse). It only reads e, so it serves to run the
// expression VM on an event that other goroutines read too; dst shares
// e's fields and other maps, so it is for reading: a program that writes
// to the event needs a copy of its own (Unshare).
func (e *Event) ViewCopy(dst *Event, views *Views, need PartSet) {
	*dst = *e
	dst.spare = [numParts]map[string]string{}
	e.AddViews(dst, views, need)
}

// AddViews builds, in dst (a ViewCopy of e), the views of the parts of
// need it does not have yet, as ViewCopy does.
func (e *Event) AddViews(dst *Event, views *Views, need PartSet) {
	for p := range numParts {
		if dst.exposed.Has(p) || !need.Has(p) {
			continue
		}
		f := &e.fs[p]
		m := views[p]
		if m == nil {
			m = make(map[string]string, f.len())
			views[p] = m
		} else {
			clear(m)
		}
		f.fill(m)
		*dst.view(p) = m
		dst.exposed |= 1 << p
	}
}

// Unshare gives e its own copy of the fields of the parts of s (and of
// their views), for a shallow copy of an event (c := *e) that is about to
// be written to while the original is still read. The other parts stay
// shared: e may read them and build their views (Expose), not write them.
func (e *Event) Unshare(s PartSet) {
	for p := range numParts {
		if !s.Has(p) {
			continue
		}
		f := &e.fs[p]
		*f = f.clone()
		v := e.view(p)
		switch {
		case e.exposed&(1<<p) == 0:
		case f.t == nil:
			if f.extra == nil {
				f.extra = map[string]string{}
			}
			*v = f.extra
		default:
			*v = cloneStr(*v)
		}
	}
	e.spare = [numParts]map[string]string{}
}

// SourceIP returns Meta.source_ip, the source address of a log event
// as text (by its slot when the schema has one).
func (e *Event) SourceIP() (string, bool) {
	f := &e.fs[Meta]
	if f.t != nil && f.t.srcIP > 0 {
		return f.getSlot(f.t.srcIP - 1)
	}
	return f.name(sourceIPName)
}

// ParseIPSources returns the source addresses of the event: Meta.source_ip
// for a log event, every source IP for an overflow.
func (e *Event) ParseIPSources() []netip.Addr { return e.AppendIPSources(nil) }

// AppendIPSources appends the addresses ParseIPSources returns to out (a
// caller's buffer: no allocation for a log event when it has room).
func (e *Event) AppendIPSources(out []netip.Addr) []netip.Addr {
	switch e.Type {
	case LOG:
		if v, ok := e.SourceIP(); ok {
			if a, err := netip.ParseAddr(v); err == nil {
				out = append(out, a.Unmap())
			}
		}
	case OVFLW:
		for k := range e.Overflow.Sources {
			if a, err := netip.ParseAddr(k); err == nil {
				out = append(out, a.Unmap())
			}
		}
	}
	return out
}

// Clone returns a deep copy of the fields, maps and line labels, so the
// copy can be kept while the original goes on being modified. Unmarshaled
// is copied recursively for nested maps and slices. The copy's views are
// built (a kept event is one that something will look at whole).
func (e *Event) Clone() *Event {
	c := *e
	c.Line.Labels = cloneStr(e.Line.Labels)
	c.exposed = 0
	c.spare = [numParts]map[string]string{}
	for p := range numParts {
		c.fs[p] = e.fs[p].clone()
		*c.view(p) = nil
	}
	c.ExposeAll()
	if e.Unmarshaled != nil {
		c.Unmarshaled = cloneAny(e.Unmarshaled).(map[string]any)
	}
	return &c
}

func cloneStr(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func cloneAny(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = cloneAny(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = cloneAny(x)
		}
		return out
	}
	return v
}
