// Package curate is the curation engine of the Phalanx central: it turns
// the signals installs report into the community blocklist, ruling out
// false positives and poisoning. It is pure and in-process: no I/O, an
// injected clock, deterministic for a given input sequence (the simulator
// and the server drive the same code).
//
// The rules (see README.md and ../../../README.md "Run a crowd"):
//
//   - a signal counts only when its address is global, not allowlisted,
//     not a canary, not a member's egress address, and its scenario is a
//     hub scenario whose hash matches the index for that version
//     (custom, tainted and manual signals are recorded, weight 0);
//   - reporters are grouped into clusters (same organisation, same /16 or
//     IPv6 /32: a /24 is inside it): one vote per cluster per address;
//   - an install's weight is its trust (Beta reputation α/(α+β), prior
//     1/(1+4)), capped for anonymous installs, 1 for seeds, 0 while
//     quarantined; a canary report or an upheld appeal refutes the
//     reporter (β += RefutePenalty), sets its confirmed reports to zero
//     and quarantines it for QuarantineFor times the refutations β holds;
//   - an address is listed when at least MinClusters clusters vote, their
//     weights sum to MinScore, and one of them is trusted (a seed, or an
//     enrolled install with TrustedConfirmations confirmed reports); two
//     trusted clusters when clusters without a confirmed report make up
//     MinClusters on their own; two clusters with a strong-class report
//     of a vouched install (a seed, or one with a confirmed report) when
//     weak classes (FP-prone, spoofable) fill the rest (see strongPair);
//   - a listing lives FirstTTL, doubled for each EscalateAfter period with
//     fresh qualifying evidence, capped at MaxTTL, and is deleted when it
//     expires or when its evidence is withdrawn (quarantine, delisting,
//     allowlist, canary).
package curate

import (
	"cmp"
	"crypto/sha256"
	"math"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/phalanx-ids/phalanx/internal/models"
)

// Config holds the engine's thresholds. The zero value of a field takes
// Defaults' value.
type Config struct {
	// MinClusters independent clusters must vote (default 3).
	MinClusters int `yaml:"min_clusters"`
	// MinScore is the least sum of cluster votes (default 1.0).
	MinScore float64 `yaml:"min_score"`
	// MinVote is the least vote a cluster must give to count (default 0.15).
	MinVote float64 `yaml:"min_vote"`
	// Window: reports older than this no longer count (default 24h).
	Window time.Duration `yaml:"window"`
	// FirstTTL, EscalateAfter, MaxTTL: escalating listing lifetime
	// (defaults 4h, 24h, 168h).
	FirstTTL      time.Duration `yaml:"first_ttl"`
	EscalateAfter time.Duration `yaml:"escalate_after"`
	MaxTTL        time.Duration `yaml:"max_ttl"`
	// QuarantineFor is how long a refuted install weighs nothing (default 168h).
	QuarantineFor time.Duration `yaml:"quarantine_for"`
	// DelistHold: after a delisting, only a seed's report lists the
	// address again within this time (default 168h).
	DelistHold time.Duration `yaml:"delist_hold"`
	// TrustedConfirmations: confirmed reports that make an enrolled
	// install trusted (default 10), with trust at least TrustedMinTrust
	// (default 0.5).
	TrustedConfirmations int     `yaml:"trusted_confirmations"`
	TrustedMinTrust      float64 `yaml:"trusted_min_trust"`
	// AnonymousCap caps the weight of installs never enrolled (default 0.4).
	AnonymousCap float64 `yaml:"anonymous_cap"`
	// RefutePenalty is added to β on a refutation (default 10).
	RefutePenalty float64 `yaml:"refute_penalty"`
	// Forget multiplies α and β (towards the prior) once a day (default 0.99).
	Forget float64 `yaml:"forget"`
	// ReportsPerAddress bounds the reports kept per address (default 64):
	// more reporters than this add nothing a listing needs.
	ReportsPerAddress int `yaml:"reports_per_address"`
	// SuspectShare burns a clique's listings on its first detected act
	// (see Engine.propagate): an address no seed saw whose strong-class
	// reporters in the window are at least two and at least SuspectShare
	// refuted installs (default 0.5) is suspect: off the list, held like
	// a delisted one, and each of its other reporters loses a little
	// trust (one failure, no quarantine).
	SuspectShare float64 `yaml:"suspect_share"`
	// CoReports: two reporters of an address no seed saw that reported
	// together at least this many other such addresses in the window,
	// which nobody outside its reporters vouches for, are one cluster
	// (see Engine.coReports; default 8, negative: off).
	CoReports int `yaml:"co_reports"`
	// WideShare: two wide networks (/16, IPv6 /32) whose installs, taken
	// together, reported at least CoReports addresses no seed saw in
	// common, and at least this share of the addresses each reported, are
	// one cluster for an address no seed saw that their installs without
	// a confirmed report reported (see Engine.wideLinked: a Sybil farm
	// spread over a few networks). Default 0.5, negative: off.
	WideShare float64 `yaml:"wide_share"`
}

// Defaults are the production thresholds.
func Defaults() Config {
	return Config{MinClusters: 3, MinScore: 1.0, MinVote: 0.15, Window: 24 * time.Hour,
		FirstTTL: 4 * time.Hour, EscalateAfter: 24 * time.Hour, MaxTTL: 7 * 24 * time.Hour,
		QuarantineFor: 7 * 24 * time.Hour, DelistHold: 7 * 24 * time.Hour,
		TrustedConfirmations: 10, TrustedMinTrust: 0.5, AnonymousCap: 0.4, RefutePenalty: 10,
		Forget: 0.99, ReportsPerAddress: 64, SuspectShare: 0.5, CoReports: 8, WideShare: 0.5}
}

// Or fills c's zero fields from d.
func (c Config) Or(d Config) Config {
	if c.MinClusters == 0 {
		c.MinClusters = d.MinClusters
	}
	if c.MinScore == 0 {
		c.MinScore = d.MinScore
	}
	if c.MinVote == 0 {
		c.MinVote = d.MinVote
	}
	for _, p := range []struct{ a, b *time.Duration }{{&c.Window, &d.Window}, {&c.FirstTTL, &d.FirstTTL},
		{&c.EscalateAfter, &d.EscalateAfter}, {&c.MaxTTL, &d.MaxTTL}, {&c.QuarantineFor, &d.QuarantineFor},
		{&c.DelistHold, &d.DelistHold}} {
		if *p.a == 0 {
			*p.a = *p.b
		}
	}
	if c.TrustedConfirmations == 0 {
		c.TrustedConfirmations = d.TrustedConfirmations
	}
	if c.TrustedMinTrust == 0 {
		c.TrustedMinTrust = d.TrustedMinTrust
	}
	if c.AnonymousCap == 0 {
		c.AnonymousCap = d.AnonymousCap
	}
	if c.RefutePenalty == 0 {
		c.RefutePenalty = d.RefutePenalty
	}
	if c.Forget == 0 {
		c.Forget = d.Forget
	}
	if c.ReportsPerAddress == 0 {
		c.ReportsPerAddress = d.ReportsPerAddress
	}
	if c.SuspectShare == 0 {
		c.SuspectShare = d.SuspectShare
	}
	if c.CoReports == 0 {
		c.CoReports = d.CoReports
	}
	if c.WideShare == 0 {
		c.WideShare = d.WideShare
	}
	return c
}

