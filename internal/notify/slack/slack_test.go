package slack_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/notify"
	"github.com/phalanx-ids/phalanx/internal/notify/notifytest"
	"github.com/phalanx-ids/phalanx/internal/notify/slack"
)

// hook is an incoming-webhook endpoint answering as Slack documents:
// 200 "ok", or an error status with an error code as the body.
type hook struct {
	mu     sync.Mutex
	bodies []map[string]any
	ctype  string
	method string
	code   int
	answer string
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	h.mu.Lock()
	h.bodies = append(h.bodies, m)
	h.ctype, h.method = r.Header.Get("Content-Type"), r.Method
	code, answer := h.code, h.answer
	h.mu.Unlock()
	if code == 0 {
		code, answer = http.StatusOK, "ok"
	}
	w.WriteHeader(code)
	_, _ = io.WriteString(w, answer)
}

func send(t *testing.T, cfg *slack.Config, text string) (bool, error) {
	t.Helper()
	cfg.Name = "s"
	return notifytest.Once(t, slack.New, cfg, text)
}

// TestPayload checks the body against Slack's incoming-webhook format: a
// JSON object whose "text" is the message, channel/username/icon_emoji/
// icon_url only when configured.
func TestPayload(t *testing.T) {
	t.Parallel()
	h := &hook{}
	srv := httptest.NewServer(h)
	defer srv.Close()
	_, err := send(t, &slack.Config{Webhook: srv.URL + "/services/T0/B0/XYZ", Channel: "#sec", Username: "phalanx", IconEmoji: ":shield:", IconURL: "https://x/i.png"}, "1.2.3.4 banned <https://x|link> & \"quoted\"")
	require.NoError(t, err)
	_, err = send(t, &slack.Config{Webhook: srv.URL + "/services/T0/B0/XYZ"}, "bare")
	require.NoError(t, err)
	require.Equal(t, http.MethodPost, h.method)
	require.Equal(t, "application/json", h.ctype)
	require.Equal(t, []map[string]any{
		{"text": "1.2.3.4 banned <https://x|link> & \"quoted\"", "channel": "#sec", "username": "phalanx", "icon_emoji": ":shield:", "icon_url": "https://x/i.png"},
		{"text": "bare"},
	}, h.bodies)
}

func TestRetryPolicy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		code   int
		answer string
		retry  bool
	}{
		{"invalid_payload", 400, "invalid_payload", false},
		{"action_prohibited", 403, "action_prohibited", false},
		{"channel_not_found", 404, "channel_not_found", false},
		{"channel_is_archived", 410, "channel_is_archived", false},
		{"rate limited", 429, "rate_limited", true},
		{"rollup_error", 500, "rollup_error", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(&hook{code: tc.code, answer: tc.answer})
			defer srv.Close()
			retry, err := send(t, &slack.Config{Webhook: srv.URL + "/services/T0/B0/SECRET"}, "x")
			require.ErrorContains(t, err, tc.answer)
			require.NotContains(t, err.Error(), "SECRET", "the webhook URL is a secret")
			require.Equal(t, tc.retry, retry)
		})
	}
	t.Run("an empty text is refused before sending", func(t *testing.T) {
		h := &hook{}
		srv := httptest.NewServer(h)
		defer srv.Close()
		retry, err := send(t, &slack.Config{Webhook: srv.URL}, " \n")
		require.ErrorContains(t, err, "empty text")
		require.False(t, retry)
		require.Empty(t, h.bodies)
	})
	t.Run("CrowdSec's placeholder does not provision", func(t *testing.T) {
		_, err := slack.New(&slack.Config{Webhook: "<WEBHOOK_URL>"}, notify.Deps{})
		require.ErrorContains(t, err, "webhook")
	})
}
