// Package builtin builds the notifier registry with every type Phalanx
// ships: http, slack, email, splunk, elasticsearch and file.
package builtin

import (
	"github.com/phalanx-ids/phalanx/internal/notify"
	"github.com/phalanx-ids/phalanx/internal/notify/elasticsearch"
	"github.com/phalanx-ids/phalanx/internal/notify/email"
	"github.com/phalanx-ids/phalanx/internal/notify/file"
	"github.com/phalanx-ids/phalanx/internal/notify/slack"
	"github.com/phalanx-ids/phalanx/internal/notify/splunk"
	"github.com/phalanx-ids/phalanx/internal/notify/webhook"
)

// Modules returns the built-in notifier modules.
func Modules() []notify.Module {
	return []notify.Module{
		webhook.Module(),
		slack.Module(),
		email.Module(),
		splunk.Module(),
		elasticsearch.Module(),
		file.Module(),
	}
}

// NewRegistry returns a registry holding every built-in module.
func NewRegistry() *notify.Registry {
	r := notify.NewRegistry()
	for _, m := range Modules() {
		if err := r.Register(m); err != nil {
			panic(err) // built-in IDs are distinct: a bug
		}
	}
	return r
}
