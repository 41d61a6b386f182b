// Package elasticsearch is the `elasticsearch` notifier (ID
// notify.elasticsearch): each JSON object the format renders (the default:
// one per alert) becomes a document of an Elasticsearch index, written
// with the bulk API (mode: bulk, the default: POST /_bulk, NDJSON) or the
// index API (mode: index: PUT /<index>/_doc/<id>, one request a document).
// Authentication: username/password (basic) or api_key.
//
// Each document's _id is derived from its index and content (SHA-256), so
// a message sent again after a retryable failure overwrites what a
// partial success wrote instead of duplicating it.
package elasticsearch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/phalanx-ids/phalanx/internal/notify"
	"github.com/phalanx-ids/phalanx/internal/notify/outbound"
)

// ID of the module; the `type` is "elasticsearch".
const ID = notify.IDPrefix + "elasticsearch"

// DefaultFormat renders one document per alert.
const DefaultFormat = "{{range .}}{{toJson .}}\n{{end}}"

// Modes.
const (
	ModeBulk  = "bulk"
	ModeIndex = "index"
)

// DefaultIndex is the index written when `index` is empty.
const DefaultIndex = "crowdsec"

// Config is the YAML configuration of an elasticsearch notification.
type Config struct {
	notify.CommonConfig `yaml:",inline"`
	// URL of the cluster (http://127.0.0.1:9200).
	URL string `yaml:"url" notify:"url"`
	// Index receives the documents (default crowdsec).
	Index string `yaml:"index"`
	// Mode: bulk (default) or index.
	Mode     string `yaml:"mode"`
	Username string `yaml:"username"`
	Password string `yaml:"password" notify:"secret"`
	// APIKey is sent as `Authorization: ApiKey <api_key>` (the encoded
	// key Elasticsearch returns).
	APIKey       string `yaml:"api_key" notify:"secret"`
	outbound.TLS `yaml:",inline"`
}

// Module returns the elasticsearch notifier module.
func Module() notify.Module {
	return notify.Define(ID, DefaultFormat, func() *Config { return &Config{Index: DefaultIndex, Mode: ModeBulk} }, New)
}

// Notifier writes documents to Elasticsearch.
type Notifier struct {
	*outbound.Endpoint
	index string
	mode  string
	auth  string // Authorization header value
}

var _ notify.Notifier = (*Notifier)(nil)

// New checks cfg and builds the notifier.
//
// Retry policy: a 2xx answer whose items all succeeded is delivered.
// Retryable: no answer, 408, 429, 5xx, and a bulk answer where some item
// failed with 429 or 5xx (the whole message is sent again: content-derived
// _ids make that idempotent). Not retryable: other statuses (400 mapping
// errors, 401/403 credentials), items refused for another reason, output
// that is not JSON objects, TLS verification errors.
func New(cfg *Config, _ notify.Deps) (*Notifier, error) {
	if err := checkIndex(cfg.Index); err != nil {
		return nil, err
	}
	switch cfg.Mode {
	case ModeBulk, ModeIndex:
	default:
		return nil, fmt.Errorf("mode %q: want %s or %s", cfg.Mode, ModeBulk, ModeIndex)
	}
	if cfg.APIKey != "" && (cfg.Username != "" || cfg.Password != "") {
		return nil, errors.New("api_key and username/password: set one or the other")
	}
	if cfg.Password != "" && cfg.Username == "" {
		return nil, errors.New("password without username")
	}
	ep, err := outbound.NewEndpoint("url", cfg.URL, cfg.TLS, "")
	if err != nil {
		return nil, err
	}
	ep.URL.Path = strings.TrimSuffix(ep.URL.Path, "/")
	n := &Notifier{Endpoint: ep, index: cfg.Index, mode: cfg.Mode}
	switch {
	case cfg.APIKey != "":
		n.auth = "ApiKey " + cfg.APIKey
	case cfg.Username != "":
		n.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.Username+":"+cfg.Password))
	}
	return n, nil
}

