// Package storetest is the behaviour suite every store.Store backend must
// pass (Run, RunShared), plus shared benchmarks (BenchIngest,
// BenchListActive). Backends call it from their own tests with a factory
// that opens a fresh, empty store on a real database.
package storetest

import (
	"fmt"
	"time"

	"github.com/phalanx-ids/phalanx/internal/models"
)

func sp(s string) *string { return &s }
func bp(b bool) *bool     { return &b }
func i32(i int32) *int32  { return &i }

// Dec describes a decision of a test alert. Until, when set, is sent
// instead of the duration (an already expired decision: Until in the past).
type Dec struct {
	Type, Scope, Value, Origin, Duration string
	Simulated                            bool
	Until                                time.Time
}

// Alert builds a test alert on scope/value with 2 events and the decisions.
func Alert(scenario, scope, value string, start time.Time, decs ...Dec) *models.Alert {
	a := &models.Alert{
		Scenario:        sp(scenario),
		ScenarioHash:    sp("hash-" + scenario),
		ScenarioVersion: sp("0.1"),
		Message:         sp(fmt.Sprintf("%s %s triggered %s", scope, value, scenario)),
		EventsCount:     i32(2),
		StartAt:         sp(start.UTC().Format(time.RFC3339)),
		StopAt:          sp(start.Add(time.Minute).UTC().Format(time.RFC3339)),
		Capacity:        i32(5),
		Leakspeed:       sp("10s"),
		Simulated:       bp(false),
		Remediation:     true,
		Kind:            "crowdsec",
		Labels:          []string{"label-a"},
		Meta:            models.Meta{{Key: "service", Value: "ssh"}},
		Source:          &models.Source{Scope: sp(scope), Value: sp(value), AsNumber: "64496", AsName: "EXAMPLE", Cn: "FR", Latitude: 48.5, Longitude: 2.25},
	}
	if scope == "Ip" {
		a.Source.IP = value
	} else if scope == "Range" {
		a.Source.Range = value
	}
	for i := range 2 {
		a.Events = append(a.Events, &models.Event{
			Timestamp: sp(start.Add(time.Duration(i) * time.Second).UTC().Format(time.RFC3339)),
			Meta:      models.Meta{{Key: "source_ip", Value: value}, {Key: "n", Value: fmt.Sprint(i)}},
		})
	}
	for _, d := range decs {
		if d.Type == "" {
			d.Type = "ban"
		}
		if d.Scope == "" {
			d.Scope = scope
		}
		if d.Value == "" {
			d.Value = value
		}
		if d.Origin == "" {
			d.Origin = "crowdsec"
		}
		if d.Duration == "" {
			d.Duration = "4h"
		}
		md := &models.Decision{
			Origin: sp(d.Origin), Type: sp(d.Type), Scope: sp(d.Scope), Value: sp(d.Value),
			Duration: sp(d.Duration), Scenario: sp(scenario), Simulated: bp(d.Simulated),
		}
		if !d.Until.IsZero() {
			md.Until = d.Until.UTC().Format(time.RFC3339Nano)
		}
		a.Decisions = append(a.Decisions, md)
	}
	return a
}
