package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	daemon "github.com/phalanx-ids/phalanx/internal/app"
	"github.com/phalanx-ids/phalanx/internal/bouncer/firewall"
	"github.com/phalanx-ids/phalanx/internal/hub"
	"github.com/phalanx-ids/phalanx/internal/hub/install"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// fakeRoot writes a machine with nginx and sshd: configs, unit files, ssh
// enabled, and their (empty) logs.
func fakeRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range map[string]string{
		"etc/nginx/nginx.conf":             "events {}\nhttp {}\n",
		"etc/ssh/sshd_config":              "PermitRootLogin no\n",
		"lib/systemd/system/nginx.service": "[Unit]\nDescription=nginx\n[Install]\nWantedBy=multi-user.target\n",
		"lib/systemd/system/ssh.service":   "[Unit]\nDescription=OpenBSD Secure Shell server\n[Install]\nWantedBy=multi-user.target\n",
		"var/log/nginx/access.log":         "",
		"var/log/nginx/error.log":          "",
		"var/log/auth.log":                 "",
	} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, p), []byte(content), 0o644))
	}
	wants := filepath.Join(root, "etc/systemd/system/multi-user.target.wants")
	require.NoError(t, os.MkdirAll(wants, 0o755))
	require.NoError(t, os.Symlink("/lib/systemd/system/ssh.service", filepath.Join(wants, "ssh.service")))
	return root
}

// snapshot records every file and link under root with its content (links:
// their target), to prove a run changed nothing.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			out[p] = "-> " + target
			return err
		}
		if strings.HasSuffix(p, ".db") || strings.HasSuffix(p, ".db-wal") || strings.HasSuffix(p, ".db-shm") {
			return nil // SQLite may touch its files on open
		}
		out[p] = fmt.Sprintf("%d %s", info.Size(), info.ModTime().Format(time.RFC3339Nano))
		return nil
	}))
	return out
}