// checkIndex applies Elasticsearch's index name rules.
func checkIndex(s string) error {
	switch {
	case s == "":
		return errors.New("index: missing")
	case s != strings.ToLower(s):
		return fmt.Errorf("index %q: must be lowercase", s)
	case strings.ContainsAny(s, `\/*?"<>| ,#:`):
		return fmt.Errorf("index %q: must not contain \\ / * ? \" < > | space , # :", s)
	case strings.HasPrefix(s, "-") || strings.HasPrefix(s, "_") || strings.HasPrefix(s, "+"):
		return fmt.Errorf("index %q: must not start with -, _ or +", s)
	case s == "." || s == ".." || len(s) > 255:
		return fmt.Errorf("index %q: not a valid name", s)
	}
	return nil
}

type doc struct {
	id   string
	body []byte
}

// docs splits the rendered text into JSON objects.
func (n *Notifier) docs(text string) ([]doc, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	var out []doc
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("format: the output is not a stream of JSON objects: %w", err)
		}
		if !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
			return nil, errors.New("format: every document must be a JSON object")
		}
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			return nil, fmt.Errorf("format: %w", err)
		}
		sum := sha256.Sum256(append([]byte(n.index+"\x00"), b.Bytes()...))
		out = append(out, doc{id: hex.EncodeToString(sum[:16]), body: b.Bytes()})
	}
}

// Send writes the message's documents (see New for the retry policy).
func (n *Notifier) Send(ctx context.Context, msg notify.Message) (bool, error) {
	docs, err := n.docs(msg.Text)
	if err != nil {
		return false, fmt.Errorf("elasticsearch: %w", err)
	}
	if len(docs) == 0 {
		return false, nil
	}
	if n.mode == ModeIndex {
		for _, d := range docs {
			if retry, err := n.put(ctx, d); err != nil {
				return retry, err
			}
		}
		return false, nil
	}
	return n.bulk(ctx, docs)
}

// send makes one request to path under the cluster's URL.
func (n *Notifier) send(ctx context.Context, method, path string, body []byte, ctype string) ([]byte, bool, error) {
	u := *n.URL
	u.Path += path
	h := http.Header{"Content-Type": {ctype}}
	if n.auth != "" {
		h.Set("Authorization", n.auth)
	}
	ans, retry, err := n.Endpoint.Send(ctx, method, &u, body, h)
	if err != nil {
		return nil, retry, fmt.Errorf("elasticsearch: %w", err)
	}
	return ans, false, nil
}

func (n *Notifier) put(ctx context.Context, d doc) (bool, error) {
	_, retry, err := n.send(ctx, http.MethodPut, "/"+n.index+"/_doc/"+d.id, d.body, "application/json")
	return retry, err
}

// bulkAnswer is the part of the bulk API's answer read.
type bulkAnswer struct {
	Errors bool `json:"errors"`
	Items  []map[string]struct {
		Status int             `json:"status"`
		Error  json.RawMessage `json:"error"`
	} `json:"items"`
}

func (n *Notifier) bulk(ctx context.Context, docs []doc) (bool, error) {
	var b bytes.Buffer
	for _, d := range docs {
		fmt.Fprintf(&b, `{"index":{"_index":%q,"_id":%q}}`+"\n", n.index, d.id)
		b.Write(d.body)
		b.WriteByte('\n')
	}
	ans, retry, err := n.send(ctx, http.MethodPost, "/_bulk", b.Bytes(), "application/x-ndjson")
	if err != nil {
		return retry, err
	}
	var a bulkAnswer
	if err := json.Unmarshal(ans, &a); err != nil {
		return false, fmt.Errorf("elasticsearch: bulk answer is not Elasticsearch's: %w", err)
	}
	if !a.Errors {
		return false, nil
	}
	failed, retryable := 0, false
	var first json.RawMessage
	for _, it := range a.Items {
		for _, r := range it {
			if r.Status >= 200 && r.Status < 300 {
				continue
			}
			failed++
			if outbound.StatusRetryable(r.Status) {
				retryable = true
			}
			if first == nil {
				first = r.Error
			}
		}
	}
	return retryable, fmt.Errorf("elasticsearch: bulk: %d of %d documents refused%s", failed, len(docs), outbound.Snippet(first))
}
