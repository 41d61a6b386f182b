package curate

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

const goodHash = "aaaa"

func check(scenario, version, hash string) bool { return hash == goodHash && version == "1.0" }

func newEngine(t *testing.T) (*Engine, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	return New(Config{}, c.now, check), c
}

// add registers installs: "org:net" pairs, org "" anonymous, org "seed" a seed.
func add(e *Engine, id, org, net string) {
	e.UpsertInstall(Install{ID: id, Org: org, Seed: org == "seed", Net: netip.MustParsePrefix(net)}, false)
}

// trusted registers a trusted install of its own organisation on net
// (30 confirmed reports, trust 30/34).
func trusted(e *Engine, id, net string) {
	e.UpsertInstall(Install{ID: id, Org: id, Net: netip.MustParsePrefix(net), Alpha: 30, Beta: 4, Confirmed: 30}, true)
}

func sig(id, ip string) Signal {
	return Signal{Install: id, IP: netip.MustParseAddr(ip), Scenario: "crowdsecurity/ssh-bf", Version: "1.0", Hash: goodHash, Trust: "certified"}
}

func TestListing(t *testing.T) {
	tests := []struct {
		name     string
		installs [][3]string // id, org, net
		reports  []string    // install ids reporting 1.2.3.4
		listed   bool
	}{
		{"three clusters with a seed", [][3]string{{"a", "seed", "11.0.0.0/24"}, {"b", "o2", "12.0.0.0/24"}, {"c", "o3", "13.0.0.0/24"}}, []string{"a", "b", "c"}, true},
		{"two clusters", [][3]string{{"a", "seed", "11.0.0.0/24"}, {"b", "o2", "12.0.0.0/24"}}, []string{"a", "b"}, false},
		{"no trusted reporter", [][3]string{{"a", "o1", "11.0.0.0/24"}, {"b", "o2", "12.0.0.0/24"}, {"c", "o3", "13.0.0.0/24"}}, []string{"a", "b", "c"}, false},
		{"same org is one cluster", [][3]string{{"a", "seed", "11.0.0.0/24"}, {"b", "o2", "12.0.0.0/24"}, {"c", "o2", "13.0.0.0/24"}}, []string{"a", "b", "c"}, false},
		{"same /16 is one cluster", [][3]string{{"a", "seed", "11.0.0.0/24"}, {"b", "o2", "12.0.0.0/24"}, {"c", "o3", "12.0.1.0/24"}}, []string{"a", "b", "c"}, false},
		{"anonymous alone", [][3]string{{"a", "", "11.0.0.0/24"}, {"b", "", "12.0.0.0/24"}, {"c", "", "13.0.0.0/24"}, {"d", "", "14.0.0.0/24"}}, []string{"a", "b", "c", "d"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newEngine(t)
			for _, in := range tc.installs {
				add(e, in[0], in[1], in[2])
			}
			for _, id := range tc.reports {
				require.Equal(t, Counted, e.Ingest(sig(id, "1.2.3.4")))
			}
			_, ok := e.Listed(netip.MustParseAddr("1.2.3.4"))
			require.Equal(t, tc.listed, ok)
		})
	}
}

func crowd(e *Engine) {
	add(e, "a", "seed", "11.0.0.0/24")
	add(e, "b", "o2", "12.0.0.0/24")
	add(e, "c", "o3", "13.0.0.0/24")
}

func TestRefusals(t *testing.T) {
	e, _ := newEngine(t)
	crowd(e)
	e.SetAllowlist([]netip.Prefix{netip.MustParsePrefix("66.249.64.0/19")})
	e.SetCanaries([]netip.Addr{netip.MustParseAddr("9.9.9.9")})
	require.Equal(t, NonGlobal, e.Ingest(sig("a", "10.0.0.1")))
	require.Equal(t, NonGlobal, e.Ingest(sig("a", "192.0.2.1")))
	require.Equal(t, Allowlisted, e.Ingest(sig("a", "66.249.66.1")))
	s := sig("b", "1.2.3.4")
	s.Hash = "edited"
	require.Equal(t, Recorded, e.Ingest(s))
	s = sig("b", "1.2.3.4")
	s.Trust = "custom"
	require.Equal(t, Recorded, e.Ingest(s))
	require.Equal(t, Counted, e.Ingest(sig("a", "1.2.3.4")))
	require.Equal(t, Counted, e.Ingest(sig("c", "1.2.3.4")))
	_, ok := e.Listed(netip.MustParseAddr("1.2.3.4"))
	require.False(t, ok, "custom/tainted reports must not count")
	// A canary report quarantines its reporter at once.
	require.Equal(t, CanaryHit, e.Ingest(sig("b", "9.9.9.9")))
	require.Equal(t, Counted, e.Ingest(sig("b", "1.2.3.4")))
	_, ok = e.Listed(netip.MustParseAddr("1.2.3.4"))
	require.False(t, ok, "a quarantined install's report must weigh nothing")
	in, _ := e.Install("b")
	require.True(t, in.QuarantinedUntil.After(e.now().Add(24*time.Hour)))
}

