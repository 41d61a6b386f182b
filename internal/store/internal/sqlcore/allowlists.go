package sqlcore

import (
	"context"
	"fmt"
	"time"

	"github.com/phalanx-ids/phalanx/internal/store"
)

// CreateAllowlist implements store.Store.
func (e *Engine) CreateAllowlist(ctx context.Context, a *store.Allowlist) error {
	if a.Name == "" {
		return e.errf(store.ErrInvalid, "create allowlist: empty name")
	}
	items, err := prepareItems(a.Items)
	if err != nil {
		return e.errf(err, "create allowlist %q", a.Name)
	}
	now := e.now()
	created, updated := a.CreatedAt, a.UpdatedAt
	stampNew(now, &created, &updated)
	err = e.b.Write(ctx, func(q Querier) error {
		id, err := queryInt(ctx, q, "INSERT INTO allowlists (name, description, created_at, updated_at) VALUES ("+
			e.placeholders(4)+") RETURNING id", a.Name, a.Description, ns(created), ns(updated))
		if err != nil {
			return err
		}
		_, err = e.putItems(ctx, q, id, items, now)
		return err
	})
	return e.createErr(ctx, err, "allowlist", a.Name)
}

type preparedItem struct {
	store.AllowlistItem
	r store.IPRange
}

func prepareItems(items []store.AllowlistItem) ([]preparedItem, error) {
	out := make([]preparedItem, len(items))
	for i, it := range items {
		r, err := store.ParseIPRange(it.Value)
		if err != nil {
			return nil, err
		}
		for _, t := range []time.Time{it.CreatedAt, it.Expiration} {
			if !t.IsZero() {
				if err := store.CheckTime(t); err != nil {
					return nil, fmt.Errorf("item %q: %w", it.Value, err)
				}
			}
		}
		out[i] = preparedItem{it, r}
	}
	return out, nil
}

