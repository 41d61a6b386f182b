// Package notify sends the alerts that profiles select (their
// `notifications:` names) to notification receivers configured in
// CrowdSec's notification format: one YAML file (possibly multi-document)
// per plugin in a directory, keys type, name, format, group_wait,
// group_threshold, max_retry, timeout, log_level plus the type's own keys.
// See README.md.
//
// Flow (STYLE lesson 2): Load decodes and compiles every file of the
// directory into a Set of Specs (strict YAML per type, Go template with the
// Sprig functions compiled): a bad file fails Load, naming the file and the
// line. A Dispatcher provisions one Notifier per Spec (Module.New: TLS
// material read, addresses checked) and delivers: a bounded queue per
// notification, grouping, retries with back-off, metrics, reload, drain.
//
// The notifier types live in sub-packages, one folder each (webhook for
// `http`, slack, email, splunk, elasticsearch, file), each registered under
// a dotted ID ("notify.http"); package builtin registers them all.
package notify

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/phalanx-ids/phalanx/internal/models"
)

// Message is one delivery: the alerts of a group, in arrival order, and
// their rendering by the notification's format.
type Message struct {
	// Name is the notification's name (the `name` key).
	Name string
	// Text is the format template executed over Alerts.
	Text string
	// Alerts are read-only: they are shared with the other notifications
	// the same alerts go to.
	Alerts []*models.Alert
}

// Notifier delivers messages to one receiver.
//
// Concurrency contract: the Dispatcher calls Send from one goroutine at a
// time for a given Notifier (the messages of a notification are delivered
// in order, one at a time); Close is called once, after the last Send has
// returned, and releases what New opened (files, idle connections).
// Send must return when ctx ends (its deadline is the notification's
// `timeout`) and must not keep msg or its alerts after returning.
//
// Retryability is part of the signature (STYLE lesson 4): on failure Send
// returns retryable=true when trying the same message again later may
// succeed (receiver unreachable, timeout, 5xx, 429), false when it would
// fail the same way (the receiver rejected the message or the
// credentials, the configuration is wrong). Each type documents its policy
// beside its constructor.
type Notifier interface {
	Send(ctx context.Context, msg Message) (retryable bool, err error)
	Close() error
}

// Config is a type's decoded configuration: a struct embedding CommonConfig with
// `yaml:",inline"` plus the type's own keys. Fields tagged
// `notify:"secret"` are printed as <redacted> by Describe, fields tagged
// `notify:"url"` as their scheme and host only.
type Config interface {
	Common() *CommonConfig
}

// Deps are what a Module's constructor may use.
type Deps struct {
	// Logger of the notification (its log_level applied); never nil.
	Logger *slog.Logger
}

// Module is one notifier type.
type Module struct {
	// ID is "notify." followed by the `type` value ("notify.http").
	ID string
	// NewConfig returns a fresh config (a pointer) carrying the type's
	// defaults; the loader decodes the document into it, strictly.
	NewConfig func() Config
	// New validates cfg and builds the notifier. It may read files (TLS
	// material) and open the output of a file notifier; it must not talk
	// to the receiver.
	New func(cfg Config, deps Deps) (Notifier, error)
	// DefaultFormat is used when the file has no `format`.
	DefaultFormat string
}

// Define builds a Module from a type's own config and notifier types: id
// ("notify.<type>"), the default format, a constructor of configs carrying
// the type's defaults, and the notifier's constructor.
func Define[C Config, N Notifier](id, defaultFormat string, newConfig func() C, newN func(C, Deps) (N, error)) Module {
	return Module{
		ID:            id,
		NewConfig:     func() Config { return newConfig() },
		New:           typed(newN),
		DefaultFormat: defaultFormat,
	}
}

// typed adapts a constructor over a type's own config to Module.New.
func typed[C Config, N Notifier](newN func(C, Deps) (N, error)) func(Config, Deps) (Notifier, error) {
	return func(c Config, d Deps) (Notifier, error) {
		cfg, ok := c.(C)
		if !ok {
			var want C
			return nil, fmt.Errorf("config is %T, want %T", c, want)
		}
		n, err := newN(cfg, d)
		if err != nil {
			return nil, err // not n: a nil *T in an interface is not nil
		}
		return n, nil
	}
}

// IDPrefix starts every notifier module ID.
const IDPrefix = "notify."

// Type is the `type` value the module answers to.
func (m Module) Type() string { return strings.TrimPrefix(m.ID, IDPrefix) }

// Registry maps notifier types to modules.
//
// Concurrency: register every module before the first Load; after that a
// Registry is read-only and safe for concurrent use.
type Registry struct {
	mods map[string]Module
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{mods: map[string]Module{}} }

// Register adds m. A duplicate, badly named or incomplete module is an
// error.
func (r *Registry) Register(m Module) error {
	switch {
	case !strings.HasPrefix(m.ID, IDPrefix) || m.Type() == "" || strings.Contains(m.Type(), "."):
		return fmt.Errorf("notify: register %q: want an ID %s<type>", m.ID, IDPrefix)
	case m.NewConfig == nil || m.New == nil:
		return fmt.Errorf("notify: register %s: NewConfig and New are required", m.ID)
	}
	if _, dup := r.mods[m.Type()]; dup {
		return fmt.Errorf("notify: register %s: already registered", m.ID)
	}
	r.mods[m.Type()] = m
	return nil
}

// Module returns the module of a `type` value.
func (r *Registry) Module(typ string) (Module, bool) {
	m, ok := r.mods[typ]
	return m, ok
}

// Types returns the registered `type` values, sorted.
func (r *Registry) Types() []string {
	out := make([]string, 0, len(r.mods))
	for t := range r.mods {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
