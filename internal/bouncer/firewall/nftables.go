package firewall

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// nftBackend programs nftables through netlink: table "inet <Table>", sets
// v4-addrs, v4-nets (interval), v6-addrs, v6-nets (interval), all with
// per-element timeouts, sets lapi-v4 and lapi-v6 (the LAPI's addresses),
// and a base chain per hook: `iifname "lo" accept`, `ip saddr @lapi-v4 ct
// state established,related accept` (and ip6), a jump to the "failclosed"
// chain, then one counted drop rule per set.
type nftBackend struct {
	cfg      BackendConfig
	conn     *nftables.Conn
	nsFd     int
	table    *nftables.Table
	sets     map[setKind]*nftables.Set
	lapiSets map[bool]*nftables.Set // by v6
	lapi     []netip.Addr
	inited   bool
}

type setKind struct {
	v6, net bool
}

func (k setKind) name() string {
	n := "v4-"
	if k.v6 {
		n = "v6-"
	}
	if k.net {
		return n + "nets"
	}
	return n + "addrs"
}

func kindOf(p netip.Prefix) setKind { return setKind{v6: p.Addr().Is6(), net: !p.IsSingleIP()} }

// elemsPerMsg keeps one netlink attribute under 64 KiB.
const elemsPerMsg = 1000

// newNftables prepares netlink connections (in cfg.NetNS if set).
func newNftables(cfg BackendConfig) (*nftBackend, error) {
	b := &nftBackend{cfg: cfg, nsFd: -1}
	// A fresh netlink socket per operation: a large batch can leave acks
	// behind that would confuse the next request on a lasting socket.
	opts := []nftables.ConnOption{nftables.WithSockOptions(bigBuffers)}
	if cfg.NetNS != "" {
		fd, err := unix.Open(filepath.Join("/run/netns", cfg.NetNS), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("firewall: nftables: netns %s: %w", cfg.NetNS, err)
		}
		b.nsFd = fd
		opts = append(opts, nftables.WithNetNSFd(fd))
	}
	conn, err := nftables.New(opts...)
	if err != nil {
		b.closeNS()
		return nil, fmt.Errorf("firewall: nftables: netlink: %w", err)
	}
	b.conn = conn
	b.table = &nftables.Table{Family: nftables.TableFamilyINet, Name: cfg.Table}
	b.sets = map[setKind]*nftables.Set{}
	for _, k := range b.kinds() {
		kt := nftables.TypeIPAddr
		if k.v6 {
			kt = nftables.TypeIP6Addr
		}
		b.sets[k] = &nftables.Set{Table: b.table, Name: k.name(), KeyType: kt, HasTimeout: true, Interval: k.net}
	}
	b.lapiSets = map[bool]*nftables.Set{false: {Table: b.table, Name: "lapi-v4", KeyType: nftables.TypeIPAddr}}
	if !cfg.DisableIPv6 {
		b.lapiSets[true] = &nftables.Set{Table: b.table, Name: "lapi-v6", KeyType: nftables.TypeIP6Addr}
	}
	// Probe: listing tables fails without nf_tables support.
	if _, err := conn.ListTablesOfFamily(nftables.TableFamilyINet); err != nil {
		_ = b.Close(false)
		return nil, fmt.Errorf("firewall: nftables: %w", err)
	}
	return b, nil
}

// bigBuffers lets one transaction carry hundreds of thousands of elements.
func bigBuffers(c *netlink.Conn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		const size = 64 << 20
		if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, size); e != nil {
			serr = e
			return
		}
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size)
	}); err != nil {
		return err
	}
	if serr != nil {
		// Without CAP_NET_ADMIN over the limits: keep the defaults.
		_ = c.SetWriteBuffer(4 << 20)
		_ = c.SetReadBuffer(4 << 20)
	}
	return nil
}

func (b *nftBackend) Name() string { return "nftables" }

func (b *nftBackend) kinds() []setKind {
	ks := []setKind{{false, false}, {false, true}}
	if !b.cfg.DisableIPv6 {
		ks = append(ks, setKind{true, false}, setKind{true, true})
	}
	return ks
}

