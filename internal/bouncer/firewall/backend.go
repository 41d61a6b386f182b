package firewall

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Backend programs one packet filter: a table (or chains) of its own with
// an address set per family and kind (single addresses; networks), and a
// drop or reject rule per configured hook matching the sets. Before those,
// each hook accepts loopback traffic and established or related traffic
// from the LAPI's addresses (a set per family, see SetLAPI).
//
// Concurrency: a Backend is used by one goroutine at a time (the Firewall
// serialises every call).
//
// Failure policy: every method returns an error when the kernel refused the
// operation or the tool failed; none is retried inside the backend. The
// Firewall treats any error as retryable: it re-reads the kernel state at
// the next resync and repairs it.
type Backend interface {
	// Name is "nftables" or "iptables".
	Name() string
	// Init creates the table/chains/sets/rules, replacing any left over
	// from an earlier run (their elements are dropped; the LAPI set gets
	// the addresses of the last SetLAPI). failClosed adds a rule dropping
	// every new inbound connection (but loopback's) until
	// SetFailClosed(false).
	Init(failClosed bool) error
	// SetLAPI replaces the LAPI's addresses, whose established and related
	// traffic is accepted before the drop rules. Before Init it only
	// records them.
	SetLAPI(addrs []netip.Addr) error
	// Apply runs one batch: deletes, then adds. nftables applies a batch
	// as one atomic transaction.
	Apply(b Batch) error
	// Read returns what the kernel holds: whether the scaffolding (table,
	// chains, sets, rules) is intact, and the set elements.
	Read() (State, error)
	// SetFailClosed adds or removes the fail-closed rule.
	SetFailClosed(on bool) error
	// Counters returns the packets and bytes dropped (or rejected) by the
	// set rules since Init.
	Counters() (Counters, error)
	// Close releases the backend; with remove, it deletes what Init created
	// (enforcement stops).
	Close(remove bool) error
}

// Elem is one set element: an address (/32, /128) or a network, with the
// time left before the kernel drops it.
type Elem struct {
	Prefix  netip.Prefix
	Timeout time.Duration
}

// Batch is one change of the sets.
type Batch struct {
	Del []netip.Prefix
	Add []Elem
}

// Len is the number of operations.
func (b Batch) Len() int { return len(b.Del) + len(b.Add) }

// State is the kernel's content as Read found it.
type State struct {
	Intact bool
	Elems  map[netip.Prefix]struct{}
}

// Counters are the packets and bytes the bouncer's rules stopped.
type Counters struct {
	Packets, Bytes uint64
}

// Actions.
const (
	ActionDrop   = "drop"
	ActionReject = "reject"
)

// Hooks.
const (
	HookInput   = "input"
	HookForward = "forward"
)

// BackendConfig is what every backend needs.
type BackendConfig struct {
	// Table is the nftables table (family inet) or the prefix of the ipset
	// sets and iptables chain names. Default "phalanx".
	Table string
	// Action is drop or reject.
	Action string
	// Hooks are the hooks filtered: input and/or forward.
	Hooks []string
	// Priority of the nftables base chains (default -10: before the
	// distribution's filter table).
	Priority int32
	// DisableIPv6 leaves IPv6 alone.
	DisableIPv6 bool
	// NetNS is a network namespace name (/run/netns/NAME) to program
	// instead of the current one.
	NetNS string
}

func (c BackendConfig) withDefaults() BackendConfig {
	if c.Table == "" {
		c.Table = "phalanx"
	}
	if c.Action == "" {
		c.Action = ActionDrop
	}
	if len(c.Hooks) == 0 {
		c.Hooks = []string{HookInput}
	}
	if c.Priority == 0 {
		c.Priority = -10
	}
	return c
}

func (c BackendConfig) validate() error {
	if c.Action != ActionDrop && c.Action != ActionReject {
		return fmt.Errorf("deny_action %q: want drop or reject", c.Action)
	}
	for _, h := range c.Hooks {
		if h != HookInput && h != HookForward {
			return fmt.Errorf("chain %q: want input or forward", h)
		}
	}
	return nil
}

// lastAddr returns the last address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	bits := p.Bits()
	for i := range b {
		for j := range 8 {
			if i*8+j >= bits {
				b[i] |= 0x80 >> j
			}
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func sortAddrs(as []netip.Addr) {
	slices.SortFunc(as, func(a, b netip.Addr) int { return a.Compare(b) })
}