func TestEgressRefused(t *testing.T) {
	e, _ := newEngine(t)
	e.SetSalt([]byte("s"))
	crowd(e)
	add(e, "d", "o4", "14.0.0.0/24")
	e.UpsertInstall(Install{ID: "d", Org: "o4", Net: netip.MustParsePrefix("14.0.0.0/24"),
		Egress: []EgressKey{HashEgress([]byte("s"), netip.MustParseAddr("14.0.0.7"))}}, false)
	require.Equal(t, MemberEgress, e.Ingest(sig("a", "14.0.0.7")))
}

func TestDelistAndExpiry(t *testing.T) {
	e, c := newEngine(t)
	crowd(e)
	for _, id := range []string{"a", "b", "c"} {
		e.Ingest(sig(id, "1.2.3.4"))
	}
	ch := e.Changes()
	require.Len(t, ch, 1)
	require.Equal(t, Add, ch[0].Op)
	require.Equal(t, c.t.Add(4*time.Hour), ch[0].ExpiresAt)

	// Expiry without fresh evidence.
	c.t = c.t.Add(4*time.Hour + time.Second)
	e.Tick()
	ch = e.Changes()
	require.Len(t, ch, 1)
	require.Equal(t, Delete, ch[0].Op)
	require.Equal(t, "expired", ch[0].Reason)

	// Relisted; delisting refutes the non-seed reporters.
	for _, id := range []string{"a", "b", "c"} {
		e.Ingest(sig(id, "1.2.3.4"))
	}
	require.Len(t, e.Changes(), 1)
	e.Delist(netip.MustParseAddr("1.2.3.4"))
	ch = e.Changes()
	require.Len(t, ch, 1)
	require.Equal(t, "delisted", ch[0].Reason)
	b, _ := e.Install("b")
	require.Greater(t, b.Beta, PriorBeta+5)
	a, _ := e.Install("a")
	require.True(t, a.QuarantinedUntil.IsZero(), "the seed is not refuted")
}

func TestEscalationCapped(t *testing.T) {
	e, c := newEngine(t)
	crowd(e)
	var last Change
	adds := 0
	for step := range 12 * 8 { // fresh reports every 3 h for 12 days
		for _, id := range []string{"a", "b", "c"} {
			e.Ingest(sig(id, "1.2.3.4"))
		}
		for _, ch := range e.Changes() {
			require.Equal(t, Add, ch.Op, "step %d", step)
			last = ch
			adds++
		}
		c.t = c.t.Add(3 * time.Hour)
		e.Tick()
	}
	require.Less(t, adds, 30, "extensions are not sent at every report")
	require.Equal(t, 7*24*time.Hour, last.ExpiresAt.Sub(last.At), "TTL is capped")
}

func TestConfirmationsMakeTrusted(t *testing.T) {
	e, _ := newEngine(t)
	crowd(e)
	add(e, "d", "o4", "14.0.0.0/24")
	for i := range 12 {
		ip := fmt.Sprintf("1.2.3.%d", i+1)
		for _, id := range []string{"a", "b", "c", "d"} {
			e.Ingest(sig(id, ip))
		}
	}
	d, _ := e.Install("d")
	require.GreaterOrEqual(t, d.Confirmed, 10)
	// b, c and d, now trusted, list without the seed.
	for _, id := range []string{"b", "c", "d"} {
		e.Ingest(sig(id, "5.6.7.8"))
	}
	_, ok := e.Listed(netip.MustParseAddr("5.6.7.8"))
	require.True(t, ok)
}

// TestDelistFPProneDiscredits: an upheld appeal of an address listed on a
// crawling scenario (FP-prone) costs its reporters one failure and no
// quarantine; on a brute force it refutes and quarantines them.
func TestDelistFPProneDiscredits(t *testing.T) {
	for _, tc := range []struct {
		name       string
		scenario   string
		quarantine bool
	}{
		{"brute force refutes", "crowdsecurity/ssh-bf", true},
		{"crawling discredits", "crowdsecurity/http-crawl-non_statics", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, c := newEngine(t)
			crowd(e)
			for _, id := range []string{"a", "b", "c"} {
				s := sig(id, "1.2.3.4")
				s.Scenario = tc.scenario
				e.Ingest(s)
			}
			e.Delist(netip.MustParseAddr("1.2.3.4"))
			b, _ := e.Install("b")
			require.Equal(t, tc.quarantine, b.QuarantinedUntil.After(c.t), "quarantined")
			if tc.quarantine {
				require.Greater(t, b.Beta, PriorBeta+5)
			} else {
				require.InDelta(t, PriorBeta+1, b.Beta, 1e-9)
			}
		})
	}
}

