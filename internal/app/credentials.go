package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/secfile"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/yamlerr"
)

// CredentialsFile is the name, in the data dir, of the local agent's
// machine credentials (the format of CrowdSec's
// local_api_credentials.yaml: url, login, password).
const CredentialsFile = "local_api_credentials.yaml"

// Credentials is a machine credentials file (CrowdSec's
// local_api_credentials.yaml).
type Credentials struct {
	URL      string `yaml:"url"`
	Login    string `yaml:"login"`
	Password string `yaml:"password"`
}

// ReadCredentials reads a credentials file. A file that any local user
// can change is refused unless the policy allows it (see FilePolicy).
func ReadCredentials(path string, policy ...FilePolicy) (Credentials, error) {
	var c Credentials
	if err := policyOf(policy).check(path); err != nil {
		return c, fmt.Errorf("app: credentials: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("app: credentials: %w", err)
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		return c, yamlerr.New("app: credentials", path, err, "app.")
	}
	return c, nil
}

// WriteCredentials writes a credentials file: atomically, mode 0600.
func WriteCredentials(path string, c Credentials) error {
	b, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("app: credentials: %w", err)
	}
	if err := secfile.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("app: credentials: %w", err)
	}
	return nil
}

// client is the apiclient view of the credentials.
func (c Credentials) client() apiclient.Config {
	return apiclient.Config{URL: c.URL, MachineID: c.Login, Password: apiclient.Secret(c.Password)}
}

func readCredentials(path string, policy FilePolicy) (apiclient.Config, error) {
	c, err := ReadCredentials(path, policy)
	if err != nil {
		return apiclient.Config{}, err
	}
	return c.client(), nil
}

// mergeCredentials fills the empty url/login/password of c from file.
func mergeCredentials(c, file apiclient.Config) apiclient.Config {
	if c.URL == "" {
		c.URL = file.URL
	}
	if c.MachineID == "" {
		c.MachineID = file.MachineID
	}
	if c.Password == "" {
		c.Password = file.Password
	}
	return c
}

// ensureLocalMachine makes sure the local agent is a validated machine of
// the local store, with the credentials kept in <dataDir>/CredentialsFile
// (created with a new machine id and random password on first start; the
// url is rewritten to the LAPI's current address).
func ensureLocalMachine(ctx context.Context, st store.Store, dataDir, url string, policy FilePolicy) (apiclient.Config, error) {
	if st == nil {
		return apiclient.Config{}, errors.New("app: agent: no LAPI to register with")
	}
	path := filepath.Join(dataDir, CredentialsFile)
	// Whoever can write this file picks a login and password that become a
	// validated machine: refuse one that any local user can change.
	c, err := ReadCredentials(path, policy)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return apiclient.Config{}, err
	}
	if c.Login == "" || c.Password == "" {
		c.Login = machineID()
		c.Password = randomHex(32)
	}
	m, err := st.GetMachine(ctx, c.Login)
	switch {
	case errors.Is(err, store.ErrNotFound):
		hash, err := bcrypt.GenerateFromPassword([]byte(c.Password), bcrypt.DefaultCost)
		if err != nil {
			return apiclient.Config{}, fmt.Errorf("app: register local machine: %w", err)
		}
		err = st.CreateMachine(ctx, &store.Machine{ID: c.Login, PasswordHash: string(hash), IsValidated: true,
			AuthType: "password", IPAddress: "127.0.0.1"})
		if err != nil {
			return apiclient.Config{}, fmt.Errorf("app: register local machine: %w", err)
		}
	case err != nil:
		return apiclient.Config{}, fmt.Errorf("app: register local machine: %w", err)
	default:
		if bcrypt.CompareHashAndPassword([]byte(m.PasswordHash), []byte(c.Password)) != nil || !m.IsValidated {
			hash, err := bcrypt.GenerateFromPassword([]byte(c.Password), bcrypt.DefaultCost)
			if err != nil {
				return apiclient.Config{}, fmt.Errorf("app: register local machine: %w", err)
			}
			_, err = st.UpdateMachine(ctx, c.Login, func(m *store.Machine) error {
				m.PasswordHash, m.IsValidated = string(hash), true
				return nil
			})
			if err != nil {
				return apiclient.Config{}, fmt.Errorf("app: register local machine: %w", err)
			}
		}
	}
	if c.URL != url {
		c.URL = url
		if err := WriteCredentials(path, c); err != nil {
			return apiclient.Config{}, err
		}
	}
	return c.client(), nil
}

func machineID() string {
	h, _ := os.Hostname()
	h = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-':
			return r
		}
		return -1
	}, h)
	if h == "" {
		h = "phalanx"
	}
	return h + "-" + randomHex(8)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