// putItems inserts items, replacing those with the same value.
func (e *Engine) putItems(ctx context.Context, q Querier, listID int64, items []preparedItem, now time.Time) (int64, error) {
	del := "DELETE FROM allowlist_items WHERE allowlist_id = " + e.b.Placeholder(1) + " AND value = " + e.b.Placeholder(2)
	ins := "INSERT INTO allowlist_items (allowlist_id, value, comment, created_at, expires_at, start_ip, end_ip) VALUES (" +
		e.placeholders(7) + ")"
	var n int64
	for _, it := range items {
		if _, err := q.Exec(ctx, del, listID, it.Value); err != nil {
			return n, err
		}
		created := it.CreatedAt
		if created.IsZero() {
			created = now
		}
		if _, err := q.Exec(ctx, ins, listID, it.Value, it.Comment, ns(created), ns(it.Expiration), it.r.Start[:], it.r.End[:]); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (e *Engine) listAllowlists(ctx context.Context, q Querier, name string, withItems bool) ([]*store.Allowlist, error) {
	b := e.builder()
	if name != "" {
		b.where("name = " + b.arg(name))
	}
	var out []*store.Allowlist
	byID := map[int64]*store.Allowlist{}
	err := queryAll(ctx, q, "SELECT id, name, description, created_at, updated_at FROM allowlists"+b.clause()+" ORDER BY name", b.args,
		func(r Rows) error {
			var a store.Allowlist
			var c, u int64
			if err := r.Scan(&a.ID, &a.Name, &a.Description, &c, &u); err != nil {
				return err
			}
			a.CreatedAt, a.UpdatedAt = fromNS(c), fromNS(u)
			out = append(out, &a)
			byID[a.ID] = &a
			return nil
		})
	if err != nil || !withItems || len(out) == 0 {
		return out, err
	}
	ib := e.builder()
	if name != "" {
		ib.where("allowlist_id = " + ib.arg(out[0].ID))
	}
	err = queryAll(ctx, q, "SELECT allowlist_id, value, comment, created_at, expires_at FROM allowlist_items"+ib.clause()+
		" ORDER BY allowlist_id, id", ib.args, func(r Rows) error {
		var id, c, x int64
		var it store.AllowlistItem
		if err := r.Scan(&id, &it.Value, &it.Comment, &c, &x); err != nil {
			return err
		}
		it.CreatedAt, it.Expiration = fromNS(c), fromNS(x)
		if a := byID[id]; a != nil {
			a.Items = append(a.Items, it)
		}
		return nil
	})
	return out, err
}

// GetAllowlist implements store.Store.
func (e *Engine) GetAllowlist(ctx context.Context, name string) (*store.Allowlist, error) {
	if name == "" {
		return nil, e.errf(store.ErrNotFound, "get allowlist %q", name)
	}
	as, err := e.listAllowlists(ctx, e.b.Read(), name, true)
	if err == nil && len(as) == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, e.errf(ctxErr(ctx, err), "get allowlist %q", name)
	}
	return as[0], nil
}

// ListAllowlists implements store.Store.
func (e *Engine) ListAllowlists(ctx context.Context, withItems bool) ([]*store.Allowlist, error) {
	as, err := e.listAllowlists(ctx, e.b.Read(), "", withItems)
	if err != nil {
		return nil, e.errf(ctxErr(ctx, err), "list allowlists")
	}
	return as, nil
}

// allowlistID finds a list's id in a write transaction.
func (e *Engine) allowlistID(ctx context.Context, q Querier, name string) (int64, error) {
	return queryInt(ctx, q, "SELECT id FROM allowlists WHERE name = "+e.b.Placeholder(1)+e.b.LockSuffix(), name)
}

// AddAllowlistItems implements store.Store.
func (e *Engine) AddAllowlistItems(ctx context.Context, name string, items []store.AllowlistItem) (int64, error) {
	prepared, err := prepareItems(items)
	if err != nil {
		return 0, e.errf(err, "add allowlist items to %q", name)
	}
	var n int64
	err = e.b.Write(ctx, func(q Querier) error {
		id, err := e.allowlistID(ctx, q, name)
		if err != nil {
			return err
		}
		now := e.now()
		if n, err = e.putItems(ctx, q, id, prepared, now); err != nil {
			return err
		}
		_, err = q.Exec(ctx, "UPDATE allowlists SET updated_at = "+e.b.Placeholder(1)+" WHERE id = "+e.b.Placeholder(2), ns(now), id)
		return err
	})
	if err != nil {
		return 0, e.errf(ctxErr(ctx, err), "add allowlist items to %q", name)
	}
	return n, nil
}

// RemoveAllowlistItems implements store.Store.
func (e *Engine) RemoveAllowlistItems(ctx context.Context, name string, values []string) (int64, error) {
	var n int64
	err := e.b.Write(ctx, func(q Querier) error {
		id, err := e.allowlistID(ctx, q, name)
		if err != nil || len(values) == 0 {
			return err
		}
		b := e.builder()
		b.where("allowlist_id = " + b.arg(id))
		b.where("value IN " + b.in(anys(values)))
		if n, err = q.Exec(ctx, "DELETE FROM allowlist_items"+b.clause(), b.args...); err != nil {
			return err
		}
		_, err = q.Exec(ctx, "UPDATE allowlists SET updated_at = "+e.b.Placeholder(1)+" WHERE id = "+e.b.Placeholder(2), ns(e.now()), id)
		return err
	})
	if err != nil {
		return 0, e.errf(ctxErr(ctx, err), "remove allowlist items from %q", name)
	}
	return n, nil
}

// DeleteAllowlist implements store.Store.
func (e *Engine) DeleteAllowlist(ctx context.Context, name string) error {
	if err := e.deleteOne(ctx, "allowlists", "name", name); err != nil {
		return e.errf(ctxErr(ctx, err), "delete allowlist %q", name)
	}
	return nil
}

// CheckAllowlists implements store.Store.
func (e *Engine) CheckAllowlists(ctx context.Context, ipOrRange string, now time.Time) ([]store.AllowlistMatch, error) {
	r, err := store.ParseIPRange(ipOrRange)
	if err != nil {
		return nil, e.errf(err, "check allowlists")
	}
	b := e.builder()
	b.where("i.start_ip <= " + b.arg(r.Start[:]) + " AND i.end_ip >= " + b.arg(r.End[:]))
	b.where("(i.expires_at = 0 OR i.expires_at > " + b.arg(now.UnixNano()) + ")")
	var out []store.AllowlistMatch
	err = queryAll(ctx, e.b.Read(), "SELECT a.name, i.value, i.comment, i.created_at, i.expires_at FROM allowlist_items i"+
		" JOIN allowlists a ON a.id = i.allowlist_id"+b.clause()+" ORDER BY a.name, i.id", b.args, func(r Rows) error {
		var m store.AllowlistMatch
		var c, x int64
		if err := r.Scan(&m.Allowlist, &m.Item.Value, &m.Item.Comment, &c, &x); err != nil {
			return err
		}
		m.Item.CreatedAt, m.Item.Expiration = fromNS(c), fromNS(x)
		out = append(out, m)
		return nil
	})
	if err != nil {
		return nil, e.errf(ctxErr(ctx, err), "check allowlists")
	}
	return out, nil
}

// Flush implements store.Store.
func (e *Engine) Flush(ctx context.Context, now time.Time, p store.FlushPolicy) (store.FlushResult, error) {
	var res store.FlushResult
	nowNS := now.UnixNano()
	err := e.b.Write(ctx, func(q Querier) error {
		var err error
		if p.DecisionsExpiredFor > 0 {
			res.Decisions, err = q.Exec(ctx, "DELETE FROM decisions WHERE until_at < "+e.b.Placeholder(1),
				now.Add(-p.DecisionsExpiredFor).UnixNano())
			if err != nil {
				return err
			}
		}
		unprotected := "NOT EXISTS (SELECT 1 FROM decisions d WHERE d.alert_id = alerts.id AND d.until_at > " + e.b.Placeholder(1) + ")"
		if p.AlertsMaxAge > 0 {
			res.Alerts, err = q.Exec(ctx, "DELETE FROM alerts WHERE "+unprotected+" AND created_at < "+e.b.Placeholder(2),
				nowNS, now.Add(-p.AlertsMaxAge).UnixNano())
			if err != nil {
				return err
			}
		}
		if p.AlertsMaxItems > 0 {
			total, err := queryInt(ctx, q, "SELECT COUNT(*) FROM alerts")
			if err != nil {
				return err
			}
			if extra := total - int64(p.AlertsMaxItems); extra > 0 {
				n, err := q.Exec(ctx, "DELETE FROM alerts WHERE id IN (SELECT id FROM alerts WHERE "+unprotected+
					" ORDER BY id LIMIT "+e.b.Placeholder(2)+")", nowNS, extra)
				if err != nil {
					return err
				}
				res.Alerts += n
			}
		}
		res.AllowlistItems, err = q.Exec(ctx, "DELETE FROM allowlist_items WHERE expires_at <> 0 AND expires_at <= "+
			e.b.Placeholder(1), nowNS)
		if err != nil {
			return err
		}
		// The per-minute rollups serve ranges of the last day only.
		for _, table := range []string{"alert_rollup_minute", "decision_rollup_minute"} {
			if _, err := q.Exec(ctx, "DELETE FROM "+table+" WHERE minute < "+e.b.Placeholder(1),
				now.Add(-MinuteRollupKeep).UnixNano()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return store.FlushResult{}, e.errf(ctxErr(ctx, err), "flush")
	}
	return res, nil
}
