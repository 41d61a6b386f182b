package capi

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Register creates an identity at the central at url (a 48-character
// machine id, a generated password: POST /v3/watchers) and writes it to
// path (online_api_credentials.yaml, 0600). An existing file is kept
// unless force.
func Register(ctx context.Context, url, path string, force bool, o ClientOptions) (Credentials, error) {
	if !force {
		if _, err := os.Stat(path); err == nil {
			return Credentials{}, fmt.Errorf("capi: register: %s exists (this install is registered; --force registers again)", path)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return Credentials{}, fmt.Errorf("capi: register: %w", err)
		}
	}
	c := Credentials{URL: url, Login: NewMachineID(nil), Password: NewPassword()}
	cl, err := NewClient(c, o)
	if err != nil {
		return Credentials{}, err
	}
	c.URL = cl.URL()
	if err := cl.Register(ctx); err != nil {
		return Credentials{}, err
	}
	if err := WriteCredentials(path, c); err != nil {
		return Credentials{}, err
	}
	return c, nil
}

// Status is what `capi status` reports.
type Status struct {
	URL      string `json:"url"`
	Login    string `json:"login"`
	Push     bool   `json:"push"`     // sharing on and the login works
	Pull     bool   `json:"pull"`     // pulling on and the login works
	Enrolled bool   `json:"enrolled"` // the token names an organisation
	Org      string `json:"organization,omitempty"`
	Expire   string `json:"token_expire,omitempty"`
	Pending  int64  `json:"outbox_pending"`
	Sent     int64  `json:"outbox_sent"`
}
