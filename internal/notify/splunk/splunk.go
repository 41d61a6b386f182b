// Package splunk is the `splunk` notifier (ID notify.splunk): the format's
// output becomes one event of Splunk's HTTP Event Collector, POSTed to the
// collector with `Authorization: Splunk <token>` and the body Splunk
// documents for /services/collector/event: {"event": ..., "time": ...}
// plus the optional host, source, sourcetype and index.
//
// When the output is JSON (the default format renders the alerts as a JSON
// array) the event is that JSON value, so Splunk indexes its fields;
// otherwise it is the text as a string (what CrowdSec's plugin always
// sends).
package splunk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/phalanx-ids/phalanx/internal/notify"
	"github.com/phalanx-ids/phalanx/internal/notify/outbound"
)

// ID of the module; the `type` is "splunk".
const ID = notify.IDPrefix + "splunk"

// DefaultFormat is the alerts as a JSON array (CrowdSec's default).
const DefaultFormat = "{{.|toJson}}"

// CollectorPath is where HEC takes JSON events; a url without a path gets
// it.
const CollectorPath = "/services/collector/event"

// Config is the YAML configuration of a splunk notification.
type Config struct {
	notify.CommonConfig `yaml:",inline"`
	// URL of the collector (https://splunk:8088/services/collector, or the
	// base URL).
	URL string `yaml:"url" notify:"url"`
	// Token is the HEC token (never logged).
	Token string `yaml:"token" notify:"secret"`
	// Host, Source, SourceType and Index are HEC's event metadata
	// (Phalanx; empty: Splunk's defaults for the token).
	Host         string `yaml:"host"`
	Source       string `yaml:"source"`
	SourceType   string `yaml:"sourcetype"`
	Index        string `yaml:"index"`
	outbound.TLS `yaml:",inline"`
}

// Module returns the splunk notifier module.
func Module() notify.Module {
	return notify.Define(ID, DefaultFormat, func() *Config { return &Config{} }, New)
}

// event is HEC's JSON event.
type event struct {
	Time       float64         `json:"time"`
	Host       string          `json:"host,omitempty"`
	Source     string          `json:"source,omitempty"`
	SourceType string          `json:"sourcetype,omitempty"`
	Index      string          `json:"index,omitempty"`
	Event      json.RawMessage `json:"event"`
}

// answer is HEC's reply ({"text":"Success","code":0}).
type answer struct {
	Text string `json:"text"`
	Code *int   `json:"code"`
}

// Notifier sends events to a Splunk HTTP Event Collector.
type Notifier struct {
	*outbound.Endpoint
	header http.Header
	base   event
	now    func() time.Time
}

var _ notify.Notifier = (*Notifier)(nil)

// New checks cfg and builds the notifier.
//
// Retry policy (HEC's documented codes): 200 with code 0 is delivered.
// Retryable: no answer, 408, 429, 5xx (503 "server is busy", code 9). Not
// retryable: 400 (invalid data, code 5-6...), 401/403 (token missing,
// invalid or disabled, codes 2-4, 1), TLS verification errors.
func New(cfg *Config, _ notify.Deps) (*Notifier, error) {
	ep, err := outbound.NewEndpoint("url", cfg.URL, cfg.TLS, "")
	if err != nil {
		return nil, err
	}
	if ep.URL.Path == "" || ep.URL.Path == "/" {
		ep.URL.Path = CollectorPath
	}
	if strings.TrimSpace(cfg.Token) == "" {
		return nil, errors.New("token: missing")
	}
	h := http.Header{"Authorization": {"Splunk " + cfg.Token}, "Content-Type": {"application/json"}}
	return &Notifier{Endpoint: ep, header: h, now: time.Now, base: event{
		Host: cfg.Host, Source: cfg.Source, SourceType: cfg.SourceType, Index: cfg.Index,
	}}, nil
}

// Send posts one event (see New for the retry policy).
func (n *Notifier) Send(ctx context.Context, msg notify.Message) (bool, error) {
	ev := n.base
	ev.Time = float64(n.now().UnixMilli()) / 1000
	if t := strings.TrimSpace(msg.Text); t != "" && json.Valid([]byte(t)) {
		ev.Event = json.RawMessage(t)
	} else {
		s, _ := json.Marshal(msg.Text)
		ev.Event = s
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return false, fmt.Errorf("splunk: %w", err)
	}
	ans, retry, err := n.Endpoint.Send(ctx, http.MethodPost, nil, body, n.header)
	if err != nil {
		return retry, fmt.Errorf("splunk: %w", err)
	}
	var a answer
	if json.Unmarshal(ans, &a) == nil && a.Code != nil && *a.Code != 0 {
		return false, fmt.Errorf("splunk: collector answered code %d%s", *a.Code, outbound.Snippet([]byte(a.Text)))
	}
	return false, nil
}