func (b *nftBackend) failChain() *nftables.Chain {
	return &nftables.Chain{Name: "failclosed", Table: b.table}
}

func (b *nftBackend) baseChain(hook string) *nftables.Chain {
	h := nftables.ChainHookInput
	if hook == HookForward {
		h = nftables.ChainHookForward
	}
	accept := nftables.ChainPolicyAccept
	return &nftables.Chain{Name: hook, Table: b.table, Hooknum: h, Type: nftables.ChainTypeFilter,
		Priority: nftables.ChainPriorityRef(nftables.ChainPriority(b.cfg.Priority)), Policy: &accept}
}

func (b *nftBackend) Init(failClosed bool) error {
	if t, _ := b.conn.ListTableOfFamily(b.cfg.Table, nftables.TableFamilyINet); t != nil {
		b.conn.DelTable(b.table)
	}
	b.conn.AddTable(b.table)
	for _, k := range b.kinds() {
		if err := b.conn.AddSet(b.sets[k], nil); err != nil {
			return fmt.Errorf("firewall: nftables: add set %s: %w", k.name(), err)
		}
	}
	for v6, set := range b.lapiSets {
		if err := b.conn.AddSet(set, b.lapiElements(v6)); err != nil {
			return fmt.Errorf("firewall: nftables: add set %s: %w", set.Name, err)
		}
	}
	fc := b.conn.AddChain(b.failChain())
	if failClosed {
		b.addFailRule(fc)
	}
	for _, h := range b.cfg.Hooks {
		c := b.conn.AddChain(b.baseChain(h))
		b.conn.AddRule(&nftables.Rule{Table: b.table, Chain: c, Exprs: loRule()})
		for _, v6 := range []bool{false, true} {
			if set := b.lapiSets[v6]; set != nil {
				b.conn.AddRule(&nftables.Rule{Table: b.table, Chain: c, Exprs: lapiRule(set, v6)})
			}
		}
		b.conn.AddRule(&nftables.Rule{Table: b.table, Chain: c, Exprs: []expr.Any{
			&expr.Verdict{Kind: expr.VerdictJump, Chain: fc.Name},
		}})
		for _, k := range b.kinds() {
			b.conn.AddRule(&nftables.Rule{Table: b.table, Chain: c, Exprs: b.setRule(k)})
		}
	}
	if err := b.conn.Flush(); err != nil {
		return fmt.Errorf("firewall: nftables: create table inet %s: %w", b.cfg.Table, err)
	}
	b.inited = true
	return nil
}

// rulesPerHook is the number of rules of a base chain: loopback, the LAPI
// per family, the jump to failclosed, a drop per set.
func (b *nftBackend) rulesPerHook() int { return 1 + len(b.lapiSets) + 1 + len(b.kinds()) }

// lapiElements are the LAPI's addresses of one family.
func (b *nftBackend) lapiElements(v6 bool) []nftables.SetElement {
	var els []nftables.SetElement
	for _, a := range b.lapi {
		if a.Is6() == v6 {
			els = append(els, nftables.SetElement{Key: a.AsSlice()})
		}
	}
	return els
}

func (b *nftBackend) SetLAPI(addrs []netip.Addr) error {
	b.lapi = slices.Clone(addrs)
	if !b.inited {
		return nil
	}
	for v6, set := range b.lapiSets {
		b.conn.FlushSet(set)
		if els := b.lapiElements(v6); len(els) > 0 {
			if err := b.conn.SetAddElements(set, els); err != nil {
				return fmt.Errorf("firewall: nftables: lapi addresses: %w", err)
			}
		}
	}
	if err := b.conn.Flush(); err != nil {
		return fmt.Errorf("firewall: nftables: lapi addresses: %w", err)
	}
	return nil
}

// saddrIn is `meta nfproto ipvX ip(6) saddr @set`.
func saddrIn(set *nftables.Set, v6 bool) []expr.Any {
	proto, off, size := byte(unix.NFPROTO_IPV4), uint32(12), uint32(4)
	if v6 {
		proto, off, size = unix.NFPROTO_IPV6, 8, 16
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: size},
		&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
	}
}

