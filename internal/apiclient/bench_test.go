package apiclient

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"

	"github.com/phalanx-ids/phalanx/internal/models"
)

// BenchmarkDecisionsStream pulls a startup stream of 100,000 decisions over
// loopback HTTP and decodes it.
func BenchmarkDecisionsStream(b *testing.B) {
	const n = 100_000
	var buf bytes.Buffer
	buf.WriteString(`{"new":[`)
	for i := range n {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"id":%d,"origin":"crowdsec","type":"ban","scope":"Ip","value":"10.%d.%d.%d","duration":"3h59m58s","scenario":"crowdsecurity/ssh-bf"}`,
			i, i>>16&255, i>>8&255, i&255)
	}
	buf.WriteString(`],"deleted":[]}`)
	body := buf.Bytes()
	f := newFakeLAPI(b)
	f.on("GET /v1/decisions/stream", func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	cfg := testConfig(f.srv.URL)
	cfg.MachineID, cfg.Password = "", ""
	c := newTestClient(b, cfg)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		got, err := c.DecisionsStream(b.Context(), StreamFilter{Startup: true})
		if err != nil || len(got.New) != n {
			b.Fatalf("got %v, %v", len(got.New), err)
		}
	}
}

// BenchmarkPushAlerts measures one authenticated push of 10 alerts.
func BenchmarkPushAlerts(b *testing.B) {
	f := newFakeLAPI(b)
	f.respond("POST /v1/alerts", http.StatusCreated, "alerts_push_response.json")
	c := newTestClient(b, testConfig(f.srv.URL))
	alerts := decodeFixture[[]*models.Alert](b, "alerts_push_request.json")
	batch := make([]*models.Alert, 0, 10)
	for range 10 {
		batch = append(batch, alerts[0])
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.PushAlerts(b.Context(), batch); err != nil {
			b.Fatal(err)
		}
	}
}
