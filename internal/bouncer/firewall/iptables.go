package firewall

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// iptBackend is the fallback for hosts without nftables: ipset sets of type
// hash:net (addresses and networks, per-element timeouts) matched by
// iptables/ip6tables rules in chains of its own, jumped to from INPUT
// and/or FORWARD. The chain first RETURNs loopback traffic and established
// or related traffic from the LAPI (ipset <table>-lapi-v4/-v6, hash:ip) to
// the built-in chain, whose own rules then decide; then it jumps to the
// fail-closed chain and drops what the sets match. It runs the iptables,
// ip6tables and ipset binaries; a batch is one `ipset restore` (not atomic
// across the batch, but one process and one netlink conversation).
type iptBackend struct {
	cfg   BackendConfig
	chain string // e.g. PHALANX
	run   func(stdin []byte, args ...string) ([]byte, error)
	lapi  []netip.Addr
}

// ipset's largest timeout (seconds).
const ipsetMaxTimeout = 2147483

func newIptables(cfg BackendConfig) (*iptBackend, error) {
	b := &iptBackend{cfg: cfg, chain: strings.ToUpper(cfg.Table)}
	b.run = func(stdin []byte, args ...string) ([]byte, error) {
		if cfg.NetNS != "" {
			args = append([]string{"ip", "netns", "exec", cfg.NetNS}, args...)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, args[0], args[1:]...) //nolint:gosec // fixed binaries
		if stdin != nil {
			cmd.Stdin = bytes.NewReader(stdin)
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return out, fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		return out, nil
	}
	for _, bin := range []string{"iptables", "ipset"} {
		if _, err := exec.LookPath(bin); err != nil {
			return nil, fmt.Errorf("firewall: iptables: %w", err)
		}
	}
	if _, err := b.run(nil, "ipset", "version"); err != nil {
		return nil, fmt.Errorf("firewall: iptables: %w", err)
	}
	return b, nil
}

func (b *iptBackend) Name() string { return "iptables" }

type ipFamily struct {
	v6      bool
	tool    string // iptables or ip6tables
	set     string
	lapiSet string
	fam     string // ipset family
}

func (b *iptBackend) families() []ipFamily {
	fs := []ipFamily{{tool: "iptables", set: b.cfg.Table + "-v4", lapiSet: b.cfg.Table + "-lapi-v4", fam: "inet"}}
	if !b.cfg.DisableIPv6 {
		fs = append(fs, ipFamily{v6: true, tool: "ip6tables", set: b.cfg.Table + "-v6", lapiSet: b.cfg.Table + "-lapi-v6", fam: "inet6"})
	}
	return fs
}

func (b *iptBackend) failChain() string { return b.chain + "-FAIL" }

func hookChain(h string) string { return strings.ToUpper(h) }

func (b *iptBackend) teardown() {
	for _, f := range b.families() {
		for _, h := range []string{HookInput, HookForward} {
			for i := 0; i < 10; i++ {
				if _, err := b.run(nil, f.tool, "-w", "-D", hookChain(h), "-j", b.chain); err != nil {
					break
				}
			}
		}
		for _, c := range []string{b.chain, b.failChain()} {
			_, _ = b.run(nil, f.tool, "-w", "-F", c)
			_, _ = b.run(nil, f.tool, "-w", "-X", c)
		}
		_, _ = b.run(nil, "ipset", "destroy", f.set)
		_, _ = b.run(nil, "ipset", "destroy", f.lapiSet)
	}
}

func (b *iptBackend) Init(failClosed bool) error {
	b.teardown()
	for _, f := range b.families() {
		if _, err := b.run(nil, "ipset", "create", f.set, "hash:net", "family", f.fam,
			"timeout", "0", "maxelem", "16777216", "hashsize", "65536"); err != nil {
			return fmt.Errorf("firewall: iptables: %w", err)
		}
		if _, err := b.run(nil, "ipset", "create", f.lapiSet, "hash:ip", "family", f.fam); err != nil {
			return fmt.Errorf("firewall: iptables: %w", err)
		}
		cmds := [][]string{
			{"-N", b.failChain()},
			{"-N", b.chain},
			{"-A", b.chain, "-i", "lo", "-j", "RETURN"},
			{"-A", b.chain, "-m", "set", "--match-set", f.lapiSet, "src", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"},
			{"-A", b.chain, "-j", b.failChain()},
			append([]string{"-A", b.chain, "-m", "set", "--match-set", f.set, "src"}, b.target(f)...),
		}
		if failClosed {
			cmds = append(cmds, b.failRule())
		}
		for _, h := range b.cfg.Hooks {
			cmds = append(cmds, []string{"-I", hookChain(h), "1", "-j", b.chain})
		}
		for _, c := range cmds {
			if _, err := b.run(nil, append([]string{f.tool, "-w"}, c...)...); err != nil {
				return fmt.Errorf("firewall: iptables: %w", err)
			}
		}
	}
	return b.writeLAPI()
}

func (b *iptBackend) SetLAPI(addrs []netip.Addr) error {
	b.lapi = slices.Clone(addrs)
	for _, f := range b.families() {
		if _, err := b.run(nil, "ipset", "list", "-n", f.lapiSet); err != nil {
			return nil // before Init: recorded only
		}
	}
	return b.writeLAPI()
}

// writeLAPI replaces the LAPI sets' content with b.lapi.
func (b *iptBackend) writeLAPI() error {
	var buf bytes.Buffer
	for _, f := range b.families() {
		fmt.Fprintf(&buf, "flush %s\n", f.lapiSet)
		for _, a := range b.lapi {
			if a.Is6() == f.v6 {
				fmt.Fprintf(&buf, "add %s %s\n", f.lapiSet, a)
			}
		}
	}
	if _, err := b.run(buf.Bytes(), "ipset", "restore", "-exist"); err != nil {
		return fmt.Errorf("firewall: iptables: lapi addresses: %w", err)
	}
	return nil
}

func (b *iptBackend) target(f ipFamily) []string {
	if b.cfg.Action == ActionReject {
		if f.v6 {
			return []string{"-j", "REJECT", "--reject-with", "icmp6-adm-prohibited"}
		}
		return []string{"-j", "REJECT", "--reject-with", "icmp-admin-prohibited"}
	}
	return []string{"-j", "DROP"}
}

func (b *iptBackend) failRule() []string {
	return []string{"-A", b.failChain(), "!", "-i", "lo", "-m", "conntrack", "--ctstate", "NEW", "-j", "DROP"}
}

func (b *iptBackend) SetFailClosed(on bool) error {
	for _, f := range b.families() {
		if _, err := b.run(nil, f.tool, "-w", "-F", b.failChain()); err != nil {
			return fmt.Errorf("firewall: iptables: %w", err)
		}
		if on {
			if _, err := b.run(nil, append([]string{f.tool, "-w"}, b.failRule()...)...); err != nil {
				return fmt.Errorf("firewall: iptables: %w", err)
			}
		}
	}
	return nil
}

func (b *iptBackend) setFor(p netip.Prefix) string {
	if p.Addr().Is6() {
		if b.cfg.DisableIPv6 {
			return ""
		}
		return b.cfg.Table + "-v6"
	}
	return b.cfg.Table + "-v4"
}

func (b *iptBackend) Apply(batch Batch) error {
	var buf bytes.Buffer
	for _, p := range batch.Del {
		if s := b.setFor(p); s != "" && p.Bits() > 0 {
			fmt.Fprintf(&buf, "del %s %s\n", s, ipsetValue(p))
		}
	}
	for _, e := range batch.Add {
		if s := b.setFor(e.Prefix); s != "" && e.Prefix.Bits() > 0 {
			secs := int64((e.Timeout + time.Second - 1) / time.Second)
			secs = min(max(secs, 1), ipsetMaxTimeout)
			fmt.Fprintf(&buf, "add %s %s timeout %d\n", s, ipsetValue(e.Prefix), secs)
		}
	}
	if buf.Len() == 0 {
		return nil
	}
	if _, err := b.run(buf.Bytes(), "ipset", "restore", "-exist"); err != nil {
		return fmt.Errorf("firewall: iptables: apply %d deletions, %d additions: %w", len(batch.Del), len(batch.Add), err)
	}
	return nil
}

func ipsetValue(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

func (b *iptBackend) Read() (State, error) {
	st := State{Elems: map[netip.Prefix]struct{}{}, Intact: true}
	for _, f := range b.families() {
		out, err := b.run(nil, "ipset", "save", f.set)
		if err != nil {
			st.Intact = false
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 3 || fields[0] != "add" {
				continue
			}
			v := fields[2]
			if !strings.Contains(v, "/") {
				if f.v6 {
					v += "/128"
				} else {
					v += "/32"
				}
			}
			if p, err := netip.ParsePrefix(v); err == nil {
				st.Elems[p.Masked()] = struct{}{}
			}
		}
		rules, err := b.run(nil, f.tool, "-w", "-S", b.chain)
		if err != nil || !strings.Contains(string(rules), "--match-set "+f.set+" src") ||
			!strings.Contains(string(rules), "--match-set "+f.lapiSet+" src") || !strings.Contains(string(rules), "-i lo -j RETURN") {
			st.Intact = false
		}
		if !b.lapiIntact(f) {
			st.Intact = false
		}
		for _, h := range b.cfg.Hooks {
			if _, err := b.run(nil, f.tool, "-w", "-C", hookChain(h), "-j", b.chain); err != nil {
				st.Intact = false
			}
		}
	}
	return st, nil
}

// lapiIntact reports whether the LAPI set of f holds b.lapi's addresses of
// its family, and only them.
func (b *iptBackend) lapiIntact(f ipFamily) bool {
	out, err := b.run(nil, "ipset", "save", f.lapiSet)
	if err != nil {
		return false
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || fields[0] != "add" {
			continue
		}
		a, err := netip.ParseAddr(fields[2])
		if err != nil || !slices.Contains(b.lapi, a) {
			return false
		}
		n++
	}
	want := 0
	for _, a := range b.lapi {
		if a.Is6() == f.v6 {
			want++
		}
	}
	return n == want
}

func (b *iptBackend) Counters() (Counters, error) {
	var c Counters
	for _, f := range b.families() {
		out, err := b.run(nil, f.tool, "-w", "-L", b.chain, "-v", "-x", "-n")
		if err != nil {
			return c, fmt.Errorf("firewall: iptables: read counters: %w", err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			fields := strings.Fields(line)
			if len(fields) < 3 || (fields[2] != "DROP" && fields[2] != "REJECT") {
				continue
			}
			pk, err1 := strconv.ParseUint(fields[0], 10, 64)
			by, err2 := strconv.ParseUint(fields[1], 10, 64)
			if err1 == nil && err2 == nil {
				c.Packets += pk
				c.Bytes += by
			}
		}
	}
	return c, nil
}

func (b *iptBackend) Close(remove bool) error {
	if remove {
		b.teardown()
	}
	return nil
}
