// Package notifytest holds what the notifier types' tests share.
package notifytest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/notify"
)

// Send makes one delivery attempt of text through n (10s at most).
func Send(t testing.TB, n notify.Notifier, text string) (retryable bool, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return n.Send(ctx, notify.Message{Name: "test", Text: text})
}

// Once builds a notifier with newN (which must accept cfg), makes one
// attempt of text and closes it.
func Once[C any, N notify.Notifier](t testing.TB, newN func(C, notify.Deps) (N, error), cfg C, text string) (retryable bool, err error) {
	t.Helper()
	n, err := newN(cfg, notify.Deps{})
	require.NoError(t, err)
	defer n.Close()
	return Send(t, n, text)
}
