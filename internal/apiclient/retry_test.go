package apiclient

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/models"
)

// TestErrorMapping: each failure ends in an *Error whose retryability,
// status, sentinel and attempt count follow the documented policy.
func TestErrorMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		status       int
		body         string
		wantRetry    bool
		wantAttempts int // with MaxAttempts 3
		wantIs       error
		wantMessage  string
	}{
		{name: "400 bad request", status: 400, body: `{"message":"bad filter"}`, wantAttempts: 1, wantMessage: "bad filter"},
		{name: "403 forbidden", status: 403, body: `{"message":"access forbidden"}`, wantAttempts: 1, wantIs: ErrForbidden, wantMessage: "access forbidden"},
		{name: "404 not found", status: 404, body: `{"message":"object not found"}`, wantAttempts: 1, wantIs: ErrNotFound, wantMessage: "object not found"},
		{name: "405 method", status: 405, body: ``, wantAttempts: 1},
		{name: "413 too large", status: 413, body: `request too large`, wantAttempts: 1, wantMessage: "request too large"},
		{name: "429 rate limited", status: 429, body: `{"message":"slow down"}`, wantRetry: true, wantAttempts: 3, wantMessage: "slow down"},
		{name: "500 internal", status: 500, body: `{"message":"db locked","errors":"sqlite busy"}`, wantRetry: true, wantAttempts: 3, wantMessage: "db locked: sqlite busy"},
		{name: "502 bad gateway html", status: 502, body: "<html>\n<b>bad gateway</b></html>", wantRetry: true, wantAttempts: 3, wantMessage: "<html> <b>bad gateway</b></html>"},
		{name: "503 unavailable", status: 503, body: ``, wantRetry: true, wantAttempts: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var hits atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				hits.Add(1)
				writeJSON(w, tc.status, tc.body)
			}))
			t.Cleanup(srv.Close)
			c := newTestClient(t, testConfig(srv.URL))

			_, err := c.Decisions(t.Context(), DecisionFilter{})

			var e *Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, tc.status, e.Status)
			require.Equal(t, tc.status, StatusCode(err))
			require.Equal(t, tc.wantRetry, IsRetryable(err))
			require.Equal(t, tc.wantAttempts, e.Attempts)
			require.EqualValues(t, tc.wantAttempts, hits.Load())
			require.Equal(t, tc.wantMessage, e.Message)
			if tc.wantIs != nil {
				require.ErrorIs(t, err, tc.wantIs)
			}
			require.Regexp(t, `^apiclient: get decisions: GET /v1/decisions: \d{3} `, err.Error())
		})
	}
}

// TestTransportErrors: failures below HTTP are classified as the policy says.
func TestTransportErrors(t *testing.T) {
	t.Parallel()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(tlsSrv.Close)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, `{"new": [ {"id": "not a number"} ]}`)
	}))
	t.Cleanup(garbage.Close)
	truncated := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		_, _ = w.Write([]byte(`{"new": [`))
	}))
	t.Cleanup(truncated.Close)

	tests := []struct {
		name       string
		url        string
		timeout    time.Duration
		cancelled  bool
		wantRetry  bool
		wantStatus int
		wantIn     string
	}{
		{name: "connection refused", url: closedURL, wantRetry: true, wantIn: "connect"},
		{name: "unknown certificate authority", url: tlsSrv.URL, wantRetry: false, wantIn: "certificate"},
		{name: "attempt timeout", url: slow.URL, timeout: 50 * time.Millisecond, wantRetry: true, wantIn: "deadline"},
		{name: "caller cancelled", url: slow.URL, cancelled: true, wantRetry: false},
		{name: "malformed answer", url: garbage.URL, wantRetry: false, wantStatus: 200, wantIn: "decode answer"},
		{name: "truncated answer", url: truncated.URL, wantRetry: true, wantStatus: 200, wantIn: "decode answer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(tc.url)
			if tc.timeout > 0 {
				cfg.Timeout = tc.timeout
			}
			c := newTestClient(t, cfg)
			ctx := t.Context()
			if tc.cancelled {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, 30*time.Millisecond)
				defer cancel()
			}
			_, err := c.DecisionsStream(ctx, StreamFilter{})
			var e *Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, tc.wantRetry, IsRetryable(err), "%v", err)
			require.Equal(t, tc.wantStatus, e.Status)
			require.Contains(t, err.Error(), tc.wantIn)
			if tc.wantRetry {
				require.Equal(t, 3, e.Attempts)
			}
			if tc.cancelled {
				require.ErrorIs(t, err, context.DeadlineExceeded)
			}
		})
	}
	require.False(t, IsRetryable(nil))
	require.False(t, IsRetryable(errors.New("plain")))
	require.Zero(t, StatusCode(errors.New("plain")))
}