// TestWeakClassesAloneNeverList: an unknown crawler tripping a crawling
// scenario on many trusted sites (correlated honest false positives) and
// spoofed port scans seen everywhere are not listed; one trusted strong
// report (brute force) with the same crowd lists; a strong report from an
// untrusted install (a framer) does not.
func TestWeakClassesAloneNeverList(t *testing.T) {
	for _, tc := range []struct {
		name   string
		strong []string // who adds a brute-force report: "trusted" (a seed), "untrusted" (a new install)
		listed bool
	}{
		{"weak only", nil, false},
		{"plus a trusted brute force", []string{"trusted"}, false},
		{"plus two trusted brute forces", []string{"trusted", "trusted"}, true},
		{"plus an untrusted brute force", []string{"untrusted"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newEngine(t)
			for i := range 12 {
				id := fmt.Sprintf("s%d", i)
				e.UpsertInstall(Install{ID: id, Org: id, Seed: true, Net: netip.MustParsePrefix(fmt.Sprintf("%d.0.0.0/24", 11+i))}, false)
				for _, sc := range []string{"crowdsecurity/http-crawl-non_statics", "firewallservices/pf-scan-multi_ports"} {
					s := sig(id, "1.2.3.4")
					s.Scenario = sc
					require.Equal(t, Counted, e.Ingest(s))
				}
			}
			for i, who := range tc.strong {
				id, net := fmt.Sprintf("t%d", i), fmt.Sprintf("%d.0.0.0/24", 40+i)
				if who == "trusted" {
					e.UpsertInstall(Install{ID: id, Org: id, Seed: true, Net: netip.MustParsePrefix(net)}, false)
				} else {
					add(e, id, id, net)
				}
				e.Ingest(sig(id, "1.2.3.4"))
			}
			_, ok := e.Listed(netip.MustParseAddr("1.2.3.4"))
			require.Equal(t, tc.listed, ok)
		})
	}
}

// TestSpoofedScansNeedTwoStrong performs the spoof-framer attack: scans
// spoofed with a victim's source address reach many honest installs
// (trusted, each its own organisation and /16), which report them in
// good faith, and a seed reports the victim once by a brute-force false
// positive. One strong-class cluster and any number of weak ones do not
// list; a second strong-class cluster does, when its reporter is vouched
// (a seed, or an install with a confirmed report): a framer with no
// history cannot be it. Strong classes alone list as before (C.1: a seed
// and two new installs).
func TestSpoofedScansNeedTwoStrong(t *testing.T) {
	tests := []struct {
		name   string
		scans  int      // trusted honest installs reporting a (spoofed) port scan
		strong []string // brute-force reporters, last: "seed", "honest" (trusted), "vouched" (one confirmed report), "framer" (none), "new" (none)
		listed bool
	}{
		{"spoofed scans alone", 40, nil, false},
		{"a seed's false positive and spoofed scans", 40, []string{"seed"}, false},
		{"plus a framer's brute force", 40, []string{"framer", "seed"}, false},
		{"plus a trusted honest brute force", 40, []string{"seed", "honest"}, true},
		{"plus a vouched untrusted brute force", 40, []string{"vouched", "seed"}, true},
		{"a seed and two new installs (C.1)", 0, []string{"new", "new", "seed"}, true},
		{"a seed, two new installs and scans", 40, []string{"new", "new", "seed"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newEngine(t)
			net := func(n int) string { return fmt.Sprintf("%d.%d.0.0/24", 20+n/200, n%200) }
			for i := range tc.scans {
				id := fmt.Sprintf("h%d", i)
				trusted(e, id, net(i))
				s := sig(id, "1.2.3.4")
				s.Scenario = "crowdsecurity/iptables-scan-multi_ports"
				require.Equal(t, Counted, e.Ingest(s))
			}
			for i, who := range tc.strong {
				id, n := fmt.Sprintf("%s%d", who, i), netip.MustParsePrefix(net(500+i))
				switch who {
				case "seed":
					e.UpsertInstall(Install{ID: id, Org: "seed", Seed: true, Net: n}, false)
				case "honest":
					trusted(e, id, n.String())
				case "vouched":
					e.UpsertInstall(Install{ID: id, Org: id, Net: n, Alpha: 2, Beta: 4, Confirmed: 1}, true)
				default:
					add(e, id, id, n.String())
				}
				require.Equal(t, Counted, e.Ingest(sig(id, "1.2.3.4")))
			}
			_, ok := e.Listed(netip.MustParseAddr("1.2.3.4"))
			require.Equal(t, tc.listed, ok)
		})
	}
}

