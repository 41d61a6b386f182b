// Package packaging holds what Phalanx installs on a server besides its
// binary: the default config (phalanx.yaml) and the systemd units
// (systemd/*.service). The .deb and .rpm (nfpm.yaml) ship these files, and
// `phalanx setup` writes the same bytes, embedded here, so both installs
// are one.
package packaging

import (
	"embed"
	"fmt"
)

//go:embed phalanx.yaml systemd/*.service
var files embed.FS

// Units are the systemd unit names, daemon first.
func Units() []string {
	return []string{"phalanx.service", "phalanx-firewall-bouncer.service"}
}

// Unit returns a unit file's content.
func Unit(name string) ([]byte, error) {
	b, err := files.ReadFile("systemd/" + name)
	if err != nil {
		return nil, fmt.Errorf("packaging: unit %s: %w", name, err)
	}
	return b, nil
}

// Config returns the default /etc/phalanx/phalanx.yaml.
func Config() []byte {
	b, err := files.ReadFile("phalanx.yaml")
	if err != nil {
		panic(err) // embedded at build time: a build defect
	}
	return b
}

// Paths where the packages and setup install things.
const (
	BinaryPath     = "/usr/bin/phalanx"
	ConfigPath     = "/etc/phalanx/phalanx.yaml"
	AcquisDir      = "/etc/phalanx/acquis.d"
	FirewallConfig = "/etc/phalanx/bouncers/firewall.yaml"
	UnitDir        = "/etc/systemd/system"
	DataDir        = "/var/lib/phalanx"
)
