package defaults_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/content"
	"github.com/phalanx-ids/phalanx/internal/defaults"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// parseSyslog runs one syslog line through the embedded parsers.
func parseSyslog(t *testing.T, rt *content.Runtime, raw string) (*event.Event, bool) {
	t.Helper()
	evt := event.New(event.Line{Raw: raw, Src: "auth.log", Module: "file", Time: time.Now(), Labels: map[string]string{"type": "syslog"}, Process: true})
	evt.ExpectMode = event.TIMEMACHINE
	ok := rt.Parsers.Parse(evt, nil)
	return evt, ok
}

// injection is the line of issue 8: the user name is
// "admin from 198.51.100.77 port 22", the client is 203.0.113.66.
const injection = "Invalid user admin from 198.51.100.77 port 22 from 203.0.113.66 port 40001"

// TestSSHDLogInjection: replayed through the embedded content, the
// injection line raises an alert on the address sshd wrote last, the
// attacker's, and never on the address written in the user name.
func TestSSHDLogInjection(t *testing.T) {
	rt := runtime(t)
	var lines []string
	for i := 0; i < 8; i++ {
		lines = append(lines, fmt.Sprintf("Mar  1 10:00:%02d web01 sshd[%d]: %s", i, 100+i, strings.Replace(injection, "40001", fmt.Sprint(40001+i), 1)))
	}
	got := replay(t, rt, "syslog", lines)
	require.Equal(t, []string{"phalanx/ssh-bruteforce 203.0.113.66"}, got)
	for _, a := range got {
		require.NotContains(t, a, "198.51.100.77")
	}
}

// TestSSHDHostileUserNames: whatever the client sends as user name, every
// message the embedded sshd parser handles yields the address sshd wrote
// last and the user name whole.
func TestSSHDHostileUserNames(t *testing.T) {
	rt := runtime(t)
	const attacker = "203.0.113.66"
	users := map[string]string{
		"plain":              "root",
		"empty":              "",
		"spaces":             "a b  c ",
		"quotes":             `"root" 'admin'`,
		"brackets":           "[preauth] (uid=0) {x}",
		"from X port Y":      "admin from 198.51.100.77 port 22",
		"port 22 ssh2":       "x port 22 ssh2",
		"full fake suffix":   "x from 198.51.100.77 port 22 ssh2",
		"fake key suffix":    "x from 198.51.100.77 port 22 ssh2: RSA SHA256:abc",
		"fake preauth":       "x 198.51.100.77 port 22 [preauth]",
		"fake mapped":        "x from ::ffff:198.51.100.77 port 1",
		"fake ipv6":          "x from 2001:db8::77 port 1",
		"fake invalid user":  "invalid user y from 198.51.100.77 port 22",
		"only an address":    "198.51.100.77",
		"unicode":            "ädmin\u202e",
		"trailing from":      "x from",
		"trailing from addr": "x from 198.51.100.77",
	}
	formats := []struct {
		name, tmpl, subType string
	}{
		{"failed password", "Failed password for %s from %s port 40001 ssh2", "failed_password"},
		{"failed password invalid user", "Failed password for invalid user %s from %s port 40001 ssh2", "failed_password"},
		{"failed publickey", "Failed publickey for %s from %s port 40001 ssh2: ED25519 SHA256:AbCd", "failed_password"},
		{"failed keyboard-interactive", "Failed keyboard-interactive/pam for invalid user %s from %s port 40001 ssh2", "failed_password"},
		{"invalid user", "Invalid user %s from %s port 40001", "invalid_user"},
		{"connection closed", "Connection closed by invalid user %s %s port 40001 [preauth]", "preauth_close"},
		{"connection reset", "Connection reset by authenticating user %s %s port 40001 [preauth]", "preauth_close"},
		{"disconnected", "Disconnected from invalid user %s %s port 40001 [preauth]", "preauth_close"},
		{"max auth", "error: maximum authentication attempts exceeded for invalid user %s from %s port 40001 ssh2 [preauth]", "max_auth_exceeded"},
	}
	for _, f := range formats {
		for uname, user := range users {
			t.Run(f.name+"/"+uname, func(t *testing.T) {
				for _, addr := range []struct{ written, want string }{
					{attacker, attacker},
					{"::ffff:" + attacker, attacker},
					{"2001:db8::66", "2001:db8::66"},
				} {
					msg := fmt.Sprintf(f.tmpl, user, addr.written)
					evt, ok := parseSyslog(t, rt, "Mar  1 10:00:00 web01 sshd[1]: "+msg)
					require.True(t, ok, "not parsed: %q", msg)
					require.Equal(t, addr.want, evt.Map(event.Meta)["source_ip"], "%q", msg)
					wantUser := user
					if strings.Contains(f.tmpl, "for %s") {
						// "for invalid user y" reads as the invalid-user
						// form: the name is ambiguous, the address is not.
						wantUser = strings.TrimPrefix(user, "invalid user ")
					}
					require.Equal(t, wantUser, evt.Map(event.Meta)["target_user"], "%q", msg)
					require.Equal(t, f.subType, evt.Map(event.Meta)["sub_type"], "%q", msg)
					require.Equal(t, "ssh_failed-auth", evt.Map(event.Meta)["log_type"])
				}
			})
		}
	}
}

