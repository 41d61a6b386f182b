package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/store"
)

// testOutbox: items queue once by uuid (pending, sent or refused), come
// back oldest first, leave the pending set when marked sent or refused, and
// only sent and refused ones are purged.
func testOutbox(t *testing.T, s store.Store) {
	ctx := context.Background()
	items := func(uuids ...string) []store.OutboxItem {
		out := make([]store.OutboxItem, len(uuids))
		for i, u := range uuids {
			out[i] = store.OutboxItem{UUID: u, Payload: []byte(fmt.Sprintf(`{"uuid":%q}`, u))}
		}
		return out
	}
	n, err := s.OutboxAdd(ctx, items("a", "b", "c"))
	require.NoError(t, err)
	require.Equal(t, 3, n)
	n, err = s.OutboxAdd(ctx, items("b", "d"))
	require.NoError(t, err)
	require.Equal(t, 1, n, "b is already queued")
	_, err = s.OutboxAdd(ctx, items(""))
	require.ErrorIs(t, err, store.ErrInvalid)

	got, err := s.OutboxPending(ctx, "", 2)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "a", got[0].UUID)
	require.Equal(t, "b", got[1].UUID)
	require.JSONEq(t, `{"uuid":"a"}`, string(got[0].Payload))
	require.False(t, got[0].CreatedAt.IsZero())

	sentAt := time.Now().Add(-time.Hour)
	require.NoError(t, s.OutboxMarkSent(ctx, []int64{got[0].ID, got[1].ID}, sentAt))
	pending, sent, err := s.OutboxStats(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(2), pending)
	require.Equal(t, int64(2), sent)

	n, err = s.OutboxAdd(ctx, items("a"))
	require.NoError(t, err)
	require.Zero(t, n, "a sent item is not queued again")

	got, err = s.OutboxPending(ctx, "", 0)
	require.NoError(t, err)
	require.Equal(t, []string{"c", "d"}, []string{got[0].UUID, got[1].UUID})

	purged, err := s.OutboxPurge(ctx, sentAt.Add(-time.Minute))
	require.NoError(t, err)
	require.Zero(t, purged, "sent after the cutoff")
	purged, err = s.OutboxPurge(ctx, time.Now())
	require.NoError(t, err)
	require.Equal(t, int64(2), purged)
	pending, sent, err = s.OutboxStats(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(2), pending)
	require.Zero(t, sent)

	// A refused item leaves the pending set (the next one is sent), is
	// neither pending nor sent, is not queued again, and is purged.
	got, err = s.OutboxPending(ctx, "", 0)
	require.NoError(t, err)
	refusedAt := time.Now().Add(-time.Hour)
	require.NoError(t, s.OutboxMarkRefused(ctx, got[0].ID, "400: signal 0: bad text", refusedAt))
	got, err = s.OutboxPending(ctx, "", 0)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "d", got[0].UUID)
	pending, sent, err = s.OutboxStats(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1), pending)
	require.Zero(t, sent)
	n, err = s.OutboxAdd(ctx, items("c"))
	require.NoError(t, err)
	require.Zero(t, n, "a refused item is not queued again")
	purged, err = s.OutboxPurge(ctx, time.Now())
	require.NoError(t, err)
	require.Equal(t, int64(1), purged, "the refused item")
	got, err = s.OutboxPending(ctx, "", 0)
	require.NoError(t, err)
	require.Len(t, got, 1, "the pending item stays")

	// Kinds: a uuid is unique within its kind; each kind is pending on its
	// own; the stats count signals only; purge takes every kind.
	n, err = s.OutboxAdd(ctx, []store.OutboxItem{{Kind: store.OutboxDeletion, UUID: "d"}, {Kind: store.OutboxDeletion, UUID: "e"},
		{Kind: store.OutboxUsage, UUID: "d", Payload: []byte(`{"k":1}`)}})
	require.NoError(t, err)
	require.Equal(t, 3, n, "d of another kind is another item")
	n, err = s.OutboxAdd(ctx, []store.OutboxItem{{Kind: store.OutboxDeletion, UUID: "e"}})
	require.NoError(t, err)
	require.Zero(t, n, "queued once per kind")
	_, err = s.OutboxAdd(ctx, []store.OutboxItem{{Kind: "gossip", UUID: "x"}})
	require.ErrorIs(t, err, store.ErrInvalid)
	dels, err := s.OutboxPending(ctx, store.OutboxDeletion, 0)
	require.NoError(t, err)
	require.Equal(t, []string{"d", "e"}, []string{dels[0].UUID, dels[1].UUID})
	require.Equal(t, store.OutboxDeletion, dels[0].Kind)
	usage, err := s.OutboxPending(ctx, store.OutboxUsage, 0)
	require.NoError(t, err)
	require.Len(t, usage, 1)
	require.JSONEq(t, `{"k":1}`, string(usage[0].Payload))
	got, err = s.OutboxPending(ctx, store.OutboxSignal, 0)
	require.NoError(t, err)
	require.Equal(t, []string{"d"}, []string{got[0].UUID}, "signals only")
	require.NoError(t, s.OutboxMarkSent(ctx, []int64{dels[0].ID, usage[0].ID}, time.Now().Add(-time.Hour)))
	pending, sent, err = s.OutboxStats(ctx)
	require.NoError(t, err)
	require.Equal(t, []int64{1, 0}, []int64{pending, sent}, "signals only")
	dels, err = s.OutboxPending(ctx, store.OutboxDeletion, 0)
	require.NoError(t, err)
	require.Equal(t, []string{"e"}, []string{dels[0].UUID})
	purged, err = s.OutboxPurge(ctx, time.Now())
	require.NoError(t, err)
	require.Equal(t, int64(2), purged, "the sent deletion and usage report")
}
