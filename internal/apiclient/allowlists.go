package apiclient

import (
	"context"
	"net/http"
	"net/url"

	"github.com/phalanx-ids/phalanx/internal/models"
)

func withContent(b bool) url.Values {
	if !b {
		return nil
	}
	return url.Values{"with_content": {"true"}}
}

// Allowlists lists the centralized allowlists (GET /v1/allowlists), with
// their items when withItems.
func (c *Client) Allowlists(ctx context.Context, withItems bool) ([]*models.GetAllowlistResponse, error) {
	var out models.GetAllowlistsResponse
	_, err := c.do(ctx, call{op: "list allowlists", method: http.MethodGet, path: "/v1/allowlists",
		auth: authJWT, query: withContent(withItems), out: &out})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Allowlist returns one allowlist (GET /v1/allowlists/{name});
// errors.Is(err, ErrNotFound) when there is none.
func (c *Client) Allowlist(ctx context.Context, name string, withItems bool) (*models.GetAllowlistResponse, error) {
	var out models.GetAllowlistResponse
	_, err := c.do(ctx, call{op: "get allowlist", method: http.MethodGet, path: "/v1/allowlists/" + url.PathEscape(name),
		auth: authJWT, query: withContent(withItems), out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// CheckAllowlist tells whether an IP or range is allowlisted and by which
// item (GET /v1/allowlists/check/{target}; a range's "/" is escaped).
func (c *Client) CheckAllowlist(ctx context.Context, target string) (*models.CheckAllowlistResponse, error) {
	var out models.CheckAllowlistResponse
	_, err := c.do(ctx, call{op: "check allowlist", method: http.MethodGet,
		path: "/v1/allowlists/check/" + url.PathEscape(target), auth: authJWT, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// CheckAllowlists checks several IPs or ranges at once
// (POST /v1/allowlists/check).
func (c *Client) CheckAllowlists(ctx context.Context, targets []string) (*models.BulkCheckAllowlistResponse, error) {
	if targets == nil {
		targets = []string{}
	}
	var out models.BulkCheckAllowlistResponse
	_, err := c.do(ctx, call{op: "check allowlists", method: http.MethodPost, path: "/v1/allowlists/check",
		auth: authJWT, body: models.BulkCheckAllowlistRequest{Targets: targets}, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}