// TestUpheldAppealBurnsTheClique: trusted installs of eight organisations
// and networks (sleepers) list victims together; an upheld appeal of v1
// refutes its reporters (s0, s1, s2) and takes off at once the victims
// that refuted installs make up two and a third of the reporters of
// (v2, v6, held: honest reports do not list them again), discrediting
// their other reporter (s3, no quarantine). v4 loses s2's vote and falls
// under three clusters; v3 and v5, with at most one refuted reporter
// among four, stay until their own appeal: one refuted reporter beside
// others is what a real attacker reported by a sleeper and honest
// installs looks like, and that one (7.7.7.7) costs its honest reporters
// nothing.
func TestUpheldAppealBurnsTheClique(t *testing.T) {
	e, c := newEngine(t)
	for i := range 8 {
		trusted(e, fmt.Sprintf("s%d", i), fmt.Sprintf("%d.0.0.0/24", 21+i))
	}
	trusted(e, "h0", "31.0.0.0/24")
	trusted(e, "h1", "32.0.0.0/24")
	order := []string{"1.0.0.1", "1.0.0.2", "1.0.0.6", "1.0.0.5", "1.0.0.4", "1.0.0.3", "7.7.7.7"}
	reports := map[string][]string{
		"1.0.0.1": {"s0", "s1", "s2"},       // v1, appealed
		"1.0.0.2": {"s1", "s2", "s3"},       // v2: 2 of 3 refuted
		"1.0.0.6": {"s0", "s2", "s3"},       // v6: 2 of 3 refuted
		"1.0.0.5": {"s1", "s4", "s5", "s6"}, // v5: 1 of 4
		"1.0.0.4": {"s2", "s3", "s4"},       // v4: s3 refuted later
		"1.0.0.3": {"s3", "s4", "s5", "s7"}, // v3: 1 of 4
		"7.7.7.7": {"s0", "h0", "h1"},       // a real attacker
	}
	for _, ip := range order {
		for _, id := range reports[ip] {
			require.Equal(t, Counted, e.Ingest(sig(id, ip)))
		}
		_, ok := e.Listed(netip.MustParseAddr(ip))
		require.True(t, ok, ip)
	}
	e.Changes()
	e.Delist(netip.MustParseAddr("1.0.0.1"))
	gone := map[string]string{}
	for _, ch := range e.Changes() {
		require.Equal(t, Delete, ch.Op)
		gone[ch.IP.String()] = ch.Reason
	}
	require.Equal(t, map[string]string{"1.0.0.1": "delisted", "1.0.0.2": "suspect", "1.0.0.6": "suspect",
		"1.0.0.4": "evidence withdrawn", "7.7.7.7": "evidence withdrawn"}, gone)
	for id, refuted := range map[string]bool{"s0": true, "s1": true, "s2": true, "s3": false, "s4": false, "s5": false, "s6": false, "s7": false, "h0": false, "h1": false} {
		in, _ := e.Install(id)
		require.Equal(t, refuted, in.QuarantinedUntil.After(c.t), "%s refuted", id)
	}
	s3, _ := e.Install("s3")
	require.InDelta(t, 4+2, s3.Beta, 1e-9, "s3 discredited once per suspect address")
	for _, id := range []string{"h0", "h1", "s4"} {
		in, _ := e.Install(id)
		require.InDelta(t, 4, in.Beta, 1e-9, "%s discredited", id)
	}
	// The real attacker lost s0's vote: two clusters left, off the list;
	// a third honest report lists it again.
	trusted(e, "h2", "33.0.0.0/24")
	e.Ingest(sig("h2", "7.7.7.7"))
	_, ok := e.Listed(netip.MustParseAddr("7.7.7.7"))
	require.True(t, ok)
	// A suspect address is held: only a seed lists it again.
	for _, id := range []string{"h0", "h1", "h2"} {
		e.Ingest(sig(id, "1.0.0.2"))
	}
	_, ok = e.Listed(netip.MustParseAddr("1.0.0.2"))
	require.False(t, ok, "a suspect address is held")
}

// TestCanaryHitByClass: a canary reported with a strong class refutes
// and quarantines the reporter; with an FP-prone class (the operator's
// polite crawler tripping a crawling scenario) it costs one failure.
func TestCanaryHitByClass(t *testing.T) {
	for _, tc := range []struct {
		scenario   string
		quarantine bool
		beta       float64
	}{
		{"crowdsecurity/ssh-bf", true, PriorBeta + 10},
		{"crowdsecurity/http-crawl-non_statics", false, PriorBeta + 1},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			e, c := newEngine(t)
			crowd(e)
			e.SetCanaries([]netip.Addr{netip.MustParseAddr("9.9.9.9")})
			s := sig("b", "9.9.9.9")
			s.Scenario = tc.scenario
			require.Equal(t, CanaryHit, e.Ingest(s))
			b, _ := e.Install("b")
			require.Equal(t, tc.quarantine, b.QuarantinedUntil.After(c.t))
			require.InDelta(t, tc.beta, b.Beta, 1e-9)
		})
	}
}

