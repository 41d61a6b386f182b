// Package slack is the `slack` notifier (ID notify.slack): the format's
// output is the text of a Slack incoming-webhook message, posted as Slack
// documents it: a JSON object {"text": ...} with the optional channel,
// username, icon_emoji and icon_url of CrowdSec's slack plugin.
package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/phalanx-ids/phalanx/internal/notify"
	"github.com/phalanx-ids/phalanx/internal/notify/outbound"
)

// ID of the module; the `type` is "slack".
const ID = notify.IDPrefix + "slack"

// DefaultFormat is one line per decision.
const DefaultFormat = `{{range . -}}{{range .Decisions -}}
{{.Value}} will get {{.Type}} for {{.Duration}} for triggering {{.Scenario}}.
{{end -}}{{end -}}`

// Config is the YAML configuration of a slack notification.
type Config struct {
	notify.CommonConfig `yaml:",inline"`
	// Webhook is the incoming-webhook URL (a secret: never logged).
	Webhook   string `yaml:"webhook" notify:"secret"`
	Channel   string `yaml:"channel"`
	Username  string `yaml:"username"`
	IconEmoji string `yaml:"icon_emoji"`
	IconURL   string `yaml:"icon_url"`
}

// Module returns the slack notifier module.
func Module() notify.Module {
	return notify.Define(ID, DefaultFormat, func() *Config { return &Config{} }, New)
}

// payload is Slack's incoming-webhook message.
type payload struct {
	Text      string `json:"text"`
	Channel   string `json:"channel,omitempty"`
	Username  string `json:"username,omitempty"`
	IconEmoji string `json:"icon_emoji,omitempty"`
	IconURL   string `json:"icon_url,omitempty"`
}

// Notifier posts to a Slack incoming webhook.
type Notifier struct {
	*outbound.Endpoint
	base payload
}

var _ notify.Notifier = (*Notifier)(nil)

// New checks cfg and builds the notifier.
//
// Retry policy (Slack's documented answers): 200 is delivered. Retryable:
// no answer, 408, 429 (rate limited), 5xx (rollup_error...). Not
// retryable: 400 invalid_payload / no_text, 403 action_prohibited, 404
// channel_not_found, 410 channel_is_archived, and an empty rendered text
// (Slack refuses it).
func New(cfg *Config, _ notify.Deps) (*Notifier, error) {
	ep, err := outbound.NewEndpoint("webhook", cfg.Webhook, outbound.TLS{}, "")
	if err != nil {
		return nil, err
	}
	return &Notifier{Endpoint: ep, base: payload{
		Channel: cfg.Channel, Username: cfg.Username, IconEmoji: cfg.IconEmoji, IconURL: cfg.IconURL,
	}}, nil
}

// Send posts one message (see New for the retry policy).
func (n *Notifier) Send(ctx context.Context, msg notify.Message) (bool, error) {
	if strings.TrimSpace(msg.Text) == "" {
		return false, errors.New("slack: the format rendered an empty text (Slack refuses it)")
	}
	p := n.base
	p.Text = msg.Text
	body, err := json.Marshal(p)
	if err != nil {
		return false, fmt.Errorf("slack: %w", err)
	}
	h := http.Header{"Content-Type": {"application/json"}}
	if _, retry, err := n.Endpoint.Send(ctx, http.MethodPost, nil, body, h); err != nil {
		return retry, fmt.Errorf("slack: %w", err)
	}
	return false, nil
}