// TestSetupEndToEnd: `phalanx setup --yes --root DIR --hub-url URL` on a
// machine with nginx and sshd installs their collections, writes their
// acquisition, the units (enabled) and the firewall bouncer's config with
// a registered key; a second run changes nothing; a daemon started from
// that data dir bans an SSH brute force and an HTTP scan appended to those
// logs, the bouncer's key fetches the decisions, and a local webhook gets
// the notifications.
func TestSetupEndToEnd(t *testing.T) {
	root := fakeRoot(t)
	srv := testutil.NewHubServer(t)
	args := []string{"setup", "--yes", "--root", root, "--hub-url", srv.URL}
	code, out, errs := runCLI(t, "", args...)
	require.Equal(t, ExitOK, code, "stdout:\n%s\nstderr:\n%s", out, errs)
	for _, s := range []string{"sshd", "unit ssh.service (enabled)", "log /var/log/auth.log", "nginx", "log /var/log/nginx/access.log",
		"done: installed /usr/local/bin/phalanx", "done: registered bouncer phalanx-firewall", "Protected now:", "phalanx decisions list"} {
		require.Contains(t, out, s)
	}
	require.NotContains(t, out, "warning:", "every data file was fetched")

	// What was written.
	acquis := map[string]struct {
		Source    string            `yaml:"source"`
		Filenames []string          `yaml:"filenames"`
		Labels    map[string]string `yaml:"labels"`
	}{}
	for _, svc := range []string{"sshd", "nginx"} {
		b, err := os.ReadFile(filepath.Join(root, "etc/phalanx/acquis.d", svc+".yaml"))
		require.NoError(t, err)
		v := acquis[svc]
		require.NoError(t, yaml.Unmarshal(b, &v))
		acquis[svc] = v
	}
	require.Equal(t, []string{"/var/log/auth.log"}, acquis["sshd"].Filenames)
	require.Equal(t, "syslog", acquis["sshd"].Labels["type"])
	require.Equal(t, []string{"/var/log/nginx/*.log"}, acquis["nginx"].Filenames)
	require.Equal(t, "nginx", acquis["nginx"].Labels["type"])
	for _, u := range []string{"phalanx.service", "phalanx-firewall-bouncer.service"} {
		b, err := os.ReadFile(filepath.Join(root, "etc/systemd/system", u))
		require.NoError(t, err)
		require.Contains(t, string(b), "ExecStart=/usr/local/bin/phalanx ", "the unit runs the binary setup installed")
		target, err := os.Readlink(filepath.Join(root, "etc/systemd/system/multi-user.target.wants", u))
		require.NoError(t, err)
		require.Equal(t, "/etc/systemd/system/"+u, target)
	}
	fw, err := firewall.LoadConfig(filepath.Join(root, "etc/phalanx/bouncers/firewall.yaml"))
	require.NoError(t, err)
	key := string(fw.APIKey)
	require.Len(t, key, 32)
	st, err := install.New(filepath.Join(root, "var/lib/phalanx"), nil).Scan()
	require.NoError(t, err)
	for _, c := range []string{"crowdsecurity/linux", "crowdsecurity/sshd", "crowdsecurity/nginx"} {
		s := st.Item(hub.Ref{Type: hub.Collections, Name: c})
		require.True(t, s != nil && s.UpToDate(), c)
	}

	// A second run changes nothing.
	before := snapshot(t, root)
	code, out, errs = runCLI(t, "", args...)
	require.Equal(t, ExitOK, code, errs)
	require.Contains(t, out, "Nothing to do: this machine is set up.")
	require.Equal(t, before, snapshot(t, root))

	// The daemon, as the unit would start it, with the root as its "/".
	cfg, err := daemon.LoadConfig(filepath.Join(root, "etc/phalanx/phalanx.yaml"))
	require.NoError(t, err)
	cfg.DataDir = filepath.Join(root, cfg.DataDir)
	cfg.LAPI.ListenURI = "127.0.0.1:0"
	cfg.Agent.FlushInterval = 100 * time.Millisecond
	cfg.Agent.AcquisitionDir = chrootAcquisition(t, root, filepath.Join(root, cfg.Agent.AcquisitionDir))
	// Bans also notify a local webhook (profiles.yaml and a notification
	// file, in CrowdSec's formats).
	hook := newWebhook(t)
	require.NoError(t, os.MkdirAll(filepath.Join(cfg.DataDir, "notifications"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(cfg.DataDir, "notifications", "webhook.yaml"), []byte(
		"type: http\nname: webhook\nformat: |\n  {{.|toJson}}\nurl: "+hook.URL+"\nmethod: POST\ngroup_wait: 100ms\n"), 0o644))
	cfg.LAPI.ProfilesPath = filepath.Join(t.TempDir(), "profiles.yaml")
	require.NoError(t, os.WriteFile(cfg.LAPI.ProfilesPath, []byte(`name: ban_and_notify
filters:
  - Alert.Remediation == true && Alert.GetScope() == "Ip"
decisions:
  - type: ban
    duration: 4h
notifications:
  - webhook
on_success: break
`), 0o644))
	d, err := daemon.New(cfg, daemon.WithLogger(testutil.Logger(t)))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = d.Close()
	})

	authLog := filepath.Join(root, "var/log/auth.log")
	accessLog := filepath.Join(root, "var/log/nginx/access.log")
	now := func() string { return time.Now().Format(time.Stamp) }
	nginxNow := func() string { return time.Now().UTC().Format("02/Jan/2006:15:04:05 -0700") }
	waitRead(t, d.MetricsURL(), authLog, func() string { return now() + " web01 cron[1]: (root) CMD (true)" })
	waitRead(t, d.MetricsURL(), accessLog, func() string {
		return `192.0.2.1 - - [` + nginxNow() + `] "GET / HTTP/1.1" 200 612 "-" "Mozilla/5.0"`
	})

	var ssh, scan []string
	for i := range 8 {
		ssh = append(ssh, fmt.Sprintf("%s web01 sshd[%d]: Failed password for root from 198.51.100.10 port %d ssh2", now(), 4000+i, 50000+i))
	}
	for i := range 25 {
		scan = append(scan, fmt.Sprintf(`203.0.113.50 - - [%s] "GET /probe-%d.php HTTP/1.1" 404 153 "-" "Mozilla/5.0"`, nginxNow(), i))
	}
	appendTo(t, authLog, ssh...)
	appendTo(t, accessLog, scan...)

	var got map[string]*models.Decision
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		got = decisionsFor(t, d.LAPIURL(), key)
		if got["198.51.100.10"] != nil && got["203.0.113.50"] != nil {
			break
		}
		time.Sleep(100 * time.Millisecond) // polling the LAPI, with a deadline
	}
	require.NotNil(t, got["198.51.100.10"], "the SSH brute force is banned")
	require.NotNil(t, got["203.0.113.50"], "the HTTP scan is banned")
	require.Contains(t, *got["198.51.100.10"].Scenario, "crowdsecurity/ssh")
	require.Contains(t, *got["203.0.113.50"].Scenario, "crowdsecurity/http")
	require.Equal(t, "ban", *got["203.0.113.50"].Type)
	t.Logf("decisions: %s by %s, %s by %s", "198.51.100.10", *got["198.51.100.10"].Scenario, "203.0.113.50", *got["203.0.113.50"].Scenario)

	deadline = time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && !(strings.Contains(hook.body(), "198.51.100.10") && strings.Contains(hook.body(), "203.0.113.50")) {
		time.Sleep(50 * time.Millisecond) // polling what the webhook received, with a deadline
	}
	require.Contains(t, hook.body(), "198.51.100.10", "the SSH ban was notified")
	require.Contains(t, hook.body(), "203.0.113.50", "the HTTP ban was notified")
}