// TestCoReportingCliqueIsOneCluster: trusted installs of different
// organisations and networks that reported together CoReports addresses
// no seed saw are one cluster for an address no seed saw (a sleeper
// clique turning on its victims); the same installs still list an
// address a seed saw, and installs that shared fewer such addresses, or
// only addresses a seed saw, list as before.
func TestCoReportingCliqueIsOneCluster(t *testing.T) {
	tests := []struct {
		name    string
		shared  int  // addresses s0, s1 and s2 reported together before
		seedSaw bool // a seed reported those shared addresses too
		target  bool // a seed reports the target
		listed  bool
	}{
		{"clique", 8, false, false, false},
		{"clique, target a seed saw", 8, false, true, true},
		{"below the threshold", 7, false, false, true},
		{"shared addresses a seed saw", 8, true, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, c := newEngine(t)
			add(e, "seed", "seed", "10.9.0.0/24")
			for i := range 3 {
				id := fmt.Sprintf("s%d", i)
				e.UpsertInstall(Install{ID: id, Org: id, Net: netip.MustParsePrefix(fmt.Sprintf("%d.0.0.0/24", 21+i)), Alpha: 30, Beta: 4, Confirmed: 30}, true)
			}
			for k := range tc.shared {
				ip := fmt.Sprintf("1.0.1.%d", k+1)
				if tc.seedSaw {
					e.Ingest(sig("seed", ip))
				}
				for i := range 2 {
					e.Ingest(sig(fmt.Sprintf("s%d", i), ip))
				}
				c.t = c.t.Add(time.Minute)
			}
			if tc.target {
				e.Ingest(sig("seed", "9.9.9.9"))
			}
			for i := range 3 {
				e.Ingest(sig(fmt.Sprintf("s%d", i), "9.9.9.9"))
			}
			_, ok := e.Listed(netip.MustParseAddr("9.9.9.9"))
			require.Equal(t, tc.listed, ok)
		})
	}
}

// TestRefutedCliqueGoesTogether: a canary hit refutes the reporter and
// the installs linked to it by co-reports (CoReports addresses no seed
// saw reported together in the window), whose listings are then
// withdrawn; installs that shared fewer such addresses with it, or only
// its listed real attacker, keep their standing.
func TestRefutedCliqueGoesTogether(t *testing.T) {
	for _, shared := range []int{7, 8} {
		t.Run(fmt.Sprint(shared), func(t *testing.T) {
			e, c := newEngine(t)
			trusted(e, "s0", "21.0.0.0/24")
			trusted(e, "s1", "22.0.0.0/24")
			trusted(e, "h0", "31.0.0.0/24")
			trusted(e, "h1", "32.0.0.0/24")
			e.SetCanaries([]netip.Addr{netip.MustParseAddr("8.8.4.4")})
			for k := range shared {
				ip := fmt.Sprintf("1.0.1.%d", k+1)
				e.Ingest(sig("s0", ip))
				e.Ingest(sig("s1", ip))
				c.t = c.t.Add(time.Minute)
			}
			for _, id := range []string{"s1", "h0", "h1"} {
				e.Ingest(sig(id, "7.7.7.7"))
			}
			_, ok := e.Listed(netip.MustParseAddr("7.7.7.7"))
			require.True(t, ok)
			require.Equal(t, CanaryHit, e.Ingest(sig("s0", "8.8.4.4")))
			quarantined := func(id string) bool {
				in, _ := e.Install(id)
				return in.QuarantinedUntil.After(c.t)
			}
			require.True(t, quarantined("s0"))
			require.Equal(t, shared >= 8, quarantined("s1"), "s1 goes with its clique")
			require.False(t, quarantined("h0"))
			require.False(t, quarantined("h1"))
			_, ok = e.Listed(netip.MustParseAddr("7.7.7.7"))
			require.Equal(t, shared < 8, ok, "listed while s1 stands")
		})
	}
}

// TestReportingAnAppealedAddressRefutes: after an upheld appeal, a
// strong-class report of the address (a sleeper still on its victim)
// refutes the reporter like a canary and withdraws what it carried; an
// FP-prone report of it is counted as usual, a seed's lists it again,
// and after DelistHold it is an address like any other.
func TestReportingAnAppealedAddressRefutes(t *testing.T) {
	e, c := newEngine(t)
	for i := range 5 {
		trusted(e, fmt.Sprintf("s%d", i), fmt.Sprintf("%d.0.0.0/24", 21+i))
	}
	add(e, "seed", "seed", "10.9.0.0/24")
	quarantined := func(id string) bool {
		in, _ := e.Install(id)
		return in.QuarantinedUntil.After(c.t)
	}
	listed := func(ip string) bool {
		_, ok := e.Listed(netip.MustParseAddr(ip))
		return ok
	}
	for _, id := range []string{"s0", "s1", "s2"} {
		e.Ingest(sig(id, "1.0.0.1"))
	}
	for _, id := range []string{"s3", "s4", "s1"} {
		e.Ingest(sig(id, "1.0.0.2"))
	}
	require.True(t, listed("1.0.0.1"))
	require.True(t, listed("1.0.0.2"))
	e.Delist(netip.MustParseAddr("1.0.0.1"))
	require.True(t, quarantined("s1"))
	require.False(t, listed("1.0.0.2"), "lost s1's vote")
	c.t = c.t.Add(time.Minute)
	crawl := sig("s4", "1.0.0.1")
	crawl.Scenario = "crowdsecurity/http-crawl-non_statics"
	require.Equal(t, Counted, e.Ingest(crawl))
	require.False(t, quarantined("s4"), "an FP-prone report of an appealed address costs nothing")
	trusted(e, "s5", "26.0.0.0/24")
	e.Ingest(sig("s5", "1.0.0.2"))
	require.True(t, listed("1.0.0.2"), "s3, s4, s5")
	require.Equal(t, Appealed, e.Ingest(sig("s3", "1.0.0.1")))
	require.True(t, quarantined("s3"))
	require.False(t, listed("1.0.0.2"), "withdrawn at once: s3 no longer counts")
	require.Equal(t, Counted, e.Ingest(sig("seed", "1.0.0.1")), "a seed is never refuted by it")
	c.t = c.t.Add(e.Config().DelistHold + time.Hour)
	e.Tick()
	require.Equal(t, Counted, e.Ingest(sig("s4", "1.0.0.1")), "after the hold: an address like any other")
	require.False(t, quarantined("s4"))
}