// Prior of the Beta reputation: a new install has trust 1/(1+4) = 0.2.
const (
	PriorAlpha = 1.0
	PriorBeta  = 4.0
)

// Install is what the engine knows of a reporter. The engine keeps its
// own copy; UpsertInstall replaces the identity fields and keeps the
// reputation unless Restore is set.
type Install struct {
	ID string
	// Org is the organisation ("" while anonymous: registered, never enrolled).
	Org string
	// Seed: the organisation is a seed (the operator's own sensors).
	Seed bool
	// Net is the install's egress network (/24 or /48), for clustering.
	Net netip.Prefix
	// Egress are hashes (EgressKey) of the install's egress addresses.
	Egress []EgressKey
	// Reputation, persisted by the caller (DirtyInstalls).
	Alpha, Beta      float64
	Confirmed        int
	QuarantinedUntil time.Time
	// ForgotAt is when the forgetting factor was last applied.
	ForgotAt time.Time
}

// EgressKey is a salted hash of an egress address: the engine refuses
// reports of members' own addresses without holding the addresses.
type EgressKey [16]byte

// HashEgress is the EgressKey of a under salt.
func HashEgress(salt []byte, a netip.Addr) EgressKey {
	h := sha256.New()
	h.Write(salt)
	b := a.Unmap().AsSlice()
	h.Write(b)
	var k EgressKey
	copy(k[:], h.Sum(nil))
	return k
}

// Signal is one report, stripped to what curation uses.
type Signal struct {
	Install  string
	IP       netip.Addr
	Scenario string
	Version  string
	Hash     string
	// Trust is the client's label: certified, custom, tainted, manual
	// ("" is taken as certified: the hash check decides).
	Trust string
	// At is when the central received it (not the reporter's clock).
	At time.Time
}

// Verdict is what the engine did with a signal.
type Verdict string

// Verdicts.
const (
	Counted      Verdict = "counted"       // eligible, counts toward listing
	Recorded     Verdict = "recorded"      // kept for the record, weight 0 (custom/tainted/manual/unknown hash)
	NonGlobal    Verdict = "non_global"    // refused: not a global address
	Allowlisted  Verdict = "allowlisted"   // refused: allowlisted
	CanaryHit    Verdict = "canary"        // refused and the reporter refuted
	MemberEgress Verdict = "member_egress" // refused: a member's own address
	// Appealed: refused and the reporter refuted: a strong-class report
	// of an address whose appeal was upheld (Delist) within DelistHold.
	Appealed    Verdict = "appealed"
	UnknownInst Verdict = "unknown_install"
)

// Op is a change of the list.
type Op string

// Ops.
const (
	Add    Op = "add"    // a new entry, or an entry whose expiry or tier changed
	Delete Op = "delete" // the entry is gone
)

// Change is one change of the community list, in order.
type Change struct {
	Op        Op
	IP        netip.Addr
	Tier      string
	Scenarios []string
	ExpiresAt time.Time
	Reason    string
	At        time.Time
}

// Listing is an entry of the community list.
type Listing struct {
	IP             netip.Addr
	Tier           string
	Scenarios      []string
	ListedAt       time.Time
	ExpiresAt      time.Time
	Level          int
	LastEscalation time.Time
}

// HashChecker says whether hash is the published hash of a hub scenario
// at version. nil: every signal labelled certified is trusted.
type HashChecker func(scenario, version, hash string) bool

// ClassWeight is the weight of a scenario's evidence (1 for brute force
// and exploits, less for FP-prone or spoofable classes).
func ClassWeight(scenario string) float64 {
	s := strings.ToLower(scenario)
	switch {
	case strings.Contains(s, "portscan") || strings.Contains(s, "port-scan") || strings.Contains(s, "scan-multi_ports"):
		return 0.2
	case strings.Contains(s, "http-probing") || strings.Contains(s, "crawl") || strings.Contains(s, "bad-user-agent"):
		return 0.5
	}
	return 1
}

type inst struct {
	Install
	idx int32
}

type report struct {
	install   int32
	scenario  int32
	eligible  bool
	confirmed bool
	first     int64 // unix seconds
	last      int64
	count     int32
}

type ipState struct {
	reports []report
	listing *Listing
}

// Engine is the curation state.
//
// Concurrency: not safe for concurrent use; the central serialises every
// call through one goroutine (the curator), the simulator is sequential.
type Engine struct {
	cfg   Config
	now   func() time.Time
	check HashChecker

	installs []*inst
	byID     map[string]int32
	// byWide: the installs of each wide network (clusterKeys), in index
	// order, for wideLinked.
	byWide map[netip.Prefix][]int32
	egress map[EgressKey]struct{}

	scen    []string
	classW  []float64 // ClassWeight of scen[i]
	scenIdx map[string]int32

	ips map[netip.Addr]*ipState
	// holds: delisted or burned addresses (see Hold); heldDirty: the
	// holds set since the last DirtyHolds, for the caller to persist.
	holds     map[netip.Addr]Hold
	heldDirty map[netip.Addr]struct{}
	allow     []netip.Prefix
	canry     map[netip.Addr]struct{}

	listed  map[netip.Addr]*Listing
	changes []Change
	dirty   map[int32]struct{}
	replay  bool
	sweepAt time.Time
	salt    []byte

	pendingWithdraw bool

	// recent: the addresses each install reported (eligible, strong
	// class) in the window, for propagate; burn: installs refuted since
	// the last propagate.
	recent map[int32][]sighting
	burn   []int32
}

type sighting struct {
	ip netip.Addr
	at int64
}

// New returns an engine with cfg (zero fields from Defaults), clock now
// and hash checker check.
func New(cfg Config, now func() time.Time, check HashChecker) *Engine {
	if now == nil {
		now = time.Now
	}
	return &Engine{cfg: cfg.Or(Defaults()), now: now, check: check, byID: map[string]int32{},
		egress: map[EgressKey]struct{}{}, scenIdx: map[string]int32{}, ips: map[netip.Addr]*ipState{},
		byWide: map[netip.Prefix][]int32{}, holds: map[netip.Addr]Hold{}, heldDirty: map[netip.Addr]struct{}{}, canry: map[netip.Addr]struct{}{}, listed: map[netip.Addr]*Listing{},
		dirty: map[int32]struct{}{}, recent: map[int32][]sighting{}}
}

