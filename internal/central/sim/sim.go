// Package sim is a deterministic, seeded simulation of a crowd driving
// the real curation engine (internal/central/curate) in-process with a
// virtual clock: honest installs seeing mass scanners and targeted
// attackers, honest false positives (correlated for unknown crawlers),
// seeds, canaries, and poisoners with several strategies. It measures the
// engine against a naive baseline ("listed when >= 3 installs report").
package sim

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/phalanx-ids/phalanx/internal/central/curate"
)

// Strategy is a poisoners' strategy.
type Strategy string

// Strategies.
const (
	Naive       Strategy = "naive"       // random benign IPs
	Coordinated Strategy = "coordinated" // the same victims, enrolled, many networks
	SybilFarm   Strategy = "sybil-farm"  // the same victims, all in 2 networks
	Spread      Strategy = "spread"      // the same victims, each its own org and /16
	Sleeper     Strategy = "sleeper"     // honest through the warm-up, then coordinated (each its own org and /16)
	// Mixed poisoners report the real attackers they see, like honest
	// installs, from the start, and one of the victims per 20 reports.
	Mixed Strategy = "mixed"
	// SpoofFramer poisoners frame the victims with spoofed port scans
	// (a scan with the victim's source address reaches honest installs,
	// which report it) and report the benign crawlers honest installs
	// trip on, with the crawling scenario honest installs use and with a
	// brute force (framing an IP the honest crowd already half accuses).
	SpoofFramer Strategy = "spoof-framer"
)

// Strategies lists every strategy (a new slice each call).
func Strategies() []Strategy {
	return []Strategy{Naive, Coordinated, SybilFarm, Spread, Sleeper, Mixed, SpoofFramer}
}

// Scenarios the simulated installs report.
const (
	scenBF    = "crowdsecurity/ssh-bf"
	scenCrawl = "crowdsecurity/http-crawl-non_statics"
	scenScan  = "crowdsecurity/iptables-scan-multi_ports"
)

// Config is one run.
type Config struct {
	Seed            uint64
	Installs        int     // default 1000
	WarmupDays      int     // default 30
	Days            int     // measured days, default 7
	AttackersPerDay int     // default 5000
	Benign          int     // benign IPs, default 20000
	PoisonShare     float64 // share of installs poisoning
	Strategy        Strategy
	// AppealAfter: when set, every benign IP listed during the measured
	// days is appealed this long after its listing, and the appeal is
	// upheld (the engine's Delist: gone, reporters refuted). 0: no appeals.
	AppealAfter time.Duration
	Curation    curate.Config
	// Trace, when set, receives one line per benign listing: the address,
	// why the engine listed it, and its reporters in the window (id,
	// poisoner or honest or seed, organisation, wide network, trust and
	// confirmed reports at that moment): what to look at when a benign
	// address gets listed.
	Trace io.Writer
}

func (c Config) withDefaults() Config {
	if c.Installs == 0 {
		c.Installs = 1000
	}
	if c.WarmupDays == 0 {
		c.WarmupDays = 30
	}
	if c.Days == 0 {
		c.Days = 7
	}
	if c.AttackersPerDay == 0 {
		c.AttackersPerDay = 5000
	}
	if c.Benign == 0 {
		c.Benign = 20000
	}
	if c.Strategy == "" {
		c.Strategy = Coordinated
	}
	return c
}

