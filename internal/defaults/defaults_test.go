package defaults_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/content"
	"github.com/phalanx-ids/phalanx/internal/defaults"
	"github.com/phalanx-ids/phalanx/internal/detect"
	"github.com/phalanx-ids/phalanx/internal/event"
)

func runtime(t *testing.T) *content.Runtime {
	t.Helper()
	parsers, err := defaults.Parsers()
	require.NoError(t, err)
	scens, info, err := defaults.Scenarios()
	require.NoError(t, err)
	rt, err := content.Build(content.Config{Parsers: parsers, Scenarios: scens, ScenarioInfo: info, DataDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() { rt.Close() })
	return rt
}

// replay runs lines of one log type through the embedded content and
// returns "scenario source" for each alert, sorted.
func replay(t *testing.T, rt *content.Runtime, typ string, lines []string) []string {
	t.Helper()
	var got []string
	r := detect.New(detect.Config{Runtime: rt, Mode: event.TIMEMACHINE, OnAlert: func(ev *event.Event) {
		for _, a := range ev.Overflow.APIAlerts {
			got = append(got, a.GetScenario()+" "+a.GetValue())
		}
	}})
	_, _, err := r.Run(context.Background(), func(ctx context.Context, emit func(event.Line) error) error {
		for _, l := range lines {
			if err := emit(event.Line{Raw: l, Src: "test.log", Module: "file", Time: time.Now(), Labels: map[string]string{"type": typ}}); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, err)
	sort.Strings(got)
	return got
}

func access(ip string, sec int, path string, status int, ua string) string {
	return fmt.Sprintf(`%s - - [01/Mar/2024:10:%02d:%02d +0000] "GET %s HTTP/1.1" %d 153 "-" "%s"`, ip, sec/60, sec%60, path, status, ua)
}

func sshFail(ip string, sec int, user string) string {
	return fmt.Sprintf("Mar  1 10:%02d:%02d web01 sshd[%d]: Failed password for invalid user %s from %s port 4242 ssh2", sec/60, sec%60, 1000+sec, user, ip)
}

const browser = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36"

func TestEmbeddedScenarios(t *testing.T) {
	rt := runtime(t)
	repeat := func(n int, f func(i int) string) []string {
		var out []string
		for i := 0; i < n; i++ {
			out = append(out, f(i))
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		typ   string
		lines []string
		want  []string
	}{
		{"ssh brute force, one user", "syslog", repeat(6, func(i int) string { return sshFail("203.0.113.9", i, "root") }),
			[]string{"phalanx/ssh-bruteforce 203.0.113.9"}},
		{"ssh five failures stay under the threshold", "syslog", repeat(5, func(i int) string { return sshFail("203.0.113.9", i*3, "root") }), nil},
		{"ssh user enumeration", "syslog", repeat(6, func(i int) string { return sshFail("203.0.113.9", i, fmt.Sprintf("user%d", i)) }),
			[]string{"phalanx/ssh-bruteforce 203.0.113.9", "phalanx/ssh-user-enumeration 203.0.113.9"}},
		{"ssh slow brute force", "syslog", repeat(14, func(i int) string { return sshFail("203.0.113.9", i*12, "root") }),
			[]string{"phalanx/ssh-slow-bruteforce 203.0.113.9"}},
		{"ssh from a private address is whitelisted", "syslog", repeat(20, func(i int) string { return sshFail("192.168.1.20", i, "root") }), nil},
		{"http probing", "nginx", repeat(11, func(i int) string { return access("203.0.113.5", i/2, fmt.Sprintf("/missing-%d", i), 404, browser) }),
			[]string{"phalanx/http-probing 203.0.113.5"}},
		{"http 404s on static files are not probing", "nginx", repeat(30, func(i int) string { return access("203.0.113.5", i, fmt.Sprintf("/img/%d.png", i), 404, browser) }), nil},
		{"http crawl", "nginx", repeat(60, func(i int) string { return access("203.0.113.6", i/20, fmt.Sprintf("/page/%d", i), 200, browser) }),
			[]string{"phalanx/http-crawl-non-statics 203.0.113.6"}},
		{"http bad user agent", "nginx", repeat(2, func(i int) string {
			return access("203.0.113.7", i, "/", 200, "sqlmap/1.8#stable (https://sqlmap.org)")
		}),
			[]string{"phalanx/http-bad-user-agent 203.0.113.7"}},
		{"http path traversal", "nginx", []string{access("203.0.113.8", 0, "/dl?f=../../etc/passwd", 400, browser)},
			[]string{"phalanx/http-path-traversal 203.0.113.8"}},
		{"http sensitive files", "nginx", []string{
			access("203.0.113.10", 0, "/.env", 404, browser), access("203.0.113.10", 1, "/.git/config", 404, browser),
			access("203.0.113.10", 2, "/.aws/credentials", 404, browser), access("203.0.113.10", 3, "/backup.sql", 404, browser),
			access("203.0.113.10", 4, "/.htpasswd", 404, browser)},
			[]string{"phalanx/http-sensitive-files 203.0.113.10"}},
		{"http wordpress scan", "nginx", []string{
			access("203.0.113.11", 0, "/wp-login.php", 404, browser), access("203.0.113.11", 1, "/xmlrpc.php", 404, browser),
			access("203.0.113.11", 2, "/wp-admin/", 404, browser), access("203.0.113.11", 3, "/wp-includes/", 404, browser),
			access("203.0.113.11", 4, "/wp-content/plugins/revslider/", 404, browser), access("203.0.113.11", 5, "/wp-json/wp/v2/users", 404, browser)},
			[]string{"phalanx/http-wordpress-scan 203.0.113.11"}},
		{"http admin interfaces", "nginx", []string{
			access("203.0.113.12", 0, "/phpmyadmin/", 404, browser), access("203.0.113.12", 1, "/adminer.php", 404, browser),
			access("203.0.113.12", 2, "/manager/html", 404, browser), access("203.0.113.12", 3, "/jenkins", 404, browser)},
			[]string{"phalanx/http-admin-interface-probing 203.0.113.12"}},
		{"http benign browsing", "nginx", repeat(40, func(i int) string {
			return access("203.0.113.13", i*5, []string{"/", "/about", "/blog/"}[i%3], 200, browser)
		}), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := replay(t, rt, tc.typ, tc.lines)
			if tc.want == nil {
				require.Empty(t, got)
				return
			}
			require.Equal(t, tc.want, got, "alerts:\n%s", strings.Join(got, "\n"))
		})
	}
}

func TestEmbeddedContentLists(t *testing.T) {
	parsers, err := defaults.Parsers()
	require.NoError(t, err)
	require.NotEmpty(t, parsers)
	for _, p := range parsers {
		require.True(t, strings.HasPrefix(p.Path, "embedded:parsers/"+p.Stage+"/"), p.Path)
	}
	scens, info, err := defaults.Scenarios()
	require.NoError(t, err)
	require.NotEmpty(t, scens)
	require.Len(t, info, 10)
	for name, hi := range info {
		require.True(t, strings.HasPrefix(name, "phalanx/"), name)
		require.Len(t, hi.Hash, 64)
		require.Equal(t, defaults.Version, hi.Version)
	}
}
