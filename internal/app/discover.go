package app

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Watch is one log the daemon found on a machine with no acquisition
// configured.
type Watch struct {
	// Service recognised ("nginx", "apache2", "sshd").
	Service string
	// Type is the acquisition label type given to its lines.
	Type string
	// Paths (globs) of the files, or JournalFilter for journald.
	Paths         []string
	JournalFilter []string
}

func (w Watch) String() string {
	if len(w.JournalFilter) > 0 {
		return fmt.Sprintf("%s: journald %s (type %s)", w.Service, strings.Join(w.JournalFilter, " "), w.Type)
	}
	return fmt.Sprintf("%s: %s (type %s)", w.Service, strings.Join(w.Paths, ", "), w.Type)
}

// candidate logs of the services Phalanx recognises, relative to root.
var candidates = []struct {
	service, typ string
	globs        []string
}{
	{"nginx", "nginx", []string{"/var/log/nginx/access.log", "/var/log/nginx/*access.log"}},
	{"apache2", "apache2", []string{"/var/log/apache2/access.log", "/var/log/apache2/*access.log", "/var/log/httpd/access_log", "/var/log/httpd/*access_log"}},
	{"sshd", "syslog", []string{"/var/log/auth.log", "/var/log/secure"}},
}

// Discover lists the logs of the services it recognises under root ("/"
// on a real machine): nginx and apache access logs, /var/log/auth.log or
// /var/log/secure for sshd, and, when no such file exists and journalctl is
// found by lookPath, the sshd units of journald.
func Discover(root string, lookPath func(string) (string, error)) []Watch {
	var out []Watch
	sshFile := false
	for _, c := range candidates {
		seen := map[string]bool{}
		var paths []string
		for _, g := range c.globs {
			ms, _ := filepath.Glob(filepath.Join(root, g))
			for _, m := range ms {
				if st, err := os.Stat(m); err == nil && st.Mode().IsRegular() && !seen[m] {
					seen[m] = true
					paths = append(paths, m)
				}
			}
		}
		if len(paths) == 0 {
			continue
		}
		if c.service == "sshd" {
			sshFile = true
		}
		out = append(out, Watch{Service: c.service, Type: c.typ, Paths: paths})
	}
	if !sshFile && lookPath != nil {
		if _, err := lookPath("journalctl"); err == nil {
			out = append(out, Watch{Service: "sshd", Type: "syslog",
				JournalFilter: []string{"_SYSTEMD_UNIT=ssh.service", "+", "_SYSTEMD_UNIT=sshd.service"}})
		}
	}
	return out
}

// acquisYAML renders watches as an acquis.yaml.
func acquisYAML(ws []Watch) []byte {
	var b strings.Builder
	for i, w := range ws {
		if i > 0 {
			b.WriteString("---\n")
		}
		if len(w.JournalFilter) > 0 {
			b.WriteString("source: journalctl\njournalctl_filter:\n")
			for _, f := range w.JournalFilter {
				fmt.Fprintf(&b, "  - %q\n", f)
			}
		} else {
			b.WriteString("source: file\nfilenames:\n")
			for _, p := range w.Paths {
				fmt.Fprintf(&b, "  - %q\n", p)
			}
		}
		fmt.Fprintf(&b, "name: %q\nlabels:\n  type: %q\n", "auto-"+w.Service, w.Type)
	}
	return []byte(b.String())
}
