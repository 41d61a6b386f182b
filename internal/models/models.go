// Package models holds the Local API's wire types (CrowdSec v1 protocol,
// shared/contracts/lapi-swagger.yaml). Field shapes (pointers for required
// fields, JSON names) follow the swagger so that CrowdSec agents, bouncers and
// hub assertions read them unchanged.
//
// The types are plain data: none is safe for concurrent mutation.
package models

// Alert is one alert as stored and served by the LAPI. Like CrowdSec's
// model, decisions, events and labels are always present on the wire (null
// when empty).
type Alert struct {
	ID              int64       `json:"id,omitempty" yaml:"id,omitempty"`
	UUID            string      `json:"uuid,omitempty" yaml:"uuid,omitempty"`
	MachineID       string      `json:"machine_id,omitempty" yaml:"machine_id,omitempty"`
	CreatedAt       string      `json:"created_at,omitempty" yaml:"created_at,omitempty"`
	Scenario        *string     `json:"scenario" yaml:"scenario,omitempty"`
	ScenarioHash    *string     `json:"scenario_hash" yaml:"scenario_hash,omitempty"`
	ScenarioVersion *string     `json:"scenario_version" yaml:"scenario_version,omitempty"`
	Message         *string     `json:"message" yaml:"message,omitempty"`
	EventsCount     *int32      `json:"events_count" yaml:"events_count,omitempty"`
	StartAt         *string     `json:"start_at" yaml:"start_at,omitempty"`
	StopAt          *string     `json:"stop_at" yaml:"stop_at,omitempty"`
	Capacity        *int32      `json:"capacity" yaml:"capacity,omitempty"`
	Leakspeed       *string     `json:"leakspeed" yaml:"leakspeed,omitempty"`
	Simulated       *bool       `json:"simulated" yaml:"simulated,omitempty"`
	Events          []*Event    `json:"events" yaml:"events,omitempty"`
	Remediation     bool        `json:"remediation,omitempty" yaml:"remediation,omitempty"`
	Decisions       []*Decision `json:"decisions" yaml:"decisions,omitempty"`
	Source          *Source     `json:"source" yaml:"source,omitempty"`
	Meta            Meta        `json:"meta,omitempty" yaml:"meta,omitempty"`
	Labels          []string    `json:"labels" yaml:"labels,omitempty"`
	Kind            string      `json:"kind,omitempty" yaml:"kind,omitempty"`

	// RawLines are log lines of the events that filled the bucket (a
	// bounded tail). Not in CrowdSec's protocol: Phalanx agents push them
	// to their LAPI, which keeps them with the alert in its database and
	// never passes them on (GET /v1/alerts, signals to the central,
	// notifications); CrowdSec agents send none, CrowdSec's LAPI ignores
	// the field.
	RawLines []*RawLine `json:"phalanx_raw_lines,omitempty" yaml:"phalanx_raw_lines,omitempty"`
	// Profile is the profile whose decisions the LAPI attached to the
	// alert ("" for none); stored, never on the wire.
	Profile string `json:"-" yaml:"-"`
}

// RawLine is a log line behind an alert, as the acquisition read it.
type RawLine struct {
	Time   string            `json:"time,omitempty" yaml:"time,omitempty"` // RFC 3339, when read
	Source string            `json:"src,omitempty" yaml:"src,omitempty"`   // where it was read (file path, ...)
	Module string            `json:"module,omitempty" yaml:"module,omitempty"`
	Labels map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"` // acquisition labels (type, ...)
	Raw    string            `json:"raw" yaml:"raw"`
	// Truncated: Raw is the start of a longer line.
	Truncated bool `json:"truncated,omitempty" yaml:"truncated,omitempty"`
}

// Source is who an alert or decision is about.
type Source struct {
	Scope     *string `json:"scope" yaml:"scope,omitempty"`
	Value     *string `json:"value" yaml:"value,omitempty"`
	IP        string  `json:"ip,omitempty" yaml:"ip,omitempty"`
	Range     string  `json:"range,omitempty" yaml:"range,omitempty"`
	AsNumber  string  `json:"as_number,omitempty" yaml:"as_number,omitempty"`
	AsName    string  `json:"as_name,omitempty" yaml:"as_name,omitempty"`
	Cn        string  `json:"cn,omitempty" yaml:"cn,omitempty"`
	Latitude  float32 `json:"latitude,omitempty" yaml:"latitude,omitempty"`
	Longitude float32 `json:"longitude,omitempty" yaml:"longitude,omitempty"`
}

// Event is the meta of one event that led to an alert.
type Event struct {
	Timestamp *string `json:"timestamp" yaml:"timestamp,omitempty"`
	Meta      Meta    `json:"meta" yaml:"meta,omitempty"`
}

// MetaItem is one key/value pair of a Meta list.
type MetaItem struct {
	Key   string `json:"key,omitempty" yaml:"key,omitempty"`
	Value string `json:"value,omitempty" yaml:"value,omitempty"`
}

// Meta is an ordered key/value list.
type Meta []*MetaItem

// Decision is a remediation against a scope/value.
type Decision struct {
	ID        int64   `json:"id,omitempty" yaml:"id,omitempty"`
	UUID      string  `json:"uuid,omitempty" yaml:"uuid,omitempty"`
	Origin    *string `json:"origin" yaml:"origin,omitempty"`
	Type      *string `json:"type" yaml:"type,omitempty"`
	Scope     *string `json:"scope" yaml:"scope,omitempty"`
	Value     *string `json:"value" yaml:"value,omitempty"`
	Duration  *string `json:"duration" yaml:"duration,omitempty"`
	Until     string  `json:"until,omitempty" yaml:"until,omitempty"`
	Scenario  *string `json:"scenario" yaml:"scenario,omitempty"`
	Simulated *bool   `json:"simulated,omitempty" yaml:"simulated,omitempty"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// GetScenario returns the scenario name, "" if unset.
func (a *Alert) GetScenario() string { return str(a.Scenario) }

// GetEventsCount returns events_count, 0 if unset.
func (a *Alert) GetEventsCount() int32 {
	if a.EventsCount == nil {
		return 0
	}
	return *a.EventsCount
}

// GetScope returns the source scope, "" if there is no source.
func (a *Alert) GetScope() string {
	if a.Source == nil {
		return ""
	}
	return a.Source.GetScope()
}

// GetValue returns the source value, "" if there is no source.
func (a *Alert) GetValue() string {
	if a.Source == nil {
		return ""
	}
	return a.Source.GetValue()
}

// GetMeta returns the value of the alert-level meta key, "" if absent.
func (a *Alert) GetMeta(key string) string { return a.Meta.Get(key) }

// GetScope returns the scope, "" if unset.
func (s Source) GetScope() string { return str(s.Scope) }

// GetValue returns the value, "" if unset.
func (s Source) GetValue() string { return str(s.Value) }

// GetMeta returns the value of key, "" if absent.
func (e *Event) GetMeta(key string) string { return e.Meta.Get(key) }

// Get returns the value of the first item named key, "" if absent.
func (m Meta) Get(key string) string {
	for _, it := range m {
		if it != nil && it.Key == key {
			return it.Value
		}
	}
	return ""
}
