package sqlcore

import (
	"context"
	"strings"
	"time"

	"github.com/phalanx-ids/phalanx/internal/store"
)

// activePage is the page size of ListActiveDecisions (as CrowdSec's stream).
const activePage = 30000

func likeWord(w string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + strings.ToLower(r.Replace(w)) + "%"
}

// decisionWhere turns a decision filter into conditions on table decisions.
func decisionWhere(b *builder, f store.DecisionFilter) error {
	if f.IDs != nil {
		if len(f.IDs) == 0 {
			b.where("1 = 0")
		} else {
			b.where("id IN " + b.in(anys(f.IDs)))
		}
	}
	if f.AlertID != 0 {
		b.where("alert_id = " + b.arg(f.AlertID))
	}
	if f.Scope != "" {
		b.where("LOWER(scope) = LOWER(" + b.arg(f.Scope) + ")")
	}
	if f.Value != "" {
		b.where("value = " + b.arg(f.Value))
	}
	if f.Type != "" {
		b.where("type = " + b.arg(f.Type))
	}
	if f.Scenario != "" {
		b.where("scenario = " + b.arg(f.Scenario))
	}
	if err := rangeWhere(b, "start_ip", "end_ip", f.IP, f.Range, f.Contains); err != nil {
		return err
	}
	if len(f.Origins) > 0 {
		b.where("origin IN " + b.in(anys(f.Origins)))
	}
	if len(f.ScenariosContaining) > 0 {
		var ors []string
		for _, w := range f.ScenariosContaining {
			ors = append(ors, "LOWER(scenario) LIKE "+b.arg(likeWord(w))+` ESCAPE '\'`)
		}
		b.where("(" + strings.Join(ors, " OR ") + ")")
	}
	for _, w := range f.ScenariosNotContaining {
		b.where("LOWER(scenario) NOT LIKE " + b.arg(likeWord(w)) + ` ESCAPE '\'`)
	}
	if f.ExcludeSimulated {
		b.where("simulated = " + b.arg(false))
	}
	if !f.ActiveAt.IsZero() {
		b.where("until_at > " + b.arg(f.ActiveAt.UnixNano()))
	}
	if f.AfterID > 0 {
		b.where("id > " + b.arg(f.AfterID))
	}
	if f.BeforeID > 0 {
		b.where("id < " + b.arg(f.BeforeID))
	}
	return nil
}

func (e *Engine) listDecisions(ctx context.Context, q Querier, f store.DecisionFilter, fn func(*store.Decision) error) error {
	b := e.builder()
	if err := decisionWhere(b, f); err != nil {
		return err
	}
	sql := "SELECT " + decisionSelect + " FROM decisions" + b.clause() + " ORDER BY id"
	if f.Desc {
		sql += " DESC"
	}
	if f.Limit > 0 {
		sql += " LIMIT " + b.arg(int64(f.Limit))
	}
	return queryAll(ctx, q, sql, b.args, func(r Rows) error {
		d, err := scanDecision(r)
		if err != nil {
			return err
		}
		return fn(d)
	})
}

// ListDecisions implements store.Store.
func (e *Engine) ListDecisions(ctx context.Context, f store.DecisionFilter) ([]*store.Decision, error) {
	var out []*store.Decision
	err := e.listDecisions(ctx, e.b.Read(), f, func(d *store.Decision) error { out = append(out, d); return nil })
	if err != nil {
		return nil, e.errf(ctxErr(ctx, err), "list decisions")
	}
	return out, nil
}

// ListActiveDecisions implements store.Store.
func (e *Engine) ListActiveDecisions(ctx context.Context, now time.Time, fn func(*store.Decision) error) error {
	var after int64
	for {
		n := 0
		err := e.listDecisions(ctx, e.b.Read(), store.DecisionFilter{ActiveAt: now, AfterID: after, Limit: activePage},
			func(d *store.Decision) error {
				n++
				after = d.ID
				return errFn{fn(d)}.orNil()
			})
		if err != nil {
			if fe, ok := err.(errFn); ok {
				return fe.err
			}
			return e.errf(ctxErr(ctx, err), "list active decisions")
		}
		if n < activePage {
			return nil
		}
	}
}

