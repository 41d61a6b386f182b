package capi

import (
	"strings"
	"time"

	"github.com/phalanx-ids/phalanx/internal/capi/wire"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
)

// Scenario trust levels, as CrowdSec labels signals.
const (
	TrustCertified = "certified"
	TrustCustom    = "custom"
	TrustTainted   = "tainted"
	TrustManual    = "manual"
)

// Origins of decisions that come from the central: alerts made only of
// them are never pushed back.
const (
	OriginCAPI  = "CAPI"
	OriginLists = "lists"
)

// CommunityMetaKey is the alert meta key by which a scenario says that it
// fired because of the community list (the enricher's community_listed
// field or the IsInCommunityList helper in its filter): such alerts are
// never pushed back (no loops).
const CommunityMetaKey = "community_dependent"

// ScenarioTrust computes a signal's scenario_trust as CrowdSec's client
// does: manual for decisions added by hand (origin cscli; and, in
// Phalanx, cscli-import: an imported list is no detection), custom
// without a hub hash, tainted without a version (or "?"), certified
// otherwise.
func ScenarioTrust(a *models.Alert) string {
	if len(a.Decisions) > 0 && a.Decisions[0] != nil {
		if o := deref(a.Decisions[0].Origin); o == "cscli" || o == "cscli-import" {
			return TrustManual
		}
	}
	switch {
	case deref(a.ScenarioHash) == "":
		return TrustCustom
	case deref(a.ScenarioVersion) == "" || deref(a.ScenarioVersion) == "?":
		return TrustTainted
	}
	return TrustCertified
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// Skip reasons: why an alert is not shared.
const (
	SkipSimulated = "simulated"
	SkipCommunity = "community"
	SkipManual    = "share_manual_decisions off"
	SkipCustom    = "share_custom off"
	SkipTainted   = "share_tainted off"
	SkipNoSource  = "no source"
)

// CommunityCaused says whether the alert only echoes the central: every
// decision comes from it (origin CAPI or lists), it is of kind capi/lists,
// or its scenario says it depends on the community list (CommunityMetaKey).
func CommunityCaused(a *models.Alert) bool {
	switch strings.ToLower(a.Kind) {
	case "capi", "lists":
		return true
	}
	if strings.EqualFold(a.GetMeta(CommunityMetaKey), "true") {
		return true
	}
	if len(a.Decisions) == 0 {
		return false
	}
	for _, d := range a.Decisions {
		if d == nil {
			continue
		}
		if o := deref(d.Origin); o != OriginCAPI && o != OriginLists {
			return false
		}
	}
	return true
}

// ToSignal turns an alert the LAPI accepted into a signal, or says why it
// must not be shared. machineID is the agent that sent it; now stamps
// created_at.
func ToSignal(a *models.Alert, machineID string, c Consent, now time.Time) (*wire.Signal, string) {
	if a.Simulated != nil && *a.Simulated {
		return nil, SkipSimulated
	}
	for _, d := range a.Decisions {
		if d != nil && d.Simulated != nil && *d.Simulated {
			return nil, SkipSimulated
		}
	}
	if CommunityCaused(a) {
		return nil, SkipCommunity
	}
	if a.Source == nil || a.GetValue() == "" {
		return nil, SkipNoSource
	}
	trust := ScenarioTrust(a)
	switch {
	case trust == TrustManual && !c.ShareManualDecisions:
		return nil, SkipManual
	case trust == TrustCustom && !c.ShareCustom:
		return nil, SkipCustom
	case trust == TrustTainted && !c.ShareTainted:
		return nil, SkipTainted
	}
	s := &wire.Signal{
		Scenario: a.GetScenario(), ScenarioHash: deref(a.ScenarioHash), ScenarioVersion: deref(a.ScenarioVersion),
		ScenarioTrust: trust, Message: deref(a.Message),
		StartAt: wireTime(deref(a.StartAt)), StopAt: wireTime(deref(a.StopAt)),
		CreatedAt: now.UTC().Format(time.RFC3339), MachineID: machineID, UUID: a.UUID, Kind: a.Kind,
		Source: &wire.Source{Scope: a.GetScope(), Value: a.GetValue(), IP: a.Source.IP, Range: a.Source.Range,
			AsNumber: a.Source.AsNumber, AsName: a.Source.AsName, Cn: a.Source.Cn,
			Latitude: a.Source.Latitude, Longitude: a.Source.Longitude},
		Decisions: []wire.SignalDecision{},
	}
	for _, d := range a.Decisions {
		if d == nil {
			continue
		}
		s.Decisions = append(s.Decisions, wire.SignalDecision{ID: d.ID, UUID: d.UUID, Duration: deref(d.Duration),
			Origin: deref(d.Origin), Scenario: deref(d.Scenario), Scope: deref(d.Scope), Type: deref(d.Type),
			Value: deref(d.Value), Until: d.Until})
	}
	if c.ShareContext {
		for _, m := range a.Meta {
			if m != nil {
				s.Context = append(s.Context, wire.ContextItem{Key: m.Key, Value: m.Value})
			}
		}
	}
	return s, ""
}

// wireTime writes a LAPI alert time as RFC 3339 (what CrowdSec's agents
// send); a time that does not parse is passed as is.
func wireTime(v string) string {
	t, err := store.ParseTime(v)
	if err != nil {
		return v
	}
	return t.UTC().Format(time.RFC3339)
}