// Config is the configuration in force.
func (e *Engine) Config() Config { return e.cfg }

// SetSalt sets the salt of the egress hashes (HashEgress).
func (e *Engine) SetSalt(salt []byte) { e.salt = slices.Clone(salt) }

// SetHashChecker replaces the hub index check.
func (e *Engine) SetHashChecker(c HashChecker) { e.check = c }

// SetReplay turns replay mode on or off: while on (rebuilding state from
// stored signals after a restart), reputations are not changed (they were
// persisted when the signals first came).
func (e *Engine) SetReplay(on bool) { e.replay = on }

// UpsertInstall adds an install or updates its identity (org, seed,
// network, egress). With restore, the reputation fields are taken from
// in too (loading persisted state); otherwise a new install starts at the
// prior and an existing one keeps its reputation.
func (e *Engine) UpsertInstall(in Install, restore bool) {
	if i, ok := e.byID[in.ID]; ok {
		cur := e.installs[i]
		_, was := clusterKeys(cur)
		if restore {
			cur.Install = in
		} else {
			cur.Org, cur.Seed, cur.Net = in.Org, in.Seed, in.Net
			if len(in.Egress) > 0 {
				cur.Egress = in.Egress
			}
		}
		if _, wide := clusterKeys(cur); wide != was {
			e.byWide[was] = slices.DeleteFunc(e.byWide[was], func(x int32) bool { return x == i })
			if len(e.byWide[was]) == 0 {
				delete(e.byWide, was)
			}
			e.addWide(cur)
		}
		for _, k := range cur.Egress {
			e.egress[k] = struct{}{}
		}
		return
	}
	if !restore || (in.Alpha == 0 && in.Beta == 0) {
		in.Alpha, in.Beta = PriorAlpha, PriorBeta
	}
	if in.ForgotAt.IsZero() {
		in.ForgotAt = e.now()
	}
	idx := int32(len(e.installs))
	e.installs = append(e.installs, &inst{Install: in, idx: idx})
	e.byID[in.ID] = idx
	e.addWide(e.installs[idx])
	for _, k := range in.Egress {
		e.egress[k] = struct{}{}
	}
}

// addWide puts in in the index of its wide network (byWide), in order.
func (e *Engine) addWide(in *inst) {
	if _, wide := clusterKeys(in); wide.IsValid() {
		l := e.byWide[wide]
		k, _ := slices.BinarySearch(l, in.idx)
		e.byWide[wide] = slices.Insert(l, k, in.idx)
	}
}

// Install returns the engine's view of an install.
func (e *Engine) Install(id string) (Install, bool) {
	i, ok := e.byID[id]
	if !ok {
		return Install{}, false
	}
	return e.installs[i].Install, true
}

// SetAllowlist replaces the allowlist; listed addresses it covers are
// deleted.
func (e *Engine) SetAllowlist(ps []netip.Prefix) {
	e.allow = slices.Clone(ps)
	for ip := range e.listed {
		if e.allowed(ip) {
			e.unlist(ip, "allowlisted")
		}
	}
}

// SetCanaries replaces the canaries; listed canaries are deleted and
// their reporters refuted.
func (e *Engine) SetCanaries(ips []netip.Addr) {
	e.canry = make(map[netip.Addr]struct{}, len(ips))
	for _, ip := range ips {
		e.canry[ip.Unmap()] = struct{}{}
	}
	for ip := range e.canry {
		if st := e.ips[ip]; st != nil {
			for _, r := range st.reports {
				e.refute(r.install)
			}
			st.reports = nil
		}
		if _, ok := e.listed[ip]; ok {
			e.unlist(ip, "canary")
		}
	}
	e.withdraw()
}

