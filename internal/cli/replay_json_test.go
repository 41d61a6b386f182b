package cli

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/models"
)

// TestWriteAlertsJSON: the alerts written one at a time are the bytes a
// json.Encoder with SetIndent("", "  ") writes for the whole slice.
func TestWriteAlertsJSON(t *testing.T) {
	s := func(v string) *string { return &v }
	n := int32(3)
	one := models.Alert{Scenario: s("crowdsecurity/http-probing"), Message: s(`Ip 1.2.3.4 performed <'x'> & "y" é`), EventsCount: &n,
		Events: []*models.Event{{Timestamp: s("2026-01-01T00:00:00Z"), Meta: models.Meta{{Key: "k", Value: "v\u2028"}}}},
		Source: &models.Source{IP: "1.2.3.4", Scope: s("Ip"), Value: s("1.2.3.4")}, Meta: models.Meta{}}
	two := one
	two.Scenario = s("crowdsecurity/ssh-bf")
	two.Events = nil
	for _, tc := range []struct {
		name   string
		alerts []models.Alert
	}{
		{"none", nil},
		{"empty", []models.Alert{}},
		{"one", []models.Alert{one}},
		{"three", []models.Alert{one, two, {}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want, got bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetIndent("", "  ")
			alerts := tc.alerts
			if alerts == nil {
				alerts = []models.Alert{}
			}
			require.NoError(t, enc.Encode(alerts))
			require.NoError(t, writeAlertsJSON(&got, tc.alerts))
			require.Equal(t, want.String(), got.String())
		})
	}
}
