package lapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/models"
)

// writeJSONList must answer the bytes json.Marshal gives for the whole
// slice: clients (and CrowdSec's) parse either, and tests compare bodies.
func TestWriteJSONListMatchesMarshal(t *testing.T) {
	t.Parallel()
	alert := func(i int, msg string) *models.Alert {
		s := "crowdsecurity/x"
		return &models.Alert{ID: int64(i), Scenario: &s, Message: &msg,
			Events: []*models.Event{{Timestamp: new("t"), Meta: models.Meta{{Key: "log", Value: strings.Repeat("a<b>&c ", i%50)}}}}}
	}
	many := make([]*models.Alert, 3000) // far past the 32 KB buffer
	for i := range many {
		many[i] = alert(i, "m")
	}
	cases := []struct {
		name  string
		items []*models.Alert
	}{
		{"nil", nil},
		{"empty", []*models.Alert{}},
		{"one", []*models.Alert{alert(1, "one")}},
		{"html escaped", []*models.Alert{alert(1, "<script>&"), alert(2, "\u2028")}},
		{"nil element", []*models.Alert{alert(1, "x"), nil, alert(3, "y")}},
		{"many", many},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			want, err := json.Marshal(c.items)
			require.NoError(t, err)
			if len(c.items) == 0 {
				want = []byte("null") // what listAlerts answered for none
			}
			rec := httptest.NewRecorder()
			require.NoError(t, writeJSONList(rec, http.StatusOK, c.items))
			require.Equal(t, http.StatusOK, rec.Code)
			require.Equal(t, "application/json; charset=utf-8", rec.Header().Get("Content-Type"))
			require.Equal(t, string(want), rec.Body.String())
		})
	}
}
