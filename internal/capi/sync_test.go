package capi_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/capi"
	"github.com/phalanx-ids/phalanx/internal/capi/capitest"
	"github.com/phalanx-ids/phalanx/internal/central/centralstore"
	"github.com/phalanx-ids/phalanx/internal/central/server"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
)

// banAlert is alert with the agent's ban decision on ip.
func banAlert(uuid, ip string) *models.Alert {
	a := alert(uuid, ip, "crowdsecurity/ssh-bf")
	d := "4h"
	a.Decisions = []*models.Decision{{Origin: sp("crowdsec"), Type: sp("ban"), Scope: sp("Ip"), Value: sp(ip), Duration: &d, Scenario: sp("crowdsecurity/ssh-bf")}}
	return a
}

func activeUUIDs(t *testing.T, st store.Store, value string) []string {
	t.Helper()
	ds, err := st.ListDecisions(context.Background(), store.DecisionFilter{Value: value, ActiveAt: time.Now()})
	require.NoError(t, err)
	var out []string
	for _, d := range ds {
		out = append(out, d.UUID)
	}
	return out
}

// Decisions an operator deletes on the LAPI (DELETE /v1/decisions, by
// filter and by id) are reported to the central (POST
// /v3/decisions/delete) with share_manual_decisions, by uuid; without
// it, nothing is sent. Real central over loopback.
func TestDecisionDeletionSync(t *testing.T) {
	for _, share := range []bool{true, false} {
		t.Run(map[bool]string{true: "share_manual_decisions", false: "not shared"}[share], func(t *testing.T) {
			central := startRealCentral(t)
			var sent []string
			rec := &bodyRecorder{path: "/v3/decisions/delete", onOK: func(b []byte) {
				var ids []string
				require.NoError(t, json.Unmarshal(b, &ids))
				sent = append(sent, ids...)
			}}
			in := newInstallAt(t, central.URL(), true, "", func(s *capi.Settings) {
				s.Consent.ShareManualDecisions = share
				s.DeleteSyncInterval = 50 * time.Millisecond
				s.HTTP = &http.Client{Transport: rec}
			}, nil)
			ctx := context.Background()
			ag := in.agent()
			_, err := ag.PushAlerts(ctx, []*models.Alert{banAlert("d-1", "203.0.113.1"), banAlert("d-2", "203.0.113.2"), banAlert("d-3", "203.0.113.3")})
			require.NoError(t, err)
			want := append(activeUUIDs(t, in.st, "203.0.113.1"), activeUUIDs(t, in.st, "203.0.113.2")...)
			require.Len(t, want, 2)
			n, err := ag.DeleteDecisions(ctx, apiclient.DecisionFilter{IP: "203.0.113.1"})
			require.NoError(t, err)
			require.Equal(t, 1, n)
			ds, err := in.st.ListDecisions(ctx, store.DecisionFilter{Value: "203.0.113.2"})
			require.NoError(t, err)
			n, err = ag.DeleteDecision(ctx, ds[0].ID)
			require.NoError(t, err)
			require.Equal(t, 1, n)
			if !share {
				time.Sleep(500 * time.Millisecond) // ten sync intervals
				rep, err := central.read.GetReport(ctx, in.creds.Login)
				require.NoError(t, err)
				require.Zero(t, rep.Deletions)
				require.Empty(t, rec.Seen())
				return
			}
			require.ElementsMatch(t, want, waitDeletions(t, central, in.creds.Login, rec, &sent, 2), "the deleted decisions' uuids")
			third := activeUUIDs(t, in.st, "203.0.113.3")
			require.Len(t, third, 1, "the others stay")

			// The central is down when the operator deletes: kept, sent once it is back.
			central.Down()
			n, err = ag.DeleteDecisions(ctx, apiclient.DecisionFilter{IP: "203.0.113.3"})
			require.NoError(t, err)
			require.Equal(t, 1, n)
			tried := rec.Seen()
			require.Eventually(t, func() bool { return rec.Seen() >= tried+2 }, 10*time.Second, 10*time.Millisecond,
				"two failed tries while the central is down")
			central.Up()
			require.ElementsMatch(t, append(want, third...), waitDeletions(t, central, in.creds.Login, rec, &sent, 3))
		})
	}
}

// The LAPI sends its inventory (POST /v3/metrics/): at start, and at
// once when a machine is added; the central keeps the counts.
func TestMetricsPush(t *testing.T) {
	central := startRealCentral(t)
	in := newInstallAt(t, central.URL(), true, "", func(s *capi.Settings) {
		s.SendMetrics, s.MetricsInterval, s.MetricsCheck, s.Version = true, time.Hour, 100*time.Millisecond, "v9.9.9-test"
	}, nil)
	ctx := context.Background()
	report := func() centralstore.Report {
		rep, err := central.read.GetReport(ctx, in.creds.Login)
		require.NoError(t, err)
		return rep
	}
	require.Eventually(t, func() bool { return report().Machines == 1 }, 5*time.Second, 20*time.Millisecond, "sent at start")
	rep := report()
	require.Equal(t, 1, rep.Bouncers)
	require.Equal(t, "v9.9.9-test", rep.Version)
	m, err := in.svc.Metrics(ctx)
	require.NoError(t, err)
	require.Equal(t, agentID, m.Machines[0].Name)
	require.Equal(t, "fw", m.Bouncers[0].CustomName)

	require.NoError(t, in.st.CreateMachine(ctx, &store.Machine{ID: "agent-2", PasswordHash: "x", IsValidated: true, AuthType: "password"}))
	// The interval is an hour; the change is seen at the next check (20 s
	// in production, 100 ms here).
	require.Eventually(t, func() bool { return report().Machines == 2 }, 5*time.Second, 20*time.Millisecond, "sent when the machines change")
}