func (e *Engine) allowed(ip netip.Addr) bool {
	for _, p := range e.allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (e *Engine) scenario(s string) int32 {
	if i, ok := e.scenIdx[s]; ok {
		return i
	}
	i := int32(len(e.scen))
	e.scen = append(e.scen, s)
	e.classW = append(e.classW, ClassWeight(s))
	e.scenIdx[s] = i
	return i
}

// Ingest takes one signal and returns what was done with it. Changes of
// the list it causes are queued (Changes).
func (e *Engine) Ingest(s Signal) Verdict {
	idx, ok := e.byID[s.Install]
	if !ok {
		return UnknownInst
	}
	ip := s.IP.Unmap()
	switch {
	case !models.IsGlobal(ip):
		return NonGlobal
	case e.allowed(ip):
		return Allowlisted
	}
	if _, ok := e.canry[ip]; ok {
		// A canary may be an operator-run polite crawler visiting members'
		// sites (it catches poisoners reporting "everything that came"):
		// an honest FP-prone crawling or probing scenario trips on it too,
		// which costs one failure; a strong class refutes.
		if !e.replay {
			if e.classW[e.scenario(s.Scenario)] < 1 {
				e.discredit(idx)
			} else {
				e.refute(idx)
				e.withdraw()
			}
		}
		return CanaryHit
	}
	if len(e.egress) > 0 {
		if _, ok := e.egress[HashEgress(e.salt, ip)]; ok {
			return MemberEgress
		}
	}
	eligible := s.Trust == "" || s.Trust == "certified"
	if eligible && e.check != nil {
		eligible = e.check(s.Scenario, s.Version, s.Hash)
	}
	at := s.At
	if at.IsZero() {
		at = e.now()
	}
	h, held := e.holds[ip]
	if held && h.Appealed && e.replay && at.Before(h.Since) {
		// Evidence from before an upheld appeal: Delist dropped it; a
		// replay after a restart meets it again and drops it again.
		return Recorded
	}
	if held && h.Appealed && at.Before(h.Until) && eligible && e.classW[e.scenario(s.Scenario)] >= 1 && !e.installs[idx].Seed {
		// The operator upheld an appeal of ip: it is benign, as a canary
		// is. A sleeper keeps reporting its victims after their delisting
		// (its campaign does not know), an honest install reports one
		// only by an uncorrelated false positive. FP-prone classes are
		// counted as usual (the hold keeps ip off the list).
		if !e.replay {
			e.refute(idx)
			e.withdraw()
		}
		return Appealed
	}
	st := e.ips[ip]
	if st == nil {
		st = &ipState{}
		e.ips[ip] = st
	}
	sc := e.scenario(s.Scenario)
	sec := at.Unix()
	found := false
	for k := range st.reports {
		r := &st.reports[k]
		if r.install == idx && r.scenario == sc {
			if eligible && e.classW[sc] >= 1 && sec-r.last >= 3600 {
				// Reported again after an hour or more: the address is
				// still in this install's recent reports (coReports, burn).
				e.recent[idx] = append(e.recent[idx], sighting{ip, sec})
			}
			r.last = max(r.last, sec)
			r.count++
			r.eligible = r.eligible || eligible
			found = true
			break
		}
	}
	if !found {
		if len(st.reports) >= e.cfg.ReportsPerAddress {
			e.evictOldest(st)
		}
		st.reports = append(st.reports, report{install: idx, scenario: sc, eligible: eligible, first: sec, last: sec, count: 1})
		if eligible && e.classW[sc] >= 1 {
			e.recent[idx] = append(e.recent[idx], sighting{ip, sec})
		}
	}
	if !eligible {
		return Recorded
	}
	e.evaluate(ip, st, at)
	return Counted
}

// evictOldest drops the report with the oldest last sighting.
func (e *Engine) evictOldest(st *ipState) {
	k := 0
	for j := range st.reports {
		if st.reports[j].last < st.reports[k].last {
			k = j
		}
	}
	st.reports = slices.Delete(st.reports, k, k+1)
}

// weight is an install's weight at now.
func (e *Engine) weight(in *inst, now time.Time) float64 {
	if now.Before(in.QuarantinedUntil) {
		return 0
	}
	if in.Seed {
		return 1
	}
	t := in.Alpha / (in.Alpha + in.Beta)
	if in.Org == "" {
		t = min(t, e.cfg.AnonymousCap)
	}
	return t
}

// trusted reports whether an install's vote can carry a listing.
func (e *Engine) trusted(in *inst, now time.Time) bool {
	if now.Before(in.QuarantinedUntil) || in.Org == "" {
		return false
	}
	if in.Seed {
		return true
	}
	return in.Confirmed >= e.cfg.TrustedConfirmations && in.Alpha/(in.Alpha+in.Beta) >= e.cfg.TrustedMinTrust
}

// clusterOf returns the keys that merge installs into one cluster: the
// organisation and the wide network (/16, IPv6 /32) of the egress.
func clusterKeys(in *inst) (org string, wide netip.Prefix) {
	if in.Net.IsValid() {
		bits := 16
		if in.Net.Addr().Is6() {
			bits = 32
		}
		wide, _ = in.Net.Addr().Prefix(bits)
	}
	return in.Org, wide
}

// tally is the evidence on an address.
type tally struct {
	score    float64
	clusters int
	evidence float64 // clusters weighted by their evidence class
	trusted  bool
	// strong: a trusted cluster reported a strong class (ClassWeight 1:
	// brute force, exploits); FP-prone and spoofable classes alone
	// (unknown crawlers, spoofed port scans) never list.
	strong bool
	// trustedClusters: clusters with a trusted strong-class report;
	// unvouched: clusters none of whose reporters has a confirmed report.
	trustedClusters int
	unvouched       int
	// strongClusters: clusters with a strong-class report of at least
	// MinVote; vouchedStrong: those of them where that report is a seed's
	// or an install's with a confirmed report (see strongPair).
	strongClusters int
	vouchedStrong  int
	seedSaw        bool
	scenarios      []string
	reports        int
}

// tallyOf computes the evidence of st (the state of ip) at now. With
// links, reporters linked by co-reports (see coReports) merge into one
// cluster too, when no seed saw ip (see coReports).
func (e *Engine) tallyOf(ip netip.Addr, st *ipState, now time.Time, links bool) tally {
	floor := now.Add(-e.cfg.Window).Unix()
	type member struct {
		idx   int32
		vote  float64
		class float64
		org   string
		wide  netip.Prefix
	}
	ms := make([]member, 0, len(st.reports))
	var scen []int32
	var t tally
	for _, r := range st.reports {
		if !r.eligible || r.last < floor {
			continue
		}
		in := e.installs[r.install]
		cw := e.classW[r.scenario]
		v := e.weight(in, now) * cw
		if v <= 0 {
			continue
		}
		t.reports++
		if !slices.Contains(scen, r.scenario) {
			scen = append(scen, r.scenario)
		}
		org, wide := clusterKeys(in)
		ms = append(ms, member{r.install, v, cw, org, wide})
		if in.Seed {
			t.seedSaw = true
		}
	}
	// Union the reporters sharing an organisation or a wide network.
	parent := make([]int, len(ms))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	for i := range ms {
		for j := 0; j < i; j++ {
			if (ms[i].org != "" && ms[i].org == ms[j].org) || (ms[i].wide.IsValid() && ms[i].wide == ms[j].wide) || ms[i].idx == ms[j].idx {
				parent[find(i)] = find(j)
			}
		}
	}
	if links && !t.seedSaw && e.cfg.CoReports > 0 && len(ms) >= 2 {
		unseeded := map[netip.Addr]bool{}
		var among []int32
		for i := range ms {
			if ms[i].class < 1 {
				continue
			}
			var co map[int32]int
			for j := 0; j < i; j++ {
				if find(i) == find(j) || ms[j].class < 1 {
					continue
				}
				if co == nil {
					among = among[:0]
					for k := range i {
						if ms[k].class >= 1 {
							among = append(among, ms[k].idx)
						}
					}
					co = e.coReports(ms[i].idx, ip, among, unseeded, now)
				}
				if co[ms[j].idx] >= e.cfg.CoReports {
					parent[find(i)] = find(j)
				}
			}
		}
		if e.cfg.WideShare > 0 {
			// Wide networks co-reporting as wholes (wideLinked), among
			// those whose strong-class reporters of ip have no confirmed
			// report (a farm without history; an install with one is
			// vouched for by the seeds, see confirm).
			var wides, vouched []netip.Prefix
			var first []int // a strong-class member of each wide
			for i := range ms {
				if ms[i].class < 1 || !ms[i].wide.IsValid() {
					continue
				}
				if in := e.installs[ms[i].idx]; in.Confirmed > 0 || in.Seed {
					vouched = append(vouched, ms[i].wide)
				} else if !slices.Contains(wides, ms[i].wide) {
					wides = append(wides, ms[i].wide)
					first = append(first, i)
				}
			}
			for k := len(wides) - 1; k >= 0; k-- {
				if slices.Contains(vouched, wides[k]) {
					wides, first = slices.Delete(wides, k, k+1), slices.Delete(first, k, k+1)
				}
			}
			if len(wides) >= 2 {
				sets := make([]map[netip.Addr]struct{}, len(wides))
				for a := range wides {
					for b := range a {
						if find(first[a]) == find(first[b]) {
							continue
						}
						for _, k := range []int{a, b} {
							if sets[k] == nil {
								sets[k] = e.wideReports(wides[k], ip, unseeded, now)
							}
						}
						if e.wideLinked(sets[a], sets[b]) {
							parent[find(first[a])] = find(first[b])
						}
					}
				}
			}
		}
	}
	type agg struct {
		best, class             float64
		trusted, tstrg, vouched bool
		// sbest: the best strong-class vote; svouched: a strong-class
		// report of a vouched install (seed, or a confirmed report).
		sbest    float64
		svouched bool
	}
	roots := make([]agg, len(ms))
	for i, m := range ms {
		a := &roots[find(i)]
		a.best = max(a.best, m.vote)
		a.class = max(a.class, m.class)
		if in := e.installs[m.idx]; in.Seed || in.Confirmed > 0 {
			a.vouched = true
			if m.class >= 1 && m.vote >= e.cfg.MinVote {
				a.svouched = true
			}
		}
		if m.class >= 1 {
			a.sbest = max(a.sbest, m.vote)
		}
		if e.trusted(e.installs[m.idx], now) {
			a.trusted = true
			if m.class >= 1 {
				a.tstrg = true
			}
		}
	}
	for i, a := range roots {
		if find(i) != i || a.best < e.cfg.MinVote {
			continue
		}
		t.clusters++
		t.evidence += a.class
		t.score += a.best
		t.trusted = t.trusted || a.trusted
		t.strong = t.strong || a.tstrg
		if a.tstrg {
			t.trustedClusters++
		}
		if !a.vouched {
			t.unvouched++
		}
		if a.sbest >= e.cfg.MinVote {
			t.strongClusters++
			if a.svouched {
				t.vouchedStrong++
			}
		}
	}
	for _, s := range scen {
		t.scenarios = append(t.scenarios, e.scen[s])
	}
	sort.Strings(t.scenarios)
	return t
}

// coReports is the co-report relation, the one definition of a
// co-reporting clique: for each other install, how many addresses both it
// and a reported (eligible, strong class, last seen in the window) that
// no seed saw (or that were delisted by an upheld appeal since), except x. Two
// installs with at least CoReports are linked: one cluster for an
// address no seed saw (tallyOf), refuted together (partners).
// Sleepers and poisoners turning on their victims report the same few
// addresses again and again, from many organisations and networks, and
// no seed (the operator's sensors, exposed to what attacks the crowd at
// large) ever sees them; honest installs share such addresses only by
// chance (targeted attackers, mass scanners that missed the seeds).
// With among, only those installs are counted (nil: every install).
// unseeded caches per-address verdicts across calls at the same now.
func (e *Engine) coReports(a int32, x netip.Addr, among []int32, unseeded map[netip.Addr]bool, now time.Time) map[int32]int {
	floor := now.Add(-e.cfg.Window).Unix()
	count := map[int32]int{}
	var seen []netip.Addr
	var by []int32
	for _, sg := range e.recent[a] {
		if sg.ip == x || sg.at < floor || slices.Contains(seen, sg.ip) {
			continue
		}
		seen = append(seen, sg.ip)
		if !e.unseeded(sg.ip, unseeded, now) {
			continue
		}
		st := e.ips[sg.ip]
		if st == nil {
			continue
		}
		by = by[:0]
		for _, r := range st.reports {
			if !r.eligible || r.last < floor || e.classW[r.scenario] < 1 || r.install == a || slices.Contains(by, r.install) ||
				(among != nil && !slices.Contains(among, r.install)) {
				continue
			}
			by = append(by, r.install)
			count[r.install]++
		}
	}
	return count
}

// wideReports returns the addresses no seed saw (see unseeded), except
// x, that the installs of wide reported (eligible, strong class) in the
// window: what its installs, taken together, co-report (wideLinked).
func (e *Engine) wideReports(wide netip.Prefix, x netip.Addr, unseeded map[netip.Addr]bool, now time.Time) map[netip.Addr]struct{} {
	floor := now.Add(-e.cfg.Window).Unix()
	out := map[netip.Addr]struct{}{}
	for _, idx := range e.byWide[wide] {
		for _, sg := range e.recent[idx] {
			if sg.ip == x || sg.at < floor {
				continue
			}
			if _, ok := out[sg.ip]; ok || !e.unseeded(sg.ip, unseeded, now) {
				continue
			}
			out[sg.ip] = struct{}{}
		}
	}
	return out
}

// wideLinked reports whether two wide networks, by what their installs
// reported (wideReports), are one co-reporting clique: at least
// CoReports addresses in common, and at least WideShare of the addresses
// each reported. A Sybil farm spread over a few networks turns its
// installs on the same victims: pair by pair they share too few of them
// for coReports (each reports a part), the networks as wholes share
// most. Honest networks share addresses no seed saw by chance (mass
// scanners that missed the seeds), a small part of what each reports.
func (e *Engine) wideLinked(a, b map[netip.Addr]struct{}) bool {
	return e.wideLinkedAt(a, b, e.cfg.WideShare)
}

func (e *Engine) wideLinkedAt(a, b map[netip.Addr]struct{}, share float64) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	if len(a) < e.cfg.CoReports {
		return false
	}
	n := 0
	for y := range a {
		if _, ok := b[y]; ok {
			n++
		}
	}
	return n >= e.cfg.CoReports && float64(n) >= share*float64(len(b))
}

