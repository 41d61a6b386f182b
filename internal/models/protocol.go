package models

// This file holds the request and response bodies of the LAPI routes other
// than the alert/decision payloads themselves (swagger definitions of the
// same names). Required fields are pointers, as in models.go, so that a
// server can tell "absent" from "empty".

// WatcherRegistrationRequest is the body of POST /v1/watchers.
type WatcherRegistrationRequest struct {
	MachineID         *string `json:"machine_id"`
	Password          *string `json:"password"`
	RegistrationToken string  `json:"registration_token,omitempty"`
}

// WatcherAuthRequest is the body of POST /v1/watchers/login.
type WatcherAuthRequest struct {
	MachineID *string  `json:"machine_id"`
	Password  *string  `json:"password"`
	Scenarios []string `json:"scenarios"`
}

// WatcherAuthResponse is the answer to a login or a token refresh. Expire is
// an RFC 3339 time.
type WatcherAuthResponse struct {
	Code   int    `json:"code,omitempty"`
	Expire string `json:"expire,omitempty"`
	Token  string `json:"token,omitempty"`
}

// AddAlertsRequest is the body of POST /v1/alerts.
type AddAlertsRequest []*Alert

// AddAlertsResponse is the answer to POST /v1/alerts: one id per alert.
type AddAlertsResponse []string

// GetAlertsResponse is the answer to GET /v1/alerts.
type GetAlertsResponse []*Alert

// GetDecisionsResponse is the answer to GET /v1/decisions. The LAPI answers
// JSON null, not [], when nothing matches.
type GetDecisionsResponse []*Decision

// DecisionsStreamResponse is the answer to GET /v1/decisions/stream.
type DecisionsStreamResponse struct {
	New     GetDecisionsResponse `json:"new"`
	Deleted GetDecisionsResponse `json:"deleted"`
}

// DeleteDecisionResponse is the answer to DELETE /v1/decisions[/{id}]. The
// count is a decimal string on the wire.
type DeleteDecisionResponse struct {
	NbDeleted string `json:"nbDeleted,omitempty"`
}

// DeleteAlertsResponse is the answer to DELETE /v1/alerts[/{id}]. The count
// is a decimal string on the wire.
type DeleteAlertsResponse struct {
	NbDeleted string `json:"nbDeleted,omitempty"`
}

// ErrorResponse is the body of a LAPI error answer.
type ErrorResponse struct {
	Message *string `json:"message"`
	Errors  string  `json:"errors,omitempty"`
}

// SuccessResponse is the body of a LAPI success answer that carries no data.
type SuccessResponse struct {
	Message *string `json:"message"`
}

// AllowlistItem is one entry of a centralized allowlist.
type AllowlistItem struct {
	Value       string `json:"value,omitempty"`
	Description string `json:"description,omitempty"`
	CreatedAt   string `json:"created_at,omitempty"`
	Expiration  string `json:"expiration,omitempty"`
}

// GetAllowlistResponse is one allowlist (GET /v1/allowlists/{name}).
type GetAllowlistResponse struct {
	Name           string           `json:"name,omitempty"`
	AllowlistID    string           `json:"allowlist_id,omitempty"`
	Description    string           `json:"description,omitempty"`
	Items          []*AllowlistItem `json:"items"` // [] without content (CrowdSec)
	CreatedAt      string           `json:"created_at,omitempty"`
	UpdatedAt      string           `json:"updated_at,omitempty"`
	ConsoleManaged bool             `json:"console_managed,omitempty"`
}

// GetAllowlistsResponse is the answer to GET /v1/allowlists.
type GetAllowlistsResponse []*GetAllowlistResponse

// CheckAllowlistResponse is the answer to GET /v1/allowlists/check/{target}.
type CheckAllowlistResponse struct {
	Allowlisted bool   `json:"allowlisted,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

// BulkCheckAllowlistRequest is the body of POST /v1/allowlists/check.
type BulkCheckAllowlistRequest struct {
	Targets []string `json:"targets"`
}

// BulkCheckAllowlistResult is the result for one target of a bulk check.
type BulkCheckAllowlistResult struct {
	Target     *string  `json:"target"`
	Allowlists []string `json:"allowlists"`
}

// BulkCheckAllowlistResponse is the answer to POST /v1/allowlists/check.
type BulkCheckAllowlistResponse struct {
	Results []*BulkCheckAllowlistResult `json:"results"`
}

// AllMetrics is the body of POST /v1/usage-metrics.
type AllMetrics struct {
	RemediationComponents []*RemediationComponentsMetrics `json:"remediation_components,omitempty"`
	LogProcessors         []*LogProcessorsMetrics         `json:"log_processors,omitempty"`
	Lapi                  *LapiMetrics                    `json:"lapi,omitempty"`
}

// BaseMetrics is what every component reports in usage metrics.
type BaseMetrics struct {
	Version             *string            `json:"version"`
	Os                  *OSversion         `json:"os,omitempty"`
	Metrics             []*DetailedMetrics `json:"metrics,omitempty"`
	FeatureFlags        []string           `json:"feature_flags,omitempty"`
	UtcStartupTimestamp *int64             `json:"utc_startup_timestamp"`
}

// RemediationComponentsMetrics is a bouncer's usage metrics.
type RemediationComponentsMetrics struct {
	BaseMetrics
	Type     string `json:"type,omitempty"`
	Name     string `json:"name,omitempty"`
	LastPull int64  `json:"last_pull,omitempty"`
}

// LogProcessorsMetrics is an agent's usage metrics.
type LogProcessorsMetrics struct {
	BaseMetrics
	HubItems    HubItems         `json:"hub_items"`
	Datasources map[string]int64 `json:"datasources"`
	Name        string           `json:"name,omitempty"`
	LastPush    int64            `json:"last_push,omitempty"`
	LastUpdate  int64            `json:"last_update,omitempty"`
}

// LapiMetrics is the LAPI's own usage metrics.
type LapiMetrics struct {
	BaseMetrics
	ConsoleOptions ConsoleOptions `json:"console_options,omitempty"`
}

// ConsoleOptions lists the enabled console options.
type ConsoleOptions []string

// OSversion names the operating system a component runs on.
type OSversion struct {
	Name    *string `json:"name"`
	Family  string  `json:"family,omitempty"`
	Version *string `json:"version"`
}

// DetailedMetrics is one window of metric items.
type DetailedMetrics struct {
	Items []*MetricsDetailItem `json:"items"`
	Meta  *MetricsMeta         `json:"meta"`
}

// MetricsDetailItem is one metric value.
type MetricsDetailItem struct {
	Name   *string       `json:"name"`
	Value  *float64      `json:"value"`
	Unit   *string       `json:"unit"`
	Labels MetricsLabels `json:"labels,omitempty"`
}

// MetricsMeta describes the window of a DetailedMetrics.
type MetricsMeta struct {
	WindowSizeSeconds *int64 `json:"window_size_seconds"`
	UtcNowTimestamp   *int64 `json:"utc_now_timestamp"`
}

// MetricsLabels are the labels of a metric item.
type MetricsLabels map[string]string

// HubItems lists installed hub items per item type.
type HubItems map[string][]HubItem

// HubItem is one installed hub item.
type HubItem struct {
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
	Status  string `json:"status,omitempty"`
}