// TestRefutedAgainBurnsOnce: an install refuted while quarantined (a
// sleeper reporting canaries or appealed victims again and again) is
// penalised again, but its clique and addresses burn once per
// quarantine: what it co-reported since weighs nothing and links no one.
func TestRefutedAgainBurnsOnce(t *testing.T) {
	e, c := newEngine(t)
	for i, id := range []string{"s0", "s1"} {
		e.UpsertInstall(Install{ID: id, Org: id, Net: netip.MustParsePrefix(fmt.Sprintf("%d.0.0.0/24", 21+i)), Alpha: 30, Beta: 4, Confirmed: 30}, true)
	}
	e.SetCanaries([]netip.Addr{netip.MustParseAddr("8.8.4.4")})
	for k := range 7 {
		ip := fmt.Sprintf("1.0.1.%d", k+1)
		e.Ingest(sig("s0", ip))
		e.Ingest(sig("s1", ip))
		c.t = c.t.Add(time.Minute)
	}
	require.Equal(t, CanaryHit, e.Ingest(sig("s0", "8.8.4.4")))
	s0, _ := e.Install("s0")
	quarantined := func(id string) bool {
		in, _ := e.Install(id)
		return in.QuarantinedUntil.After(c.t)
	}
	require.True(t, quarantined("s0"))
	require.False(t, quarantined("s1"), "7 co-reports: not linked")
	e.Ingest(sig("s0", "1.0.1.8"))
	e.Ingest(sig("s1", "1.0.1.8"))
	c.t = c.t.Add(time.Minute)
	require.Equal(t, CanaryHit, e.Ingest(sig("s0", "8.8.4.4")))
	again, _ := e.Install("s0")
	require.Greater(t, again.Beta, s0.Beta, "penalised again")
	require.False(t, quarantined("s1"), "no second clique burn")
}

// restarted is what a restarted central rebuilds from e's persisted state:
// the installs with their reputations, the listings and holds, then the
// signals replayed (without changing reputations).
func restarted(t *testing.T, e *Engine, c *clock, signals []Signal) *Engine {
	t.Helper()
	r := New(Config{}, c.now, check)
	for _, id := range []string{"a", "b", "c"} {
		in, ok := e.Install(id)
		require.True(t, ok)
		r.UpsertInstall(in, true)
	}
	for ip := range e.listed {
		l, _ := e.Listed(ip)
		r.RestoreListing(l)
	}
	for _, h := range e.DirtyHolds() {
		r.RestoreHold(h)
	}
	r.SetReplay(true)
	for _, s := range signals {
		r.Ingest(s)
	}
	r.SetReplay(false)
	return r
}

// reportAll has each install report ip at c's time (counted) and returns
// the signals, for a replay.
func reportAll(t *testing.T, e *Engine, c *clock, ip string, ids ...string) []Signal {
	t.Helper()
	var out []Signal
	for _, id := range ids {
		s := sig(id, ip)
		s.At = c.t
		out = append(out, s)
		require.Equal(t, Counted, e.Ingest(s))
	}
	return out
}

// TestRestartKeepsAppeal: what the engine persists (reputations,
// listings, holds) and the replayed signals give back the same state: a
// delisted address is not listed again by the evidence it was delisted
// on, and reporting it still refutes while the hold lasts.
func TestRestartKeepsAppeal(t *testing.T) {
	e, c := newEngine(t)
	crowd(e)
	signals := reportAll(t, e, c, "1.2.3.4", "a", "b", "c")
	_, ok := e.Listed(netip.MustParseAddr("1.2.3.4"))
	require.True(t, ok)
	c.t = c.t.Add(time.Minute)
	e.Delist(netip.MustParseAddr("1.2.3.4"))
	c.t = c.t.Add(time.Minute)

	r := restarted(t, e, c, signals)
	_, ok = r.Listed(netip.MustParseAddr("1.2.3.4"))
	require.False(t, ok, "the delisted address came back from the evidence it was delisted on")
	require.Empty(t, r.Changes())
	h, ok := r.Held(netip.MustParseAddr("1.2.3.4"))
	require.True(t, ok)
	require.True(t, h.Appealed)
	s := sig("b", "1.2.3.4")
	s.At = c.t
	require.Equal(t, Appealed, r.Ingest(s))

	c.t = c.t.Add(8 * 24 * time.Hour)
	_, ok = r.Held(netip.MustParseAddr("1.2.3.4"))
	require.False(t, ok, "the hold ends with DelistHold")
}

