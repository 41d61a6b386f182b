package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"

	"github.com/phalanx-ids/phalanx/internal/capi"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
)

// prepareCAPI reads the central API credentials and consent flags; with
// no credentials file the daemon shares nothing and pulls nothing (nil
// settings, no error).
func prepareCAPI(r *resolved, ua string) (*capi.Settings, error) {
	c := r.capi
	if _, err := os.Stat(c.CredentialsPath); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	creds, err := capi.ReadCredentials(c.CredentialsPath)
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	consent, err := capi.ReadConsole(c.ConsolePath)
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	return &capi.Settings{Credentials: creds, Consent: consent, Sharing: c.Sharing, PullCommunity: c.PullCommunity,
		PullBlocklists: c.PullBlocklists, PullInterval: c.PullInterval, UserAgent: ua, SendMetrics: c.SendMetrics,
		SendUsageMetrics: c.SendUsageMetrics,
		Version:          strings.TrimPrefix(ua, "phalanx/")}, nil
}

// deleted is the LAPI's Deleted hook: the central's deletion sync.
func (a *App) deleted(ctx context.Context, ds []store.Decision) error {
	if a.capi == nil {
		return nil
	}
	return a.capi.Deleted(ctx, ds)
}

// usage is the LAPI's Usage hook: the usage report's outbox.
func (a *App) usage(ctx context.Context, machine, bouncer string, m *models.AllMetrics) error {
	if a.capi == nil {
		return nil
	}
	return a.capi.UsageReceived(ctx, machine, bouncer, m)
}

// share is the LAPI's Share hook: the CAPI outbox when sharing is set up.
func (a *App) share(ctx context.Context, machine string, alerts []*models.Alert) error {
	if a.capi == nil {
		return nil
	}
	return a.capi.Share(ctx, machine, alerts)
}

// startCAPI builds the sharing service once the LAPI exists.
func (a *App) startCAPI(set *capi.Settings) error {
	var err error
	a.capi, err = capi.New(*set, capi.Deps{Store: a.st, Allowlists: a.srv.Allowlists(), Refused: a.srv.Refused,
		Synced: a.srv.Sync, Community: a.community, Scenarios: a.machineScenarios, Logger: a.log,
		Registerer: a.reg})
	if err != nil {
		return fmt.Errorf("app: %w", err)
	}
	a.log.Info("capi: sharing with the central", "url", set.Credentials.URL, "sharing", set.Sharing,
		"pull", set.PullCommunity || set.PullBlocklists)
	return nil
}

// machineScenarios is what the install tells the central at login: the
// scenarios of every machine registered to this LAPI (as CrowdSec).
func (a *App) machineScenarios() []string {
	ms, err := a.st.ListMachines(context.Background())
	if err != nil {
		a.log.Warn("capi: list machines for login scenarios", "err", err)
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, m := range ms {
		for _, s := range m.Scenarios {
			if s != "" && !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	sort.Strings(out)
	return out
}

// CAPI is the sharing service (nil when not registered with a central).
func (a *App) CAPI() *capi.Service { return a.capi }

// Community is the community list detection reads (nil without LAPI).
func (a *App) Community() *capi.Community { return a.community }
