package notify

import (
	"time"

	"github.com/phalanx-ids/phalanx/internal/models"
)

// Synthetic values of TestAlert: a documentation address (RFC 5737) and a
// scenario name no hub uses.
const (
	TestIP       = "192.0.2.1"
	TestScenario = "phalanx/notification-test"
)

// TestAlert is the alert `phalanx notifications test` sends: an Ip alert
// from TestIP with a 4h ban and two events, stamped at now, shaped as the
// LAPI hands alerts to notifications.
func TestAlert(now time.Time, machine string) *models.Alert {
	s := func(v string) *string { return &v }
	i := func(v int32) *int32 { return &v }
	f := false
	ts := now.UTC().Format(time.RFC3339)
	ev := func(user string) *models.Event {
		return &models.Event{Timestamp: s(ts), Meta: models.Meta{
			{Key: "log_type", Value: "ssh_failed-auth"}, {Key: "service", Value: "ssh"},
			{Key: "source_ip", Value: TestIP}, {Key: "target_user", Value: user},
		}}
	}
	return &models.Alert{
		MachineID: machine, CreatedAt: ts,
		Scenario: s(TestScenario), ScenarioHash: s(""), ScenarioVersion: s(""),
		Message:     s("Ip " + TestIP + " performed '" + TestScenario + "' (2 events over 1s) at " + ts),
		EventsCount: i(2), StartAt: s(ts), StopAt: s(ts), Capacity: i(1), Leakspeed: s("10s"), Simulated: &f,
		Events:      []*models.Event{ev("root"), ev("admin")},
		Remediation: true,
		Decisions: []*models.Decision{{
			Origin: s("crowdsec"), Type: s("ban"), Scope: s("Ip"), Value: s(TestIP),
			Duration: s("4h"), Scenario: s(TestScenario), Simulated: &f,
		}},
		Source: &models.Source{Scope: s("Ip"), Value: s(TestIP), IP: TestIP, Cn: "ZZ"},
		Meta:   models.Meta{{Key: "service", Value: "ssh"}},
		Kind:   "crowdsec",
	}
}
