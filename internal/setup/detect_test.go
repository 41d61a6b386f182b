package setup

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/acquire"
	"github.com/phalanx-ids/phalanx/internal/acquire/builtin"
)

// tree writes files (path -> content; "->target" makes a symlink) under a
// new root.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, p)
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		if target, ok := strings.CutPrefix(c, "->"); ok {
			require.NoError(t, os.Symlink(target, full))
			continue
		}
		if strings.HasSuffix(p, "/") {
			require.NoError(t, os.MkdirAll(full, 0o755))
			continue
		}
		require.NoError(t, os.WriteFile(full, []byte(c), 0o644))
	}
	return root
}

func rules(t *testing.T) *Rules {
	t.Helper()
	r, err := DefaultRules()
	require.NoError(t, err)
	return r
}

func TestDetect(t *testing.T) {
	t.Parallel()
	journal := map[string]string{"var/log/journal/": "", "usr/bin/journalctl": "#!"}
	with := func(a, b map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range a {
			out[k] = v
		}
		for k, v := range b {
			out[k] = v
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		files    map[string]string
		services []string          // detected, in order
		sources  map[string]Source // service -> its single source
		warn     map[string]string // service -> a warning it has
	}{
		{name: "bare machine", files: map[string]string{"etc/hostname": "x"}, services: []string{"linux"}},
		{name: "nginx and sshd", files: map[string]string{
			"etc/nginx/nginx.conf": "", "var/log/nginx/access.log": "", "var/log/nginx/other.access.log": "",
			"lib/systemd/system/ssh.service": "", "var/log/auth.log": "",
		}, services: []string{"linux", "sshd", "nginx"}, sources: map[string]Source{
			"sshd":  {Type: "syslog", Files: []string{"/var/log/auth.log"}},
			"nginx": {Type: "nginx", Files: []string{"/var/log/nginx/*.log"}},
		}},
		{name: "sshd only in journald", files: with(journal, map[string]string{"lib/systemd/system/ssh.service": ""}),
			services: []string{"linux", "sshd"}, sources: map[string]Source{
				"sshd": {Type: "syslog", Journald: []string{"_SYSTEMD_UNIT=ssh.service"}},
			}},
		{name: "sshd without logs nor journald", files: map[string]string{"etc/ssh/sshd_config": ""},
			services: []string{"linux", "sshd"}, warn: map[string]string{"sshd": "no log found: looked for /var/log/auth.log, /var/log/secure"}},
		{name: "postfix and dovecot share mail.log", files: map[string]string{
			"etc/postfix/main.cf": "", "etc/dovecot/dovecot.conf": "", "var/log/mail.log": "",
		}, services: []string{"linux", "postfix", "dovecot"}, sources: map[string]Source{
			"postfix": {Type: "syslog", Files: []string{"/var/log/mail.log"}},
		}, warn: map[string]string{"dovecot": "/var/log/mail.log is already read for postfix"}},
		{name: "mariadb is not mysql too", files: map[string]string{
			"lib/systemd/system/mariadb.service": "", "etc/systemd/system/mysql.service": "->/lib/systemd/system/mariadb.service",
			"etc/mysql/mariadb.conf.d/": "", "var/log/mysql/error.log": "",
		}, services: []string{"linux", "mariadb"}, sources: map[string]Source{
			"mariadb": {Type: "mariadb", Files: []string{"/var/log/mysql/error.log"}},
		}},
		{name: "masked unit", files: map[string]string{"etc/systemd/system/nginx.service": "->/dev/null"}, services: []string{"linux"}},
		{name: "apache on a RHEL layout", files: map[string]string{"etc/httpd/conf/httpd.conf": "", "var/log/httpd/access_log": ""},
			services: []string{"linux", "apache2"}, sources: map[string]Source{"apache2": {Type: "apache2", Files: []string{"/var/log/httpd/*_log"}}}},
		{name: "every service", files: map[string]string{
			"etc/caddy/Caddyfile": "", "etc/traefik/traefik.yml": "", "etc/haproxy/haproxy.cfg": "",
			"etc/postgresql/": "", "etc/vsftpd.conf": "", "etc/proftpd/proftpd.conf": "", "etc/my.cnf": "",
		}, services: []string{"linux", "caddy", "traefik", "haproxy", "mysql", "postgresql", "vsftpd", "proftpd"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := Detect(NewMachine(tree(t, tc.files)), rules(t))
			require.False(t, d.Live)
			var names []string
			for _, s := range d.Services {
				names = append(names, s.Name)
				if want, ok := tc.sources[s.Name]; ok {
					require.Equal(t, []Source{want}, s.Logs, s.Name)
				}
				if w, ok := tc.warn[s.Name]; ok {
					require.Contains(t, strings.Join(s.Warnings, "\n"), w, s.Name)
				}
			}
			require.Equal(t, tc.services, names)
		})
	}
}

// Live state: processes and listening ports, from a /proc tree.
func TestDetectLive(t *testing.T) {
	t.Parallel()
	proc := tree(t, map[string]string{
		"1/comm":    "systemd\n",
		"812/comm":  "sshd\n",
		"913/comm":  "postgres\n",
		"self/comm": "phalanx\n",
		"net/tcp": "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
			"   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n" +
			"   1: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0\n" +
			"   2: 0100007F:0050 0200007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0\n",
	})
	m := &Machine{root: t.TempDir(), proc: proc}
	d := Detect(m, rules(t))
	require.True(t, d.Live)
	ev := map[string]string{}
	for _, s := range d.Services {
		ev[s.Name] = strings.Join(s.Evidence, ", ")
	}
	require.Equal(t, "process sshd, port 22 listening", ev["sshd"])
	require.Equal(t, "process postgres, port 5432 listening", ev["postgresql"])
	require.NotContains(t, ev, "nginx", "port 80 is established, not listening")
	require.Equal(t, "/", NewMachine("/").Root())
	require.True(t, NewMachine("/").Live(), "live state is read on the machine itself only")
	require.False(t, NewMachine(t.TempDir()).Live())
}

func TestListening(t *testing.T) {
	t.Parallel()
	in := "header\n 0: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A x\n 1: 00000000:0019 00000000:0000 06 x\n bad line\n"
	require.Equal(t, map[int]bool{443: true}, listening(bufio.NewScanner(strings.NewReader(in))))
}

func TestParseRules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, doc, err string }{
		{"empty", "", "empty"},
		{"version", "version: 2\nservices: []\n", "version 2"},
		{"unknown key", "version: 1\nservices:\n  - name: x\n    detekt: {}\n", "detekt"},
		{"bad name", "version: 1\nservices:\n  - name: X Y\n    always: true\n", "name:"},
		{"nothing to detect", "version: 1\nservices:\n  - name: x\n", "nothing to detect"},
		{"relative file", "version: 1\nservices:\n  - name: x\n    detect: {files: [etc/x]}\n", "absolute"},
		{"bad glob", "version: 1\nservices:\n  - name: x\n    detect: {files: ['/etc/[x']}\n", "syntax error"},
		{"bad unit", "version: 1\nservices:\n  - name: x\n    detect: {units: [x]}\n", "not a unit name"},
		{"bad port", "version: 1\nservices:\n  - name: x\n    detect: {ports: [70000]}\n", "out of range"},
		{"bad collection", "version: 1\nservices:\n  - name: x\n    always: true\n    collections: [nginx]\n", "author/name"},
		{"log without place", "version: 1\nservices:\n  - name: x\n    always: true\n    logs: [{type: x}]\n", "no files and no journald"},
		{"twice", "version: 1\nservices:\n  - {name: x, always: true}\n  - {name: x, always: true}\n", "twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseRules("r.yaml", []byte(tc.doc))
			require.ErrorContains(t, err, tc.err)
		})
	}
}

