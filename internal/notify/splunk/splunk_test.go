package splunk_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/notify"
	"github.com/phalanx-ids/phalanx/internal/notify/notifytest"
	"github.com/phalanx-ids/phalanx/internal/notify/splunk"
)

// collector answers as Splunk's HTTP Event Collector documents: the token
// in `Authorization: Splunk <token>`, {"text":"Success","code":0} on
// success, {"text":..., "code":N} with 400/401/403/503 otherwise.
type collector struct {
	token string
	busy  bool
	mu    sync.Mutex
	paths []string
	evs   []map[string]any
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	answer := func(code int, text string, n int) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]any{"text": text, "code": n})
	}
	auth := r.Header.Get("Authorization")
	switch {
	case auth == "":
		answer(401, "Token is required", 2)
		return
	case auth != "Splunk "+c.token:
		answer(403, "Invalid token", 4)
		return
	case c.busy:
		answer(503, "Server is busy", 9)
		return
	}
	b, _ := io.ReadAll(r.Body)
	var ev map[string]any
	if err := json.Unmarshal(b, &ev); err != nil || ev["event"] == nil {
		answer(400, "Invalid data format", 6)
		return
	}
	c.mu.Lock()
	c.paths = append(c.paths, r.URL.Path)
	c.evs = append(c.evs, ev)
	c.mu.Unlock()
	answer(200, "Success", 0)
}

func send(t *testing.T, cfg *splunk.Config, text string) (bool, error) {
	t.Helper()
	cfg.Name = "sp"
	return notifytest.Once(t, splunk.New, cfg, text)
}

func TestEvent(t *testing.T) {
	t.Parallel()
	c := &collector{token: "11111111-2222-3333-4444-555555555555"}
	srv := httptest.NewServer(c)
	defer srv.Close()
	before := float64(time.Now().Unix())
	_, err := send(t, &splunk.Config{URL: srv.URL + "/services/collector", Token: c.token, SourceType: "phalanx:alerts", Index: "sec"}, "[{\"scenario\":\"a\"}]\n")
	require.NoError(t, err)
	_, err = send(t, &splunk.Config{URL: srv.URL, Token: c.token}, "not json: a plain line")
	require.NoError(t, err)
	require.Equal(t, []string{"/services/collector", splunk.CollectorPath}, c.paths, "a bare URL gets HEC's event path")
	require.Equal(t, []any{map[string]any{"scenario": "a"}}, c.evs[0]["event"], "JSON output is the event as JSON")
	require.Equal(t, "phalanx:alerts", c.evs[0]["sourcetype"])
	require.Equal(t, "sec", c.evs[0]["index"])
	require.GreaterOrEqual(t, c.evs[0]["time"], before)
	require.Equal(t, "not json: a plain line", c.evs[1]["event"], "other output is a string event")
	require.NotContains(t, c.evs[1], "sourcetype")
}

func TestRetryPolicy(t *testing.T) {
	t.Parallel()
	c := &collector{token: "good"}
	srv := httptest.NewServer(c)
	defer srv.Close()
	retry, err := send(t, &splunk.Config{URL: srv.URL, Token: "bad-SECRET"}, "x")
	require.ErrorContains(t, err, "403 Forbidden")
	require.ErrorContains(t, err, "Invalid token")
	require.NotContains(t, err.Error(), "SECRET")
	require.False(t, retry)

	busy := &collector{token: "good", busy: true}
	srv2 := httptest.NewServer(busy)
	defer srv2.Close()
	retry, err = send(t, &splunk.Config{URL: srv2.URL, Token: "good"}, "x")
	require.ErrorContains(t, err, "503")
	require.True(t, retry)

	_, err = splunk.New(&splunk.Config{URL: "<SPLUNK_HTTP_URL>", Token: "<SPLUNK_TOKEN>"}, notify.Deps{})
	require.ErrorContains(t, err, "url")
	_, err = splunk.New(&splunk.Config{URL: srv.URL}, notify.Deps{})
	require.ErrorContains(t, err, "token: missing")
}
