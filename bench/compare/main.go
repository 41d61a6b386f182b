// Command compare scores a replay's alerts against the genlogs ground truth
// and, optionally, against real CrowdSec's reference alerts.
//
//	go run ./bench/compare -alerts alerts.json -truth corpus.truth [-reference ref.tsv] [-tsv out.tsv]
//
// alerts.json is `phalanx replay --json` output. It prints: alerts, attacker
// IPs detected out of the truth's, benign IPs alerted, and with -reference
// the (scenario, IP) pairs only one side has.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
)

type alert struct {
	Scenario    string `json:"scenario"`
	EventsCount int    `json:"events_count"`
	Source      struct {
		Value string `json:"value"`
		Scope string `json:"scope"`
	} `json:"source"`
}

func main() {
	alertsPath := flag.String("alerts", "", "replay --json output")
	truthPath := flag.String("truth", "", "genlogs ground truth (its stderr)")
	refPath := flag.String("reference", "", "CrowdSec reference TSV (scenario, ip, events_count)")
	tsvPath := flag.String("tsv", "", "write the alerts as reference-style TSV here")
	label := flag.String("label", "", "label printed before the figures")
	flag.Parse()
	if err := run(*alertsPath, *truthPath, *refPath, *tsvPath, *label); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

func run(alertsPath, truthPath, refPath, tsvPath, label string) error {
	b, err := os.ReadFile(alertsPath)
	if err != nil {
		return err
	}
	var alerts []alert
	if err := json.Unmarshal(b, &alerts); err != nil {
		return fmt.Errorf("%s: %w", alertsPath, err)
	}
	var rows []string
	alerted := map[string]bool{}
	for _, a := range alerts {
		alerted[a.Source.Value] = true
		rows = append(rows, fmt.Sprintf("%s\t%s\t%d", a.Scenario, a.Source.Value, a.EventsCount))
	}
	sort.Strings(rows)
	if tsvPath != "" {
		if err := os.WriteFile(tsvPath, []byte(strings.Join(rows, "\n")+"\n"), 0o644); err != nil {
			return err
		}
	}
	prefix := ""
	if label != "" {
		prefix = label + ": "
	}
	fmt.Printf("%salerts: %d\n", prefix, len(alerts))
	if truthPath != "" {
		attackers, err := readTruth(truthPath)
		if err != nil {
			return err
		}
		found := 0
		var missed []string
		for ip := range attackers {
			if alerted[ip] {
				found++
			} else {
				missed = append(missed, ip)
			}
		}
		benign := 0
		for ip := range alerted {
			if !attackers[ip] {
				benign++
			}
		}
		sort.Strings(missed)
		fmt.Printf("%sattacker IPs detected: %d of %d\n", prefix, found, len(attackers))
		fmt.Printf("%sbenign IPs alerted: %d\n", prefix, benign)
		if len(missed) > 0 && len(missed) <= 20 {
			fmt.Printf("%smissed: %s\n", prefix, strings.Join(missed, " "))
		}
	}
	if refPath != "" {
		ref, err := readRef(refPath)
		if err != nil {
			return err
		}
		mine := map[string]bool{}
		for _, r := range rows {
			p := strings.SplitN(r, "\t", 3)
			mine[p[0]+"\t"+p[1]] = true
		}
		var onlyRef, onlyMine []string
		for k := range ref {
			if !mine[k] {
				onlyRef = append(onlyRef, k)
			}
		}
		for k := range mine {
			if !ref[k] {
				onlyMine = append(onlyMine, k)
			}
		}
		sort.Strings(onlyRef)
		sort.Strings(onlyMine)
		fmt.Printf("%s(scenario, IP) pairs: reference %d, phalanx %d, only in reference %d, only in phalanx %d\n",
			prefix, len(ref), len(mine), len(onlyRef), len(onlyMine))
		for _, k := range onlyRef {
			fmt.Printf("  - %s\n", k)
		}
		for _, k := range onlyMine {
			fmt.Printf("  + %s\n", k)
		}
	}
	return nil
}

func readTruth(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Split(sc.Text(), "\t")
		if len(p) >= 2 && p[0] == "attacker" {
			out[p[1]] = true
		}
	}
	return out, sc.Err()
}

func readRef(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "#") || l == "" {
			continue
		}
		p := strings.SplitN(l, "\t", 3)
		if len(p) >= 2 {
			out[p[0]+"\t"+p[1]] = true
		}
	}
	return out, sc.Err()
}
