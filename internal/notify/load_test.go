package notify_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/notify"
	"github.com/phalanx-ids/phalanx/internal/notify/builtin"
	"github.com/phalanx-ids/phalanx/internal/notify/webhook"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata/<name>, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(p, got, 0o644))
		return
	}
	want, err := os.ReadFile(p)
	require.NoError(t, err, "run go test -update to create it")
	require.Equal(t, string(want), string(got))
}

// env is a fixed environment for ${VAR} expansion.
func env(kv ...string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == k {
				return kv[i+1], true
			}
		}
		return "", false
	}
}

func fixedHost() (string, error) { return "sensor-1", nil }

// sampleAlerts are two alerts at a fixed time (golden renders).
func sampleAlerts() []*models.Alert {
	t0 := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	a := notify.TestAlert(t0, "edge-1")
	b := notify.TestAlert(t0.Add(time.Minute), "edge-2")
	b.Source.Cn = ""
	v := "198.51.100.7"
	b.Source.Value, b.Source.IP, b.Decisions[0].Value = &v, v, &v
	return []*models.Alert{a, b}
}

// TestExamples loads each documented example and checks what inspect
// would show (secrets redacted) against a golden file.
func TestExamples(t *testing.T) {
	t.Parallel()
	reg := builtin.NewRegistry()
	files, err := notify.Files("testdata/examples")
	require.NoError(t, err)
	require.Len(t, files, 6, "one example per type")
	lookup := env("WEBHOOK_TOKEN", "tok-123", "WEBHOOK_BEARER", "bearer-456", "SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T0/B0/secret",
		"SMTP_PASSWORD", "hunter2", "SPLUNK_HEC_TOKEN", "hec-789", "ES_API_KEY", "key-abc")
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			specs, err := reg.LoadBytes(f, data, notify.LoadOptions{LookupEnv: lookup, Hostname: fixedHost})
			require.NoError(t, err)
			require.Len(t, specs, 1)
			require.Equal(t, name, specs[0].Module.Type())
			out := jsonText(t, specs[0].Describe())
			for _, secret := range []string{"tok-123", "bearer-456", "secret", "hunter2", "hec-789", "key-abc"} {
				require.NotContains(t, string(out), secret, "inspect must not show secrets")
			}
			golden(t, "examples/"+name+".golden", out)
			text, err := specs[0].Render(sampleAlerts())
			require.NoError(t, err)
			require.NotEmpty(t, strings.TrimSpace(text))
		})
	}
}

// TestCrowdSecFiles loads CrowdSec-shaped notification files unchanged and
// renders their formats over the same alerts as CrowdSec would.
func TestCrowdSecFiles(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	lg := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	set, err := builtin.NewRegistry().LoadDir("testdata/crowdsec", notify.LoadOptions{Hostname: fixedHost, Logger: lg})
	require.NoError(t, err)
	var names []string
	for _, s := range set.Specs() {
		names = append(names, s.Name())
		text, err := s.Render(sampleAlerts())
		require.NoError(t, err, s.Name())
		golden(t, "crowdsec/"+s.Name()+".render", []byte(text))
	}
	require.Equal(t, []string{"elasticsearch", "email_default", "file_default", "http_default", "slack_default", "splunk_default"}, names)
	es, ok := set.Lookup("elasticsearch")
	require.True(t, ok)
	require.Equal(t, "http", es.Module.Type(), "CrowdSec's Elasticsearch recipe is the http type")
	fl, _ := set.Lookup("file_default")
	require.Contains(t, describe(fl), "rotate.max_size=500MB")
}

func describe(s *notify.Spec) string {
	var b strings.Builder
	for _, f := range s.Describe() {
		b.WriteString(f.Key + "=")
		b.WriteString(strings.TrimSpace(strings.ReplaceAll(fmtValue(f.Value), "\n", " ")))
		b.WriteString("\n")
	}
	return b.String()
}

