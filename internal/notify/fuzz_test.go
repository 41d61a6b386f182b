package notify_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phalanx-ids/phalanx/internal/notify"
	"github.com/phalanx-ids/phalanx/internal/notify/builtin"
)

// FuzzLoadBytes: any file gives notifications or an error prefixed
// "notify: ", never a panic; what loads has a name, a type and a
// description. (Nothing is provisioned or rendered: a fuzzed file could
// name any path or call Sprig's network functions.)
func FuzzLoadBytes(f *testing.F) {
	for _, dir := range []string{"testdata/examples", "testdata/crowdsec"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte("type: http\nname: h\nurl: http://x/\nheaders: {a: b}\n---\ntype: file\nname: f\nlog_path: /x\nrotate: {enabled: true, max_size: 1KB}\n"))
	f.Add([]byte("type: email\nname: e\nreceiver_emails: [a@b]\nconnect_timeout: 1s\nformat: '{{range .}}{{.Scenario}}{{end}}'\n"))
	reg := builtin.NewRegistry()
	lookup := func(k string) (string, bool) { return "v", k == "SET" }
	f.Fuzz(func(t *testing.T, data []byte) {
		specs, err := reg.LoadBytes("f.yaml", data, notify.LoadOptions{LookupEnv: lookup})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "notify: ") {
				t.Fatalf("error without the component prefix: %v", err)
			}
			return
		}
		for _, s := range specs {
			if s.Name() == "" || s.Module.Type() == "" || s.Common().Timeout <= 0 || s.Common().QueueSize <= 0 {
				t.Fatalf("incomplete spec: %+v", s.Common())
			}
			if len(s.Describe()) < 9 {
				t.Fatalf("%s: describe lists %d keys", s.Name(), len(s.Describe()))
			}
		}
		_, _ = notify.NewSet(specs)
	})
}
