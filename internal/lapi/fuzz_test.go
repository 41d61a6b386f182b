package lapi

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/textsafe"
)

// FuzzAppendJSONString: the stream's string encoder round-trips through
// encoding/json for any input.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "crowdsecurity/ssh-bf", `manual 'ban' from "x"`, "é\x00\n<>&", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%q encoded as invalid JSON %s: %v", s, b, err)
		}
		want, _ := json.Marshal(s)
		var wantBack string
		_ = json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Fatalf("%q round-trips to %q, want %q", s, back, wantBack)
		}
	})
}

// FuzzValidateAlert: any JSON body is either refused or normalised
// without panicking; the alert and event caps hold (at most max alerts
// decoded, tooMany exactly when the array is longer; no accepted alert
// over the event cap); a normalised Ip source is canonical; an accepted
// decision has a valid end.
func FuzzValidateAlert(f *testing.F) {
	f.Add(`[{"scenario":"a","scenario_hash":"h","scenario_version":"1","message":"m","events_count":1,"start_at":"2026-01-01T00:00:00Z","stop_at":"2026-01-01T00:00:01Z","capacity":1,"leakspeed":"1s","simulated":false,"events":[],"source":{"scope":"ip","value":"::ffff:1.2.3.4"}}]`)
	f.Add(`[{"source":{"scope":"range","value":"10.0.0.1/8"},"decisions":[{"type":"ban","scope":"ip","value":"1.2.3.4","duration":"1h"}]}]`)
	f.Add(`[{"scenario":"a","scenario_hash":"h","scenario_version":"1","message":"m","events_count":1,"start_at":"2026-01-01T00:00:00Z","stop_at":"2026-01-01T00:00:01Z","capacity":1,"leakspeed":"1s","simulated":false,"events":[{"timestamp":"t","meta":[]},{"timestamp":"t","meta":[]},{"timestamp":"t","meta":[]}],"source":{"scope":"ip","value":"1.2.3.4"},"decisions":[{"type":"ban","scope":"ip","value":"1.2.3.4","duration":"NaNd"}]}]`)
	f.Add(`[{"scenario":"a","scenario_hash":"h","scenario_version":"1","message":"m","events_count":1,"start_at":"2026-01-01T00:00:00Z","stop_at":"2026-01-01T00:00:01Z","capacity":1,"leakspeed":"1s","simulated":false,"events":[],"source":{"scope":"ip","value":"1.2.3.4"},"phalanx_raw_lines":[{"raw":"a","labels":{"type":"syslog"}},null,{"raw":"b","src":"/var/log/x"},{"raw":"ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"}]}]`)
	f.Add(`[null]`)
	f.Add(`[{},{},{},{}]`)
	f.Add(`null`)
	const maxAlerts, maxEvents = 3, 2
	const maxRaw, maxRawBytes = 2, 64
	s := &Server{cfg: &settings{Config: Config{MaxEventsPerAlert: maxEvents, MaxRawLinesPerAlert: maxRaw, MaxRawBytesPerAlert: maxRawBytes}}}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body string) {
		var raw []json.RawMessage
		rawErr := json.Unmarshal([]byte(body), &raw)
		b := alertBatch{max: maxAlerts}
		err := json.Unmarshal([]byte(body), &b)
		if len(b.alerts) > maxAlerts {
			t.Fatalf("decoded %d alerts, cap %d", len(b.alerts), maxAlerts)
		}
		if rawErr == nil && b.tooMany != (len(raw) > maxAlerts) {
			t.Fatalf("tooMany = %v with %d alerts (err %v)", b.tooMany, len(raw), err)
		}
		if err != nil {
			return
		}
		for i, a := range b.alerts {
			var in []*models.RawLine
			if a != nil {
				in = append(in, a.RawLines...)
			}
			if s.validateAlert(i, a, now) != nil {
				continue
			}
			if len(a.RawLines) > maxRaw {
				t.Fatalf("%d raw lines kept, cap %d", len(a.RawLines), maxRaw)
			}
			size := 0
			for _, l := range a.RawLines {
				if l == nil {
					t.Fatalf("nil raw line kept")
				}
				size += len(l.Raw) + len(l.Source) + len(l.Module) + len(l.Time)
				for k, v := range l.Labels {
					size += len(k) + len(v)
				}
			}
			var sent []*models.RawLine
			for _, l := range in {
				if l != nil {
					sent = append(sent, l)
				}
			}
			if !slices.Equal(a.RawLines, sent[len(sent)-len(a.RawLines):]) {
				t.Fatalf("the raw lines kept are not the newest sent")
			}
			if size > maxRawBytes {
				t.Fatalf("%d bytes of raw lines kept, cap %d", size, maxRawBytes)
			}
			if len(a.Events) > maxEvents {
				t.Fatalf("alert with %d events accepted, cap %d", len(a.Events), maxEvents)
			}
			if a.GetScope() == "Ip" {
				v, err := normalizeValue("Ip", a.GetValue())
				if err != nil || v != a.GetValue() {
					t.Fatalf("normalised Ip %q is not canonical (%q, %v)", a.GetValue(), v, err)
				}
			}
			for _, d := range a.Decisions {
				u, err := store.DecisionUntil(*a.StopAt, d, now)
				if err != nil || store.CheckTime(u) != nil {
					t.Fatalf("accepted decision %+v has no valid end: %v", d, err)
				}
			}
		}
	})
}

// FuzzCheckMachineID: an accepted machine id is short, has no '@' (kept
// for certificate machines) and is logged as it is (nothing to escape).
func FuzzCheckMachineID(f *testing.F) {
	for _, s := range []string{"3923f4ccdd84438581a2397ba488a6a454dpH1qIzAz4gKBg", "edge-1.example.com", "cn@10.0.0.1", "a\nb", "\x1b[2J", "nœud", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if checkMachineID(id) != nil {
			return
		}
		if len(id) > MaxMachineIDLen || strings.ContainsAny(id, "@ \n\r\t\\/") {
			t.Fatalf("accepted %q", id)
		}
		if textsafe.Log(id) != id {
			t.Fatalf("accepted %q, which needs escaping in logs", id)
		}
	})
}
