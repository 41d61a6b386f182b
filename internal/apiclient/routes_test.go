package apiclient

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/models"
)

// TestRoutes drives every call against the fake LAPI: the request it sends
// (method, path, query, auth, body) and what it makes of the recorded answer.
func TestRoutes(t *testing.T) {
	t.Parallel()
	pushAlerts := decodeFixture[[]*models.Alert](t, "alerts_push_request.json")
	usage := decodeFixture[*models.AllMetrics](t, "usage_metrics_request.json")

	tests := []struct {
		name    string
		pattern string // route answered by the fake
		status  int
		fixture string // answer body
		bouncer bool   // client has only the API key
		noKey   bool   // and not even that
		call    func(context.Context, *Client) (any, error)

		wantPath  string // raw path sent, default the pattern's path
		wantQuery url.Values
		wantAuth  string // "jwt", "key", "none"
		wantBody  string // fixture the request body must equal
		want      any
		wantErr   error
	}{
		{
			name: "register pending", pattern: "POST /v1/watchers", status: http.StatusCreated,
			call:     func(ctx context.Context, c *Client) (any, error) { return c.Register(ctx) },
			wantAuth: "none", want: false,
		},
		{
			name: "register auto-validated", pattern: "POST /v1/watchers", status: http.StatusAccepted,
			call:     func(ctx context.Context, c *Client) (any, error) { return c.Register(ctx) },
			wantAuth: "none", want: true,
		},
		{
			name: "heartbeat", pattern: "GET /v1/heartbeat", status: http.StatusOK,
			call:     func(ctx context.Context, c *Client) (any, error) { return nil, c.Heartbeat(ctx) },
			wantAuth: "jwt",
		},
		{
			name: "unregister", pattern: "DELETE /v1/watchers/self", status: http.StatusNoContent,
			call:     func(ctx context.Context, c *Client) (any, error) { return nil, c.Unregister(ctx) },
			wantAuth: "jwt",
		},
		{
			name: "health", pattern: "GET /health", status: http.StatusOK, fixture: "success.json",
			call:     func(ctx context.Context, c *Client) (any, error) { return nil, c.Health(ctx) },
			wantAuth: "none",
		},
		{
			name: "push alerts", pattern: "POST /v1/alerts", status: http.StatusCreated, fixture: "alerts_push_response.json",
			call:     func(ctx context.Context, c *Client) (any, error) { return c.PushAlerts(ctx, pushAlerts) },
			wantAuth: "jwt", wantBody: "alerts_push_request.json", want: []string{"42"},
		},
		{
			name: "push alerts refused", pattern: "POST /v1/alerts", status: http.StatusBadRequest, fixture: "error_validation.json",
			call:     func(ctx context.Context, c *Client) (any, error) { return c.PushAlerts(ctx, pushAlerts) },
			wantAuth: "jwt", wantErr: &Error{Op: "push alerts", Method: "POST", Path: "/v1/alerts", Status: 400,
				Message: "validation failed: scenario: required", Attempts: 1},
		},
		{
			name: "list alerts with filters", pattern: "GET /v1/alerts", status: http.StatusOK, fixture: "alerts_list.json",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.ListAlerts(ctx, AlertFilter{IP: "192.0.2.7", Scenario: "crowdsecurity/ssh-bf", Since: "4h",
					HasActiveDecision: ptr(true), Limit: ptr(0), IncludeCAPI: ptr(false), Origin: "crowdsec", AlertSource: "ignored"})
			},
			wantAuth: "jwt",
			wantQuery: url.Values{"ip": {"192.0.2.7"}, "scenario": {"crowdsecurity/ssh-bf"}, "since": {"4h"},
				"has_active_decision": {"true"}, "limit": {"0"}, "include_capi": {"false"}, "origin": {"crowdsec"}},
			want: decodeFixture[[]*models.Alert](t, "alerts_list.json"),
		},
		{
			name: "list alerts empty", pattern: "GET /v1/alerts", status: http.StatusOK, fixture: "null.json",
			call:     func(ctx context.Context, c *Client) (any, error) { return c.ListAlerts(ctx, AlertFilter{}) },
			wantAuth: "jwt", wantQuery: url.Values{}, want: []*models.Alert(nil),
		},
		{
			name: "get alert", pattern: "GET /v1/alerts/{id}", status: http.StatusOK, fixture: "alert.json",
			call:     func(ctx context.Context, c *Client) (any, error) { return c.GetAlert(ctx, 42) },
			wantPath: "/v1/alerts/42", wantAuth: "jwt", want: ptr(decodeFixture[models.Alert](t, "alert.json")),
		},
		{
			name: "get alert not found", pattern: "GET /v1/alerts/{id}", status: http.StatusNotFound, fixture: "error_not_found.json",
			call:     func(ctx context.Context, c *Client) (any, error) { return c.GetAlert(ctx, 404) },
			wantPath: "/v1/alerts/404", wantAuth: "jwt", wantErr: ErrNotFound,
		},
		{
			name: "delete alerts", pattern: "DELETE /v1/alerts", status: http.StatusOK, fixture: "nb_deleted_2.json",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.DeleteAlerts(ctx, AlertFilter{Scope: "Ip", Value: "192.0.2.7", AlertSource: "cscli", Limit: ptr(5)})
			},
			wantAuth: "jwt", wantQuery: url.Values{"scope": {"Ip"}, "value": {"192.0.2.7"}, "alert_source": {"cscli"}}, want: 2,
		},
		{
			name: "delete alert", pattern: "DELETE /v1/alerts/{id}", status: http.StatusOK, fixture: "nb_deleted_1.json",
			call:     func(ctx context.Context, c *Client) (any, error) { return c.DeleteAlert(ctx, 42) },
			wantPath: "/v1/alerts/42", wantAuth: "jwt", want: 1,
		},
		{
			name: "delete alerts forbidden (untrusted ip)", pattern: "DELETE /v1/alerts", status: http.StatusForbidden, fixture: "error_not_found.json",
			call:     func(ctx context.Context, c *Client) (any, error) { return c.DeleteAlerts(ctx, AlertFilter{}) },
			wantAuth: "jwt", wantQuery: url.Values{}, wantErr: ErrForbidden,
		},
		{
			name: "live decisions", pattern: "GET /v1/decisions", status: http.StatusOK, fixture: "decisions.json", bouncer: true,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.Decisions(ctx, DecisionFilter{IP: "192.0.2.7", Contains: ptr(false), Origins: []string{"crowdsec", "cscli"},
					ScenariosContaining: []string{"ssh", "http"}, ScenariosNotContaining: []string{"probing"}, Scenario: "ignored"})
			},
			wantAuth: "key",
			wantQuery: url.Values{"ip": {"192.0.2.7"}, "contains": {"false"}, "origins": {"crowdsec,cscli"},
				"scenarios_containing": {"ssh,http"}, "scenarios_not_containing": {"probing"}},
			want: decodeFixture[[]*models.Decision](t, "decisions.json"),
		},
		{
			name: "live decisions null is empty", pattern: "GET /v1/decisions", status: http.StatusOK, fixture: "null.json", bouncer: true,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.Decisions(ctx, DecisionFilter{Scope: "ip,range", Value: "203.0.113.1", Type: "ban"})
			},
			wantAuth: "key", wantQuery: url.Values{"scope": {"ip,range"}, "value": {"203.0.113.1"}, "type": {"ban"}},
			want: []*models.Decision(nil),
		},
		{
			name: "live decisions bad key", pattern: "GET /v1/decisions", status: http.StatusForbidden, fixture: "error_not_found.json", bouncer: true,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.Decisions(ctx, DecisionFilter{})
			},
			wantAuth: "key", wantQuery: url.Values{}, wantErr: ErrForbidden,
		},
		{
			name: "live decisions without key or certificate", pattern: "GET /v1/decisions", status: http.StatusOK, fixture: "null.json", bouncer: true, noKey: true,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.Decisions(ctx, DecisionFilter{})
			},
			wantAuth: "unsent", wantErr: &Error{Op: "get decisions", Method: "GET", Path: "/v1/decisions"},
		},
		{
			name: "stream startup", pattern: "GET /v1/decisions/stream", status: http.StatusOK, fixture: "stream_startup.json", bouncer: true,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.DecisionsStream(ctx, StreamFilter{Startup: true, Scopes: []string{"ip", "range"}, Origins: []string{"crowdsec", "CAPI"}})
			},
			wantAuth: "key", wantQuery: url.Values{"startup": {"true"}, "scopes": {"ip,range"}, "origins": {"crowdsec,CAPI"}},
			want: ptr(decodeFixture[models.DecisionsStreamResponse](t, "stream_startup.json")),
		},
		{
			name: "stream incremental empty", pattern: "GET /v1/decisions/stream", status: http.StatusOK, fixture: "stream_empty.json", bouncer: true,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.DecisionsStream(ctx, StreamFilter{ScenariosContaining: []string{"ssh"}, ScenariosNotContaining: []string{"http"}})
			},
			wantAuth:  "key",
			wantQuery: url.Values{"startup": {"false"}, "scenarios_containing": {"ssh"}, "scenarios_not_containing": {"http"}},
			want:      &models.DecisionsStreamResponse{},
		},
		{
			name: "delete decisions", pattern: "DELETE /v1/decisions", status: http.StatusOK, fixture: "nb_deleted_2.json",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.DeleteDecisions(ctx, DecisionFilter{Range: "198.51.100.0/24", Type: "ban", Scenario: "manual", Origin: "cscli", Origins: []string{"ignored"}})
			},
			wantAuth: "jwt", wantQuery: url.Values{"range": {"198.51.100.0/24"}, "type": {"ban"}, "scenario": {"manual"}, "origin": {"cscli"}},
			want: 2,
		},
		{
			name: "delete decisions bad count", pattern: "DELETE /v1/decisions", status: http.StatusOK, fixture: "nb_deleted_bad.json",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.DeleteDecisions(ctx, DecisionFilter{All: true})
			},
			wantAuth: "jwt", wantQuery: url.Values{}, wantErr: &Error{Op: "delete decisions", Method: "DELETE", Path: "/v1/decisions", Status: 200},
		},
		{
			name: "delete decision", pattern: "DELETE /v1/decisions/{id}", status: http.StatusOK, fixture: "nb_deleted_1.json",
			call:     func(ctx context.Context, c *Client) (any, error) { return c.DeleteDecision(ctx, 7) },
			wantPath: "/v1/decisions/7", wantAuth: "jwt", want: 1,
		},
		{
			name: "delete decision not found", pattern: "DELETE /v1/decisions/{id}", status: http.StatusNotFound, fixture: "error_not_found.json",
			call:     func(ctx context.Context, c *Client) (any, error) { return c.DeleteDecision(ctx, 8) },
			wantPath: "/v1/decisions/8", wantAuth: "jwt", wantErr: ErrNotFound,
		},
		{
			name: "allowlists", pattern: "GET /v1/allowlists", status: http.StatusOK, fixture: "allowlists.json",
			call:     func(ctx context.Context, c *Client) (any, error) { return c.Allowlists(ctx, true) },
			wantAuth: "jwt", wantQuery: url.Values{"with_content": {"true"}},
			want: decodeFixture[[]*models.GetAllowlistResponse](t, "allowlists.json"),
		},
		{
			name: "allowlist by name", pattern: "GET /v1/allowlists/{name}", status: http.StatusOK, fixture: "allowlist.json",
			call:     func(ctx context.Context, c *Client) (any, error) { return c.Allowlist(ctx, "office", false) },
			wantPath: "/v1/allowlists/office", wantAuth: "jwt", wantQuery: url.Values{},
			want: ptr(decodeFixture[models.GetAllowlistResponse](t, "allowlist.json")),
		},
		{
			name: "check allowlist range escapes slash", pattern: "GET /v1/allowlists/check/{target}", status: http.StatusOK, fixture: "allowlist_check.json",
			call:     func(ctx context.Context, c *Client) (any, error) { return c.CheckAllowlist(ctx, "192.0.2.0/30") },
			wantPath: "/v1/allowlists/check/192.0.2.0%2F30", wantAuth: "jwt",
			want: &models.CheckAllowlistResponse{Allowlisted: true, Reason: "192.0.2.0/28 from office (hq)"},
		},
		{
			name: "bulk check allowlists", pattern: "POST /v1/allowlists/check", status: http.StatusOK, fixture: "allowlist_bulk_response.json",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.CheckAllowlists(ctx, []string{"192.0.2.3", "198.51.100.0/24"})
			},
			wantAuth: "jwt", wantBody: "allowlist_bulk_request.json",
			want: ptr(decodeFixture[models.BulkCheckAllowlistResponse](t, "allowlist_bulk_response.json")),
		},
		{
			name: "usage metrics as machine", pattern: "POST /v1/usage-metrics", status: http.StatusCreated, fixture: "success.json",
			call:     func(ctx context.Context, c *Client) (any, error) { return nil, c.SendUsageMetrics(ctx, usage) },
			wantAuth: "jwt", wantBody: "usage_metrics_request.json",
		},
		{
			name: "usage metrics as bouncer", pattern: "POST /v1/usage-metrics", status: http.StatusOK, fixture: "success.json", bouncer: true,
			call:     func(ctx context.Context, c *Client) (any, error) { return nil, c.SendUsageMetrics(ctx, usage) },
			wantAuth: "key", wantBody: "usage_metrics_request.json",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeLAPI(t)
			f.respond(tc.pattern, tc.status, tc.fixture)
			cfg := testConfig(f.srv.URL)
			if tc.bouncer {
				cfg.MachineID, cfg.Password = "", ""
			}
			if tc.noKey {
				cfg.APIKey = ""
			}
			c := newTestClient(t, cfg)

			got, err := tc.call(t.Context(), c)

			method, path, _ := cut2(tc.pattern)
			wantPath := tc.wantPath
			if wantPath == "" {
				wantPath = path
			}
			var sent []recorded
			for _, r := range f.all() {
				if r.Method == method && r.RawPath == wantPath {
					sent = append(sent, r)
				}
			}
			if tc.wantAuth == "unsent" {
				require.Empty(t, sent)
				require.Error(t, err)
				require.False(t, IsRetryable(err))
				return
			}
			require.Len(t, sent, 1, "requests to %s %s", method, wantPath)
			req := sent[0]
			require.Equal(t, testUA, req.Header.Get("User-Agent"))
			switch tc.wantAuth {
			case "jwt":
				require.Regexp(t, "^Bearer "+tokenPrefix, req.Header.Get("Authorization"))
				require.Empty(t, req.Header.Get("X-Api-Key"))
			case "key":
				require.Equal(t, testAPIKey, req.Header.Get("X-Api-Key"))
				require.Empty(t, req.Header.Get("Authorization"))
			case "none":
				require.Empty(t, req.Header.Get("X-Api-Key"))
				require.Empty(t, req.Header.Get("Authorization"))
			default:
				t.Fatalf("bad wantAuth %q", tc.wantAuth)
			}
			if tc.wantQuery != nil {
				require.Equal(t, tc.wantQuery, req.Query)
			}
			if tc.wantBody != "" {
				require.Equal(t, "application/json", req.Header.Get("Content-Type"))
				requireJSONEqual(t, readFixture(t, tc.wantBody), req.Body)
			}

			if tc.wantErr != nil {
				require.Error(t, err)
				require.False(t, IsRetryable(err))
				if want, ok := tc.wantErr.(*Error); ok {
					var e *Error
					require.ErrorAs(t, err, &e)
					require.Equal(t, want.Op, e.Op)
					require.Equal(t, want.Method, e.Method)
					require.Equal(t, want.Path, e.Path)
					require.Equal(t, want.Status, e.Status)
					if want.Message != "" {
						require.Equal(t, want.Message, e.Message)
					}
				} else {
					require.ErrorIs(t, err, tc.wantErr)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func cut2(pattern string) (method, path string, ok bool) {
	for i := range len(pattern) {
		if pattern[i] == ' ' {
			return pattern[:i], pattern[i+1:], true
		}
	}
	return "", pattern, false
}

// TestDeleteAllDecisions: All is sent as cscli sends --all, the path with
// an empty query ("/v1/decisions?"); no filter and no All, or All with a
// filter, is refused before anything is sent.
func TestDeleteAllDecisions(t *testing.T) {
	t.Parallel()
	f := newFakeLAPI(t)
	var uri string
	f.on("DELETE /v1/decisions", func(w http.ResponseWriter, r *http.Request, _ []byte) {
		uri = r.RequestURI
		writeJSON(w, http.StatusOK, `{"nbDeleted":"3"}`)
	})
	c := newTestClient(t, testConfig(f.srv.URL))
	n, err := c.DeleteDecisions(t.Context(), DecisionFilter{All: true})
	require.NoError(t, err)
	require.Equal(t, 3, n)
	require.Equal(t, "/v1/decisions?", uri)
	_, err = c.DeleteDecisions(t.Context(), DecisionFilter{})
	require.ErrorContains(t, err, "no filter")
	_, err = c.DeleteDecisions(t.Context(), DecisionFilter{All: true, IP: "192.0.2.1"})
	require.ErrorContains(t, err, "cannot be combined")
	require.Len(t, f.requests(http.MethodDelete, "/v1/decisions"), 1)
}