// webhook records the bodies POSTed to it.
type webhook struct {
	URL    string
	mu     sync.Mutex
	bodies []string
}

func newWebhook(t *testing.T) *webhook {
	t.Helper()
	w := &webhook{}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		w.bodies = append(w.bodies, string(b))
		w.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	w.URL = srv.URL
	return w
}

func (w *webhook) body() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.bodies, "\n")
}

// chrootAcquisition copies the acquisition files of dir with their paths
// taken inside root (what the daemon sees when root is its /), and returns
// the copy's folder.
func chrootAcquisition(t *testing.T, root, dir string) string {
	t.Helper()
	out := t.TempDir()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		var doc map[string]any
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, yaml.Unmarshal(b, &doc))
		names, _ := doc["filenames"].([]any)
		for i, n := range names {
			names[i] = filepath.Join(root, n.(string))
		}
		b, err = yaml.Marshal(doc)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(out, filepath.Base(f)), b, 0o644))
	}
	return out
}

func appendTo(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	_, err = f.WriteString(strings.Join(lines, "\n") + "\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// waitRead appends harmless lines to path until the daemon's metrics show
// the file source read one: from then on every line appended is read.
func waitRead(t *testing.T, metricsURL, path string, line func() string) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^cs_filesource_hits_total\{[^}]*source="` + regexp.QuoteMeta(path) + `"[^}]*\} (\S+)$`)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(getText(t, metricsURL)); m != nil {
			if v, _ := strconv.ParseFloat(m[1], 64); v > 0 {
				return
			}
		}
		appendTo(t, path, line())
		time.Sleep(200 * time.Millisecond) // polling the metrics, with a deadline (one probe line per tailer poll)
	}
	t.Fatalf("the daemon never read %s", path)
}

func getText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// decisionsFor returns the active decisions by value, as a bouncer with
// key sees them (the LAPI's stream, from startup).
func decisionsFor(t *testing.T, lapiURL, key string) map[string]*models.Decision {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, strings.TrimSuffix(lapiURL, "/")+"/v1/decisions/stream?startup=true", nil)
	require.NoError(t, err)
	req.Header.Set("X-Api-Key", key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "the bouncer's key is registered")
	var body models.DecisionsStreamResponse
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	out := map[string]*models.Decision{}
	for _, d := range body.New {
		out[*d.Value] = d
	}
	return out
}
