package setup

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"strings"

	"github.com/phalanx-ids/phalanx/internal/atomicfile"
)

// Systemd enables and runs units.
//
// Concurrency: implementations are used by one setup run at a time.
type Systemd interface {
	IsEnabled(ctx context.Context, unit string) (bool, error)
	IsActive(ctx context.Context, unit string) (bool, error)
	// DaemonReload makes systemd read changed unit files.
	DaemonReload(ctx context.Context) error
	Enable(ctx context.Context, units ...string) error
	Start(ctx context.Context, units ...string) error
	Reload(ctx context.Context, units ...string) error
	Restart(ctx context.Context, units ...string) error
}

// Systemctl is the machine's systemd, through systemctl.
type Systemctl struct{}

var _ Systemd = Systemctl{}

func systemctl(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "systemctl", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("systemctl %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func (Systemctl) IsEnabled(ctx context.Context, unit string) (bool, error) {
	return exec.CommandContext(ctx, "systemctl", "is-enabled", "--quiet", unit).Run() == nil, nil
}

func (Systemctl) IsActive(ctx context.Context, unit string) (bool, error) {
	return exec.CommandContext(ctx, "systemctl", "is-active", "--quiet", unit).Run() == nil, nil
}

func (Systemctl) DaemonReload(ctx context.Context) error { return systemctl(ctx, "daemon-reload") }

func (Systemctl) Enable(ctx context.Context, units ...string) error {
	return systemctl(ctx, append([]string{"enable"}, units...)...)
}

func (Systemctl) Start(ctx context.Context, units ...string) error {
	return systemctl(ctx, append([]string{"start"}, units...)...)
}

func (Systemctl) Reload(ctx context.Context, units ...string) error {
	return systemctl(ctx, append([]string{"reload"}, units...)...)
}

func (Systemctl) Restart(ctx context.Context, units ...string) error {
	return systemctl(ctx, append([]string{"restart"}, units...)...)
}

// OfflineSystemd enables units under a root without a running systemd, as
// `systemctl --root` does: a link <target>.wants/<unit> in
// /etc/systemd/system for each WantedBy= of the unit's [Install]. Nothing
// runs under a root: IsActive is false, Start, Reload and Restart do
// nothing.
type OfflineSystemd struct{ Machine *Machine }

var _ Systemd = (*OfflineSystemd)(nil)

// unitFile finds a unit's file inside the machine.
func (s *OfflineSystemd) unitFile(unit string) (string, error) {
	for _, d := range unitDirs {
		if p := path.Join(d, unit); isFile(s.Machine.Path(p)) {
			return p, nil
		}
	}
	return "", fmt.Errorf("setup: unit %s: no unit file", unit)
}

// wantedBy reads the WantedBy= targets of a unit file's [Install].
func wantedBy(b []byte) []string {
	var out []string
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "[") {
			section = l
			continue
		}
		if k, v, ok := strings.Cut(l, "="); ok && section == "[Install]" && strings.TrimSpace(k) == "WantedBy" {
			out = append(out, strings.Fields(v)...)
		}
	}
	return out
}

func (s *OfflineSystemd) links(unit string) ([]string, string, error) {
	p, err := s.unitFile(unit)
	if err != nil {
		return nil, "", err
	}
	b, err := os.ReadFile(s.Machine.Path(p))
	if err != nil {
		return nil, "", fmt.Errorf("setup: %w", err)
	}
	var out []string
	for _, t := range wantedBy(b) {
		out = append(out, path.Join("/etc/systemd/system", t+".wants", unit))
	}
	if len(out) == 0 {
		return nil, "", fmt.Errorf("setup: unit %s: no WantedBy= in [Install]", unit)
	}
	return out, p, nil
}

func (s *OfflineSystemd) IsEnabled(_ context.Context, unit string) (bool, error) {
	links, _, err := s.links(unit)
	if err != nil {
		return false, nil // no unit file yet: not enabled
	}
	for _, l := range links {
		if _, err := os.Lstat(s.Machine.Path(l)); err != nil {
			return false, nil
		}
	}
	return true, nil
}

func (s *OfflineSystemd) Enable(_ context.Context, units ...string) error {
	for _, u := range units {
		links, target, err := s.links(u)
		if err != nil {
			return err
		}
		for _, l := range links {
			if _, err := os.Lstat(s.Machine.Path(l)); err == nil {
				continue
			} else if !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("setup: %w", err)
			}
			if err := atomicfile.Symlink(target, s.Machine.Path(l)); err != nil {
				return fmt.Errorf("setup: enable %s: %w", u, err)
			}
		}
	}
	return nil
}

func (s *OfflineSystemd) IsActive(context.Context, string) (bool, error) { return false, nil }
func (s *OfflineSystemd) DaemonReload(context.Context) error             { return nil }
func (s *OfflineSystemd) Start(context.Context, ...string) error         { return nil }
func (s *OfflineSystemd) Reload(context.Context, ...string) error        { return nil }
func (s *OfflineSystemd) Restart(context.Context, ...string) error       { return nil }