// CoReportLinks returns the co-report relation at the engine's clock
// (what the simulator measures): the pairs of installs (not seeds)
// linked by coReports, by install ID, and the pairs of wide networks
// linked as wholes (wideLinked; with WideShare off, those it would link
// at the default share), each pair and the lists in order.
func (e *Engine) CoReportLinks() (installs [][2]string, wides [][2]netip.Prefix) {
	now := e.now()
	unseeded := map[netip.Addr]bool{}
	if e.cfg.CoReports > 0 {
		for a := range e.installs {
			if e.installs[a].Seed {
				continue
			}
			for b, n := range e.coReports(int32(a), netip.Addr{}, nil, unseeded, now) {
				if b > int32(a) && n >= e.cfg.CoReports && !e.installs[b].Seed {
					installs = append(installs, [2]string{e.installs[a].ID, e.installs[b].ID})
				}
			}
		}
	}
	for k := range installs {
		if installs[k][0] > installs[k][1] {
			installs[k][0], installs[k][1] = installs[k][1], installs[k][0]
		}
	}
	slices.SortFunc(installs, func(x, y [2]string) int {
		return cmp.Or(strings.Compare(x[0], y[0]), strings.Compare(x[1], y[1]))
	})
	if e.cfg.CoReports <= 0 {
		return installs, nil
	}
	share := e.cfg.WideShare
	if share <= 0 {
		share = Defaults().WideShare
	}
	keys := make([]netip.Prefix, 0, len(e.byWide))
	for w := range e.byWide {
		keys = append(keys, w)
	}
	slices.SortFunc(keys, func(x, y netip.Prefix) int { return x.Addr().Compare(y.Addr()) })
	sets := make([]map[netip.Addr]struct{}, len(keys))
	for k, w := range keys {
		sets[k] = e.wideReports(w, netip.Addr{}, unseeded, now)
	}
	for a := range keys {
		for b := a + 1; b < len(keys); b++ {
			if e.wideLinkedAt(sets[a], sets[b], share) {
				wides = append(wides, [2]netip.Prefix{keys[a], keys[b]})
			}
		}
	}
	return installs, wides
}