// Result is what a run measured (over the measured days).
type Result struct {
	Strategy        Strategy
	Share           float64
	Eligible        int // attackers with >= 3 honest independent reporters
	Recalled        int
	P50, P99        time.Duration // from the 3rd independent honest report to listing
	BenignListed    int           // distinct benign IPs listed
	BaselineRecall  int           // attackers listed by the naive baseline
	BaselineBenign  int
	HonestQuarantin int // honest installs quarantined at the end
	Honest          int
	ListSize        int // entries at the end
	// With appeals: upheld appeals, and benign IPs listed (new, or
	// re-listed) more than an hour after the first appeal (-1: no appeal).
	Appeals     int
	BenignLater int
	// Detections: upheld appeals and canary hits (strong class) in the
	// measured days; DelistMax: the longest a benign listing stayed after
	// the first detection that followed its listing; DelistLate: benign
	// listings that stayed more than an hour after one.
	Detections int
	DelistMax  time.Duration
	DelistLate int
	// Adds and Deletes: list changes in the measured days (churn).
	Adds, Deletes int
	// AttackersBurned: attackers (not benign IPs) whose listing a
	// refutation burned in the measured days (reason "suspect", see
	// curate's propagate): what the poisoners' refutations cost.
	AttackersBurned int
	// With Trace, at the end of each measured day: pairs of honest wide
	// networks (/16s without a poisoner) linked by the co-report relation
	// (curate's CoReportLinks), summed over the days: through a linked
	// pair of their installs (LinkedByInstalls), as wholes
	// (LinkedAsWholes), and as wholes only (LinkedNew); and pairs of
	// poisoners' /16s linked as wholes (PoisonWholes).
	LinkedByInstalls, LinkedAsWholes, LinkedNew, PoisonWholes int
	Days                                                      int
}

type installSim struct {
	id       string
	poisoner bool
	net      netip.Prefix
	wide     string
}

