package lint

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/content"
	"github.com/phalanx-ids/phalanx/internal/grok"
	"github.com/phalanx-ids/phalanx/internal/parse"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// TestPattern: synthetic patterns; want lists "address<-field" and, when
// free text spoils the end anchor, "address<-field|spoiler".
func TestPattern(t *testing.T) {
	lib := grok.NewLibrary()
	require.NoError(t, lib.Add("MY_USER", `.*`))
	require.NoError(t, lib.Add("MY_IP", `(?:::ffff:)?%{MY_ADDR:client}`))
	require.NoError(t, lib.Add("MY_ADDR", `%{IPV4}|%{IPV6}`))
	require.NoError(t, lib.Add("IP_WORKAROUND", `(?:%{IPV6}|%{IPv4_WORKAROUND})`))
	require.NoError(t, lib.Add("IPv4_WORKAROUND", `(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)`))
	for _, tc := range []struct {
		name, pattern string
		want          []string
	}{
		{"username then ip, no anchor", `Invalid user %{USERNAME:user} from %{IP:ip}( port \d+)?`, []string{"ip<-%{USERNAME:user}"}},
		{"username then ip, end anchor", `Invalid user %{USERNAME:user} from %{IP:ip}( port \d+)?$`, nil},
		{"data then ip", `for %{DATA:user} from %{IP:ip} port %{INT:port}`, []string{"ip<-%{DATA:user}"}},
		{"greedydata then ip", `%{GREEDYDATA:msg} from %{IPV4:ip}`, []string{"ip<-%{GREEDYDATA:msg}"}},
		{"notspace then iporhost", `user=%{NOTSPACE:u} rhost=%{IPORHOST:ip}`, []string{"ip<-%{NOTSPACE:u}"}},
		{"quoted then ip", `%{QS:agent} %{IP:xff}`, []string{"xff<-%{QS:agent}"}},
		{"inline dot star then ip", `user (.*) from %{IP:ip}`, []string{"ip<-.*"}},
		{"inline lazy then ip", `user (.*?) from %{IP:ip}`, []string{"ip<-.*?"}},
		{"inline negated class then ip", `user ([^\]]+) from %{IP:ip}`, []string{`ip<-[^\]]+`}},
		{"inline non-space then ip", `user \S+ from %{IP:ip}`, []string{`ip<-[^\t\n\f\r ]+`}},
		{"anchored, free text after the anchor point", `^user .* from %{IP:ip} port \d+ %{GREEDYDATA:rest}$`, []string{"ip<-.*|%{GREEDYDATA:rest}"}},
		{"anchored, non-space tokens after", `^user .* from %{IP:ip} port \d+(?: ssh2(?:: \S+ \S+)?)?$`, nil},
		{"anchored with \\z", `user .* from %{IP:ip}\z`, nil},
		{"whitespace runs are not fields", `user\s*%{INT:n}\s+from %{IP:ip}\s*`, nil},
		{"word is not user-controlled", `Failed %{WORD:method} from %{IP:ip}`, nil},
		{"address first", `^%{IPORHOST:remote_addr} - %{DATA:user} \[%{HTTPDATE:t}\] "%{DATA:req}"`, nil},
		{"vhost before address", `^(?:%{IPORHOST:vhost}(?::%{POSINT:port})? )?%{IPORHOST:remote_addr} \S+ (\S+)`, nil},
		{"uncaptured address is a token", `%{IP} %{GREEDYDATA:x}`, nil},
		{"nested address capture", `%{MY_USER:u} from %{MY_IP}`, []string{"client<-%{MY_USER:u}"}},
		{"nested address capture, anchored", `^x %{MY_USER:u} from %{MY_IP}(?: port \d+)?$`, nil},
		{"workaround address", `Invalid user\s*%{USERNAME:u}? from %{IP_WORKAROUND:ip}( port \d+)?`, []string{"ip<-%{USERNAME:u}"}},
		{"anchor in one branch only", `user %{DATA:u} from %{IP:ip}(?: port \d+$| extra)`, []string{"ip<-%{DATA:u}"}},
		{"field in another branch", `(?:user %{DATA:u}|host) from %{IP:ip}`, []string{"ip<-%{DATA:u}"}},
		{"no field on any path", `(?:user|host) from %{IP:ip}`, nil},
		{"two addresses", `%{DATA:u} from %{IP:src} to %{IP:dst}$`, nil},
		{"two addresses unanchored", `%{DATA:u} from %{IP:src} to %{IP:dst}`, []string{"dst<-%{DATA:u}", "src<-%{DATA:u}"}},
		{"free text between two addresses", `%{DATA:u} from %{IP:src} %{DATA:v} to %{IP:dst}$`, []string{"src<-%{DATA:u}|%{DATA:v}"}},
		{"repeated group", `(?:%{DATA:u} %{IP:ip} )+`, []string{"ip<-%{DATA:u}"}},
		{"bounded repeat is not free text", `[a-z ]{0,8} %{IP:ip}`, nil},
		{"large bounded repeat is", `.{0,100} %{IP:ip}`, []string{"ip<-.{0,100}"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := Pattern(lib, tc.pattern)
			require.NoError(t, err)
			var got []string
			for _, f := range fs {
				s := f.Address + "<-" + f.Field
				if f.Spoiler != "" {
					s += "|" + f.Spoiler
				}
				got = append(got, s)
			}
			require.Equal(t, tc.want, got)
		})
	}
	_, err := Pattern(lib, `%{NOPE:x}`)
	require.ErrorIs(t, err, grok.ErrUnknownPattern)
}

