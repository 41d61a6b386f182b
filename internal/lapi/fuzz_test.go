package lapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/netguard"
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
// without panicking, and a normalised Ip source is canonical.
func FuzzValidateAlert(f *testing.F) {
	f.Add(`[{"scenario":"a","scenario_hash":"h","scenario_version":"1","message":"m","events_count":1,"start_at":"x","stop_at":"y","capacity":1,"leakspeed":"1s","simulated":false,"events":[],"source":{"scope":"ip","value":"::ffff:1.2.3.4"}}]`)
	f.Add(`[{"source":{"scope":"range","value":"10.0.0.1/8"},"decisions":[{"type":"ban","scope":"ip","value":"1.2.3.4","duration":"1h"}]}]`)
	f.Add(`[null]`)
	f.Fuzz(func(t *testing.T, body string) {
		var in models.AddAlertsRequest
		if json.Unmarshal([]byte(body), &in) != nil {
			return
		}
		for i, a := range in {
			if validateAlert(i, a) != nil {
				continue
			}
			if a.GetScope() == "Ip" {
				v, err := normalizeValue("Ip", a.GetValue())
				if err != nil || v != a.GetValue() {
					t.Fatalf("normalised Ip %q is not canonical (%q, %v)", a.GetValue(), v, err)
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
		if netguard.Clip(id) != id {
			t.Fatalf("accepted %q, which needs escaping in logs", id)
		}
	})
}
