package sqlcore

import (
	"context"
	"time"

	"github.com/phalanx-ids/phalanx/internal/store"
)

// OutboxAdd implements store.Store.
func (e *Engine) OutboxAdd(ctx context.Context, items []store.OutboxItem) (int, error) {
	if len(items) == 0 {
		return 0, nil
	}
	for _, it := range items {
		if it.UUID == "" {
			return 0, e.errf(store.ErrInvalid, "outbox add: empty uuid")
		}
		switch it.Kind {
		case "", store.OutboxSignal, store.OutboxDeletion, store.OutboxUsage:
		default:
			return 0, e.errf(store.ErrInvalid, "outbox add: unknown kind %q", it.Kind)
		}
	}
	now := e.now()
	ins := "INSERT INTO capi_outbox (kind, uuid, payload, created_at) VALUES (" + e.placeholders(4) + ") ON CONFLICT (kind, uuid) DO NOTHING"
	added := 0
	err := e.b.Write(ctx, func(q Querier) error {
		added = 0
		for _, it := range items {
			created := it.CreatedAt
			if created.IsZero() {
				created = now
			}
			n, err := q.Exec(ctx, ins, outboxKind(it.Kind), it.UUID, string(it.Payload), ns(created))
			if err != nil {
				return err
			}
			added += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, e.errf(ctxErr(ctx, err), "outbox add")
	}
	return added, nil
}

func outboxKind(k string) string {
	if k == "" {
		return store.OutboxSignal
	}
	return k
}

// OutboxPending implements store.Store.
func (e *Engine) OutboxPending(ctx context.Context, kind string, limit int) ([]store.OutboxItem, error) {
	if limit <= 0 {
		limit = 1000
	}
	kind = outboxKind(kind)
	b := e.builder()
	sql := "SELECT id, uuid, payload, created_at FROM capi_outbox WHERE kind = " + b.arg(kind) +
		" AND sent_at = 0 AND refused_at = 0 ORDER BY id LIMIT " + b.arg(limit)
	var out []store.OutboxItem
	err := queryAll(ctx, e.b.Read(), sql, b.args, func(r Rows) error {
		it := store.OutboxItem{Kind: kind}
		var payload string
		var created int64
		if err := r.Scan(&it.ID, &it.UUID, &payload, &created); err != nil {
			return err
		}
		it.Payload, it.CreatedAt = []byte(payload), fromNS(created)
		out = append(out, it)
		return nil
	})
	if err != nil {
		return nil, e.errf(ctxErr(ctx, err), "outbox pending")
	}
	return out, nil
}

// OutboxMarkSent implements store.Store.
func (e *Engine) OutboxMarkSent(ctx context.Context, ids []int64, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	err := e.b.Write(ctx, func(q Querier) error {
		for start := 0; start < len(ids); start += 500 {
			chunk := ids[start:min(start+500, len(ids))]
			b := e.builder()
			vals := make([]any, len(chunk))
			for i, id := range chunk {
				vals[i] = id
			}
			sql := "UPDATE capi_outbox SET sent_at = " + b.arg(ns(at)) + ", attempts = attempts + 1 WHERE id IN " + b.in(vals)
			if _, err := q.Exec(ctx, sql, b.args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return e.errf(ctxErr(ctx, err), "outbox mark sent")
	}
	return nil
}

// OutboxMarkRefused implements store.Store.
func (e *Engine) OutboxMarkRefused(ctx context.Context, id int64, reason string, at time.Time) error {
	if len(reason) > 1024 {
		reason = reason[:1024]
	}
	err := e.b.Write(ctx, func(q Querier) error {
		b := e.builder()
		sql := "UPDATE capi_outbox SET refused_at = " + b.arg(ns(at)) + ", refusal = " + b.arg(reason) +
			", attempts = attempts + 1 WHERE id = " + b.arg(id)
		_, err := q.Exec(ctx, sql, b.args...)
		return err
	})
	if err != nil {
		return e.errf(ctxErr(ctx, err), "outbox mark refused")
	}
	return nil
}

// OutboxPurge implements store.Store.
func (e *Engine) OutboxPurge(ctx context.Context, sentBefore time.Time) (int64, error) {
	var n int64
	err := e.b.Write(ctx, func(q Querier) error {
		var err error
		n, err = q.Exec(ctx, "DELETE FROM capi_outbox WHERE (sent_at > 0 AND sent_at < "+e.b.Placeholder(1)+
			") OR (refused_at > 0 AND refused_at < "+e.b.Placeholder(2)+")", ns(sentBefore), ns(sentBefore))
		return err
	})
	if err != nil {
		return 0, e.errf(ctxErr(ctx, err), "outbox purge")
	}
	return n, nil
}

// OutboxStats implements store.Store.
func (e *Engine) OutboxStats(ctx context.Context) (pending, sent int64, err error) {
	const q = "SELECT CASE WHEN sent_at > 0 THEN 1 WHEN refused_at > 0 THEN 2 ELSE 0 END AS k, COUNT(*) FROM capi_outbox WHERE kind = 'signal' GROUP BY k"
	err = queryAll(ctx, e.b.Read(), q, nil, func(r Rows) error {
		var kind, c int64
		if err := r.Scan(&kind, &c); err != nil {
			return err
		}
		switch kind {
		case 0:
			pending = c
		case 1:
			sent = c
		}
		return nil
	})
	if err != nil {
		return 0, 0, e.errf(ctxErr(ctx, err), "outbox stats")
	}
	return pending, sent, nil
}