// TestRetryPolicy: retryable failures are retried until success or the
// attempt budget; the waits follow the backoff; non-retryable ones are not.
func TestRetryPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		failures    []int // statuses answered before a 200
		retryAfter  string
		maxAttempts int
		wantOK      bool
		wantHits    int
		wantWaits   []time.Duration // backoff before jitter (the identity here)
		minElapsed  time.Duration
	}{
		{name: "one 503 then ok", failures: []int{503}, maxAttempts: 4, wantOK: true, wantHits: 2,
			wantWaits: []time.Duration{10 * time.Millisecond}},
		{name: "three 5xx then ok", failures: []int{500, 502, 504}, maxAttempts: 4, wantOK: true, wantHits: 4,
			wantWaits: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond}},
		{name: "budget exhausted", failures: []int{503, 503, 503, 503}, maxAttempts: 3, wantHits: 3,
			wantWaits: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}},
		{name: "no retries when max is 1", failures: []int{503}, maxAttempts: 1, wantHits: 1},
		{name: "4xx not retried", failures: []int{422}, maxAttempts: 4, wantHits: 1},
		{name: "429 retry-after honoured", failures: []int{429}, retryAfter: "1", maxAttempts: 4, wantOK: true, wantHits: 2,
			wantWaits: []time.Duration{50 * time.Millisecond}, minElapsed: 50 * time.Millisecond}, // 1s capped by MaxDelay, the cap jittered
		{name: "delay capped", failures: []int{500, 500, 500, 500, 500}, maxAttempts: 6, wantOK: true, wantHits: 6,
			wantWaits: []time.Duration{10, 20, 40, 50, 50}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var hits atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				n := int(hits.Add(1))
				if n <= len(tc.failures) {
					if tc.retryAfter != "" {
						w.Header().Set("Retry-After", tc.retryAfter)
					}
					writeJSON(w, tc.failures[n-1], `{"message":"try later"}`)
					return
				}
				writeJSON(w, 200, `null`)
			}))
			t.Cleanup(srv.Close)
			cfg := testConfig(srv.URL)
			cfg.Retry = RetryConfig{MaxAttempts: tc.maxAttempts, BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond}
			var waits []time.Duration
			c := newTestClient(t, cfg, withJitter(func(d time.Duration) time.Duration {
				waits = append(waits, d)
				return d
			}))

			start := time.Now()
			_, err := c.Decisions(t.Context(), DecisionFilter{})

			require.GreaterOrEqual(t, time.Since(start), tc.minElapsed)
			require.Equal(t, tc.wantOK, err == nil, "%v", err)
			require.EqualValues(t, tc.wantHits, hits.Load())
			want := tc.wantWaits
			for i, w := range want {
				if w < time.Millisecond {
					want[i] = w * time.Millisecond
				}
			}
			require.Equal(t, want, waits)
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   string
		want time.Duration
	}{
		{name: "empty", in: "", want: 0},
		{name: "seconds", in: "7", want: 7 * time.Second},
		{name: "negative", in: "-3", want: 0},
		{name: "http date", in: now.Add(90 * time.Second).Format(http.TimeFormat), want: 90 * time.Second},
		{name: "past date", in: now.Add(-time.Minute).Format(http.TimeFormat), want: 0},
		{name: "junk", in: "soon", want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, parseRetryAfter(tc.in, now))
		})
	}
}

// TestPushAlertsUUIDStable: an alert without a UUID gets one before the
// first attempt, and every retry sends the same one (what lets the LAPI
// recognise a retry of a push it already stored).
func TestPushAlertsUUIDStable(t *testing.T) {
	t.Parallel()
	f := newFakeLAPI(t)
	var tries atomic.Int32
	f.on("POST /v1/alerts", func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		if tries.Add(1) < 3 {
			writeJSON(w, http.StatusServiceUnavailable, `{"message":"busy"}`)
			return
		}
		writeJSON(w, http.StatusCreated, `["1"]`)
	})
	c := newTestClient(t, testConfig(f.srv.URL))
	alerts := decodeFixture[[]*models.Alert](t, "alerts_push_request.json")
	alerts[0].UUID = ""
	ids, err := c.PushAlerts(t.Context(), alerts)
	require.NoError(t, err)
	require.Equal(t, []string{"1"}, ids)
	require.NotEmpty(t, alerts[0].UUID, "the caller's alert carries the UUID sent")
	sent := f.requests(http.MethodPost, "/v1/alerts")
	require.Len(t, sent, 3)
	for _, r := range sent {
		var got []*models.Alert
		require.NoError(t, json.Unmarshal(r.Body, &got))
		require.Equal(t, alerts[0].UUID, got[0].UUID)
	}
}

// TestSingleAttempt: under SingleAttempt a retryable failure is returned
// after one try, still marked retryable (the caller's loop retries).
func TestSingleAttempt(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		writeJSON(w, http.StatusServiceUnavailable, `{"message":"busy"}`)
	}))
	t.Cleanup(srv.Close)
	c := newTestClient(t, testConfig(srv.URL))
	_, err := c.Decisions(SingleAttempt(t.Context()), DecisionFilter{})
	require.True(t, IsRetryable(err))
	require.EqualValues(t, 1, hits.Load())
	_, err = c.Decisions(t.Context(), DecisionFilter{})
	require.Error(t, err)
	require.EqualValues(t, 4, hits.Load(), "without it, the configured 3 attempts")
}