func fmtValue(v any) string {
	if s, ok := v.(interface{ String() string }); ok {
		return s.String()
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.Trim(strings.TrimSpace(b.String()), `"`)
}

// jsonText is v as indented JSON, < and > left as they are.
func jsonText(t *testing.T, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	require.NoError(t, enc.Encode(v))
	return b.Bytes()
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	reg := builtin.NewRegistry()
	for _, tc := range []struct {
		name, yaml string
		want       []string // substrings of the error
	}{
		{"unknown type names the file", "type: sentinel\nname: s\nformat: x\n", []string{"f.yaml:1", `unknown notification type "sentinel"`, "known: elasticsearch, email, file, http, slack, splunk"}},
		{"missing type", "name: s\nformat: x\n", []string{"f.yaml:1", "type: missing"}},
		{"missing name", "type: http\nurl: http://x/\n", []string{"f.yaml:1", "name: missing"}},
		{"unknown key with its line", "type: http\nname: h\nurl: http://x/\nmethd: POST\n", []string{"f.yaml:4", "field methd: unknown field"}},
		{"unknown nested key", "type: file\nname: f\nlog_path: /tmp/x\nrotate:\n  enabled: true\n  max_sise: 3\n", []string{"f.yaml:6", "field max_sise"}},
		{"bad duration", "type: http\nname: h\nurl: http://x/\ngroup_wait: soon\n", []string{"f.yaml:4", "soon"}},
		{"negative threshold", "type: http\nname: h\nurl: http://x/\ngroup_threshold: -1\n", []string{"group_threshold -1"}},
		{"bad log level", "type: http\nname: h\nurl: http://x/\nlog_level: loud\n", []string{`log_level "loud"`}},
		{"template error with its line", "type: http\nname: h\nurl: http://x/\nformat: |\n  {{range .}\n", []string{"f.yaml:4", "h: format"}},
		{"CrowdSec CTI is not provided", "type: http\nname: h\nurl: http://x/\nformat: '{{ CrowdsecCTI \"1.2.3.4\" }}'\n", []string{`function "CrowdsecCTI" not defined`}},
		{"not a mapping", "- a\n- b\n", []string{"want a mapping"}},
		{"syntax error", "type: [\n", []string{"f.yaml"}},
		{"duplicate name", "type: http\nname: h\nurl: http://x/\n---\ntype: slack\nname: h\nwebhook: http://y/\n", []string{"f.yaml:5", `notification "h" is already defined at f.yaml:1`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			specs, err := reg.LoadBytes("f.yaml", []byte(tc.yaml), notify.LoadOptions{})
			if err == nil {
				_, err = notify.NewSet(specs)
			}
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			require.True(t, strings.HasPrefix(err.Error(), "notify: "), err.Error())
		})
	}
}

func TestLoadRules(t *testing.T) {
	t.Parallel()
	reg := builtin.NewRegistry()
	t.Run("empty documents are skipped", func(t *testing.T) {
		specs, err := reg.LoadBytes("f.yaml", []byte("---\n# nothing\n---\ntype: http\nname: h\nurl: http://x/\n---\n{}\n---\n"), notify.LoadOptions{})
		require.NoError(t, err)
		require.Len(t, specs, 1)
		require.Equal(t, 4, specs[0].Line)
	})
	t.Run("variables expand everywhere but in format", func(t *testing.T) {
		specs, err := reg.LoadBytes("f.yaml", []byte("type: http\nname: h\nurl: http://${HOST}/$P?k=$UNSET\nheaders:\n  X-K: ${KEY}\nformat: '${KEY} {{len .}}'\n"),
			notify.LoadOptions{LookupEnv: env("HOST", "example.net", "P", "path", "KEY", "v1")})
		require.NoError(t, err)
		d := describe(specs[0])
		require.Contains(t, d, "format=${KEY} {{len .}}")
		text, err := specs[0].Render(sampleAlerts())
		require.NoError(t, err)
		require.Equal(t, "${KEY} 2", text)
		cfg := specs[0].Config.(*webhook.Config)
		require.Equal(t, "http://example.net/path?k=$UNSET", cfg.URL, "an undefined variable stays as written")
		require.Equal(t, "v1", cfg.Headers["X-K"])
		require.Contains(t, d, "url=http://example.net/<redacted>", "inspect redacts the path and query")
	})
	t.Run("keys of other CrowdSec plugin types are ignored with a debug log", func(t *testing.T) {
		var logs bytes.Buffer
		lg := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		specs, err := reg.LoadBytes("f.yaml", []byte("type: slack\nname: s\nwebhook: http://x/\nsmtp_host: mail\noutput_file: /tmp/x\n"), notify.LoadOptions{Logger: lg})
		require.NoError(t, err)
		require.Equal(t, []string{"smtp_host", "output_file"}, specs[0].Ignored)
		require.Contains(t, logs.String(), "key=smtp_host")
		require.Contains(t, logs.String(), "level=DEBUG")
	})
	t.Run("defaults of the common keys", func(t *testing.T) {
		specs, err := reg.LoadBytes("f.yaml", []byte("type: file\nname: f\nlog_path: /tmp/x\n"), notify.LoadOptions{})
		require.NoError(t, err)
		c := specs[0].Common()
		require.Equal(t, notify.DefaultTimeout, c.Timeout)
		require.Equal(t, notify.DefaultQueueSize, c.QueueSize)
		require.Equal(t, 0, c.MaxRetry)
		require.Contains(t, c.Format, "toJson", "the type's default format")
	})
	t.Run("a missing directory is ErrNotExist", func(t *testing.T) {
		_, err := reg.LoadDir(filepath.Join(t.TempDir(), "none"), notify.LoadOptions{})
		require.True(t, errors.Is(err, fs.ErrNotExist), err)
	})
	t.Run("names are unique across files", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("type: http\nname: h\nurl: http://x/\n"), 0o600))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "b.yml"), []byte("type: http\nname: h\nurl: http://y/\n"), 0o600))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "c.txt"), []byte("not yaml: ["), 0o600))
		_, err := reg.LoadDir(dir, notify.LoadOptions{})
		require.ErrorContains(t, err, "b.yml:1")
		require.ErrorContains(t, err, "a.yaml:1")
	})
	t.Run("GetMeta, Hostname and HTMLEscape", func(t *testing.T) {
		specs, err := reg.LoadBytes("f.yaml", []byte("type: http\nname: h\nurl: http://x/\nformat: '{{range .}}{{GetMeta . \"target_user\" | join \",\"}}@{{Hostname}} {{HTMLEscape \"<b>\"}};{{end}}'\n"),
			notify.LoadOptions{Hostname: fixedHost})
		require.NoError(t, err)
		text, err := specs[0].Render(sampleAlerts()[:1])
		require.NoError(t, err)
		require.Equal(t, "root,admin@sensor-1 &lt;b&gt;;", text)
	})
}