// A central publishing its allowlist (publish_allowlist) links it in the
// stream (links.allowlists); the install fetches it (signed URL, no token
// needed), makes it a local allowlist, expires the decisions it covers,
// and fetches it again only when it changes.
func TestAllowlistLink(t *testing.T) {
	central := startRealCentral(t, func(c *server.Config) { c.PublishAllowlist = true })
	ctx := context.Background()
	require.NoError(t, central.read.AddAllow(ctx, []centralstore.AllowEntry{{CIDR: "203.0.113.0/24", Reason: "partner scanners"}}))
	in := newInstallAt(t, central.URL(), false, "", nil, nil)
	_, err := in.agent().PushAlerts(ctx, []*models.Alert{banAlert("a-1", "203.0.113.7"), banAlert("a-2", "198.51.100.7")})
	require.NoError(t, err)
	require.Len(t, activeUUIDs(t, in.st, "203.0.113.7"), 1)
	time.Sleep(100 * time.Millisecond) // the central's allowlist cache (poll 50 ms)

	res, err := in.svc.PullNow(ctx, true)
	require.NoError(t, err)
	require.Equal(t, map[string]int{server.AllowlistLinkName: 1}, res.Allowlists)
	al, err := in.st.GetAllowlist(ctx, server.AllowlistLinkName)
	require.NoError(t, err)
	require.Len(t, al.Items, 1)
	require.Equal(t, "203.0.113.0/24", al.Items[0].Value)
	require.Equal(t, "partner scanners", al.Items[0].Comment)
	require.Empty(t, activeUUIDs(t, in.st, "203.0.113.7"), "the decision it covers expired")
	require.Len(t, activeUUIDs(t, in.st, "198.51.100.7"), 1, "the others stay")
	_, hit := in.srv.Allowlists().Check("203.0.113.9", time.Now())
	require.True(t, hit, "in force in the LAPI at once")

	res, err = in.svc.PullNow(ctx, false)
	require.NoError(t, err)
	require.Empty(t, res.Allowlists, "unchanged: not fetched again")

	time.Sleep(5 * time.Millisecond) // a later created_at
	require.NoError(t, central.read.AddAllow(ctx, []centralstore.AllowEntry{{CIDR: "2001:db8::/32", Reason: "v6"}}))
	time.Sleep(100 * time.Millisecond)
	res, err = in.svc.PullNow(ctx, false)
	require.NoError(t, err)
	require.Equal(t, map[string]int{server.AllowlistLinkName: 2}, res.Allowlists)

	// The link works without a token (a stock CrowdSec LAPI fetches it
	// so), and only with its signature.
	st, _, err := in.svc.Client().PullStream(ctx, true, true, true)
	require.NoError(t, err)
	require.Len(t, st.Links.Allowlists, 1)
	link := st.Links.Allowlists[0].URL
	with := func(k, v string) string {
		u, err := url.Parse(link)
		require.NoError(t, err)
		q := u.Query()
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	sig := func() string { u, _ := url.Parse(link); return u.Query().Get("sig") }()
	flip := map[bool]string{true: "1", false: "0"}[strings.HasPrefix(sig, "0")] + sig[1:]
	for _, tc := range []struct {
		name, url string
		want      int
	}{
		{"signed", link, 200},
		{"tampered signature", with("sig", flip), 403},
		{"another machine", with("machine", "0000000000000000"+in.creds.Login[16:]), 403},
		{"later expiry", with("exp", "99999999999"), 403},
		{"no signature", with("sig", ""), 403},
	} {
		resp, err := http.Get(tc.url)
		require.NoError(t, err, tc.name)
		resp.Body.Close()
		require.Equal(t, tc.want, resp.StatusCode, tc.name)
	}
}

// A deletion queued before the LAPI stops (its sync not yet due) is in
// the store's outbox: after the restart it reaches the central, once.
// The central counts a uuid once, so a batch sent again (an answer lost
// before the outbox recorded it) adds nothing.
func TestDecisionDeletionSurvivesRestart(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			dsn := ""
			if db == "postgres" {
				dsn = pg.DSN(t)
			}
			testDecisionDeletionSurvivesRestart(t, dsn)
		})
	}
}

