package exprenv

import "net/netip"

// CommunityList answers whether an address is on the community blocklist
// (the decisions of origin CAPI and lists the LAPI pulled from its
// central). *capi.Community implements it. Listed must be safe for
// concurrent use and cheap (it runs per event).
type CommunityList interface {
	Listed(ip netip.Addr) bool
}

// communityHelpers: the community blocklist.
func (e *Env) communityHelpers() []helper {
	return []helper{
		{"IsInCommunityList", e.isInCommunityList, []any{new(func(string) bool)}},
	}
}

// IsInCommunityList(ip) bool: the address is covered by an active
// community decision. false without a community list (no central, or an
// agent without a local LAPI) and for anything that is not an address.
func (e *Env) isInCommunityList(p ...any) (any, error) {
	if e.d.Community == nil {
		return false, nil
	}
	a, ok := parseIP(argStr(p, 0))
	if !ok {
		return false, nil
	}
	return e.d.Community.Listed(a), nil
}
