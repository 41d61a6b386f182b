package capi_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/capi"
	"github.com/phalanx-ids/phalanx/internal/capi/capitest"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store/sqlite"
)

const benchList = 15000

func benchIP(i int) string { return fmt.Sprintf("100.%d.%d.%d", 64+i/65536%64, i/256%256, i%256) }

// BenchmarkPullFullList: a startup pull of a 15,000-entry community list
// into a SQLite file (over loopback HTTP), against the baseline of storing
// the same 15,000 decisions directly (CreateAlerts: the floor).
func BenchmarkPullFullList(b *testing.B) {
	central := capitest.New(b)
	for i := range benchList {
		central.List("Ip", benchIP(i), "crowdsecurity/ssh-bf", "24h")
	}
	b.Run("baseline_store_only", func(b *testing.B) {
		st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(b.TempDir(), "b.db")})
		require.NoError(b, err)
		defer st.Close()
		for b.Loop() {
			decs := make([]*models.Decision, benchList)
			for i := range decs {
				o, t, sc, v, d := "CAPI", "ban", "Ip", benchIP(i), "24h"
				decs[i] = &models.Decision{Origin: &o, Type: &t, Scope: &sc, Value: &v, Duration: &d, Scenario: &o}
			}
			a := alert(models.NewUUID(), "203.0.113.1", "x")
			a.Decisions = decs
			_, err := st.CreateAlerts(context.Background(), "", []*models.Alert{a})
			require.NoError(b, err)
		}
	})
	b.Run("pull", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), capi.CredentialsFile)
		creds, err := capi.Register(context.Background(), central.URL(), path, false, capi.ClientOptions{})
		require.NoError(b, err)
		st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(b.TempDir(), "p.db")})
		require.NoError(b, err)
		defer st.Close()
		svc, err := capi.New(capi.Settings{Credentials: creds, PullCommunity: true}, capi.Deps{Store: st, Community: capi.NewCommunity(nil)})
		require.NoError(b, err)
		for b.Loop() {
			res, err := svc.PullNow(context.Background(), true)
			require.NoError(b, err)
			require.Equal(b, benchList, res.Added)
		}
		b.ReportMetric(float64(benchList)/(float64(b.Elapsed())/float64(b.N)/float64(time.Second)), "entries/s")
	})
}

// BenchmarkShareCost: what sharing adds to POST /v1/alerts (ToSignal +
// one outbox write for a batch of 100 alerts), against the baseline of
// storing the same batch (CreateAlerts), both on one SQLite file.
func BenchmarkShareCost(b *testing.B) {
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(b.TempDir(), "s.db")})
	require.NoError(b, err)
	defer st.Close()
	batch := func() []*models.Alert {
		out := make([]*models.Alert, 100)
		for i := range out {
			out[i] = alert(models.NewUUID(), benchIP(i), "crowdsecurity/ssh-bf")
		}
		return out
	}
	b.Run("baseline_store_alerts", func(b *testing.B) {
		for b.Loop() {
			_, err := st.CreateAlerts(context.Background(), "m", batch())
			require.NoError(b, err)
		}
	})
	b.Run("share", func(b *testing.B) {
		svc, err := capi.New(capi.Settings{Credentials: capi.Credentials{URL: "http://127.0.0.1:1/", Login: "m", Password: "p"},
			Sharing: true, Consent: capi.DefaultConsent()}, capi.Deps{Store: st})
		require.NoError(b, err)
		for b.Loop() {
			require.NoError(b, svc.Share(context.Background(), "m", batch()))
		}
	})
}
