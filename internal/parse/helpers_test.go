package parse

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/datafile"
	"github.com/phalanx-ids/phalanx/internal/enrich"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/exprenv"
	"github.com/phalanx-ids/phalanx/internal/grok"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

var testNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// testOptions builds real services: the hub's grok patterns, the expr env, the
// enrichers, a data store and a stash.
func testOptions(tb testing.TB) Options {
	tb.Helper()
	hub := testutil.Hub(tb)
	lib := grok.NewLibrary()
	require.NoError(tb, lib.LoadDir(filepath.Join(hub, "patterns")))
	store := datafile.NewStore(filepath.Join(hub, "data"))
	st := exprenv.NewStash()
	logger := slog.New(slog.DiscardHandler)
	now := func() time.Time { return testNow }
	env := exprenv.New(exprenv.Deps{Data: store, Stash: st, Logger: logger, Now: now})
	en, err := enrich.New(enrich.Config{Now: now, Logger: logger})
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = en.Close() })
	return Options{Grok: lib, Expr: env, Enrich: en, Data: store, Stash: st, Logger: logger, Now: now}
}

// hubFiles returns the named hub parser files (paths relative to hub/parsers).
func hubFiles(tb testing.TB, rel ...string) []File {
	tb.Helper()
	hub := testutil.Hub(tb)
	out := make([]File, 0, len(rel))
	for _, r := range rel {
		p := filepath.Join(hub, "parsers", r)
		_, err := os.Stat(p)
		require.NoError(tb, err)
		out = append(out, File{Stage: filepath.Base(filepath.Dir(filepath.Dir(p))), Path: p})
	}
	return out
}

var stackFiles = []string{
	"s00-raw/crowdsecurity/syslog-logs.yaml",
	"s01-parse/crowdsecurity/nginx-logs.yaml",
	"s01-parse/crowdsecurity/sshd-logs.yaml",
	"s02-enrich/crowdsecurity/dateparse-enrich.yaml",
}

func hubStack(tb testing.TB) *Pipeline {
	tb.Helper()
	p, err := Load(hubFiles(tb, stackFiles...), testOptions(tb))
	require.NoError(tb, err)
	return p
}

func logEvent(raw, typ string) *event.Event {
	evt := event.New(event.Line{Raw: raw, Src: "/var/log/test.log", Module: "file", Labels: map[string]string{"type": typ}})
	evt.ExpectMode = event.TIMEMACHINE
	return evt
}

// record is a Tracer keeping every top-level result, like hubtest.
type record struct {
	Stage, Node string
	Success     bool
	Evt         *event.Event
}

type recorder struct{ got []record }

func (r *recorder) NodeDone(stage, node string, success bool, evt *event.Event) {
	r.got = append(r.got, record{stage, node, success, evt.Clone()})
}