// A user's rules replace a service of the same name and add new ones.
func TestLoadRulesExtends(t *testing.T) {
	t.Parallel()
	f := filepath.Join(t.TempDir(), "mine.yaml")
	require.NoError(t, os.WriteFile(f, []byte(`version: 1
services:
  - name: nginx
    detect: {files: [/opt/nginx/conf/nginx.conf]}
    collections: [crowdsecurity/nginx]
    logs: [{type: nginx, files: [/opt/nginx/logs/*.log]}]
  - name: gitea
    detect: {units: [gitea.service]}
    collections: [LePresidente/gitea]
    logs: [{type: gitea, files: [/var/lib/gitea/log/gitea.log]}]
`), 0o644))
	r, err := LoadRules(f)
	require.NoError(t, err)
	d := Detect(NewMachine(tree(t, map[string]string{
		"opt/nginx/conf/nginx.conf": "", "opt/nginx/logs/access.log": "", "lib/systemd/system/gitea.service": "",
	})), r)
	var got []string
	for _, s := range d.Services {
		got = append(got, s.Name)
	}
	require.Equal(t, []string{"linux", "nginx", "gitea"}, got)
	require.Equal(t, []string{"/opt/nginx/logs/*.log"}, d.Services[1].Logs[0].Files)
	_, err = LoadRules(filepath.Join(t.TempDir(), "missing.yaml"))
	require.Error(t, err)
}

