package capi_test

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/capi"
	"github.com/phalanx-ids/phalanx/internal/content"
	"github.com/phalanx-ids/phalanx/internal/detect"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/parse"
	"github.com/phalanx-ids/phalanx/internal/scenario"
	"github.com/phalanx-ids/phalanx/internal/store"
)

const enrichParser = `name: test/community-enrich
description: "community_listed for every source address"
filter: "evt.Meta.source_ip != ''"
onsuccess: next_stage
statics:
  - method: CommunityList
    expression: evt.Meta.source_ip
  - meta: community_listed
    expression: evt.Enriched.community_listed
`

const strictScenarios = `type: trigger
name: test/known-attacker-login
description: "One failed login from an address the crowd lists (the enricher's field)"
filter: "evt.Meta.log_type == 'ssh_failed-auth' && evt.Enriched.community_listed == 'true'"
groupby: evt.Meta.source_ip
blackhole: 1m
labels:
  remediation: true
---
type: leaky
name: test/known-attacker-bf
description: "SSH brute force, twice as strict for listed addresses (the helper)"
filter: "evt.Meta.log_type == 'ssh_failed-auth' && IsInCommunityList(evt.Meta.source_ip)"
groupby: evt.Meta.source_ip
capacity: 1
leakspeed: 10s
labels:
  remediation: true
`

// A scenario treats community-listed addresses more strictly, through the
// CommunityList enricher and the IsInCommunityList helper; its alerts say
// they depend on the list and are never pushed back to the central.
func TestScenarioUsesCommunityList(t *testing.T) {
	require.Equal(t, scenario.CommunityMetaKey, capi.CommunityMetaKey)
	listed, other := "203.0.113.66", "203.0.113.67"
	comm := capi.NewCommunity(nil)
	comm.Replace([]*store.Decision{{Scope: "Ip", Value: listed, Until: time.Now().Add(time.Hour)}})

	cfg, err := content.Select("", nil, true)
	require.NoError(t, err)
	cfg.Parsers = append(cfg.Parsers, parse.File{Stage: "s02-enrich", Path: "community-enrich.yaml", Content: []byte(enrichParser)})
	cfg.Scenarios = append(cfg.Scenarios, scenario.Source{Name: "strict.yaml", Data: []byte(strictScenarios)})
	cfg.DataDir = t.TempDir()
	cfg.Community = comm
	rt, err := content.Build(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = rt.Close() })

	var lines []string
	ts := time.Now().Format(time.Stamp)
	for i, ip := range []string{listed, other, listed, other} {
		lines = append(lines, fmt.Sprintf("%s web01 sshd[%d]: Failed password for root from %s port %d ssh2", ts, 100+i, ip, 40000+i))
	}
	var rows []string
	var alerts []string
	r := detect.New(detect.Config{Runtime: rt, Mode: event.LIVE, ParseWorkers: 1, BucketWorkers: 1,
		OnAlert: func(ev *event.Event) {
			for i := range ev.Overflow.APIAlerts {
				a := &ev.Overflow.APIAlerts[i]
				rows = append(rows, a.GetScenario()+" "+a.GetValue())
				_, why := capi.ToSignal(a, "m", capi.Consent{ShareCustom: true, ShareTainted: true}, time.Now())
				alerts = append(alerts, a.GetScenario()+" "+why)
			}
		}})
	_, _, err = r.Run(context.Background(), func(ctx context.Context, emit func(event.Line) error) error {
		for _, l := range lines {
			if err := emit(event.Line{Raw: l, Labels: map[string]string{"type": "syslog"}, Src: "test", Time: time.Now()}); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, err)
	sort.Strings(rows)
	sort.Strings(alerts)
	require.Equal(t, []string{"test/known-attacker-bf " + listed, "test/known-attacker-login " + listed}, rows,
		"only the listed address, by both the enricher's field and the helper; 2 failures are below the default scenario")
	require.Equal(t, []string{"test/known-attacker-bf " + capi.SkipCommunity, "test/known-attacker-login " + capi.SkipCommunity}, alerts)
	require.True(t, comm.Listed(netip.MustParseAddr(listed)))
	require.False(t, strings.Contains(strings.Join(rows, ","), other))
}