// TestSSHDMessages: the messages without a user name, the old forms, and
// lines that must not parse.
func TestSSHDMessages(t *testing.T) {
	rt := runtime(t)
	for _, tc := range []struct {
		name, msg, ip, subType string
	}{
		{"no identification", "Did not receive identification string from 203.0.113.66 port 40001", "203.0.113.66", "no_identification"},
		{"no identification, old", "Did not receive identification string from 203.0.113.66", "203.0.113.66", "no_identification"},
		{"banner exchange", "banner exchange: Connection from 203.0.113.66 port 40001: invalid format", "203.0.113.66", "no_identification"},
		{"banner exchange, mapped", "banner exchange: Connection from ::ffff:203.0.113.66 port 40001: could not read protocol version", "203.0.113.66", "no_identification"},
		{"invalid user, old (no port)", "Invalid user admin from 203.0.113.66", "203.0.113.66", "invalid_user"},
		{"maximum attempts without error prefix", "maximum authentication attempts exceeded for root from 203.0.113.66 port 40001 ssh2", "203.0.113.66", "max_auth_exceeded"},
		{"mapped address is the whole address", "Failed password for root from ::ffff:203.0.113.5 port 22 ssh2", "203.0.113.5", "failed_password"},
		{"uppercase mapped prefix", "Failed password for root from ::FFFF:203.0.113.5 port 22 ssh2", "203.0.113.5", "failed_password"},
		{"ipv6 with embedded ipv4 is not unmapped", "Failed password for root from 64:ff9b::203.0.113.5 port 22 ssh2", "64:ff9b::203.0.113.5", "failed_password"},
		{"last octet starting with 2", "Invalid user x from 203.0.113.25 port 2", "203.0.113.25", "invalid_user"},
		// Not sshd's shape at the end: not parsed rather than parsed on an
		// address the client wrote.
		{"trailing text", "Invalid user x from 203.0.113.66 port 40001 and more", "", ""},
		{"identification inside a user name", "Invalid user Did not receive identification string from 198.51.100.77 x", "", ""},
		{"unable to negotiate is not an auth failure", "Unable to negotiate with 203.0.113.66 port 40001: no matching key exchange method found. Their offer: from 198.51.100.77 port 1 [preauth]", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evt, ok := parseSyslog(t, rt, "Mar  1 10:00:00 web01 sshd[1]: "+tc.msg)
			if tc.ip == "" {
				require.False(t, ok && evt.Map(event.Meta)["log_type"] == "ssh_failed-auth", "parsed: %v", evt.Map(event.Meta))
				return
			}
			require.True(t, ok, "not parsed")
			require.Equal(t, tc.ip, evt.Map(event.Meta)["source_ip"])
			require.Equal(t, tc.subType, evt.Map(event.Meta)["sub_type"])
		})
	}
	t.Run("sshd-session program", func(t *testing.T) {
		evt, ok := parseSyslog(t, rt, "Mar  1 10:00:00 web01 sshd-session[1]: Invalid user x from 203.0.113.66 port 40001")
		require.True(t, ok)
		require.Equal(t, "203.0.113.66", evt.Map(event.Meta)["source_ip"])
	})
}

// BenchmarkEmbeddedSSHDParse parses genlogs sshd lines (syslog header,
// sshd parser, enrichers) with the embedded content: the cost of the
// anchored patterns.
func BenchmarkEmbeddedSSHDParse(b *testing.B) {
	path, _ := testutil.GenLogs(b, "sshd", 20000, 1)
	raw, err := os.ReadFile(path)
	require.NoError(b, err)
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")[:2000]
	parsers, err := defaults.Parsers()
	require.NoError(b, err)
	rt, err := content.Build(content.Config{Parsers: parsers, DataDir: b.TempDir()})
	require.NoError(b, err)
	defer rt.Close()
	b.ResetTimer()
	parsed := 0
	for i := 0; i < b.N; i++ {
		l := lines[i%len(lines)]
		evt := event.New(event.Line{Raw: l, Src: "auth.log", Module: "file", Time: time.Now(), Labels: map[string]string{"type": "syslog"}, Process: true})
		evt.ExpectMode = event.TIMEMACHINE
		if rt.Parsers.Parse(evt, nil) {
			parsed++
		}
	}
	b.ReportMetric(float64(parsed)/float64(b.N), "parsed/line")
}
