package notify

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Defaults of the common keys.
const (
	// DefaultTimeout bounds one delivery attempt (CrowdSec's default).
	DefaultTimeout = 5 * time.Second
	// DefaultQueueSize bounds the alerts waiting for one notification
	// (queued or in delivery); past it new alerts are dropped and counted.
	DefaultQueueSize = 5000
)

// CommonConfig holds the keys every notification has. All but queue_size are
// CrowdSec's.
type CommonConfig struct {
	// Type selects the module ("http", "slack", ...).
	Type string `yaml:"type"`
	// Name is what profiles list under `notifications:`; unique.
	Name string `yaml:"name"`
	// Format is a Go text/template executed over the alerts of a message
	// ([]*models.Alert) with the Sprig functions and GetMeta, Hostname,
	// HTMLEscape. Empty: the type's default. ${VAR} is not expanded in it
	// (use Sprig's env function), as in CrowdSec.
	Format string `yaml:"format"`
	// GroupWait collects alerts for this long before sending them as one
	// message (0: no waiting).
	GroupWait time.Duration `yaml:"group_wait"`
	// GroupThreshold sends a message as soon as this many alerts wait, and
	// caps the alerts of one message (0: no cap with group_wait, else one
	// alert per message).
	GroupThreshold int `yaml:"group_threshold"`
	// MaxRetry is the number of attempts per message for retryable
	// failures; 0 (the default): until delivered, while the queue holds.
	MaxRetry int `yaml:"max_retry"`
	// Timeout bounds each attempt (default 5s).
	Timeout time.Duration `yaml:"timeout"`
	// LogLevel of this notification's messages: trace, debug, info, warn,
	// error, off; empty: the daemon's.
	LogLevel string `yaml:"log_level"`
	// QueueSize bounds the alerts waiting for delivery (Phalanx; default
	// 5000).
	QueueSize int `yaml:"queue_size"`
}

// Common returns c (CommonConfig satisfies Config when embedded).
func (c *CommonConfig) Common() *CommonConfig { return c }

// check validates the common keys and applies their defaults.
func (c *CommonConfig) check() error {
	switch {
	case c.Name == "":
		return errors.New("name: missing")
	case c.GroupWait < 0:
		return fmt.Errorf("group_wait %s: must not be negative", c.GroupWait)
	case c.GroupThreshold < 0:
		return fmt.Errorf("group_threshold %d: must not be negative", c.GroupThreshold)
	case c.MaxRetry < 0:
		return fmt.Errorf("max_retry %d: must not be negative", c.MaxRetry)
	case c.Timeout < 0:
		return fmt.Errorf("timeout %s: must not be negative", c.Timeout)
	case c.QueueSize < 0:
		return fmt.Errorf("queue_size %d: must not be negative", c.QueueSize)
	}
	if strings.ContainsFunc(c.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("name %q: control characters", c.Name)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.QueueSize == 0 {
		c.QueueSize = DefaultQueueSize
	}
	return nil
}

// levelOff is above every level slog emits.
const levelOff = slog.Level(1 << 10)

// parseLevel maps a CrowdSec log_level to a slog level (0 for "": the
// daemon's level applies).
func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "":
		return 0, nil
	case "trace", "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error", "fatal", "panic":
		return slog.LevelError, nil
	case "off":
		return levelOff, nil
	}
	return 0, fmt.Errorf("log_level %q: want trace, debug, info, warn, error or off", s)
}

// crowdSecPluginKey reports whether k is a key of one of CrowdSec's
// notification plugins. CrowdSec's loader accepts any key and each plugin
// ignores the others' keys, so a file may carry keys of another type:
// Phalanx accepts those (with a debug log) and rejects only true typos.
func crowdSecPluginKey(k string) bool {
	switch k {
	case "url", "method", "headers", "skip_tls_verification", "ca_cert_path", "cert_path", "key_path", "unix_socket", // http
		"webhook", "channel", "username", "icon_emoji", "icon_url", // slack
		"token",                                                                                                // splunk
		"smtp_host", "smtp_port", "smtp_username", "smtp_password", "auth_type", "sender_email", "sender_name", // email
		"receiver_emails", "email_subject", "encryption_type", "helo_host", "connect_timeout", "send_timeout",
		"customer_id", "shared_key", "log_type", // sentinel
		"log_path", "rotate", // file
		"output_file": // dummy
		return true
	}
	return false
}
