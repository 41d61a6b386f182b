package bouncer

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/phalanx-ids/phalanx/internal/models"
)

// Scopes a bouncer enforces (CrowdSec's spelling).
const (
	ScopeIP    = "Ip"
	ScopeRange = "Range"
)

// ErrUnsupportedScope is returned by FromModel for decisions of a scope
// other than Ip and Range (Country, AS...): bouncers skip them.
var ErrUnsupportedScope = errors.New("unsupported scope")

// Decision is one remediation as a bouncer holds it: an address or a
// network, normalised (IPv4-mapped IPv6 becomes IPv4, the prefix is
// masked). A Decision is immutable once built: share it, never change it.
type Decision struct {
	ID       int64
	Type     string // ban, captcha, ...
	Scope    string // ScopeIP or ScopeRange
	Value    string // as the LAPI sent it
	Origin   string
	Scenario string
	// Prefix is the address (/32 or /128 for ScopeIP) or the network.
	Prefix netip.Prefix
	// Until is when the decision ends (the LAPI's duration, taken from the
	// time the decision was received).
	Until time.Time
}

// Key identifies the decision the way the LAPI deduplicates its stream:
// one decision per (scope, value, type).
type Key struct {
	Scope  string
	Prefix netip.Prefix
	Type   string
}

// Key returns d's dedup key.
func (d *Decision) Key() Key { return Key{Scope: d.Scope, Prefix: d.Prefix, Type: d.Type} }

// IsRange reports whether d covers more than one address.
func (d *Decision) IsRange() bool { return !d.Prefix.IsSingleIP() }

// String is "ban Ip 192.0.2.1 (crowdsec/ssh-bf)".
func (d *Decision) String() string {
	return d.Type + " " + d.Scope + " " + d.Prefix.String() + " (" + d.Origin + "/" + d.Scenario + ")"
}

// FromModel converts a LAPI decision received at now. Scopes other than Ip
// and Range give ErrUnsupportedScope; a bad value or duration is an error.
func FromModel(m *models.Decision, now time.Time) (*Decision, error) {
	if m == nil || m.Value == nil || m.Scope == nil {
		return nil, errors.New("bouncer: decision without scope or value")
	}
	scope := models.NormalizeScope(*m.Scope)
	if scope != ScopeIP && scope != ScopeRange {
		return nil, fmt.Errorf("bouncer: decision %d scope %q: %w", m.ID, *m.Scope, ErrUnsupportedScope)
	}
	p, err := models.ParseIPOrRange(strings.TrimSpace(*m.Value))
	if err != nil {
		return nil, fmt.Errorf("bouncer: decision %d value %q: %w", m.ID, *m.Value, err)
	}
	if scope == ScopeIP && !p.IsSingleIP() {
		return nil, fmt.Errorf("bouncer: decision %d: Ip scope with network %q", m.ID, *m.Value)
	}
	d := &Decision{ID: m.ID, Scope: scope, Value: *m.Value, Prefix: p, Type: "ban"}
	if m.Type != nil && *m.Type != "" {
		d.Type = strings.ToLower(*m.Type)
	}
	if m.Origin != nil {
		d.Origin = *m.Origin
	}
	if m.Scenario != nil {
		d.Scenario = *m.Scenario
	}
	switch {
	case m.Duration != nil && *m.Duration != "":
		dur, err := time.ParseDuration(*m.Duration)
		if err != nil {
			return nil, fmt.Errorf("bouncer: decision %d duration %q: %w", m.ID, *m.Duration, err)
		}
		d.Until = now.Add(dur)
	case m.Until != "":
		u, err := time.Parse(time.RFC3339Nano, m.Until)
		if err != nil {
			return nil, fmt.Errorf("bouncer: decision %d until %q: %w", m.ID, m.Until, err)
		}
		d.Until = u
	default:
		return nil, fmt.Errorf("bouncer: decision %d: no duration", m.ID)
	}
	return d, nil
}

// typeRank orders remediations: when several decisions match an address,
// the strongest wins (ban over captcha over anything else).
func typeRank(t string) int {
	switch t {
	case "ban":
		return 3
	case "captcha":
		return 2
	case "throttle":
		return 1
	}
	return 0
}

// better reports whether a should be returned rather than b.
func better(a, b *Decision) bool {
	if b == nil {
		return true
	}
	if ra, rb := typeRank(a.Type), typeRank(b.Type); ra != rb {
		return ra > rb
	}
	return a.Until.After(b.Until)
}
