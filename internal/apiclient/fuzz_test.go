package apiclient

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// bytesTransport answers every request with one status and body, in memory:
// the fuzz target exercises decoding, not the network.
type bytesTransport struct {
	status int
	body   []byte
}

func (b bytesTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_ = r.Body.Close()
	}
	return &http.Response{
		StatusCode: b.status, Header: http.Header{"Retry-After": {"1"}},
		Body: io.NopCloser(bytes.NewReader(b.body)), Request: r,
	}, nil
}

// FuzzDecodeAnswer feeds arbitrary answers (status and body) to the calls
// that decode LAPI JSON: none may panic, each error is a well-formed *Error,
// and error messages stay short, printable UTF-8.
func FuzzDecodeAnswer(f *testing.F) {
	for _, name := range []string{"stream_startup.json", "stream_empty.json", "decisions.json", "null.json",
		"alerts_list.json", "alert.json", "nb_deleted_2.json", "nb_deleted_bad.json", "allowlists.json",
		"allowlist_bulk_response.json", "login_response.json", "error_validation.json"} {
		f.Add(uint16(200), readFixture(f, name))
	}
	f.Add(uint16(500), []byte(`{"message":"db locked","errors":"busy"}`))
	f.Add(uint16(404), []byte("\xff\xfe not utf8"))
	f.Add(uint16(200), []byte(`{"new": [`))
	f.Add(uint16(200), []byte(`{"new": [{"id": 1e400}]}`))
	f.Add(uint16(429), bytes.Repeat([]byte("é"), 500))

	f.Fuzz(func(t *testing.T, status uint16, body []byte) {
		st := 100 + int(status)%500
		if st < 200 {
			st += 100 // 1xx answers are handled by net/http itself
		}
		cfg := testConfig("http://lapi.invalid")
		cfg.Retry = RetryConfig{MaxAttempts: 1}
		c, err := New(cfg, WithTransport(bytesTransport{status: st, body: body}))
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// A pre-loaded token keeps the machine calls from logging in.
		c.token, c.expire = "tok", time.Now().Add(time.Hour)

		check := func(err error) {
			if err == nil {
				return
			}
			var e *Error
			require.True(t, errors.As(err, &e), "%T %v", err, err)
			require.NotEmpty(t, e.Op)
			require.True(t, utf8.ValidString(e.Message))
			require.LessOrEqual(t, len(e.Message), 2*maxMessageLen)
			require.False(t, strings.ContainsAny(e.Message, "\n\r\t\x00"))
			if st >= 400 && st != 401 {
				require.Equal(t, st, e.Status)
				require.Equal(t, st == 429 || st >= 500, e.Retryable())
			}
		}
		s, err := c.DecisionsStream(ctx, StreamFilter{})
		check(err)
		if err == nil {
			require.NotNil(t, s)
		}
		_, err = c.Decisions(ctx, DecisionFilter{})
		check(err)
		_, err = c.ListAlerts(ctx, AlertFilter{})
		check(err)
		_, err = c.GetAlert(ctx, 1)
		check(err)
		n, err := c.DeleteDecisions(ctx, DecisionFilter{All: true})
		check(err)
		require.GreaterOrEqual(t, n, 0)
		_, err = c.CheckAllowlists(ctx, []string{"192.0.2.1"})
		check(err)
		_, err = c.PushAlerts(ctx, nil)
		check(err)
	})
}
