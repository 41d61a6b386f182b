package setup

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Machine is what detection reads: a directory tree (the machine's root,
// "/" on the machine itself), and, on the machine itself only, its
// running processes and listening TCP ports (/proc).
//
// Under a root R it reads exactly: R/etc/systemd/system,
// R/run/systemd/system, R/lib/systemd/system and R/usr/lib/systemd/system
// (unit files; links to /dev/null are masked units, ignored), the
// *.wants/ folders of R/etc/systemd/system (enabled units), the files and
// log globs of the rules under R, R/run/systemd/journal and
// R/var/log/journal with R/usr/bin/journalctl or R/bin/journalctl
// (journald present).
type Machine struct {
	root string
	proc string // "" when live state is not read
}

// NewMachine is the machine at root: live state (processes, ports) is read
// only when root is "/".
func NewMachine(root string) *Machine {
	m := &Machine{root: filepath.Clean(root)}
	if m.root == "/" {
		m.proc = "/proc"
	}
	return m
}

// Root is the machine's root directory.
func (m *Machine) Root() string { return m.root }

// Path is p (absolute inside the machine) on this host.
func (m *Machine) Path(p string) string { return filepath.Join(m.root, filepath.FromSlash(p)) }

// Live reports whether processes and ports are read.
func (m *Machine) Live() bool { return m.proc != "" }

var unitDirs = []string{"/etc/systemd/system", "/run/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system"}

// units returns the unit files found, with whether each is enabled.
func (m *Machine) units() map[string]bool {
	out := map[string]bool{}
	for _, d := range unitDirs {
		ents, _ := os.ReadDir(m.Path(d))
		for _, e := range ents {
			p := filepath.Join(m.Path(d), e.Name())
			if t, err := os.Readlink(p); err == nil && t == "/dev/null" {
				continue // masked
			}
			if !e.IsDir() {
				if _, ok := out[e.Name()]; !ok {
					out[e.Name()] = false
				}
			}
		}
	}
	wants, _ := filepath.Glob(m.Path("/etc/systemd/system/*.wants/*"))
	for _, w := range wants {
		n := filepath.Base(w)
		if _, ok := out[n]; ok {
			out[n] = true
		}
	}
	return out
}

// processes returns the names of the running processes (live only).
func (m *Machine) processes() map[string]bool {
	out := map[string]bool{}
	if m.proc == "" {
		return out
	}
	ents, _ := os.ReadDir(m.proc)
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(m.proc, e.Name(), "comm"))
		if err == nil {
			out[strings.TrimSpace(string(b))] = true
		}
	}
	return out
}

// ports returns the TCP ports something listens on (live only).
func (m *Machine) ports() map[int]bool {
	out := map[int]bool{}
	if m.proc == "" {
		return out
	}
	for _, f := range []string{"net/tcp", "net/tcp6"} {
		fh, err := os.Open(filepath.Join(m.proc, f))
		if err != nil {
			continue
		}
		for p := range listening(bufio.NewScanner(fh)) {
			out[p] = true
		}
		fh.Close()
	}
	return out
}

// listening parses /proc/net/tcp{,6}: the local ports of sockets in state
// 0A (LISTEN).
func listening(sc *bufio.Scanner) map[int]bool {
	out := map[int]bool{}
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue // header
		}
		f := strings.Fields(sc.Text())
		if len(f) < 4 || f[3] != "0A" {
			continue
		}
		_, hexPort, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		if p, err := strconv.ParseUint(hexPort, 16, 16); err == nil {
			out[int(p)] = true
		}
	}
	return out
}

// journald reports whether journald runs (or keeps a journal) and
// journalctl is there to read it.
func (m *Machine) journald() bool {
	run := isDir(m.Path("/run/systemd/journal")) || isDir(m.Path("/var/log/journal"))
	return run && (isFile(m.Path("/usr/bin/journalctl")) || isFile(m.Path("/bin/journalctl")))
}

