package explain_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/content"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/explain"
)

// TestLine traces lines through the embedded parsers.
func TestLine(t *testing.T) {
	cfg, err := content.Select("", nil, false)
	require.NoError(t, err)
	cfg.DataDir = t.TempDir()
	rt, err := content.Build(cfg)
	require.NoError(t, err)
	defer rt.Close()
	risks, err := explain.InjectionRisks(cfg)
	require.NoError(t, err)

	for _, tc := range []struct {
		name, typ, raw string
		outcome        explain.Outcome
		reason         string // substring
		change         string // a change of some step
	}{
		{"sshd failure parsed", "syslog", "Jan  2 03:04:05 host sshd[12]: Failed password for root from 192.0.2.7 port 22 ssh2",
			explain.Parsed, "source_ip=192.0.2.7", `+ Meta.source_ip = "192.0.2.7"`},
		{"garbage dropped", "syslog", "not a syslog line at all", explain.Dropped, "no parser of stage s00-raw matched", ""},
		{"unknown type dropped", "nosuchtype", "whatever", explain.Dropped, "matched", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := explain.Line(rt.Parsers, event.Line{Raw: tc.raw, Labels: map[string]string{"type": tc.typ}, Time: time.Now(), Module: "file"}, risks)
			require.Equal(t, tc.raw, res.Line)
			require.Equal(t, tc.outcome, res.Outcome, "%+v", res)
			require.Contains(t, res.Reason, tc.reason)
			if tc.change != "" {
				var all []string
				for _, s := range res.Steps {
					all = append(all, s.Changes...)
				}
				require.Contains(t, strings.Join(all, "\n"), tc.change)
			}
		})
	}
}
