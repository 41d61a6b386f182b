// Package event defines the log event as parsers, scenarios and expressions
// see it. Its shape (field names, map types, methods) is CrowdSec's, because
// hub parsers, scenarios and hubtest assertions address it by those names
// (evt.Parsed.x, evt.Meta.x, evt.Line.Raw, evt.Overflow.Alert...).
//
// evt.Parsed, written by grok on every line, is not a map on the hot path:
// an event made by a Schema (the loaded content's numbering of parsed field
// names) keeps its parsed fields in slots, read and written by Key (a name
// resolved at load time) or by name; the map expressions see as evt.Parsed
// (ParsedView) is built from the slots on demand (ExposeParsed, ViewCopy,
// Clone, ParsedMap). Package scenario's doc follows one field from a grok
// capture to a scenario's groupby.
//
// Concurrency: an Event is owned by one goroutine at a time. It is handed
// from stage to stage, never shared; code that keeps an event past its turn
// (a bucket queue, a dump) keeps a Clone.
package event

import (
	"net/netip"
	"strconv"
	"time"

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
	// ParsedView is evt.Parsed as expressions and dumps see it: a map
	// built from the event's parsed fields by ExposeParsed (nil before, for
	// an event made by a Schema; an event without schema, New, always has
	// it), then kept in step by every write. Go code reads and writes parsed
	// fields through the methods (ParsedKey, LookupParsed, SetParsedKey,
	// SetParsed, ParsedMap), which never need the map.
	ParsedView    map[string]string `yaml:"Parsed,omitempty" expr:"Parsed"`
	Enriched      map[string]string `yaml:"Enriched,omitempty"`
	Unmarshaled   map[string]any    `yaml:"Unmarshaled,omitempty"`
	Overflow      RuntimeAlert      `yaml:"Overflow,omitempty"`
	Time          time.Time         `yaml:"Time,omitempty"`
	StrTime       string            `yaml:"StrTime,omitempty"`
	StrTimeFormat string            `yaml:"StrTimeFormat,omitempty"`
	MarshaledTime string            `yaml:"MarshaledTime,omitempty"`
	Process       bool              `yaml:"Process,omitempty"`
	Appsec        Appsec            `yaml:"Appsec,omitempty"`
	Meta          map[string]string `yaml:"Meta,omitempty"`

	parsed    fields            // evt.Parsed: slots of a Schema + overflow map
	viewSpare map[string]string // a dropped ParsedView's storage, for reuse
}

// New returns a log event for a raw line with all maps initialised. Its
// parsed fields have no schema: they live in a map, and ParsedView is
// always exposed (Schema.New makes the events of a loaded pipeline).
func New(l Line) *Event {
	e := newEvent(l)
	e.ParsedView = map[string]string{}
	return e
}

func newEvent(l Line) *Event {
	return &Event{
		Type:        LOG,
		Line:        l,
		Enriched:    make(map[string]string, 4),
		Unmarshaled: make(map[string]any),
		Meta:        make(map[string]string, 12),
	}
}

// Reset makes e a fresh log event for l, as New(l) would, reusing the
// storage of its maps (cleared). Only for an event nothing else refers to
// any more (for example a line no parser took).
func (e *Event) Reset(l Line) {
	en, u, m := e.Enriched, e.Unmarshaled, e.Meta
	clear(en)
	clear(u)
	clear(m)
	p, spare := e.parsed, e.viewSpare
	p.reset()
	if e.ParsedView != nil {
		spare = e.ParsedView
		clear(spare)
	}
	*e = Event{Type: LOG, Line: l, Enriched: en, Unmarshaled: u, Meta: m, parsed: p, viewSpare: spare}
	e.Init()
	if p.s == nil {
		e.ExposeParsed() // as New
	}
}

// Init makes sure every map is non-nil.
func (e *Event) Init() {
	if e.Enriched == nil {
		e.Enriched = make(map[string]string)
	}
	if e.Unmarshaled == nil {
		e.Unmarshaled = make(map[string]any)
	}
	if e.Meta == nil {
		e.Meta = make(map[string]string)
	}
}

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
	return e.Meta[key]
}

// SetMeta sets Meta[key]; it returns true so it can be used in filters.
func (e *Event) SetMeta(key, value string) bool {
	if e.Meta == nil {
		e.Meta = make(map[string]string)
	}
	e.Meta[key] = value
	return true
}

