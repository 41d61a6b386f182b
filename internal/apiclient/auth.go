package apiclient

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/phalanx-ids/phalanx/internal/models"
)

func (c *Client) lock(ctx context.Context) error {
	select {
	case c.authSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return configError("auth", ctx.Err())
	}
}

func (c *Client) unlock() { <-c.authSem }

// jwt returns a token valid for at least RefreshBefore, logging in or
// refreshing first when needed.
func (c *Client) jwt(ctx context.Context) (string, error) {
	if err := c.lock(ctx); err != nil {
		return "", err
	}
	defer c.unlock()
	now := c.now()
	if c.token != "" && (c.expire.IsZero() || now.Add(c.cfg.RefreshBefore).Before(c.expire)) {
		return c.token, nil
	}
	if c.token != "" && now.Before(c.expire) {
		err := c.refreshLocked(ctx)
		if err == nil {
			return c.token, nil
		}
		if ctx.Err() != nil {
			return "", err
		}
		c.log.Info("lapi token refresh failed, logging in again", "err", err.Error())
	}
	if err := c.loginLocked(ctx); err != nil {
		return "", err
	}
	return c.token, nil
}

// dropToken forgets token if it is still the current one.
func (c *Client) dropToken(ctx context.Context, token string) {
	if c.lock(ctx) != nil {
		return
	}
	defer c.unlock()
	if c.token == token {
		c.token, c.expire = "", time.Time{}
	}
}

func (c *Client) loginLocked(ctx context.Context) error {
	if c.cfg.MachineID == "" && c.cfg.TLS.CertFile == "" {
		return &Error{Op: "login", Method: http.MethodPost, Path: "/v1/watchers/login", Err: errors.New("no machine id configured")}
	}
	id, pw := c.cfg.MachineID, string(c.cfg.Password)
	scen := c.scenarios
	if scen == nil {
		scen = []string{}
	}
	var resp models.WatcherAuthResponse
	_, err := c.do(ctx, call{
		op: "login", method: http.MethodPost, path: "/v1/watchers/login",
		body: models.WatcherAuthRequest{MachineID: &id, Password: &pw, Scenarios: scen},
		out:  &resp,
	})
	if err != nil {
		return err
	}
	return c.setToken("login", "/v1/watchers/login", resp)
}

func (c *Client) refreshLocked(ctx context.Context) error {
	var resp models.WatcherAuthResponse
	_, err := c.do(ctx, call{
		op: "refresh token", method: http.MethodGet, path: "/v1/refresh_token",
		auth: authBearer, bearer: c.token, out: &resp,
	})
	if err != nil {
		return err
	}
	return c.setToken("refresh token", "/v1/refresh_token", resp)
}

func (c *Client) setToken(op, path string, resp models.WatcherAuthResponse) error {
	if resp.Token == "" {
		return &Error{Op: op, Method: http.MethodPost, Path: path, Status: http.StatusOK, Err: errors.New("answer has no token")}
	}
	exp, err := time.Parse(time.RFC3339, resp.Expire)
	if err != nil {
		exp = jwtExpiry(resp.Token)
	}
	c.token, c.expire = resp.Token, exp
	c.log.Debug("lapi token obtained", "op", op, "expire", exp)
	return nil
}

// TokenExpiry returns when the current JWT expires (zero if there is none
// or its expiry is unknown).
func (c *Client) TokenExpiry(ctx context.Context) (time.Time, error) {
	if err := c.lock(ctx); err != nil {
		return time.Time{}, err
	}
	defer c.unlock()
	return c.expire, nil
}

// Login logs the machine in now (POST /v1/watchers/login) and keeps the JWT.
// Other machine calls log in by themselves; Login is for checking
// credentials early (401, as CrowdSec answers: wrong credentials or machine
// not validated; 429 with Retry-After while failed logins are throttled).
func (c *Client) Login(ctx context.Context) error {
	if err := c.lock(ctx); err != nil {
		return err
	}
	defer c.unlock()
	return c.loginLocked(ctx)
}

// Register asks the LAPI to create the machine (POST /v1/watchers) with the
// configured MachineID, Password and RegistrationToken. validated is true
// when the LAPI answered 202 (auto-registration accepted it), false on 201
// (it waits for `machines validate`).
func (c *Client) Register(ctx context.Context) (validated bool, err error) {
	if c.cfg.MachineID == "" || c.cfg.Password == "" {
		return false, &Error{Op: "register", Method: http.MethodPost, Path: "/v1/watchers", Err: errors.New("machine id and password are required")}
	}
	id, pw := c.cfg.MachineID, string(c.cfg.Password)
	status, err := c.do(ctx, call{
		op: "register", method: http.MethodPost, path: "/v1/watchers",
		body: models.WatcherRegistrationRequest{MachineID: &id, Password: &pw, RegistrationToken: string(c.cfg.RegistrationToken)},
		ok:   []int{http.StatusCreated, http.StatusAccepted},
	})
	return status == http.StatusAccepted, err
}

// Heartbeat tells the LAPI the machine is alive (GET /v1/heartbeat). Agents
// call it every minute.
func (c *Client) Heartbeat(ctx context.Context) error {
	_, err := c.do(ctx, call{op: "heartbeat", method: http.MethodGet, path: "/v1/heartbeat", auth: authJWT})
	return err
}

// Unregister deletes the machine itself (DELETE /v1/watchers/self) and
// forgets the JWT.
func (c *Client) Unregister(ctx context.Context) error {
	_, err := c.do(ctx, call{op: "unregister", method: http.MethodDelete, path: "/v1/watchers/self",
		auth: authJWT, ok: []int{http.StatusOK, http.StatusNoContent}})
	if err == nil {
		if lerr := c.lock(ctx); lerr == nil {
			c.token, c.expire = "", time.Time{}
			c.unlock()
		}
	}
	return err
}

// Health checks GET /health (no authentication).
func (c *Client) Health(ctx context.Context) error {
	_, err := c.do(ctx, call{op: "health", method: http.MethodGet, path: "/health"})
	return err
}
