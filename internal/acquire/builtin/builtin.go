// Package builtin builds the acquisition registry with every datasource
// module Phalanx ships: file, journalctl, syslog and http.
package builtin

import (
	"github.com/phalanx-ids/phalanx/internal/acquire"
	"github.com/phalanx-ids/phalanx/internal/acquire/file"
	"github.com/phalanx-ids/phalanx/internal/acquire/httppush"
	"github.com/phalanx-ids/phalanx/internal/acquire/journald"
	"github.com/phalanx-ids/phalanx/internal/acquire/syslog"
)

// Modules returns the built-in modules.
func Modules() []acquire.Module {
	return []acquire.Module{
		file.Module(),
		journald.Module(),
		syslog.Module(),
		httppush.Module(),
	}
}

// NewRegistry returns a registry holding every built-in module.
func NewRegistry() *acquire.Registry {
	r := acquire.NewRegistry()
	for _, m := range Modules() {
		if err := r.Register(m); err != nil {
			panic(err) // built-in names are distinct: a bug
		}
	}
	return r
}
