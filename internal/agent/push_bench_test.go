package agent

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store/storetest"
)

// BenchmarkPush measures one push of a spooled batch of 100 alerts (the
// default BatchSize) with the real client, to a loopback LAPI stub that
// reads the body and answers 201: what the agent does per batch besides
// the network.
func BenchmarkPush(b *testing.B) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/v1/watchers/login" {
			_, _ = io.WriteString(w, `{"code":200,"expire":"`+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`","token":"t"}`)
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `[]`)
	}))
	defer hs.Close()
	c, err := apiclient.New(apiclient.Config{URL: hs.URL, UserAgent: "crowdsec/v1.7.5", MachineID: "m", Password: "p"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	a, err := New(Config{SpoolDir: b.TempDir(), HeartbeatInterval: -1}, Deps{Client: c})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	alerts := make([]*models.Alert, 100)
	for i := range alerts {
		alerts[i] = storetest.Alert("crowdsecurity/ssh-bf", "Ip", fmt.Sprintf("192.0.2.%d", i), time.Now())
		alerts[i].UUID = models.NewUUID()
	}
	a.Add(alerts...)
	if err := a.spoolBuffer(); err != nil {
		b.Fatal(err)
	}
	rec, ok, err := a.spool.Peek()
	if err != nil || !ok {
		b.Fatal("nothing spooled", err)
	}
	b.SetBytes(int64(len(rec.Payload)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		// After the first push the record is acknowledged and Ack is a
		// no-op: every round costs the same.
		if err := a.push(b.Context(), rec); err != nil {
			b.Fatal(err)
		}
	}
}
