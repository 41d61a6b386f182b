package capi_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/capi"
	"github.com/phalanx-ids/phalanx/internal/capi/capitest"
	"github.com/phalanx-ids/phalanx/internal/capi/wire"
	"github.com/phalanx-ids/phalanx/internal/models"
)

func TestRegisterWritesCredentials(t *testing.T) {
	central := capitest.New(t)
	path := filepath.Join(t.TempDir(), capi.CredentialsFile)
	c, err := capi.Register(context.Background(), central.URL(), path, false, capi.ClientOptions{})
	require.NoError(t, err)
	require.Regexp(t, regexp.MustCompile(`^[a-zA-Z0-9]{48}$`), c.Login)
	require.Len(t, c.Password, 64)

	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	got, err := capi.ReadCredentials(path)
	require.NoError(t, err)
	require.Equal(t, c, got)
	require.Equal(t, central.URL(), got.URL)
	pw, _, _, ok := central.Machine(c.Login)
	require.True(t, ok, "the central knows the machine")
	require.Equal(t, c.Password, pw)

	_, err = capi.Register(context.Background(), central.URL(), path, false, capi.ClientOptions{})
	require.ErrorContains(t, err, "exists")
	again, err := capi.ReadCredentials(path)
	require.NoError(t, err)
	require.Equal(t, c, again, "a refused register leaves the file alone")

	// A central that is down: a clear, retryable error, no file.
	other := filepath.Join(t.TempDir(), capi.CredentialsFile)
	central.Down()
	_, err = capi.Register(context.Background(), central.URL(), other, false, capi.ClientOptions{})
	require.Error(t, err)
	require.True(t, capi.Retryable(err))
	require.NoFileExists(t, other)
}

func TestMachineIDFromHost(t *testing.T) {
	read := func(string) ([]byte, error) { return []byte("0123456789abcdef0123456789abcdef\n"), nil }
	a, b := capi.NewMachineID(read), capi.NewMachineID(read)
	require.Len(t, a, 48)
	require.Equal(t, "0123456789abcdef0123456789abcdef", a[:32], "32 characters from the host's machine-id")
	require.NotEqual(t, a, b, "16 random characters")
	none := func(string) ([]byte, error) { return nil, os.ErrNotExist }
	require.Regexp(t, `^[a-zA-Z0-9]{48}$`, capi.NewMachineID(none))
}

func TestLoginEnrollStatus(t *testing.T) {
	central := capitest.New(t)
	path := filepath.Join(t.TempDir(), capi.CredentialsFile)
	creds, err := capi.Register(context.Background(), central.URL(), path, false, capi.ClientOptions{})
	require.NoError(t, err)
	cl, err := capi.NewClient(creds, capi.ClientOptions{Scenarios: func() []string { return []string{"crowdsecurity/ssh-bf"} }})
	require.NoError(t, err)
	ctx := context.Background()
	info, err := cl.Login(ctx)
	require.NoError(t, err)
	require.False(t, info.Enrolled)
	require.True(t, info.Expire.After(time.Now()))
	require.Equal(t, []string{"crowdsecurity/ssh-bf"}, central.Logins()[0].Scenarios)

	err = cl.Enroll(ctx, "nosuchkey", "edge-1", nil, false)
	require.Error(t, err)
	require.False(t, capi.Retryable(err))
	require.ErrorContains(t, err, "403")

	central.AddKey("k3y", "org-a")
	require.NoError(t, cl.Enroll(ctx, "k3y", "edge-1", []string{"dc1"}, false))
	_, org, name, _ := central.Machine(creds.Login)
	require.Equal(t, "org-a", org)
	require.Equal(t, "edge-1", name)
	info, err = cl.Login(ctx)
	require.NoError(t, err)
	require.True(t, info.Enrolled)
	require.Equal(t, "org-a", info.Organization)

	bad := creds
	bad.Password = "wrong"
	cl2, err := capi.NewClient(bad, capi.ClientOptions{})
	require.NoError(t, err)
	_, err = cl2.Login(ctx)
	require.ErrorContains(t, err, "403")
}

func TestConsoleFile(t *testing.T) {
	dir := t.TempDir()
	c, err := capi.ReadConsole(filepath.Join(dir, "missing.yaml"))
	require.NoError(t, err)
	require.Equal(t, capi.Consent{ShareCustom: true, ShareTainted: true}, c, "CrowdSec's defaults")

	p := filepath.Join(dir, capi.ConsoleFile)
	require.NoError(t, os.WriteFile(p, []byte("share_manual_decisions: true\nshare_custom: false\nshare_context: true\n"), 0o600))
	c, err = capi.ReadConsole(p)
	require.NoError(t, err)
	require.Equal(t, capi.Consent{ShareManualDecisions: true, ShareCustom: false, ShareTainted: true, ShareContext: true}, c)

	require.NoError(t, os.WriteFile(p, []byte("share_cutsom: false\n"), 0o600))
	_, err = capi.ReadConsole(p)
	require.ErrorContains(t, err, "share_cutsom")

	require.NoError(t, capi.WriteConsole(p, capi.Consent{ShareTainted: true}))
	c, err = capi.ReadConsole(p)
	require.NoError(t, err)
	require.Equal(t, capi.Consent{ShareTainted: true}, c)
}