func (e errFn) orNil() error {
	if e.err == nil {
		return nil
	}
	return e
}

// expireWhere expires the decisions matching b's conditions (which must
// include until_at > now), with new sequence numbers in id order. The
// caller holds the sequence lock (AllocSeq n=0) in transaction q.
func (e *Engine) expireWhere(ctx context.Context, q Querier, b *builder, now int64) (int64, error) {
	n, err := queryInt(ctx, q, "SELECT COUNT(*) FROM decisions"+b.clause(), b.args...)
	if err != nil || n == 0 {
		return 0, err
	}
	first, err := e.b.AllocSeq(ctx, q, n)
	if err != nil {
		return 0, err
	}
	sql := "UPDATE decisions SET until_at = " + b.arg(now) + ", change_seq = " + b.arg(first) + " + r.rn - 1" +
		" FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS rn FROM decisions" + b.clause() + ") AS r" +
		" WHERE decisions.id = r.id"
	return q.Exec(ctx, sql, b.args...)
}

// ExpireDecisions implements store.Store.
func (e *Engine) ExpireDecisions(ctx context.Context, now time.Time, f store.DecisionFilter) (int64, error) {
	f.ActiveAt = now
	f.Limit = 0
	var n int64
	err := e.b.Write(ctx, func(q Querier) error {
		if _, err := e.b.AllocSeq(ctx, q, 0); err != nil {
			return err
		}
		b := e.builder()
		if err := decisionWhere(b, f); err != nil {
			return err
		}
		var err error
		n, err = e.expireWhere(ctx, q, b, now.UnixNano())
		return err
	})
	if err != nil {
		return 0, e.errf(ctxErr(ctx, err), "expire decisions")
	}
	return n, nil
}

// ExpireDecision implements store.Store.
func (e *Engine) ExpireDecision(ctx context.Context, now time.Time, id int64) error {
	err := e.b.Write(ctx, func(q Querier) error {
		if _, err := e.b.AllocSeq(ctx, q, 0); err != nil {
			return err
		}
		if _, err := queryInt(ctx, q, "SELECT id FROM decisions WHERE id = "+e.b.Placeholder(1), id); err != nil {
			return err
		}
		b := e.builder()
		if err := decisionWhere(b, store.DecisionFilter{IDs: []int64{id}, ActiveAt: now}); err != nil {
			return err
		}
		_, err := e.expireWhere(ctx, q, b, now.UnixNano())
		return err
	})
	if err != nil {
		return e.errf(ctxErr(ctx, err), "expire decision %d", id)
	}
	return nil
}

// DecisionSeq implements store.Store.
func (e *Engine) DecisionSeq(ctx context.Context) (int64, error) {
	// The highest committed number: allocation order is commit order, so
	// every lower number is visible (or was flushed).
	n, err := queryInt(ctx, e.b.Read(), "SELECT MAX(change_seq) FROM decisions")
	if err != nil {
		return 0, e.errf(ctxErr(ctx, err), "decision seq")
	}
	return n, nil
}

// DecisionsChangedSince implements store.Store.
func (e *Engine) DecisionsChangedSince(ctx context.Context, seq int64, limit int) ([]*store.Decision, error) {
	b := e.builder()
	sql := "SELECT " + decisionSelect + " FROM decisions WHERE change_seq > " + b.arg(seq) + " ORDER BY change_seq"
	if limit > 0 {
		sql += " LIMIT " + b.arg(int64(limit))
	}
	var out []*store.Decision
	err := queryAll(ctx, e.b.Read(), sql, b.args, func(r Rows) error {
		d, err := scanDecision(r)
		out = append(out, d)
		return err
	})
	if err != nil {
		return nil, e.errf(ctxErr(ctx, err), "decisions changed since %d", seq)
	}
	return out, nil
}