// SetParsed sets Parsed[key]; it returns true so it can be used in filters.
func (e *Event) SetParsed(key, value string) bool {
	if e.parsed.s == nil {
		e.ExposeParsed() // an event without schema keeps its view (New)
	}
	e.parsed.putName(key, value)
	if e.ParsedView != nil {
		e.ParsedView[key] = value
	}
	return true
}

// SetParsedKey sets the parsed field k (SetParsed for a name resolved at
// load time).
func (e *Event) SetParsedKey(k Key, value string) {
	if k.s == e.parsed.s && k.s != nil && e.ParsedView == nil && e.parsed.setFast(k.slot, value) {
		return
	}
	e.setParsedKey(k, value)
}

func (e *Event) setParsedKey(k Key, value string) {
	if e.parsed.s == nil {
		e.ExposeParsed()
	}
	e.parsed.putKey(k, value)
	if e.ParsedView != nil {
		e.ParsedView[k.name] = value
	}
}

// ParsedKey returns the parsed field k; ok is false when it is absent.
func (e *Event) ParsedKey(k Key) (v string, ok bool) { return e.parsed.key(k) }

// LookupParsed returns Parsed[name]; ok is false when it is absent.
func (e *Event) LookupParsed(name string) (v string, ok bool) { return e.parsed.name(name) }

// ParsedLen is the number of parsed fields.
func (e *Event) ParsedLen() int { return e.parsed.len() }

// ParsedMap returns a new map of the parsed fields (nil when there are
// none), for code that needs them whole (a dump, a diff).
func (e *Event) ParsedMap() map[string]string {
	if e.parsed.len() == 0 {
		return nil
	}
	m := make(map[string]string, e.parsed.len())
	e.parsed.fill(m)
	return m
}

// ExposeParsed makes ParsedView (evt.Parsed for the expression VM) hold
// the parsed fields; later writes keep it in step. Call it before running
// an expression VM program on the event, from the goroutine that owns the
// event (it writes to it).
func (e *Event) ExposeParsed() {
	if e.ParsedView != nil {
		return
	}
	m := e.viewSpare
	e.viewSpare = nil
	if m == nil {
		m = make(map[string]string, e.parsed.len())
	}
	e.parsed.fill(m)
	e.ParsedView = m
}

// ViewCopy makes *dst a shallow copy of e whose ParsedView holds e's
// parsed fields, built in view (cleared first; nil: a new map), and
// returns that map for reuse. It only reads e, so it serves to run the
// expression VM on an event that other goroutines read too; dst shares
// e's other maps and parsed storage, so it is for reading: a program that
// writes to the event needs a copy of its own (UnshareParsed).
func (e *Event) ViewCopy(dst *Event, view map[string]string) map[string]string {
	*dst = *e
	dst.viewSpare = nil
	if e.ParsedView != nil {
		return view
	}
	if view == nil {
		view = make(map[string]string, e.parsed.len())
	} else {
		clear(view)
	}
	e.parsed.fill(view)
	dst.ParsedView = view
	return view
}

// UnshareParsed gives e its own copy of the parsed fields (and of
// ParsedView), for a shallow copy of an event (c := *e) that is about to
// be written to while the original is still read.
func (e *Event) UnshareParsed() {
	e.parsed = e.parsed.clone()
	if e.ParsedView != nil {
		e.ParsedView = cloneStr(e.ParsedView)
	}
	e.viewSpare = nil
}

// ParseIPSources returns the source addresses of the event: Meta.source_ip
// for a log event, every source IP for an overflow.
func (e *Event) ParseIPSources() []netip.Addr {
	var out []netip.Addr
	switch e.Type {
	case LOG:
		if v, ok := e.Meta["source_ip"]; ok {
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

// Clone returns a deep copy of the maps and line labels, so the copy can be
// kept while the original goes on being modified. Unmarshaled is copied
// recursively for nested maps and slices. The copy's ParsedView is built
// (a kept event is one that something will look at whole).
func (e *Event) Clone() *Event {
	c := *e
	c.Line.Labels = cloneStr(e.Line.Labels)
	c.parsed = e.parsed.clone()
	c.ParsedView, c.viewSpare = nil, nil
	c.ExposeParsed()
	c.Enriched = cloneStr(e.Enriched)
	c.Meta = cloneStr(e.Meta)
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