// Run simulates cfg.
func Run(cfg Config) Result {
	cfg = cfg.withDefaults()
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	eng := curate.New(cfg.Curation, func() time.Time { return now }, nil)

	// Installs.
	var ins []installSim
	nPoison := int(float64(cfg.Installs) * cfg.PoisonShare)
	for i := range cfg.Installs {
		is := installSim{id: fmt.Sprintf("i%04d", i), poisoner: i >= cfg.Installs-nPoison}
		// Honest: spread over ~cfg.Installs/3 /16s.
		w := rng.IntN(max(cfg.Installs/3, 3))
		if is.poisoner && cfg.Strategy == SybilFarm {
			w = 100000 + rng.IntN(2)
		} else if is.poisoner && (cfg.Strategy == Spread || cfg.Strategy == Sleeper) {
			w = 200000 + i
		}
		a := netip.AddrFrom4([4]byte{byte(20 + w/256%200), byte(w % 256), byte(rng.IntN(256)), 0})
		is.net = netip.PrefixFrom(a, 24)
		is.wide = fmt.Sprint(w)
		in := curate.Install{ID: is.id, Net: is.net}
		switch {
		case !is.poisoner && i < cfg.Installs/50: // 2% seeds
			in.Org, in.Seed = "seed", true
		case is.poisoner || rng.Float64() < 0.7:
			in.Org = "org-" + is.id
		}
		eng.UpsertInstall(in, false)
		ins = append(ins, is)
	}
	benign := make([]netip.Addr, cfg.Benign)
	for i := range benign {
		benign[i] = netip.AddrFrom4([4]byte{byte(150 + i/65536%50), byte(i / 256), byte(i), 7})
	}
	isBenign := map[netip.Addr]bool{}
	for _, b := range benign {
		isBenign[b] = true
	}
	// Canaries: 50 secret benign addresses, and 5 operator-run polite
	// crawlers among the 25 crawlers that visit members' sites.
	crawlers := benign[200:225] // unknown crawlers: correlated honest FPs
	canaries := append(slices.Clone(benign[:50]), crawlers[20:]...)
	eng.SetCanaries(canaries)
	isCanary := map[netip.Addr]bool{}
	for _, c := range canaries {
		isCanary[c] = true
	}
	victims := benign[100:150] // coordinated poisoners' victims (not canaries)

	type attackerTrack struct {
		reporters map[int]bool // honest install indexes
		wides     map[string]bool
		third     time.Time
		listedAt  time.Time
		naive     map[int]bool
	}
	wideOf := func(p netip.Prefix) netip.Prefix { w, _ := p.Addr().Prefix(16); return w }
	poisonedWide := map[netip.Prefix]bool{}
	insWide := map[string]netip.Prefix{}
	for _, is := range ins {
		insWide[is.id] = wideOf(is.net)
		poisonedWide[wideOf(is.net)] = poisonedWide[wideOf(is.net)] || is.poisoner
	}
	var linkedByInstalls, linkedAsWholes, linkedNew, poisonWholes int
	// links counts the co-report links of the day (see Result).
	links := func(day int) {
		pairs, wholes := eng.CoReportLinks()
		key := func(a, b netip.Prefix) [2]netip.Prefix {
			if b.Addr().Less(a.Addr()) {
				a, b = b, a
			}
			return [2]netip.Prefix{a, b}
		}
		byIns := map[[2]netip.Prefix]bool{}
		for _, p := range pairs {
			a, b := insWide[p[0]], insWide[p[1]]
			if a != b && !poisonedWide[a] && !poisonedWide[b] {
				byIns[key(a, b)] = true
			}
		}
		whole, fresh, poison := 0, 0, 0
		for _, w := range wholes {
			switch {
			case poisonedWide[w[0]] && poisonedWide[w[1]]:
				poison++
			case !poisonedWide[w[0]] && !poisonedWide[w[1]]:
				whole++
				if !byIns[key(w[0], w[1])] {
					fresh++
				}
			}
		}
		linkedByInstalls += len(byIns)
		linkedAsWholes += whole
		linkedNew += fresh
		poisonWholes += poison
		fmt.Fprintf(cfg.Trace, "day %d: honest /16 pairs linked by installs' co-reports %d, as wholes %d (%d not by installs); poisoners' /16 pairs as wholes %d\n",
			day, len(byIns), whole, fresh, poison)
	}
	track := map[netip.Addr]*attackerTrack{}
	type sawBy struct {
		ins      int
		scenario string
		at       time.Time
	}
	benignBy := map[netip.Addr][]sawBy{} // with Trace: who reported each benign address
	naiveCount := map[netip.Addr]map[int]bool{}
	baselineListed := map[netip.Addr]bool{}
	benignListed := map[netip.Addr]bool{}
	measureFrom := start.Add(time.Duration(cfg.WarmupDays) * 24 * time.Hour)
	// appealAt: pending appeals, one per listing (a benign IP re-listed
	// while an appeal of its earlier listing is pending gets its own).
	appealAt := map[netip.Addr][]time.Time{}
	var firstAppeal time.Time
	appeals := 0
	benignLater := map[netip.Addr]bool{}
	// Benign listings: when each current one was listed, and the first
	// detection (appeal or canary hit) since.
	benignSince := map[netip.Addr]time.Time{}
	benignDetected := map[netip.Addr]time.Time{}
	var detections int
	var delistMax time.Duration
	delistLate := 0
	adds, deletes, attackersBurned := 0, 0, 0
	detected := func(at time.Time, what string) {
		if !at.Before(measureFrom) {
			detections++
			if cfg.Trace != nil {
				fmt.Fprintf(cfg.Trace, "%s detection: %s\n", at.Sub(measureFrom).Round(time.Second), what)
			}
		}
		for ip := range benignSince {
			if _, ok := benignDetected[ip]; !ok {
				benignDetected[ip] = at
			}
		}
	}
	gone := func(ip netip.Addr, at time.Time, reason string) {
		if cfg.Trace != nil && !at.Before(measureFrom) {
			d, ok := benignDetected[ip]
			after := "-"
			if ok {
				after = at.Sub(d).Round(time.Second).String()
			}
			fmt.Fprintf(cfg.Trace, "%s %s gone (%s) after %s listed, %s after detection\n", at.Sub(measureFrom).Round(time.Second), ip, reason,
				at.Sub(benignSince[ip]).Round(time.Second), after)
		}
		if d, ok := benignDetected[ip]; ok && !at.Before(measureFrom) {
			delistMax = max(delistMax, at.Sub(d))
			if at.Sub(d) > time.Hour {
				delistLate++
			}
		}
		delete(benignSince, ip)
		delete(benignDetected, ip)
	}
	trace := func(ch curate.Change) {
		fmt.Fprintf(cfg.Trace, "%s %s listed %v:", ch.At.Sub(measureFrom).Round(time.Second), ch.IP, ch.Scenarios)
		seen := map[string]bool{}
		for _, b := range benignBy[ch.IP] {
			if ch.At.Sub(b.at) > 24*time.Hour || seen[ins[b.ins].id+b.scenario] {
				continue
			}
			seen[ins[b.ins].id+b.scenario] = true
			in, _ := eng.Install(ins[b.ins].id)
			kind := "honest"
			if ins[b.ins].poisoner {
				kind = "POISON"
			} else if in.Seed {
				kind = "seed"
			}
			q := ""
			if in.QuarantinedUntil.After(ch.At) {
				q = " quarantined"
			}
			fmt.Fprintf(cfg.Trace, " [%s %s %s org=%q wide=%s t=%.2f conf=%d%s -%s]", ins[b.ins].id, kind, b.scenario, in.Org, ins[b.ins].wide,
				in.Alpha/(in.Alpha+in.Beta), in.Confirmed, q, ch.At.Sub(b.at).Round(time.Second))
		}
		fmt.Fprintln(cfg.Trace)
	}
	// changes accounts for the engine's list changes.
	changes := func() {
		for _, ch := range eng.Changes() {
			measured := !ch.At.Before(measureFrom)
			if measured && (ch.Reason == "listed" || ch.Op == curate.Delete) {
				if ch.Op == curate.Add {
					adds++
				} else {
					deletes++
				}
			}
			if ch.Op == curate.Delete {
				if isBenign[ch.IP] {
					gone(ch.IP, ch.At, ch.Reason)
				} else if measured && ch.Reason == "suspect" {
					attackersBurned++
				}
				continue
			}
			if isBenign[ch.IP] {
				if _, ok := benignSince[ch.IP]; !ok {
					benignSince[ch.IP] = ch.At
				}
				if cfg.AppealAfter > 0 && ch.Reason == "listed" {
					appealAt[ch.IP] = append(appealAt[ch.IP], ch.At.Add(cfg.AppealAfter))
				}
				if !measured {
					continue
				}
				if cfg.Trace != nil && ch.Reason == "listed" {
					trace(ch)
				}
				benignListed[ch.IP] = true
				if !firstAppeal.IsZero() && ch.At.After(firstAppeal.Add(time.Hour)) && ch.Reason == "listed" {
					benignLater[ch.IP] = true
				}
			} else if tr := track[ch.IP]; tr != nil && tr.listedAt.IsZero() && measured {
				tr.listedAt = ch.At
			}
		}
	}
	// appealDue delists the benign IPs whose appeal is due at now, in
	// address order (deterministic).
	appealDue := func(now time.Time) {
		if len(appealAt) == 0 {
			return
		}
		var due []netip.Addr
		for ip, ats := range appealAt {
			if !ats[0].After(now) {
				due = append(due, ip)
			}
		}
		slices.SortFunc(due, func(a, b netip.Addr) int { return a.Compare(b) })
		for _, ip := range due {
			for len(appealAt[ip]) > 0 && !appealAt[ip][0].After(now) {
				appealAt[ip] = appealAt[ip][1:]
			}
			if len(appealAt[ip]) == 0 {
				delete(appealAt, ip)
			}
			if _, ok := eng.Listed(ip); !ok {
				continue
			}
			if firstAppeal.IsZero() && !now.Before(measureFrom) {
				firstAppeal = now
			}
			if !now.Before(measureFrom) {
				appeals++
			}
			detected(now, "appeal "+ip.String())
			eng.Delist(ip)
			changes()
		}
	}
	total := cfg.WarmupDays + cfg.Days
	attackerSeq := 0
	type event struct {
		at       time.Time
		ins      int
		ip       netip.Addr
		scenario string
	}
	for hour := range total * 24 {
		hstart := start.Add(time.Duration(hour) * time.Hour)
		var evs []event
		emitAs := func(i int, ip netip.Addr, scenario string) {
			evs = append(evs, event{at: hstart.Add(time.Duration(rng.IntN(3600)) * time.Second), ins: i, ip: ip, scenario: scenario})
		}
		emit := func(i int, ip netip.Addr) { emitAs(i, ip, scenBF) }
		// Poisoners who see and report real attacks like honest installs.
		reportsAttacks := func(i int) bool {
			return !ins[i].poisoner || cfg.Strategy == Sleeper || cfg.Strategy == Mixed
		}
		// Attackers of this hour.
		for range cfg.AttackersPerDay / 24 {
			attackerSeq++
			ip := netip.AddrFrom4([4]byte{byte(1 + attackerSeq/65536%100), byte(attackerSeq / 256), byte(attackerSeq), 1})
			hits := 1 + rng.IntN(3)
			if rng.Float64() < 0.3 { // mass scanner
				hits = int(float64(cfg.Installs) * (0.2 + 0.6*rng.Float64()) / 10) // within this hour: a tenth
			}
			for range hits {
				i := rng.IntN(cfg.Installs)
				if rng.Float64() < 0.7 && reportsAttacks(i) {
					emit(i, ip)
				}
			}
		}
		// Honest false positives.
		for i := range ins {
			if ins[i].poisoner {
				continue
			}
			if rng.Float64() < 0.002 {
				emit(i, benign[rng.IntN(len(benign))])
			}
		}
		if hour%24 == 0 {
			for _, cr := range crawlers {
				for range cfg.Installs / 100 {
					i := rng.IntN(cfg.Installs)
					if !ins[i].poisoner {
						emitAs(i, cr, scenCrawl)
					}
				}
			}
		}
		// Poisoners.
		active := cfg.Strategy != Sleeper || !hstart.Before(measureFrom)
		for i := range ins {
			if !ins[i].poisoner || !active {
				continue
			}
			switch cfg.Strategy {
			case Naive:
				emit(i, benign[rng.IntN(len(benign))])
			case Mixed:
				// About 2.3 reports of real attackers an hour: one victim
				// per 20 reports.
				if rng.Float64() < 0.12 {
					emit(i, victims[rng.IntN(len(victims))])
				}
			case SpoofFramer:
				v := victims[rng.IntN(len(victims))]
				emitAs(i, v, scenScan)
				for range 3 { // the spoofed scan reaches honest installs
					if h := rng.IntN(cfg.Installs); !ins[h].poisoner {
						emitAs(h, v, scenScan)
					}
				}
				cr := crawlers[rng.IntN(len(crawlers))]
				emitAs(i, cr, scenCrawl)
				emitAs(i, cr, scenBF)
			default:
				emit(i, victims[rng.IntN(len(victims))])
			}
		}
		slices.SortStableFunc(evs, func(a, b event) int { return a.at.Compare(b.at) })
		for _, ev := range evs {
			now = ev.at
			appealDue(now)
			eng.Ingest(curate.Signal{Install: ins[ev.ins].id, IP: ev.ip, Scenario: ev.scenario, At: ev.at})
			if cfg.Trace != nil && isBenign[ev.ip] {
				benignBy[ev.ip] = append(benignBy[ev.ip], sawBy{ev.ins, ev.scenario, ev.at})
			}
			if isCanary[ev.ip] && curate.ClassWeight(ev.scenario) >= 1 {
				detected(ev.at, "canary "+ev.ip.String()+" by "+ins[ev.ins].id)
			}
			// Baseline: >= 3 distinct installs.
			m := naiveCount[ev.ip]
			if m == nil {
				m = map[int]bool{}
				naiveCount[ev.ip] = m
			}
			m[ev.ins] = true
			if len(m) >= 3 && !baselineListed[ev.ip] && !ev.at.Before(measureFrom) {
				baselineListed[ev.ip] = true
			}
			if !isBenign[ev.ip] && !ins[ev.ins].poisoner {
				tr := track[ev.ip]
				if tr == nil {
					tr = &attackerTrack{reporters: map[int]bool{}, wides: map[string]bool{}}
					track[ev.ip] = tr
				}
				tr.reporters[ev.ins] = true
				tr.wides[ins[ev.ins].wide] = true
				if len(tr.wides) >= 3 && tr.third.IsZero() {
					tr.third = ev.at
				}
			}
			changes()
		}
		now = hstart.Add(time.Hour)
		appealDue(now)
		eng.Tick()
		changes()
		if cfg.Trace != nil && hour%24 == 23 && hour >= cfg.WarmupDays*24 {
			links(hour/24 - cfg.WarmupDays + 1)
		}
	}
	for ip := range benignSince {
		if _, ok := benignDetected[ip]; ok {
			gone(ip, now, "end") // still listed at the end
		}
	}
	if cfg.Trace != nil {
		fmt.Fprintf(cfg.Trace, "attacker listings burned (suspect): %d\n", attackersBurned)
	}
	res := Result{Strategy: cfg.Strategy, Share: cfg.PoisonShare, BenignListed: len(benignListed), ListSize: eng.Len(),
		Appeals: appeals, BenignLater: len(benignLater), Detections: detections, DelistMax: delistMax, DelistLate: delistLate,
		Adds: adds, Deletes: deletes, AttackersBurned: attackersBurned, Days: cfg.Days,
		LinkedByInstalls: linkedByInstalls, LinkedAsWholes: linkedAsWholes, LinkedNew: linkedNew, PoisonWholes: poisonWholes}
	if cfg.AppealAfter == 0 {
		res.Appeals, res.BenignLater = -1, -1
	}
	var lat []time.Duration
	for ip, tr := range track {
		if tr.third.IsZero() || tr.third.Before(measureFrom) {
			continue
		}
		res.Eligible++
		if !tr.listedAt.IsZero() {
			res.Recalled++
			lat = append(lat, max(0, tr.listedAt.Sub(tr.third)))
		}
		if baselineListed[ip] {
			res.BaselineRecall++
		}
	}
	for ip := range baselineListed {
		if isBenign[ip] {
			res.BaselineBenign++
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		res.P50, res.P99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	for _, is := range ins {
		if is.poisoner {
			continue
		}
		res.Honest++
		if in, ok := eng.Install(is.id); ok && in.QuarantinedUntil.After(now) {
			res.HonestQuarantin++
		}
	}
	return res
}

// Print writes results as a table: per strategy and poisoner share,
// recall of the attackers with >= 3 independent honest reporters, p50/p99
// latency from the third such report to the listing, benign IPs listed
// (and per 30 days), detections (upheld appeals and canary hits),
// the longest a benign listing stayed after the first detection that
// followed it and how many stayed over an hour, honest installs
// quarantined, list size at the end and changes per hour, and the naive
// baseline (">= 3 installs") recall and benign IPs.
func Print(w io.Writer, rs []Result) {
	fmt.Fprintf(w, "%-12s %5s %7s %6s %6s %6s %7s %6s %8s %5s %10s %6s %6s %6s %8s %8s\n", "strategy", "share", "recall", "p50", "p99",
		"benign", "ben/30d", "detect", "delist", "late", "honest-qua", "list", "adds/h", "dels/h", "base-rec", "base-ben")
	for _, r := range rs {
		rec, brec := 0.0, 0.0
		if r.Eligible > 0 {
			rec = 100 * float64(r.Recalled) / float64(r.Eligible)
			brec = 100 * float64(r.BaselineRecall) / float64(r.Eligible)
		}
		days := float64(max(r.Days, 1))
		delist := "-"
		if r.Detections > 0 || r.DelistMax > 0 {
			delist = short(r.DelistMax)
		}
		fmt.Fprintf(w, "%-12s %4.0f%% %6.1f%% %6s %6s %6d %7.1f %6d %8s %5d %5d/%-4d %6d %6.1f %6.1f %7.1f%% %8d\n", r.Strategy, 100*r.Share, rec,
			short(r.P50), short(r.P99), r.BenignListed, float64(r.BenignListed)*30/days, r.Detections, delist, r.DelistLate,
			r.HonestQuarantin, r.Honest, r.ListSize, float64(r.Adds)/days/24, float64(r.Deletes)/days/24, brec, r.BaselineBenign)
	}
}

// short formats d to the second, without zero units ("2m30s", "0s").
func short(d time.Duration) string {
	d = d.Round(time.Second)
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// RunAll runs cfgs, parallel at a time (each run is sequential and
// deterministic: the results do not depend on parallel), in order.
func RunAll(cfgs []Config, parallel int) []Result {
	out := make([]Result, len(cfgs))
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	for i, c := range cfgs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = Run(c)
		}()
	}
	wg.Wait()
	return out
}