// glob returns what matches pattern (absolute inside the machine), as
// paths inside the machine; regular only keeps regular files.
func (m *Machine) glob(pattern string, regular bool) []string {
	ms, _ := filepath.Glob(m.Path(pattern))
	var out []string
	for _, p := range ms {
		st, err := os.Stat(p)
		if err != nil || (regular && !st.Mode().IsRegular()) {
			continue
		}
		rel, err := filepath.Rel(m.root, p)
		if err != nil {
			continue
		}
		out = append(out, "/"+filepath.ToSlash(rel))
	}
	sort.Strings(out)
	return out
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// Detection is what setup found on a machine (-o yaml prints it).
type Detection struct {
	Root     string    `yaml:"root" json:"root"`
	Live     bool      `yaml:"live" json:"live"` // processes and listening ports were read
	Journald bool      `yaml:"journald" json:"journald"`
	Services []Service `yaml:"services" json:"services"`
}

// Service is a detected service.
type Service struct {
	Name        string   `yaml:"name" json:"name"`
	Description string   `yaml:"description,omitempty" json:"description,omitempty"`
	Evidence    []string `yaml:"evidence" json:"evidence"`
	Collections []string `yaml:"collections" json:"collections"`
	Logs        []Source `yaml:"logs,omitempty" json:"logs,omitempty"`
	Warnings    []string `yaml:"warnings,omitempty" json:"warnings,omitempty"`
}

// Source is one acquisition source to write (paths inside the machine).
type Source struct {
	Type     string   `yaml:"type" json:"type"`
	Files    []string `yaml:"files,omitempty" json:"files,omitempty"`
	Journald []string `yaml:"journalctl_filter,omitempty" json:"journalctl_filter,omitempty"`
}

// Detect applies the rules to the machine.
func Detect(m *Machine, rules *Rules) *Detection {
	d := &Detection{Root: m.root, Live: m.Live(), Journald: m.journald()}
	units, procs, ports := m.units(), m.processes(), m.ports()
	found := map[string]bool{}
	var all []Service
	for _, r := range rules.Services {
		s := Service{Name: r.Name, Description: r.Description, Collections: r.Collections}
		if r.Always {
			s.Evidence = append(s.Evidence, "always")
		}
		for _, u := range r.Detect.Units {
			if en, ok := units[u]; ok {
				s.Evidence = append(s.Evidence, "unit "+u+map[bool]string{true: " (enabled)"}[en])
			}
		}
		for _, p := range r.Detect.Processes {
			if procs[p] {
				s.Evidence = append(s.Evidence, "process "+p)
			}
		}
		for _, p := range r.Detect.Ports {
			if ports[p] {
				s.Evidence = append(s.Evidence, fmt.Sprintf("port %d listening", p))
			}
		}
		for _, f := range r.Detect.Files {
			if ms := m.glob(f, false); len(ms) > 0 {
				s.Evidence = append(s.Evidence, "file "+ms[0])
			}
		}
		for _, l := range r.Logs {
			src, evidence, warn := m.logSource(l, units, d.Journald)
			s.Evidence = append(s.Evidence, evidence...)
			if src != nil {
				s.Logs = append(s.Logs, *src)
			} else if warn != "" {
				s.Warnings = append(s.Warnings, warn)
			}
		}
		if len(s.Evidence) == 0 {
			continue
		}
		found[r.Name] = true
		all = append(all, s)
	}
	claimed := map[string]string{} // file or journald filter -> service reading it
	for _, r := range rules.Services {
		if !found[r.Name] || slices.ContainsFunc(r.NotWith, func(n string) bool { return found[n] }) {
			continue
		}
		s := all[slices.IndexFunc(all, func(s Service) bool { return s.Name == r.Name })]
		dedupe(m, &s, claimed)
		d.Services = append(d.Services, s)
	}
	return d
}

// logSource is the acquisition for one log rule: the globs that match
// files, else journald (when it runs), else nothing and a warning.
func (m *Machine) logSource(l LogRule, units map[string]bool, journald bool) (*Source, []string, string) {
	var globs, evidence []string
	for _, g := range l.Files {
		if ms := m.glob(g, true); len(ms) > 0 {
			globs = append(globs, g)
			for _, p := range ms {
				evidence = append(evidence, "log "+p)
			}
		}
	}
	if len(globs) > 0 {
		return &Source{Type: l.Type, Files: globs}, evidence, ""
	}
	if journald && len(l.Journald) > 0 {
		var us []string
		for _, u := range l.Journald {
			if _, ok := units[u]; ok {
				us = append(us, u)
			}
		}
		if len(us) == 0 {
			us = l.Journald
		}
		src := &Source{Type: "syslog"}
		for _, u := range us {
			src.Journald = append(src.Journald, "_SYSTEMD_UNIT="+u)
		}
		return src, nil, ""
	}
	where := strings.Join(l.Files, ", ")
	if len(l.Journald) > 0 {
		where += " (and journald is not there)"
	}
	return nil, nil, "no log found: looked for " + where
}

// dedupe drops from s's sources what a service before it already reads
// (postfix and dovecot share /var/log/mail.log), with a warning.
func dedupe(m *Machine, s *Service, claimed map[string]string) {
	var out []Source
	for _, src := range s.Logs {
		keep := src
		keep.Files, keep.Journald = nil, nil
		for _, g := range src.Files {
			ms := m.glob(g, true)
			fresh := false
			for _, p := range ms {
				if _, ok := claimed[p]; !ok {
					fresh = true
				}
			}
			if !fresh {
				by := claimed[ms[0]]
				s.Warnings = append(s.Warnings, fmt.Sprintf("%s is already read for %s", g, by))
				continue
			}
			for _, p := range ms {
				claimed[p] = s.Name
			}
			keep.Files = append(keep.Files, g)
		}
		for _, f := range src.Journald {
			if by, ok := claimed[f]; ok {
				s.Warnings = append(s.Warnings, fmt.Sprintf("journald %s is already read for %s", f, by))
				continue
			}
			claimed[f] = s.Name
			keep.Journald = append(keep.Journald, f)
		}
		if len(keep.Files)+len(keep.Journald) > 0 {
			out = append(out, keep)
		}
	}
	s.Logs = out
}
