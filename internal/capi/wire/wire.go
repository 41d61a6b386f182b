// Package wire holds the types of the central API (CrowdSec's CAPI v3,
// shared/contracts/capi-swagger.yaml) that both sides of Phalanx speak: the
// install side (internal/capi, its test server capitest) and the central
// (internal/central/server). One definition, so that the two cannot drift.
package wire

import "github.com/phalanx-ids/phalanx/internal/models"

// The CAPI v3 subset Phalanx uses. Field names and shapes are the
// swagger's.

// RegisterRequest is POST /v3/watchers.
type RegisterRequest struct {
	MachineID string `json:"machine_id"`
	Password  string `json:"password"`
}

// LoginRequest is POST /v3/watchers/login.
type LoginRequest struct {
	MachineID string   `json:"machine_id"`
	Password  string   `json:"password"`
	Scenarios []string `json:"scenarios"`
}

// LoginResponse is the answer to a login.
type LoginResponse struct {
	Code   int    `json:"code"`
	Expire string `json:"expire"`
	Token  string `json:"token"`
}

// EnrollRequest is POST /v3/watchers/enroll.
type EnrollRequest struct {
	AttachmentKey string   `json:"attachment_key"`
	Name          string   `json:"name"`
	Tags          []string `json:"tags"`
	Overwrite     bool     `json:"overwrite"`
}

// Message is the success and error body ({message, errors}).
type Message struct {
	Message string `json:"message"`
	Errors  string `json:"errors,omitempty"`
}

// Signal is one item of POST /v3/signals: an alert the LAPI accepted.
type Signal struct {
	Scenario        string           `json:"scenario"`
	ScenarioHash    string           `json:"scenario_hash"`
	ScenarioVersion string           `json:"scenario_version"`
	ScenarioTrust   string           `json:"scenario_trust"`
	Message         string           `json:"message"`
	Source          *Source          `json:"source"`
	StartAt         string           `json:"start_at"`
	StopAt          string           `json:"stop_at"`
	CreatedAt       string           `json:"created_at,omitempty"`
	MachineID       string           `json:"machine_id,omitempty"`
	UUID            string           `json:"uuid,omitempty"`
	Decisions       []SignalDecision `json:"decisions"`
	Context         []ContextItem    `json:"context,omitempty"`
	Kind            string           `json:"kind,omitempty"`
}

// Source is a signal's source.
type Source struct {
	Scope     string  `json:"scope"`
	Value     string  `json:"value"`
	IP        string  `json:"ip,omitempty"`
	Range     string  `json:"range,omitempty"`
	AsNumber  string  `json:"as_number,omitempty"`
	AsName    string  `json:"as_name,omitempty"`
	Cn        string  `json:"cn,omitempty"`
	Latitude  float32 `json:"latitude,omitempty"`
	Longitude float32 `json:"longitude,omitempty"`
}

// SignalDecision is a decision carried by a signal.
type SignalDecision struct {
	ID        int64  `json:"id"`
	UUID      string `json:"uuid,omitempty"`
	Duration  string `json:"duration"`
	Origin    string `json:"origin"`
	Scenario  string `json:"scenario"`
	Scope     string `json:"scope"`
	Type      string `json:"type"`
	Value     string `json:"value"`
	Until     string `json:"until,omitempty"`
	Simulated bool   `json:"simulated"`
}

// ContextItem is one key/value of a signal's context (share_context).
type ContextItem struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Stream is the answer of GET /v3/decisions/stream.
type Stream struct {
	New     []NewGroup     `json:"new"`
	Deleted []DeletedGroup `json:"deleted"`
	Links   *Links         `json:"links,omitempty"`
}

// NewGroup is decisions of one scenario and scope to add.
type NewGroup struct {
	Scenario  string        `json:"scenario"`
	Scope     string        `json:"scope"`
	Decisions []NewDecision `json:"decisions"`
}

// NewDecision is one value with its duration (chosen by the central).
type NewDecision struct {
	Value    string `json:"value"`
	Duration string `json:"duration"`
}

// DeletedGroup is values of one scope to remove.
type DeletedGroup struct {
	Scope     string   `json:"scope"`
	Decisions []string `json:"decisions"`
}

// Links are the subscribed lists.
type Links struct {
	Blocklists []BlocklistLink `json:"blocklists"`
	Allowlists []AllowlistLink `json:"allowlists"`
}

// BlocklistLink is a blocklist to fetch (plain text, one value per line).
type BlocklistLink struct {
	Name        string `json:"name"`
	URL         string `json:"url"`
	Remediation string `json:"remediation"`
	Scope       string `json:"scope"`
	Duration    string `json:"duration"`
}

// AllowlistLink is a centralized allowlist (JSON lines).
type AllowlistLink struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	URL         string `json:"url"`
	ID          string `json:"id"`
	CreatedAt   string `json:"created_at"`
	UpdatedAt   string `json:"updated_at"`
}

// AllowlistItem is one line of a centralized allowlist's content (JSON
// lines): an IP or a CIDR, optionally with a description and an expiry
// (RFC 3339; empty: never).
type AllowlistItem struct {
	Value       string `json:"value"`
	Description string `json:"description,omitempty"`
	Expiration  string `json:"expiration,omitempty"`
}

// Metrics is the body of POST /v3/metrics: the LAPI's inventory of
// bouncers and machines (no traffic figures).
type Metrics struct {
	ApilVersion string           `json:"apil_version,omitempty"`
	Bouncers    []MetricsBouncer `json:"bouncers"`
	Machines    []MetricsMachine `json:"machines"`
}

// MetricsBouncer is one bouncer: Name is its type (firewall, php...),
// CustomName the name it was registered under.
type MetricsBouncer struct {
	Name       string `json:"name"`
	CustomName string `json:"custom_name"`
	Version    string `json:"version"`
	LastPull   string `json:"last_pull"`
}

// MetricsMachine is one machine (agent) of the LAPI.
type MetricsMachine struct {
	Name       string `json:"name"`
	Version    string `json:"version"`
	LastUpdate string `json:"last_update"`
	LastPush   string `json:"last_push"`
}

// UsageMetrics is the body of POST /v3/usage-metrics. It is not in the
// CAPI swagger: a CrowdSec LAPI sends its own swagger's AllMetrics (the
// body of its POST /v1/usage-metrics: remediation_components,
// log_processors, and its own lapi block), one definition for the three
// places (components to LAPI, LAPI to central, the central's checks).
type UsageMetrics = models.AllMetrics

// UsageBase is what every component of UsageMetrics reports.
type UsageBase = models.BaseMetrics