func testDecisionDeletionSurvivesRestart(t *testing.T, dsn string) {
	central := startRealCentral(t)
	sent := map[string]int{}
	rec := &bodyRecorder{path: "/v3/decisions/delete", onOK: func(b []byte) {
		var ids []string
		require.NoError(t, json.Unmarshal(b, &ids))
		for _, id := range ids {
			sent[id]++
		}
	}}
	in := newInstallAt(t, central.URL(), true, dsn, func(s *capi.Settings) {
		s.Consent.ShareManualDecisions = true
		s.DeleteSyncInterval = time.Hour // not before the restart
		s.HTTP = &http.Client{Transport: rec}
	}, nil)
	ctx := context.Background()
	ag := in.agent()
	_, err := ag.PushAlerts(ctx, []*models.Alert{banAlert("r-1", "203.0.113.1"), banAlert("r-2", "203.0.113.2")})
	require.NoError(t, err)
	want := activeUUIDs(t, in.st, "203.0.113.1")
	require.Len(t, want, 1)
	n, err := ag.DeleteDecisions(ctx, apiclient.DecisionFilter{IP: "203.0.113.1"})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	n, err = ag.DeleteDecisions(ctx, apiclient.DecisionFilter{IP: "203.0.113.1"})
	require.NoError(t, err)
	require.Zero(t, n, "already deleted: nothing queued again")

	in.set.DeleteSyncInterval = 50 * time.Millisecond
	in.restart(true) // the sync was never due before the stop
	require.Eventually(t, func() bool {
		rep, err := central.read.GetReport(ctx, in.creds.Login)
		return err == nil && rep.Deletions == 1
	}, 5*time.Second, 20*time.Millisecond, "sent after the restart")
	// The central counts before it answers: the install has the answer
	// once the item left the outbox.
	waitOutboxEmpty(t, in.st, "marked sent")
	time.Sleep(500 * time.Millisecond) // ten more sync intervals: none sends it again
	rep, err := central.read.GetReport(ctx, in.creds.Login)
	require.NoError(t, err)
	require.EqualValues(t, 1, rep.Deletions, "once")
	rec.mu.Lock()
	got := maps.Clone(sent)
	rec.mu.Unlock()
	require.Equal(t, map[string]int{want[0]: 1}, got, "one request carried it, once")
	left, err := in.st.OutboxPending(ctx, store.OutboxDeletion, 0)
	require.NoError(t, err)
	require.Empty(t, left)

	// The same batch posted again (as after a lost answer): counted once.
	require.NoError(t, in.svc.Client().DeleteDecisions(ctx, want))
	rep, err = central.read.GetReport(ctx, in.creds.Login)
	require.NoError(t, err)
	require.EqualValues(t, 1, rep.Deletions, "a uuid counts once at the central")
}

// A central that refuses deletions for what they are (here one without
// the route: 404) gets them once: they are set aside in the outbox, not
// sent again at every sync.
func TestDecisionDeletionRefusedSetAside(t *testing.T) {
	central := capitest.New(t)
	rec := &bodyRecorder{path: "/v3/decisions/delete", onOK: func([]byte) {}}
	in := newInstallAt(t, central.URL(), true, "", func(s *capi.Settings) {
		s.Consent.ShareManualDecisions = true
		s.DeleteSyncInterval = 20 * time.Millisecond
		s.HTTP = &http.Client{Transport: rec}
	}, nil)
	ctx := context.Background()
	ag := in.agent()
	_, err := ag.PushAlerts(ctx, []*models.Alert{banAlert("x-1", "203.0.113.1")})
	require.NoError(t, err)
	_, err = ag.DeleteDecisions(ctx, apiclient.DecisionFilter{IP: "203.0.113.1"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return rec.Seen() == 1 }, 5*time.Second, 10*time.Millisecond)
	waitOutboxEmpty(t, in.st, "set aside")
	time.Sleep(300 * time.Millisecond) // fifteen sync intervals
	require.Equal(t, 1, rec.Seen(), "not sent again")
}

// waitOutboxEmpty waits (10 s at most) until st has no pending deletion
// (sent or set aside).
func waitOutboxEmpty(t *testing.T, st store.Store, what string) {
	t.Helper()
	require.Eventually(t, func() bool {
		left, err := st.OutboxPending(context.Background(), store.OutboxDeletion, 0)
		return err == nil && len(left) == 0
	}, 10*time.Second, 10*time.Millisecond, "the deletion is %s: no longer pending in the outbox", what)
}

// waitDeletions waits (10 s at most) until the central has counted n
// deletions from login and rec has handed n uuids to sent, then returns
// a copy of sent. Both are needed: the central commits a batch before it
// answers, so its count runs ahead of what rec records from the answer.
func waitDeletions(t *testing.T, central *realCentral, login string, rec *bodyRecorder, sent *[]string, n int) []string {
	t.Helper()
	var counted int64
	var got []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		rep, err := central.read.GetReport(context.Background(), login)
		if err == nil {
			counted = rep.Deletions
		}
		got = sentSoFar(rec, sent)
		if counted == int64(n) && len(got) >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %d deletions counted and sent within 10 s; the central counted %d, the install sent %q", n, counted, got)
		}
	}
	return got
}

// sentSoFar copies *sent under rec's lock (a failed assertion must not
// leave the lock held: the install's sync loop would block on it).
func sentSoFar(rec *bodyRecorder, sent *[]string) []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]string(nil), (*sent)...)
}
