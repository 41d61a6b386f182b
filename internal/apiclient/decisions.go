package apiclient

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/phalanx-ids/phalanx/internal/models"
)

// DecisionFilter selects decisions for the bouncer's live query
// (Decisions) and for DeleteDecisions. Zero fields are not sent.
type DecisionFilter struct {
	Scope string // with Value; Decisions: several scopes comma-separated
	Value string
	Type  string
	IP    string // shorthand for Scope=Ip, Value=IP
	Range string // shorthand for Scope=Range, Value=Range
	// Contains: true (the LAPI's default) matches decisions containing the
	// IP/range, false decisions contained by it.
	Contains *bool
	// Decisions only.
	Origins                []string
	ScenariosContaining    []string
	ScenariosNotContaining []string
	Simulated              *bool
	// DeleteDecisions only.
	Scenario string
	Origin   string
	// All (DeleteDecisions, with no other field) expires every decision.
	// It is sent as cscli sends --all, an empty query ("DELETE
	// /v1/decisions?"), which Phalanx's LAPI takes as an explicit "all"
	// (a filterless request without it deletes nothing) and CrowdSec's as
	// no filter.
	All bool
}

func (f DecisionFilter) values(forDelete bool) url.Values {
	q := url.Values{}
	set(q, "scope", f.Scope)
	set(q, "value", f.Value)
	set(q, "type", f.Type)
	set(q, "ip", f.IP)
	set(q, "range", f.Range)
	setBool(q, "contains", f.Contains)
	if forDelete {
		set(q, "scenario", f.Scenario)
		set(q, "origin", f.Origin)
		return q
	}
	setList(q, "origins", f.Origins)
	setList(q, "scenarios_containing", f.ScenariosContaining)
	setList(q, "scenarios_not_containing", f.ScenariosNotContaining)
	setBool(q, "simulated", f.Simulated)
	return q
}

// StreamFilter parameterises DecisionsStream.
type StreamFilter struct {
	// Startup asks for the full state: every active decision as new and
	// every expired one as deleted. A bouncer sets it on its first pull.
	Startup bool
	// Scopes defaults to ip,range on the LAPI side.
	Scopes                 []string
	Origins                []string
	ScenariosContaining    []string
	ScenariosNotContaining []string
}

func (f StreamFilter) values() url.Values {
	q := url.Values{}
	q.Set("startup", strconv.FormatBool(f.Startup))
	setList(q, "scopes", f.Scopes)
	setList(q, "origins", f.Origins)
	setList(q, "scenarios_containing", f.ScenariosContaining)
	setList(q, "scenarios_not_containing", f.ScenariosNotContaining)
	return q
}

// Decisions is the bouncer's live query (GET /v1/decisions, X-Api-Key). No
// match gives an empty (nil) slice: the LAPI answers JSON null then.
func (c *Client) Decisions(ctx context.Context, f DecisionFilter) ([]*models.Decision, error) {
	var out models.GetDecisionsResponse
	_, err := c.do(ctx, call{
		op: "get decisions", method: http.MethodGet, path: "/v1/decisions", auth: authKey,
		query: f.values(false), out: &out,
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DecisionsStream is the bouncer's stream pull (GET /v1/decisions/stream,
// X-Api-Key). The LAPI keeps the last-pull time per bouncer, so a pull
// without Startup returns what changed since the previous successful one.
func (c *Client) DecisionsStream(ctx context.Context, f StreamFilter) (*models.DecisionsStreamResponse, error) {
	var out models.DecisionsStreamResponse
	_, err := c.do(ctx, call{
		op: "stream decisions", method: http.MethodGet, path: "/v1/decisions/stream", auth: authKey,
		query: f.values(), out: &out,
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteDecisions expires the decisions matching f (DELETE /v1/decisions,
// machine JWT; the LAPI allows it from its trusted IPs only) and returns how
// many. A filter with no field set and All false is refused here: the LAPI
// would refuse it too.
func (c *Client) DeleteDecisions(ctx context.Context, f DecisionFilter) (int, error) {
	q := f.values(true)
	if f.All && len(q) > 0 {
		return 0, configError("delete decisions", errors.New("All cannot be combined with filters"))
	}
	if !f.All && len(q) == 0 {
		return 0, configError("delete decisions", errors.New("no filter: set a filter or All"))
	}
	var out models.DeleteDecisionResponse
	_, err := c.do(ctx, call{
		op: "delete decisions", method: http.MethodDelete, path: "/v1/decisions", auth: authJWT,
		query: q, emptyQuery: f.All, out: &out,
	})
	if err != nil {
		return 0, err
	}
	return parseCount("delete decisions", "/v1/decisions", out.NbDeleted)
}

// DeleteDecision expires one decision (DELETE /v1/decisions/{id});
// errors.Is(err, ErrNotFound) when there is none.
func (c *Client) DeleteDecision(ctx context.Context, id int64) (int, error) {
	path := "/v1/decisions/" + strconv.FormatInt(id, 10)
	var out models.DeleteDecisionResponse
	_, err := c.do(ctx, call{op: "delete decision", method: http.MethodDelete, path: path, auth: authJWT, out: &out})
	if err != nil {
		return 0, err
	}
	return parseCount("delete decision", path, out.NbDeleted)
}