// TestRestartCreditsConfirmationsOnce: reports a seed confirmed before a
// restart (the credit is in the persisted reputations) are not credited
// again when the seed reports the address after it.
func TestRestartCreditsConfirmationsOnce(t *testing.T) {
	e, c := newEngine(t)
	crowd(e)
	signals := reportAll(t, e, c, "1.2.3.4", "a", "b", "c")
	b0, _ := e.Install("b")
	require.Equal(t, 1, b0.Confirmed)
	c.t = c.t.Add(time.Minute)

	r := restarted(t, e, c, signals)
	_, ok := r.Listed(netip.MustParseAddr("1.2.3.4"))
	require.True(t, ok)
	s := sig("a", "1.2.3.4")
	s.At = c.t
	require.Equal(t, Counted, r.Ingest(s))
	b1, _ := r.Install("b")
	require.Equal(t, b0.Confirmed, b1.Confirmed, "a report confirmed before the restart was credited again")
	require.Equal(t, b0.Alpha, b1.Alpha)
}

// TestUnvouchedMassNeedsTwoTrusted: coordinated poisoners (enrolled,
// each its own organisation and network, never a confirmed report) make
// up any number of clusters; one trusted honest install's false positive
// on their victim gave them the trusted vote. When the clusters without
// a confirmed report reach MinClusters on their own, it takes two trusted
// clusters; fewer of them, or installs with a confirmed history, list
// with one as before (C.1: a seed and two new installs).
func TestUnvouchedMassNeedsTwoTrusted(t *testing.T) {
	tests := []struct {
		name      string
		unvouched int // enrolled installs without a confirmed report
		vouched   int // enrolled, untrusted, with a confirmed report
		trusted   int
		listed    bool
	}{
		{"one trusted, two new installs (C.1)", 2, 0, 1, true},
		{"one trusted false positive, a mass of poisoners", 40, 0, 1, false},
		{"one trusted, three new installs", 3, 0, 1, false},
		{"two trusted, a mass of poisoners", 40, 0, 2, true},
		{"one trusted, installs with a history", 0, 3, 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newEngine(t)
			n := 0
			enrol := func(alpha float64, confirmed int) string {
				id := fmt.Sprintf("i%d", n)
				e.UpsertInstall(Install{ID: id, Org: id, Net: netip.MustParsePrefix(fmt.Sprintf("%d.%d.0.0/24", 20+n/200, n%200)),
					Alpha: alpha, Beta: 4, Confirmed: confirmed}, true)
				n++
				return id
			}
			// The trusted reports come last: they decide.
			var ids []string
			for range tc.unvouched {
				ids = append(ids, enrol(1, 0))
			}
			for range tc.vouched {
				ids = append(ids, enrol(2, 1))
			}
			for range tc.trusted {
				ids = append(ids, enrol(300, 300))
			}
			for _, id := range ids {
				require.Equal(t, Counted, e.Ingest(sig(id, "1.2.3.4")))
			}
			_, ok := e.Listed(netip.MustParseAddr("1.2.3.4"))
			require.Equal(t, tc.listed, ok)
		})
	}
}

// TestRefutationBurnsTenure: a refuted install (a mixed poisoner whose
// victim was appealed) comes back from its quarantine untrusted: its
// confirmed reports are rebuilt from zero, so it lists nothing until
// seeds confirm TrustedConfirmations fresh reports; refuted again, it
// stays out twice as long.
func TestRefutationBurnsTenure(t *testing.T) {
	e, c := newEngine(t)
	trusted(e, "m", "21.0.0.0/24")
	add(e, "o1", "o1", "22.0.0.0/24")
	add(e, "o2", "o2", "23.0.0.0/24")
	add(e, "seed", "seed", "24.0.0.0/24")
	e.SetCanaries([]netip.Addr{netip.MustParseAddr("8.8.4.4")})
	require.Equal(t, CanaryHit, e.Ingest(sig("m", "8.8.4.4")))
	m, _ := e.Install("m")
	q := e.Config().QuarantineFor
	require.Equal(t, 0, m.Confirmed)
	require.Equal(t, c.t.Add(q), m.QuarantinedUntil)
	c.t = m.QuarantinedUntil.Add(time.Minute)
	for _, id := range []string{"o1", "o2", "m"} {
		e.Ingest(sig(id, "1.2.3.4"))
	}
	_, ok := e.Listed(netip.MustParseAddr("1.2.3.4"))
	require.False(t, ok, "back from quarantine, not trusted")
	require.False(t, e.trusted(e.installs[e.byID["m"]], c.t))
	// Seeds confirm fresh reports: trusted again.
	for i := range e.Config().TrustedConfirmations {
		ip := fmt.Sprintf("5.6.7.%d", i+1)
		for _, id := range []string{"seed", "o1", "o2", "m"} {
			e.Ingest(sig(id, ip))
		}
	}
	require.True(t, e.trusted(e.installs[e.byID["m"]], c.t), "trusted again after fresh confirmations")
	require.Equal(t, CanaryHit, e.Ingest(sig("m", "8.8.4.4")))
	m, _ = e.Install("m")
	require.Equal(t, c.t.Add(2*q), m.QuarantinedUntil, "a repeat offender stays out twice as long")
}

