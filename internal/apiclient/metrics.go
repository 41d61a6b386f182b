package apiclient

import (
	"context"
	"net/http"

	"github.com/phalanx-ids/phalanx/internal/models"
)

// SendUsageMetrics posts usage metrics (POST /v1/usage-metrics). It
// authenticates as the machine when MachineID is configured, else with the
// API key (bouncers).
func (c *Client) SendUsageMetrics(ctx context.Context, m *models.AllMetrics) error {
	auth := authKey
	if c.cfg.MachineID != "" {
		auth = authJWT
	}
	_, err := c.do(ctx, call{op: "send usage metrics", method: http.MethodPost, path: "/v1/usage-metrics",
		auth: auth, body: m, ok: []int{http.StatusOK, http.StatusCreated}})
	return err
}