func hubLibrary(t *testing.T) *grok.Library {
	t.Helper()
	lib := grok.NewLibrary()
	require.NoError(t, lib.LoadDir(filepath.Join(testutil.Hub(t), "patterns")))
	return lib
}

// TestHubSSHDFlagged: the hub's sshd parser (CrowdSec's behaviour, kept)
// is open to the injection, and the lint says so.
func TestHubSSHDFlagged(t *testing.T) {
	p := filepath.Join(testutil.Hub(t), "parsers", "s01-parse", "crowdsecurity", "sshd-logs.yaml")
	fs, err := Files(hubLibrary(t), []parse.File{{Stage: "s01-parse", Path: p}})
	require.NoError(t, err)
	flagged := map[string]bool{}
	for _, f := range fs {
		require.Equal(t, p, f.File)
		require.Equal(t, "crowdsecurity/sshd-logs", f.Node)
		require.Equal(t, "sshd_client_ip", f.Address)
		flagged[f.Grok] = true
	}
	for _, g := range []string{"SSHD_FAIL", "SSHD_INVALID_USER", "SSHD_USER_FAIL", "SSHD_PREAUTH_AUTHENTICATING_USER",
		"SSHD_PREAUTH_AUTHENTICATING_USER_ALT", "SSHD_NOT_ALLOWED_USER", "SSHD_AUTH_FAIL"} {
		require.True(t, flagged[g], "%s not flagged; flagged: %v", g, flagged)
	}
	for _, g := range []string{"SSHD_DISC_PREAUTH", "SSHD_BAD_KEY_NEGOTIATION", "SSHD_AUTH_TIMEOUT", "SSHD_INVALID_BANNER"} {
		require.False(t, flagged[g], "%s: no user-controlled field before its address", g)
	}
	require.Contains(t, fs[0].String(), "log injection")
}

// TestEmbeddedPasses: Phalanx's own parsers have no such pattern.
func TestEmbeddedPasses(t *testing.T) {
	cfg, err := content.Select("", nil, false)
	require.NoError(t, err)
	require.NotEmpty(t, cfg.Parsers)
	fs, err := Files(grok.NewLibrary(), cfg.Parsers)
	require.NoError(t, err)
	var msgs []string
	for _, f := range fs {
		msgs = append(msgs, f.String())
	}
	require.Empty(t, fs, strings.Join(msgs, "\n"))
}

// TestHubParsers: the whole hub lints without error (every pattern
// expands and parses) and within bounds of time the test notices.
func TestHubParsers(t *testing.T) {
	cfg, err := content.Select(testutil.Hub(t), nil, true)
	require.NoError(t, err)
	files := append(append([]parse.File{}, cfg.Parsers...), cfg.PostOverflows...)
	fs, err := Files(hubLibrary(t), files)
	require.NoError(t, err)
	perFile := map[string]int{}
	for _, f := range fs {
		perFile[filepath.Base(f.File)]++
	}
	t.Logf("%d parser files, %d warnings in %d files", len(files), len(fs), len(perFile))
	require.Positive(t, perFile["sshd-logs.yaml"])
}