// TestFarmNetworksAreOneCluster: the installs of two wide networks (a
// Sybil farm, each install its own organisation) that pair by pair share
// fewer than CoReports addresses no seed saw, but whose networks as
// wholes reported most of them in common, are one cluster for an address
// no seed saw: with one trusted honest report they no longer make the
// three clusters; networks sharing fewer, or a small part of what they
// reported, or addresses a seed saw, list as before, and so do networks
// whose installs have a confirmed report, and the rule off (negative);
// the default (0) is the rule at 0.5.
func TestFarmNetworksAreOneCluster(t *testing.T) {
	tests := []struct {
		name    string
		shared  int     // victims both networks reported (each install a quarter of them)
		own     int     // addresses each network reported alone
		seedSaw bool    // a seed reported the victims too
		share   float64 // Config.WideShare (0: the default, 0.5; negative: off)
		listed  bool
	}{
		{"farm: the networks share most", 12, 0, false, 0.5, false},
		{"below co_reports in common", 7, 0, false, 0.5, true},
		{"a small part of what each reported", 8, 12, false, 0.5, true},
		{"shared addresses a seed saw", 12, 0, true, 0.5, true},
		{"the default: the rule at 0.5", 12, 0, false, 0, false},
		{"rule off", 12, 0, false, -1, true},
		{"networks with a history", 12, 0, false, 0.5, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			e := New(Config{WideShare: tc.share}, c.now, check)
			add(e, "seed", "seed", "10.9.0.0/24")
			trusted(e, "h", "31.0.0.0/24")
			for _, n := range []string{"a", "b"} {
				for k := range 4 {
					id := fmt.Sprintf("%s%d", n, k)
					net := netip.MustParsePrefix(fmt.Sprintf("%d.0.%d.0/24", map[string]int{"a": 21, "b": 22}[n], k))
					in := Install{ID: id, Org: id, Net: net}
					if tc.name == "networks with a history" {
						in.Alpha, in.Beta, in.Confirmed = 2, 4, 1 // vouched, not trusted
					}
					e.UpsertInstall(in, true)
				}
			}
			for v := range tc.shared {
				ip := fmt.Sprintf("1.0.1.%d", v+1)
				if tc.seedSaw {
					e.Ingest(sig("seed", ip))
				}
				for _, n := range []string{"a", "b"} {
					require.Equal(t, Counted, e.Ingest(sig(fmt.Sprintf("%s%d", n, v%4), ip)))
				}
				c.t = c.t.Add(time.Minute)
			}
			for v := range tc.own {
				e.Ingest(sig(fmt.Sprintf("a%d", v%4), fmt.Sprintf("1.0.2.%d", v+1)))
				e.Ingest(sig(fmt.Sprintf("b%d", v%4), fmt.Sprintf("1.0.3.%d", v+1)))
			}
			pairs, wides := e.CoReportLinks()
			require.Empty(t, pairs, "pair by pair the farm's installs share fewer than co_reports")
			farm := [2]netip.Prefix{netip.MustParsePrefix("21.0.0.0/16"), netip.MustParsePrefix("22.0.0.0/16")}
			require.Equal(t, tc.shared >= 12 && tc.own == 0 && !tc.seedSaw, slices.Contains(wides, farm), "the networks linked as wholes")
			for _, id := range []string{"h", "a0", "b1"} {
				require.Equal(t, Counted, e.Ingest(sig(id, "9.9.9.9")))
			}
			_, ok := e.Listed(netip.MustParseAddr("9.9.9.9"))
			require.Equal(t, tc.listed, ok)
		})
	}
}

// TestWideIndexFollowsMoves: an install that moves to another wide
// network counts with its new network's reports, not its old one's.
func TestWideIndexFollowsMoves(t *testing.T) {
	e, c := newEngine(t)
	for _, id := range []string{"a0", "a1", "b0"} {
		net := map[string]string{"a0": "21.0.0.0/24", "a1": "21.0.1.0/24", "b0": "22.0.0.0/24"}[id]
		add(e, id, id, net)
	}
	for v := range 10 {
		ip := fmt.Sprintf("1.0.1.%d", v+1)
		e.Ingest(sig("a1", ip))
		e.Ingest(sig("b0", ip))
		c.t = c.t.Add(time.Minute)
	}
	_, wides := e.CoReportLinks()
	require.Equal(t, [][2]netip.Prefix{{netip.MustParsePrefix("21.0.0.0/16"), netip.MustParsePrefix("22.0.0.0/16")}}, wides)
	add(e, "a1", "a1", "23.0.0.0/24")
	_, wides = e.CoReportLinks()
	require.Equal(t, [][2]netip.Prefix{{netip.MustParsePrefix("22.0.0.0/16"), netip.MustParsePrefix("23.0.0.0/16")}}, wides)
}
