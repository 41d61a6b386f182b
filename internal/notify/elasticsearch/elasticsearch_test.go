package elasticsearch_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/notify"
	"github.com/phalanx-ids/phalanx/internal/notify/elasticsearch"
	"github.com/phalanx-ids/phalanx/internal/notify/notifytest"
)

// cluster answers the bulk and index APIs as Elasticsearch documents them,
// storing documents by index and _id. itemStatus, when set, decides each
// bulk item's status (by position).
type cluster struct {
	mu         sync.Mutex
	docs       map[string]map[string]any // index/_id -> doc
	auth       []string
	itemStatus func(i int) int
	bad        []string // protocol violations seen
}

func newCluster() *cluster { return &cluster{docs: map[string]map[string]any{}} }

func (c *cluster) fail(format string, a ...any) {
	c.bad = append(c.bad, fmt.Sprintf(format, a...))
}

func (c *cluster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.auth = append(c.auth, r.Header.Get("Authorization"))
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/_bulk":
		if ct := r.Header.Get("Content-Type"); ct != "application/x-ndjson" {
			c.fail("bulk content type %q", ct)
		}
		sc := bufio.NewScanner(r.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var items []map[string]any
		for i := 0; sc.Scan(); i++ {
			var action map[string]map[string]string
			if err := json.Unmarshal(sc.Bytes(), &action); err != nil || action["index"] == nil {
				c.fail("action line %q", sc.Text())
				break
			}
			if !sc.Scan() {
				c.fail("action without document")
				break
			}
			var doc map[string]any
			if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
				c.fail("document line %q", sc.Text())
				break
			}
			status := 201
			if c.itemStatus != nil {
				status = c.itemStatus(i)
			}
			key := action["index"]["_index"] + "/" + action["index"]["_id"]
			item := map[string]any{"_index": action["index"]["_index"], "_id": action["index"]["_id"], "status": status}
			if status < 300 {
				c.docs[key] = doc
			} else {
				item["error"] = map[string]any{"type": "es_rejected_execution_exception", "reason": fmt.Sprintf("status %d", status)}
			}
			items = append(items, map[string]any{"index": item})
		}
		errs := false
		for _, it := range items {
			if it["index"].(map[string]any)["status"].(int) >= 300 {
				errs = true
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"took": 3, "errors": errs, "items": items})
	case r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/_doc/"):
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
		var doc map[string]any
		if err := json.NewDecoder(r.Body).Decode(&doc); err != nil {
			w.WriteHeader(400)
			return
		}
		c.docs[parts[0]+"/"+parts[2]] = doc
		w.WriteHeader(201)
		_ = json.NewEncoder(w).Encode(map[string]any{"_index": parts[0], "_id": parts[2], "result": "created"})
	default:
		w.WriteHeader(404)
	}
}

func (c *cluster) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.docs)
}

func send(t *testing.T, cfg *elasticsearch.Config, text string) (bool, error) {
	t.Helper()
	cfg.Name = "es"
	if cfg.Index == "" {
		cfg.Index = elasticsearch.DefaultIndex
	}
	if cfg.Mode == "" {
		cfg.Mode = elasticsearch.ModeBulk
	}
	return notifytest.Once(t, elasticsearch.New, cfg, text)
}

const twoDocs = "{\"scenario\":\"a\",\"n\":1}\n{\"scenario\":\"b\",\"n\":2}\n"

func TestBulk(t *testing.T) {
	t.Parallel()
	c := newCluster()
	srv := httptest.NewServer(c)
	defer srv.Close()
	_, err := send(t, &elasticsearch.Config{URL: srv.URL, Index: "phalanx-alerts", APIKey: "a2V5OnNlY3JldA=="}, twoDocs)
	require.NoError(t, err)
	require.Empty(t, c.bad)
	require.Equal(t, 2, c.count())
	var scen []string
	for k, d := range c.docs {
		require.True(t, strings.HasPrefix(k, "phalanx-alerts/"))
		scen = append(scen, d["scenario"].(string))
	}
	require.ElementsMatch(t, []string{"a", "b"}, scen)
	require.Equal(t, "ApiKey a2V5OnNlY3JldA==", c.auth[0])
	// Sent again (a retry after a partial success): same _ids, no duplicate.
	_, err = send(t, &elasticsearch.Config{URL: srv.URL, Index: "phalanx-alerts", Username: "elastic", Password: "pw"}, twoDocs)
	require.NoError(t, err)
	require.Equal(t, 2, c.count())
	require.Equal(t, "Basic ZWxhc3RpYzpwdw==", c.auth[1])
}

func TestIndexMode(t *testing.T) {
	t.Parallel()
	c := newCluster()
	srv := httptest.NewServer(c)
	defer srv.Close()
	_, err := send(t, &elasticsearch.Config{URL: srv.URL + "/", Mode: elasticsearch.ModeIndex}, twoDocs)
	require.NoError(t, err)
	require.Equal(t, 2, c.count())
	for k := range c.docs {
		require.True(t, strings.HasPrefix(k, "crowdsec/"), k)
	}
}

func TestRetryPolicy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status func(int) int
		retry  bool
	}{
		{"an item rejected for load is retried", func(i int) int {
			if i == 1 {
				return 429
			}
			return 201
		}, true},
		{"an item refused for its content is not", func(i int) int {
			if i == 0 {
				return 400
			}
			return 201
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCluster()
			c.itemStatus = tc.status
			srv := httptest.NewServer(c)
			defer srv.Close()
			retry, err := send(t, &elasticsearch.Config{URL: srv.URL}, twoDocs)
			require.ErrorContains(t, err, "1 of 2 documents refused")
			require.Equal(t, tc.retry, retry)
		})
	}
	t.Run("output that is not JSON objects", func(t *testing.T) {
		t.Parallel()
		c := newCluster()
		srv := httptest.NewServer(c)
		defer srv.Close()
		for _, text := range []string{"[1,2]", "plain text", `{"a":1} {"b":`} {
			retry, err := send(t, &elasticsearch.Config{URL: srv.URL}, text)
			require.ErrorContains(t, err, "format")
			require.False(t, retry)
		}
		require.Equal(t, 0, c.count())
	})
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  elasticsearch.Config
		want string
	}{
		{"uppercase index", elasticsearch.Config{URL: "http://x/", Index: "Alerts", Mode: "bulk"}, "lowercase"},
		{"index with a slash", elasticsearch.Config{URL: "http://x/", Index: "a/b", Mode: "bulk"}, "must not contain"},
		{"bad mode", elasticsearch.Config{URL: "http://x/", Index: "a", Mode: "stream"}, `mode "stream"`},
		{"two credentials", elasticsearch.Config{URL: "http://x/", Index: "a", Mode: "bulk", APIKey: "k", Username: "u"}, "one or the other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := elasticsearch.New(&tc.cfg, notify.Deps{})
			require.ErrorContains(t, err, tc.want)
		})
	}
}