// The acquisition setup writes is what the daemon loads: golden file, and
// loaded by the acquisition registry.
func TestAcquisYAML(t *testing.T) {
	t.Parallel()
	s := &Service{Name: "sshd", Logs: []Source{
		{Type: "syslog", Files: []string{"/var/log/auth.log", "/var/log/secure"}},
		{Type: "syslog", Journald: []string{"_SYSTEMD_UNIT=ssh.service"}},
	}}
	got := acquisYAML(s)
	want, err := os.ReadFile("testdata/acquis-sshd.golden")
	require.NoError(t, err)
	require.Equal(t, string(want), string(got))
	srcs, err := builtin.NewRegistry().LoadBytes("sshd.yaml", got, acquire.Deps{})
	require.NoError(t, err)
	require.Len(t, srcs, 2)
}

func TestOfflineSystemd(t *testing.T) {
	t.Parallel()
	root := tree(t, map[string]string{
		"etc/systemd/system/a.service": "[Unit]\nDescription=a\n[Install]\nWantedBy=multi-user.target graphical.target\n",
		"lib/systemd/system/b.service": "[Service]\nExecStart=/bin/true\n",
	})
	sd := &OfflineSystemd{Machine: NewMachine(root)}
	ctx := context.Background()
	on, err := sd.IsEnabled(ctx, "a.service")
	require.NoError(t, err)
	require.False(t, on)
	require.NoError(t, sd.Enable(ctx, "a.service"))
	for _, target := range []string{"multi-user.target", "graphical.target"} {
		l, err := os.Readlink(filepath.Join(root, "etc/systemd/system", target+".wants", "a.service"))
		require.NoError(t, err)
		require.Equal(t, "/etc/systemd/system/a.service", l)
	}
	on, err = sd.IsEnabled(ctx, "a.service")
	require.NoError(t, err)
	require.True(t, on)
	require.NoError(t, sd.Enable(ctx, "a.service"), "enabling twice is fine")
	require.ErrorContains(t, sd.Enable(ctx, "b.service"), "no WantedBy=")
	require.ErrorContains(t, sd.Enable(ctx, "c.service"), "no unit file")
	active, err := sd.IsActive(ctx, "a.service")
	require.NoError(t, err)
	require.False(t, active, "nothing runs under a root")
}

func FuzzParseRules(f *testing.F) {
	f.Add(DefaultRulesYAML())
	f.Add([]byte("version: 1\nservices:\n  - name: x\n    detect: {files: ['/etc/[x']}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRules("fuzz.yaml", b)
		if err != nil {
			return
		}
		for _, s := range r.Services {
			if err := s.check(); err != nil {
				t.Fatalf("accepted a service that does not check: %v", err)
			}
		}
	})
}
