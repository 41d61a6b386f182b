// Package event defines the log event as parsers, scenarios and expressions
// see it. Its shape (field names, map types, methods) is CrowdSec's, because
// hub parsers, scenarios and hubtest assertions address it by those names
// (evt.Parsed.x, evt.Meta.x, evt.Line.Raw, evt.Overflow.Alert...).
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
	Type            int               `yaml:"Type"`
	ExpectMode      int               `yaml:"ExpectMode"`
	Whitelisted     bool              `yaml:"Whitelisted,omitempty"`
	WhitelistReason string            `yaml:"WhitelistReason,omitempty"`
	Stage           string            `yaml:"Stage,omitempty"`
	Line            Line              `yaml:"Line,omitempty"`
	Parsed          map[string]string `yaml:"Parsed,omitempty"`
	Enriched        map[string]string `yaml:"Enriched,omitempty"`
	Unmarshaled     map[string]any    `yaml:"Unmarshaled,omitempty"`
	Overflow        RuntimeAlert      `yaml:"Overflow,omitempty"`
	Time            time.Time         `yaml:"Time,omitempty"`
	StrTime         string            `yaml:"StrTime,omitempty"`
	StrTimeFormat   string            `yaml:"StrTimeFormat,omitempty"`
	MarshaledTime   string            `yaml:"MarshaledTime,omitempty"`
	Process         bool              `yaml:"Process,omitempty"`
	Appsec          Appsec            `yaml:"Appsec,omitempty"`
	Meta            map[string]string `yaml:"Meta,omitempty"`
}

// New returns a log event for a raw line with all maps initialised.
func New(l Line) *Event {
	return &Event{
		Type:        LOG,
		Line:        l,
		Parsed:      make(map[string]string, 16),
		Enriched:    make(map[string]string, 4),
		Unmarshaled: make(map[string]any),
		Meta:        make(map[string]string, 12),
	}
}

// Reset makes e a fresh log event for l, as New(l) would, reusing the
// storage of its maps (cleared). Only for an event nothing else refers to
// any more (for example a line no parser took).
func (e *Event) Reset(l Line) {
	p, en, u, m := e.Parsed, e.Enriched, e.Unmarshaled, e.Meta
	clear(p)
	clear(en)
	clear(u)
	clear(m)
	*e = Event{Type: LOG, Line: l, Parsed: p, Enriched: en, Unmarshaled: u, Meta: m}
	e.Init()
}

// Init makes sure every map is non-nil.
func (e *Event) Init() {
	if e.Parsed == nil {
		e.Parsed = make(map[string]string)
	}
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
	if e.Parsed == nil {
		e.Parsed = make(map[string]string)
	}
	e.Parsed[key] = value
	return true
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
// recursively for nested maps and slices.
func (e *Event) Clone() *Event {
	c := *e
	c.Line.Labels = cloneStr(e.Line.Labels)
	c.Parsed = cloneStr(e.Parsed)
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