// unseeded reports whether no seed reported y in the window (with
// reports of it known), or y was delisted by an upheld appeal.
func (e *Engine) unseeded(y netip.Addr, cache map[netip.Addr]bool, now time.Time) bool {
	if v, ok := cache[y]; ok {
		return v
	}
	v := false
	if h, ok := e.holds[y]; ok && h.Appealed && now.Before(h.Until) {
		// Delisted by an upheld appeal: benign, whoever saw it. Burned
		// (suspect) addresses are not taken as such: a real attacker that
		// refuted poisoners also reported burns too, and counting it
		// linked its honest reporters to them (a cascade).
		v = true
	} else if st := e.ips[y]; st != nil {
		v = true
		for _, r := range st.reports {
			if r.eligible && e.installs[r.install].Seed {
				v = false
				break
			}
		}
	}
	cache[y] = v
	return v
}

func (e *Engine) qualifies(ip netip.Addr, t tally, now time.Time) bool {
	// FP-prone classes (generic HTTP probing, crawling) need twice the
	// clusters, spoofable ones (port scans) five times: evidence sums
	// each cluster's best class weight. And a trusted cluster must have
	// seen a strong class: correlated honest false positives (an unknown
	// crawler tripping a crawling scenario on many sites) and spoofed
	// port scans make up any number of weak clusters.
	if t.evidence < float64(e.cfg.MinClusters)-1e-9 || t.score < e.cfg.MinScore || !t.trusted || !t.strong {
		return false
	}
	// When clusters without a single confirmed report (no history: new
	// installs, or poisoners who never report a real attacker) make up
	// MinClusters on their own, one trusted cluster is all that stands
	// between them and the list: one honest install's false positive on
	// a victim of coordinated or spread poisoners would give them their
	// trusted vote. Then it takes two trusted clusters.
	if t.trustedClusters < 2 && t.unvouched >= e.cfg.MinClusters {
		return false
	}
	if !e.strongPair(t) {
		return false
	}
	if h, ok := e.holds[ip]; ok && now.Before(h.Until) && !t.seedSaw {
		return false
	}
	return true
}

// strongPair reports whether t has the strong-class evidence a listing
// needs when weak classes fill its clusters. When fewer than MinClusters
// clusters reported a strong class (brute force, exploits), the rest are
// FP-prone or spoofable reports (crawling, HTTP probing, port scans): a
// scan spoofed with a victim's source address reaches any number of
// honest installs, which report it in good faith, and one trusted false
// positive on the victim (a seed's brute force) was all that stood
// between it and the list. Then it takes two clusters with a strong-class
// report of a vouched install (a seed, or one with a confirmed report):
// a framer with no history cannot be the second one. Listings made of
// strong classes only keep the usual rule (C.1: a seed and two new
// installs).
func (e *Engine) strongPair(t tally) bool {
	return t.strongClusters >= e.cfg.MinClusters || t.vouchedStrong >= 2
}

func tier(t tally, cfg Config) string {
	if t.seedSaw && t.clusters >= cfg.MinClusters+1 {
		return "confirmed"
	}
	return "community"
}

// evaluate re-decides ip after fresh evidence at now.
func (e *Engine) evaluate(ip netip.Addr, st *ipState, now time.Time) {
	t := e.tallyOf(ip, st, now, false)
	l := e.listed[ip]
	if !e.qualifies(ip, t, now) {
		return
	}
	if l == nil && !t.seedSaw && e.cfg.CoReports > 0 {
		// A new listing no seed saw: co-reporting cliques count once.
		if t = e.tallyOf(ip, st, now, true); !e.qualifies(ip, t, now) {
			return
		}
	}
	if l == nil {
		l = &Listing{IP: ip, Tier: tier(t, e.cfg), Scenarios: t.scenarios, ListedAt: now,
			ExpiresAt: now.Add(e.cfg.FirstTTL), LastEscalation: now}
		e.listed[ip] = l
		st.listing = l
		e.emit(Change{Op: Add, IP: ip, Tier: l.Tier, Scenarios: l.Scenarios, ExpiresAt: l.ExpiresAt, Reason: "listed", At: now})
		e.confirm(st, t, now)
		return
	}
	changed := false
	if now.Sub(l.LastEscalation) >= e.cfg.EscalateAfter {
		l.Level++
		l.LastEscalation = now
		changed = true
	}
	ttl := min(e.cfg.FirstTTL<<l.Level, e.cfg.MaxTTL)
	// Extended when less than half the TTL is left (or the level rose):
	// not at every report, so that the stream does not churn.
	if l.ExpiresAt.Sub(now) < ttl/2 || changed {
		l.ExpiresAt = now.Add(ttl)
		changed = true
	}
	if nt := tier(t, e.cfg); nt != l.Tier || !slices.Equal(t.scenarios, l.Scenarios) {
		l.Tier, l.Scenarios = nt, t.scenarios
		changed = true
	}
	if changed {
		e.emit(Change{Op: Add, IP: ip, Tier: l.Tier, Scenarios: l.Scenarios, ExpiresAt: l.ExpiresAt, Reason: "extended", At: now})
	}
	e.confirm(st, t, now)
}

// confirm credits the reporters of a listed address that a seed also
// reported.
func (e *Engine) confirm(st *ipState, t tally, now time.Time) {
	if e.replay {
		// Credited when the reports first came (reputations are
		// persisted): marked only, so that the next report on the
		// address does not credit them a second time.
		if t.seedSaw {
			for k := range st.reports {
				st.reports[k].confirmed = st.reports[k].confirmed || st.reports[k].eligible
			}
		}
		return
	}
	for k := range st.reports {
		r := &st.reports[k]
		if r.confirmed || !r.eligible {
			continue
		}
		in := e.installs[r.install]
		if in.Seed || e.weight(in, now) == 0 {
			continue
		}
		// Trust flows from the seeds only (Cheng-Friedman): a listing
		// carried by other installs confirms nobody, or a colluding group
		// that once got a victim listed would vouch for itself.
		ok := t.seedSaw
		if ok {
			r.confirmed = true
			e.forget(in, now)
			in.Alpha++
			in.Confirmed++
			e.dirty[in.idx] = struct{}{}
		}
	}
}

