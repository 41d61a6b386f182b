package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/store"
)

// CredentialsFile is the name, in the data dir, of the local agent's
// machine credentials (the format of CrowdSec's
// local_api_credentials.yaml: url, login, password).
const CredentialsFile = "local_api_credentials.yaml"

type credentials struct {
	URL      string `yaml:"url"`
	Login    string `yaml:"login"`
	Password string `yaml:"password"`
}

func readCredentials(path string) (apiclient.Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return apiclient.Config{}, fmt.Errorf("app: credentials: %w", err)
	}
	var c credentials
	if err := yaml.Unmarshal(b, &c); err != nil {
		return apiclient.Config{}, fmt.Errorf("app: credentials %s: %w", path, err)
	}
	return apiclient.Config{URL: c.URL, MachineID: c.Login, Password: apiclient.Secret(c.Password)}, nil
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
func ensureLocalMachine(ctx context.Context, st store.Store, dataDir, url string) (apiclient.Config, error) {
	if st == nil {
		return apiclient.Config{}, errors.New("app: agent: no LAPI to register with")
	}
	path := filepath.Join(dataDir, CredentialsFile)
	var c credentials
	if b, err := os.ReadFile(path); err == nil {
		if err := yaml.Unmarshal(b, &c); err != nil {
			return apiclient.Config{}, fmt.Errorf("app: credentials %s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return apiclient.Config{}, fmt.Errorf("app: credentials: %w", err)
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
		b, err := yaml.Marshal(c)
		if err != nil {
			return apiclient.Config{}, fmt.Errorf("app: credentials: %w", err)
		}
		if err := writeFileAtomic(path, b, 0o600); err != nil {
			return apiclient.Config{}, fmt.Errorf("app: credentials: %w", err)
		}
	}
	return apiclient.Config{URL: c.URL, MachineID: c.Login, Password: apiclient.Secret(c.Password)}, nil
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

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