// setRule is `meta nfproto ipvX ip(6) saddr @set counter drop|reject`.
func (b *nftBackend) setRule(k setKind) []expr.Any {
	ex := append(saddrIn(b.sets[k], k.v6), &expr.Counter{})
	if b.cfg.Action == ActionReject {
		return append(ex, &expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED})
	}
	return append(ex, &expr.Verdict{Kind: expr.VerdictDrop})
}

// lapiRule is `meta nfproto ipvX ip(6) saddr @lapi-vX ct state
// established,related accept`.
func lapiRule(set *nftables.Set, v6 bool) []expr.Any {
	return append(saddrIn(set, v6),
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: le32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED), Xor: le32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: le32(0)},
		&expr.Verdict{Kind: expr.VerdictAccept},
	)
}

// ifname is an interface name as iifname compares it (IFNAMSIZ bytes).
func ifname(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}

// loRule is `iifname "lo" accept`.
func loRule() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname("lo")},
		&expr.Verdict{Kind: expr.VerdictAccept},
	}
}

// addFailRule is `iifname != "lo" ct state new drop`.
func (b *nftBackend) addFailRule(c *nftables.Chain) {
	b.conn.AddRule(&nftables.Rule{Table: b.table, Chain: c, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifname("lo")},
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: le32(expr.CtStateBitNEW), Xor: le32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: le32(0)},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}})
}

func le32(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }

func (b *nftBackend) SetFailClosed(on bool) error {
	c := b.failChain()
	b.conn.FlushChain(c)
	if on {
		b.addFailRule(c)
	}
	if err := b.conn.Flush(); err != nil {
		return fmt.Errorf("firewall: nftables: fail-closed rule: %w", err)
	}
	return nil
}

func (b *nftBackend) Apply(batch Batch) error {
	type group struct {
		del, add []nftables.SetElement
	}
	groups := map[setKind]*group{}
	get := func(k setKind) *group {
		g := groups[k]
		if g == nil {
			g = &group{}
			groups[k] = g
		}
		return g
	}
	for _, p := range batch.Del {
		k := kindOf(p)
		if b.sets[k] == nil {
			continue
		}
		g := get(k)
		g.del = append(g.del, elements(p, 0)...)
	}
	for _, e := range batch.Add {
		k := kindOf(e.Prefix)
		if b.sets[k] == nil {
			continue
		}
		g := get(k)
		g.add = append(g.add, elements(e.Prefix, e.Timeout)...)
	}
	for k, g := range groups {
		for i := 0; i < len(g.del); i += elemsPerMsg {
			if err := b.conn.SetDeleteElements(b.sets[k], g.del[i:min(i+elemsPerMsg, len(g.del))]); err != nil {
				return fmt.Errorf("firewall: nftables: delete elements: %w", err)
			}
		}
	}
	for k, g := range groups {
		for i := 0; i < len(g.add); i += elemsPerMsg {
			if err := b.conn.SetAddElements(b.sets[k], g.add[i:min(i+elemsPerMsg, len(g.add))]); err != nil {
				return fmt.Errorf("firewall: nftables: add elements: %w", err)
			}
		}
	}
	if err := b.conn.Flush(); err != nil {
		return fmt.Errorf("firewall: nftables: apply %d deletions, %d additions: %w", len(batch.Del), len(batch.Add), err)
	}
	return nil
}

// elements encodes p: one element for an address, a start and an end
// (first address after the network) for an interval.
func elements(p netip.Prefix, timeout time.Duration) []nftables.SetElement {
	if timeout > 0 && timeout < time.Millisecond {
		timeout = time.Millisecond
	}
	start := nftables.SetElement{Key: p.Addr().AsSlice(), Timeout: timeout}
	if p.IsSingleIP() {
		return []nftables.SetElement{start}
	}
	end := lastAddr(p).Next()
	if !end.IsValid() { // the network reaches the last address
		return []nftables.SetElement{start}
	}
	return []nftables.SetElement{start, {Key: end.AsSlice(), IntervalEnd: true}}
}

