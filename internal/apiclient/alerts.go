package apiclient

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/phalanx-ids/phalanx/internal/models"
)

// AlertFilter selects alerts for ListAlerts and DeleteAlerts. Zero fields
// are not sent; pointer fields are sent when non-nil.
type AlertFilter struct {
	Scope    string // with Value
	Value    string
	Scenario string
	IP       string // shorthand for Scope=Ip, Value=IP
	Range    string // shorthand for Scope=Range, Value=Range
	// Since and Until are durations back from now ("4h") or dates, as the
	// LAPI parses them.
	Since, Until      string
	Simulated         *bool
	HasActiveDecision *bool
	DecisionType      string
	Origin            string
	IncludeCAPI       *bool
	Contains          *bool
	Kind              string
	// Limit caps the answer (the LAPI defaults to 100); nil leaves it to
	// the LAPI, 0 asks for all.
	Limit *int
	// AlertSource restricts deletion to alerts of that source
	// ("cscli", "crowdsec"); DeleteAlerts only.
	AlertSource string
}

func (f AlertFilter) values(forDelete bool) url.Values {
	q := url.Values{}
	set(q, "scope", f.Scope)
	set(q, "value", f.Value)
	set(q, "scenario", f.Scenario)
	set(q, "ip", f.IP)
	set(q, "range", f.Range)
	set(q, "since", f.Since)
	set(q, "until", f.Until)
	setBool(q, "has_active_decision", f.HasActiveDecision)
	if forDelete {
		set(q, "alert_source", f.AlertSource)
		return q
	}
	setBool(q, "simulated", f.Simulated)
	set(q, "decision_type", f.DecisionType)
	set(q, "origin", f.Origin)
	setBool(q, "include_capi", f.IncludeCAPI)
	setBool(q, "contains", f.Contains)
	set(q, "kind", f.Kind)
	if f.Limit != nil {
		q.Set("limit", strconv.Itoa(*f.Limit))
	}
	return q
}

func set(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

func setBool(q url.Values, k string, v *bool) {
	if v != nil {
		q.Set(k, strconv.FormatBool(*v))
	}
}

func setList(q url.Values, k string, v []string) {
	if len(v) > 0 {
		q.Set(k, strings.Join(v, ","))
	}
}

// PushAlerts sends alerts (POST /v1/alerts) and returns the ids the LAPI
// gave them, in order. An alert without a UUID gets one first (set on the
// caller's alert), so that every attempt carries the same UUID: Phalanx's
// LAPI stores an alert UUID once, so a retry after an attempt whose answer
// was lost (stored, but the client timed out) creates no duplicate.
func (c *Client) PushAlerts(ctx context.Context, alerts []*models.Alert) ([]string, error) {
	if alerts == nil {
		alerts = []*models.Alert{}
	}
	for _, a := range alerts {
		if a != nil && a.UUID == "" {
			a.UUID = models.NewUUID()
		}
	}
	return c.pushAlerts(ctx, call{body: models.AddAlertsRequest(alerts)})
}

// PushAlertsJSON sends body, already the JSON array of alerts that POST
// /v1/alerts takes, as it is (no decoding, no re-encoding), and returns the
// ids the LAPI gave the alerts. The caller sets the alerts' UUIDs (see
// PushAlerts) and vouches that body is valid JSON.
func (c *Client) PushAlertsJSON(ctx context.Context, body []byte) ([]string, error) {
	return c.pushAlerts(ctx, call{rawBody: body})
}

func (c *Client) pushAlerts(ctx context.Context, cl call) ([]string, error) {
	var ids models.AddAlertsResponse
	cl.op, cl.method, cl.path, cl.auth = "push alerts", http.MethodPost, "/v1/alerts", authJWT
	cl.ok, cl.out = []int{http.StatusCreated, http.StatusOK}, &ids
	if _, err := c.do(ctx, cl); err != nil {
		return nil, err
	}
	return ids, nil
}

// ListAlerts searches alerts (GET /v1/alerts).
func (c *Client) ListAlerts(ctx context.Context, f AlertFilter) ([]*models.Alert, error) {
	var out models.GetAlertsResponse
	_, err := c.do(ctx, call{
		op: "list alerts", method: http.MethodGet, path: "/v1/alerts", auth: authJWT,
		query: f.values(false), out: &out,
	})
	return out, err
}

// GetAlert returns one alert (GET /v1/alerts/{id}); errors.Is(err,
// ErrNotFound) when there is none.
func (c *Client) GetAlert(ctx context.Context, id int64) (*models.Alert, error) {
	var out models.Alert
	_, err := c.do(ctx, call{
		op: "get alert", method: http.MethodGet, path: "/v1/alerts/" + strconv.FormatInt(id, 10),
		auth: authJWT, out: &out,
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteAlerts deletes the alerts matching f (DELETE /v1/alerts) and returns
// how many went. The LAPI only allows it from its trusted IPs.
func (c *Client) DeleteAlerts(ctx context.Context, f AlertFilter) (int, error) {
	var out models.DeleteAlertsResponse
	_, err := c.do(ctx, call{
		op: "delete alerts", method: http.MethodDelete, path: "/v1/alerts", auth: authJWT,
		query: f.values(true), out: &out,
	})
	if err != nil {
		return 0, err
	}
	return parseCount("delete alerts", "/v1/alerts", out.NbDeleted)
}

// DeleteAlert deletes one alert (DELETE /v1/alerts/{id}).
func (c *Client) DeleteAlert(ctx context.Context, id int64) (int, error) {
	path := "/v1/alerts/" + strconv.FormatInt(id, 10)
	var out models.DeleteAlertsResponse
	_, err := c.do(ctx, call{op: "delete alert", method: http.MethodDelete, path: path, auth: authJWT, out: &out})
	if err != nil {
		return 0, err
	}
	return parseCount("delete alert", path, out.NbDeleted)
}

// parseCount reads a nbDeleted string; "" counts as 0.
func parseCount(op, path, s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, &Error{Op: op, Method: http.MethodDelete, Path: path, Status: http.StatusOK,
			Err: fmt.Errorf("decode answer: nbDeleted %q is not a count", s)}
	}
	return n, nil
}
