package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"
)

// AddBouncer registers a bouncer authenticated by API key (what `phalanx
// bouncers add`, `phalanx setup` and the dashboard do): refused when
// another bouncer already has that key, ErrExists (wrapped) when the name
// is taken.
func AddBouncer(ctx context.Context, st Store, name, key string, now time.Time) error {
	hash := HashAPIKey(key)
	if others, err := st.BouncersByKeyHash(ctx, hash); err != nil {
		return err
	} else if len(others) > 0 {
		return fmt.Errorf("that API key is already used by bouncer %q", others[0].Name)
	}
	now = now.UTC()
	err := st.CreateBouncer(ctx, &Bouncer{Name: name, KeyHash: hash, AuthType: "api-key", CreatedAt: now, UpdatedAt: now})
	if errors.Is(err, ErrExists) {
		return fmt.Errorf("bouncer %s %w", name, ErrExists)
	}
	return err
}

// GeneratedKeyLen is the length of generated bouncer API keys (as cscli's).
const GeneratedKeyLen = 32

// NewAPIKey returns a random bouncer API key of GeneratedKeyLen letters
// and digits.
func NewAPIKey() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, GeneratedKeyLen)
	_, _ = rand.Read(b) // never fails (Go >= 1.24)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