// forget applies the daily forgetting factor to an install's reputation.
func (e *Engine) forget(in *inst, now time.Time) {
	days := int(now.Sub(in.ForgotAt) / (24 * time.Hour))
	if days <= 0 {
		return
	}
	f := 1.0
	for range min(days, 3650) {
		f *= e.cfg.Forget
	}
	in.Alpha = PriorAlpha + (in.Alpha-PriorAlpha)*f
	in.Beta = PriorBeta + (in.Beta-PriorBeta)*f
	in.ForgotAt = in.ForgotAt.Add(time.Duration(days) * 24 * time.Hour)
}

// refute penalises an install and quarantines it.
func (e *Engine) refute(idx int32) {
	if e.replay {
		return
	}
	in := e.installs[idx]
	now := e.now()
	again := now.Before(in.QuarantinedUntil)
	e.forget(in, now)
	in.Beta += e.cfg.RefutePenalty
	// Trust burns: the standing its confirmed reports earned is rebuilt
	// from zero after the quarantine (design 4.7, one-shot), and a repeat
	// offender (a mixed poisoner caught again and again, its refutations
	// still in β) stays out once more per refutation: QuarantineFor times
	// the refutations β holds (forgetting fades them), at most 52 times.
	in.Confirmed = 0
	times := math.Ceil((in.Beta-PriorBeta)/e.cfg.RefutePenalty - 1e-9)
	in.QuarantinedUntil = now.Add(time.Duration(min(max(times, 1), 52)) * e.cfg.QuarantineFor)
	e.dirty[idx] = struct{}{}
	e.pendingWithdraw = true
	if !again {
		// Its clique and addresses burn once per quarantine: reports
		// made since weigh nothing, and each scan of a clique is a
		// chance to catch an honest install by co-report coincidence.
		e.burn = append(e.burn, idx)
	}
}

// propagate burns the listings of the cliques of the installs refuted
// since the last call: a group of colluding reporters (sleepers: trusted
// installs of many organisations and networks that turn on the same
// victims) loses at once the victims its refuted members helped list,
// instead of one appeal at a time.
//
// For each address a refuted install reported in the window that no
// seed saw: when at least two of its strong-class reporters, and at
// least SuspectShare of them, are refuted installs, it is suspect:
// unlisted, held (only a seed lists it again within DelistHold), and
// each of its other reporters is discredited (one failure, no
// quarantine).
//
// Honest installs share addresses with poisoners too (real attackers
// that sleepers and mixed poisoners also report): one refuted reporter
// beside others is no clique, and a shared address costs an honest
// reporter one failure, never its standing: refuting the other reporters
// of suspect addresses (two strikes) was tried and, with 20 % sleepers
// (who report real attackers too), cascaded through the honest crowd
// (780 of 800 honest installs quarantined, recall 2 %). Only reports of
// strong classes count: a framer makes honest installs report its
// victims with spoofed port scans, and honest installs trip FP-prone
// scenarios on the crawlers framers report.
func (e *Engine) propagate() {
	if len(e.burn) == 0 {
		return
	}
	now := e.now()
	floor := now.Add(-e.cfg.Window).Unix()
	done := map[netip.Addr]bool{}
	var reporters []int32
	unseeded := map[netip.Addr]bool{}
	// check burns y when at least two of its strong-class reporters, and
	// at least SuspectShare of them, are refuted installs.
	check := func(y netip.Addr) bool {
		if done[y] {
			return false
		}
		if h, held := e.holds[y]; held && now.Before(h.Until) {
			return false // already suspect or delisted: its reporters had their strike
		}
		st := e.ips[y]
		if st == nil {
			return false
		}
		reporters = reporters[:0]
		bad := 0
		for _, r := range st.reports {
			if !r.eligible || r.last < floor || e.classW[r.scenario] < 1 || slices.Contains(reporters, r.install) {
				continue
			}
			in := e.installs[r.install]
			if in.Seed {
				return false
			}
			reporters = append(reporters, r.install)
			if now.Before(in.QuarantinedUntil) {
				bad++
			}
		}
		if bad < 2 || float64(bad) < e.cfg.SuspectShare*float64(len(reporters)) {
			return false
		}
		done[y] = true
		e.setHold(Hold{IP: y, Since: now, Until: now.Add(e.cfg.DelistHold)})
		e.unlist(y, "suspect")
		for _, o := range reporters {
			if now.Before(e.installs[o].QuarantinedUntil) {
				continue
			}
			e.discredit(o)
		}
		return true
	}
	for len(e.burn) > 0 {
		idx := e.burn[0]
		e.burn = e.burn[1:]
		// Its clique goes with it: installs linked to it by co-reports
		// (see coReports) are refuted too, and their addresses burn in turn.
		for _, p := range e.partners(idx, unseeded, now) {
			e.refute(p)
		}
		for _, sg := range e.recent[idx] {
			if sg.at >= floor {
				check(sg.ip)
			}
		}
	}
}