func TestToSignal(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	withDecision := func(a *models.Alert, origin string) *models.Alert {
		d := "4h"
		a.Decisions = []*models.Decision{{Origin: sp(origin), Type: sp("ban"), Scope: sp("Ip"), Value: a.Source.Value, Duration: &d, Scenario: a.Scenario}}
		return a
	}
	all := capi.Consent{ShareManualDecisions: true, ShareCustom: true, ShareTainted: true}
	tests := []struct {
		name    string
		alert   func() *models.Alert
		consent capi.Consent
		skip    string
		trust   string
	}{
		{"certified", func() *models.Alert {
			return withDecision(alert("u1", "203.0.113.7", "crowdsecurity/ssh-bf"), "crowdsec")
		}, capi.DefaultConsent(), "", capi.TrustCertified},
		{"simulated", func() *models.Alert {
			a := alert("u1", "203.0.113.7", "x/y")
			a.Simulated = new(bool)
			*a.Simulated = true
			return a
		}, all, capi.SkipSimulated, ""},
		{"custom shared by default", func() *models.Alert { a := alert("u1", "203.0.113.7", "me/mine"); a.ScenarioHash = sp(""); return a }, capi.DefaultConsent(), "", capi.TrustCustom},
		{"custom refused", func() *models.Alert { a := alert("u1", "203.0.113.7", "me/mine"); a.ScenarioHash = sp(""); return a }, capi.Consent{ShareTainted: true}, capi.SkipCustom, ""},
		{"tainted refused", func() *models.Alert { a := alert("u1", "203.0.113.7", "x/y"); a.ScenarioVersion = sp("?"); return a }, capi.Consent{ShareCustom: true}, capi.SkipTainted, ""},
		{"tainted shared", func() *models.Alert { a := alert("u1", "203.0.113.7", "x/y"); a.ScenarioVersion = sp(""); return a }, capi.DefaultConsent(), "", capi.TrustTainted},
		{"manual off by default", func() *models.Alert {
			return withDecision(alert("u1", "203.0.113.7", "manual 'ban' from 'x'"), "cscli")
		}, capi.DefaultConsent(), capi.SkipManual, ""},
		{"import is manual", func() *models.Alert { return withDecision(alert("u1", "203.0.113.7", "import"), "cscli-import") }, capi.DefaultConsent(), capi.SkipManual, ""},
		{"manual on", func() *models.Alert { return withDecision(alert("u1", "203.0.113.7", "manual"), "cscli") }, all, "", capi.TrustManual},
		{"community decision", func() *models.Alert { return withDecision(alert("u1", "203.0.113.7", "x/y"), "CAPI") }, all, capi.SkipCommunity, ""},
		{"blocklist decision", func() *models.Alert { return withDecision(alert("u1", "203.0.113.7", "x/y"), "lists") }, all, capi.SkipCommunity, ""},
		{"community-dependent scenario", func() *models.Alert {
			a := alert("u1", "203.0.113.7", "x/y")
			a.Meta = models.Meta{{Key: capi.CommunityMetaKey, Value: "true"}}
			return a
		}, all, capi.SkipCommunity, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.alert()
			s, why := capi.ToSignal(a, "agent-1", tc.consent, now)
			require.Equal(t, tc.skip, why)
			if tc.skip != "" {
				require.Nil(t, s)
				return
			}
			require.Equal(t, tc.trust, s.ScenarioTrust)
			require.Equal(t, a.GetScenario(), s.Scenario)
			require.Equal(t, "u1", s.UUID)
			require.Equal(t, "agent-1", s.MachineID)
			require.Equal(t, "203.0.113.7", s.Source.Value)
			require.Equal(t, "Ip", s.Source.Scope)
			require.Equal(t, now.Format(time.RFC3339), s.CreatedAt)
			_, err := time.Parse(time.RFC3339, s.StartAt)
			require.NoError(t, err)
			require.Nil(t, s.Context, "share_context is off")
		})
	}
	a := alert("u2", "203.0.113.8", "x/y")
	a.Meta = models.Meta{{Key: "target_uri", Value: "/wp-login.php"}}
	s, _ := capi.ToSignal(a, "m", capi.Consent{ShareContext: true}, now)
	require.Equal(t, []wire.ContextItem{{Key: "target_uri", Value: "/wp-login.php"}}, s.Context)
}