func (b *nftBackend) Read() (State, error) {
	st := State{Elems: map[netip.Prefix]struct{}{}}
	t, err := b.conn.ListTableOfFamily(b.cfg.Table, nftables.TableFamilyINet)
	if err != nil || t == nil {
		if err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, unix.ENOENT) {
			return st, fmt.Errorf("firewall: nftables: list table: %w", err)
		}
		return st, nil
	}
	intact := true
	for _, k := range b.kinds() {
		els, err := b.conn.GetSetElements(b.sets[k])
		if err != nil {
			intact = false
			continue
		}
		readElements(k, els, st.Elems)
	}
	for v6, set := range b.lapiSets {
		els, err := b.conn.GetSetElements(set)
		if err != nil || len(els) != len(b.lapiElements(v6)) {
			intact = false
			continue
		}
		for _, e := range els {
			if a, ok := netip.AddrFromSlice(e.Key); !ok || !slices.Contains(b.lapi, a.Unmap()) {
				intact = false
			}
		}
	}
	for _, h := range b.cfg.Hooks {
		rules, err := b.conn.GetRules(b.table, b.baseChain(h))
		if err != nil || len(rules) != b.rulesPerHook() {
			intact = false
		}
	}
	st.Intact = intact
	return st, nil
}

// readElements turns dumped elements back into prefixes. Interval sets
// dump starts and ends in some order; each start is paired with the
// smallest end above it.
func readElements(k setKind, els []nftables.SetElement, out map[netip.Prefix]struct{}) {
	if !k.net {
		for _, e := range els {
			if a, ok := netip.AddrFromSlice(e.Key); ok {
				out[netip.PrefixFrom(a, a.BitLen())] = struct{}{}
			}
		}
		return
	}
	var starts, ends []netip.Addr
	for _, e := range els {
		a, ok := netip.AddrFromSlice(e.Key)
		if !ok {
			continue
		}
		if e.IntervalEnd {
			ends = append(ends, a)
		} else {
			starts = append(starts, a)
		}
	}
	sortAddrs(starts)
	sortAddrs(ends)
	j := 0
	for _, s := range starts {
		for j < len(ends) && ends[j].Compare(s) <= 0 {
			j++
		}
		var p netip.Prefix
		if j < len(ends) {
			p = rangeToPrefix(s, ends[j].Prev())
		} else {
			p = rangeToPrefix(s, lastAddr(netip.PrefixFrom(s, 0)))
		}
		if p.IsValid() {
			out[p] = struct{}{}
		}
	}
}

// rangeToPrefix returns the prefix spanning exactly [first, last], or an
// invalid prefix if the range is not a CIDR network.
func rangeToPrefix(first, last netip.Addr) netip.Prefix {
	for bits := 0; bits <= first.BitLen(); bits++ {
		p := netip.PrefixFrom(first, bits)
		if p.Masked().Addr() == first && lastAddr(p) == last {
			return p
		}
	}
	return netip.Prefix{}
}

func (b *nftBackend) Counters() (Counters, error) {
	var c Counters
	for _, h := range b.cfg.Hooks {
		rules, err := b.conn.GetRules(b.table, b.baseChain(h))
		if err != nil {
			return c, fmt.Errorf("firewall: nftables: read counters: %w", err)
		}
		for _, r := range rules {
			for _, e := range r.Exprs {
				if ctr, ok := e.(*expr.Counter); ok {
					c.Packets += ctr.Packets
					c.Bytes += ctr.Bytes
				}
			}
		}
	}
	return c, nil
}

func (b *nftBackend) Close(remove bool) error {
	var err error
	if b.conn != nil {
		if remove {
			b.conn.DelTable(b.table)
			if e := b.conn.Flush(); e != nil {
				err = fmt.Errorf("firewall: nftables: delete table: %w", e)
			}
		}
		_ = b.conn.CloseLasting()
	}
	b.closeNS()
	return err
}

func (b *nftBackend) closeNS() {
	if b.nsFd >= 0 {
		_ = unix.Close(b.nsFd)
		b.nsFd = -1
	}
}
