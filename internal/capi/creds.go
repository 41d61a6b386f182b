package capi

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/secfile"
)

// CredentialsFile is the name, in the data dir, of the central API
// credentials (CrowdSec's online_api_credentials.yaml: url, login, password).
const CredentialsFile = "online_api_credentials.yaml"

// DefaultURL is CrowdSec's central API.
const DefaultURL = "https://api.crowdsec.net/"

// Credentials are an install's identity at a central.
type Credentials struct {
	URL      string `yaml:"url"`
	Login    string `yaml:"login"`
	Password string `yaml:"password"`
	PapiURL  string `yaml:"papi_url,omitempty"`
}

// Validate checks that the credentials can be used.
func (c Credentials) Validate() error {
	if c.URL == "" || c.Login == "" || c.Password == "" {
		return errors.New("url, login and password are required")
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url %q: not an http(s) URL", c.URL)
	}
	return nil
}

// ReadCredentials reads a credentials file; a file any local user can
// change is refused (its writer would choose where signals go).
func ReadCredentials(path string) (Credentials, error) {
	var c Credentials
	if err := secfile.CheckNotWorldWritable(path); err != nil {
		return c, fmt.Errorf("capi: credentials: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("capi: credentials: %w", err)
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("capi: credentials %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("capi: credentials %s: %w", path, err)
	}
	return c, nil
}

// WriteCredentials writes a credentials file atomically, mode 0600.
func WriteCredentials(path string, c Credentials) error {
	b, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("capi: credentials: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("capi: credentials: %w", err)
	}
	if err := secfile.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("capi: credentials: %w", err)
	}
	return nil
}

const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// randomString returns n characters of alphabet chosen uniformly.
func randomString(n int, alphabet string) string {
	out := make([]byte, n)
	buf := make([]byte, 1)
	for i := 0; i < n; {
		_, _ = rand.Read(buf) // crypto/rand never fails on Linux
		// Rejection sampling keeps the choice uniform.
		if int(buf[0]) >= 256-256%len(alphabet) {
			continue
		}
		out[i] = alphabet[int(buf[0])%len(alphabet)]
		i++
	}
	return string(out)
}

// NewMachineID returns a 48-character machine id as cscli makes them: the
// host's machine-id (dashes removed; random when there is none) and 16
// random characters. readFile reads /etc/machine-id (nil: os.ReadFile).
func NewMachineID(readFile func(string) ([]byte, error)) string {
	if readFile == nil {
		readFile = os.ReadFile
	}
	prefix := ""
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		b, err := readFile(p)
		if err != nil {
			continue
		}
		id := strings.ReplaceAll(strings.TrimSpace(string(b)), "-", "")
		if len(id) >= 32 && strings.Trim(id, alnum) == "" {
			prefix = id[:32]
			break
		}
	}
	if prefix == "" {
		prefix = randomString(32, "0123456789abcdef")
	}
	return prefix + randomString(16, alnum)
}

// NewPassword returns a 64-character random password.
func NewPassword() string { return randomString(64, alnum) }