// partners returns the installs (not seeds, not quarantined) linked to
// idx by co-reports (see coReports) at now, in index order.
func (e *Engine) partners(idx int32, unseeded map[netip.Addr]bool, now time.Time) []int32 {
	if e.cfg.CoReports <= 0 {
		return nil
	}
	var out []int32
	for p, n := range e.coReports(idx, netip.Addr{}, nil, unseeded, now) {
		in := e.installs[p]
		if n >= e.cfg.CoReports && !in.Seed && !now.Before(in.QuarantinedUntil) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// discredit counts one failure against an install (no quarantine).
func (e *Engine) discredit(idx int32) {
	if e.replay {
		return
	}
	in := e.installs[idx]
	e.forget(in, e.now())
	in.Beta++
	e.dirty[idx] = struct{}{}
}

// withdraw re-checks every listing after a quarantine: entries that no
// longer qualify go.
func (e *Engine) withdraw() {
	if !e.pendingWithdraw {
		return
	}
	e.pendingWithdraw = false
	e.propagate()
	now := e.now()
	for _, ip := range e.sortedListed() {
		st := e.ips[ip]
		if st == nil || !e.qualifies(ip, e.tallyOf(ip, st, now, false), now) {
			e.unlist(ip, "evidence withdrawn")
		}
	}
}

func (e *Engine) sortedListed() []netip.Addr {
	ips := make([]netip.Addr, 0, len(e.listed))
	for ip := range e.listed {
		ips = append(ips, ip)
	}
	slices.SortFunc(ips, func(a, b netip.Addr) int { return a.Compare(b) })
	return ips
}

func (e *Engine) unlist(ip netip.Addr, reason string) {
	l := e.listed[ip]
	if l == nil {
		return
	}
	delete(e.listed, ip)
	if st := e.ips[ip]; st != nil {
		st.listing = nil
	}
	e.emit(Change{Op: Delete, IP: ip, Tier: l.Tier, Scenarios: l.Scenarios, Reason: reason, At: e.now()})
}

func (e *Engine) emit(c Change) { e.changes = append(e.changes, c) }

// Delist removes ip at once (an upheld appeal), refutes its reporters and
// holds it off the list for DelistHold unless a seed reports it.
//
// A reporter whose reports on ip were all of FP-prone classes (ClassWeight
// below 1: generic HTTP probing, crawling, port scans) is discredited
// instead (β += 1, no quarantine): an unknown crawler trips those
// scenarios on many honest sites, and quarantining all of them for one
// appeal cost the simulated crowd a quarter of its honest installs and a
// tenth of its recall. Brute force and exploits, the poisoners' way to get
// a victim listed, refute as before.
func (e *Engine) Delist(ip netip.Addr) {
	ip = ip.Unmap()
	now := e.now()
	if st := e.ips[ip]; st != nil {
		floor := now.Add(-e.cfg.Window).Unix()
		class := map[int32]float64{}
		var order []int32
		for _, r := range st.reports {
			if r.eligible && r.last >= floor && !e.installs[r.install].Seed {
				if _, ok := class[r.install]; !ok {
					order = append(order, r.install)
				}
				class[r.install] = max(class[r.install], e.classW[r.scenario])
			}
		}
		for _, idx := range order {
			if class[idx] >= 1 {
				e.refute(idx)
			} else {
				e.discredit(idx)
			}
		}
		st.reports = nil
	}
	e.setHold(Hold{IP: ip, Since: now, Until: now.Add(e.cfg.DelistHold), Appealed: true})
	if _, ok := e.listed[ip]; ok {
		e.unlist(ip, "delisted")
	} else {
		// Not listed here (or listed by state this engine never saw):
		// the deletion still goes out, so that every copy drops it.
		e.emit(Change{Op: Delete, IP: ip, Reason: "delisted", At: now})
	}
	e.withdraw()
}

// Tick expires listings and forgets stale state; call it every second or so.
func (e *Engine) Tick() {
	now := e.now()
	for _, ip := range e.sortedListed() {
		if l := e.listed[ip]; !now.Before(l.ExpiresAt) {
			e.unlist(ip, "expired")
		}
	}
	if now.Before(e.sweepAt) {
		return
	}
	e.sweepAt = now.Add(time.Hour)
	floor := now.Add(-e.cfg.Window).Unix()
	for ip, st := range e.ips {
		if st.listing != nil {
			continue
		}
		st.reports = slices.DeleteFunc(st.reports, func(r report) bool { return r.last < floor })
		if len(st.reports) == 0 {
			delete(e.ips, ip)
		}
	}
	for ip, h := range e.holds {
		if !now.Before(h.Until) {
			delete(e.holds, ip)
			delete(e.heldDirty, ip)
		}
	}
	for idx, sg := range e.recent {
		sg = slices.DeleteFunc(sg, func(s sighting) bool { return s.at < floor })
		if len(sg) == 0 {
			delete(e.recent, idx)
		} else {
			e.recent[idx] = sg
		}
	}

}

// RestoreListing puts a persisted listing back (after a restart) without
// emitting a change.
func (e *Engine) RestoreListing(l Listing) {
	ip := l.IP.Unmap()
	l.IP = ip
	e.listed[ip] = &l
	st := e.ips[ip]
	if st == nil {
		st = &ipState{}
		e.ips[ip] = st
	}
	st.listing = e.listed[ip]
}

// Hold keeps an address off the list until Until unless a seed reports
// it: an upheld appeal (Delist: Appealed) or a clique burn (propagate).
// While an appeal's hold lasts, a strong-class report of the address
// refutes its reporter (Appealed verdict), and reports received before
// Since (the delisting) never count again in a replay: the caller persists holds
// (DirtyHolds) and restores them (RestoreHold) before it replays the
// stored signals after a restart.
type Hold struct {
	IP       netip.Addr
	Since    time.Time
	Until    time.Time
	Appealed bool
}

func (e *Engine) setHold(h Hold) {
	e.holds[h.IP] = h
	e.heldDirty[h.IP] = struct{}{}
}

// RestoreHold puts a persisted hold back (after a restart); an expired
// one is ignored.
func (e *Engine) RestoreHold(h Hold) {
	h.IP = h.IP.Unmap()
	if e.now().Before(h.Until) {
		e.holds[h.IP] = h
	}
}

// Held returns the hold on ip, if one is in force.
func (e *Engine) Held(ip netip.Addr) (Hold, bool) {
	h, ok := e.holds[ip.Unmap()]
	if !ok || !e.now().Before(h.Until) {
		return Hold{}, false
	}
	return h, true
}

// DirtyHolds returns and clears the holds set since the last call, by
// address.
func (e *Engine) DirtyHolds() []Hold {
	out := make([]Hold, 0, len(e.heldDirty))
	for ip := range e.heldDirty {
		out = append(out, e.holds[ip])
	}
	e.heldDirty = map[netip.Addr]struct{}{}
	slices.SortFunc(out, func(a, b Hold) int { return a.IP.Compare(b.IP) })
	return out
}

// Changes returns and clears the queued list changes, in order.
func (e *Engine) Changes() []Change {
	c := e.changes
	e.changes = nil
	return c
}

// DirtyInstalls returns and clears the installs whose reputation changed.
func (e *Engine) DirtyInstalls() []Install {
	var out []Install
	for idx := range e.dirty {
		out = append(out, e.installs[idx].Install)
	}
	e.dirty = map[int32]struct{}{}
	slices.SortFunc(out, func(a, b Install) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Listed returns the listing of ip, if any.
func (e *Engine) Listed(ip netip.Addr) (Listing, bool) {
	l := e.listed[ip.Unmap()]
	if l == nil {
		return Listing{}, false
	}
	return *l, true
}

// Len is the number of listed addresses; Tracked the addresses with state.
func (e *Engine) Len() int     { return len(e.listed) }
func (e *Engine) Tracked() int { return len(e.ips) }

// Explanation is why an address is or is not listed (no reporter identity).
type Explanation struct {
	Reports   int
	Clusters  int
	Score     float64
	Trusted   bool
	Scenarios []string
}

// Explain returns the current evidence on ip.
func (e *Engine) Explain(ip netip.Addr) Explanation {
	st := e.ips[ip.Unmap()]
	if st == nil {
		return Explanation{}
	}
	t := e.tallyOf(ip.Unmap(), st, e.now(), true)
	return Explanation{Reports: t.reports, Clusters: t.clusters, Score: t.score, Trusted: t.trusted, Scenarios: t.scenarios}
}
