package lapi

import (
	"time"

	"github.com/phalanx-ids/phalanx/internal/models"
)

// wireAlert puts a stored alert in the shape CrowdSec's LAPI answers
// GET /v1/alerts and /v1/alerts/{id} with: start_at, stop_at and event
// timestamps as Go prints a time ("2024-03-01 10:00:00 +0000 UTC", UTC;
// CrowdSec formats its database times with time.Time.String), created_at
// in RFC 3339 (as stored), and null (not []) for no events, no decisions
// and no labels. It changes a in place and returns it.
func wireAlert(a *models.Alert) *models.Alert {
	for _, p := range []*string{a.StartAt, a.StopAt} {
		if p != nil {
			*p = wireTime(*p)
		}
	}
	for _, ev := range a.Events {
		if ev != nil && ev.Timestamp != nil {
			ts := wireTime(*ev.Timestamp)
			ev.Timestamp = &ts
		}
	}
	if len(a.Events) == 0 {
		a.Events = nil
	}
	if len(a.Decisions) == 0 {
		a.Decisions = nil
	}
	if len(a.Labels) == 0 {
		a.Labels = nil
	}
	return a
}

// wireTime reformats an RFC 3339 time as time.Time.String in UTC; other
// text (an agent's own format) is kept as sent.
func wireTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.UTC().String()
}
