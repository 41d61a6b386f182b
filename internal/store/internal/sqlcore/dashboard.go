package sqlcore

import (
	"context"
	"sort"
	"time"

	"github.com/phalanx-ids/phalanx/internal/store"
)

const dashUserCols = "name, password_hash, role, created_at, updated_at, last_login"

func scanDashUser(r Rows) (*store.DashboardUser, error) {
	var u store.DashboardUser
	var created, updated, last int64
	if err := r.Scan(&u.Name, &u.PasswordHash, &u.Role, &created, &updated, &last); err != nil {
		return nil, err
	}
	u.CreatedAt, u.UpdatedAt, u.LastLogin = fromNS(created), fromNS(updated), fromNS(last)
	return &u, nil
}

// CreateDashboardUser implements store.Store.
func (e *Engine) CreateDashboardUser(ctx context.Context, u *store.DashboardUser) error {
	if u.Name == "" || u.PasswordHash == "" || u.Role == "" {
		return e.errf(store.ErrInvalid, "create dashboard user: empty name, hash or role")
	}
	c := *u
	stampNew(e.now(), &c.CreatedAt, &c.UpdatedAt)
	err := e.b.Write(ctx, func(q Querier) error {
		_, err := q.Exec(ctx, "INSERT INTO dashboard_users ("+dashUserCols+") VALUES ("+e.placeholders(6)+")",
			c.Name, c.PasswordHash, c.Role, ns(c.CreatedAt), ns(c.UpdatedAt), ns(c.LastLogin))
		return err
	})
	return e.createErr(ctx, err, "dashboard user", u.Name)
}

// GetDashboardUser implements store.Store.
func (e *Engine) GetDashboardUser(ctx context.Context, name string) (*store.DashboardUser, error) {
	var u *store.DashboardUser
	err := queryAll(ctx, e.b.Read(), "SELECT "+dashUserCols+" FROM dashboard_users WHERE name = "+e.b.Placeholder(1), []any{name},
		func(r Rows) (err error) { u, err = scanDashUser(r); return err })
	if err == nil && u == nil {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, e.errf(ctxErr(ctx, err), "get dashboard user %q", name)
	}
	return u, nil
}

// ListDashboardUsers implements store.Store.
func (e *Engine) ListDashboardUsers(ctx context.Context) ([]*store.DashboardUser, error) {
	var out []*store.DashboardUser
	err := queryAll(ctx, e.b.Read(), "SELECT "+dashUserCols+" FROM dashboard_users ORDER BY name", nil, func(r Rows) error {
		u, err := scanDashUser(r)
		out = append(out, u)
		return err
	})
	if err != nil {
		return nil, e.errf(ctxErr(ctx, err), "list dashboard users")
	}
	return out, nil
}

// TouchDashboardUser implements store.Store.
func (e *Engine) TouchDashboardUser(ctx context.Context, name string, at time.Time) error {
	var n int64
	err := e.b.Write(ctx, func(q Querier) (err error) {
		n, err = q.Exec(ctx, "UPDATE dashboard_users SET last_login = "+e.b.Placeholder(1)+" WHERE name = "+e.b.Placeholder(2), ns(at), name)
		return err
	})
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return e.errf(ctxErr(ctx, err), "touch dashboard user %q", name)
	}
	return nil
}

// DeleteDashboardUser implements store.Store.
func (e *Engine) DeleteDashboardUser(ctx context.Context, name string) error {
	var n int64
	err := e.b.Write(ctx, func(q Querier) (err error) {
		n, err = q.Exec(ctx, "DELETE FROM dashboard_users WHERE name = "+e.b.Placeholder(1), name)
		return err
	})
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return e.errf(ctxErr(ctx, err), "delete dashboard user %q", name)
	}
	return nil
}

// maxBuckets bounds StatsQuery's series.
const maxBuckets = 1000

// Stats implements store.Store. Every count is one GROUP BY: over the
// per-hour rollups alert_rollup and decision_rollup for whole hours, the
// per-minute ones for whole minutes of the last day, else over the
// covering indexes alerts_stats and decisions_created.
func (e *Engine) Stats(ctx context.Context, sq store.StatsQuery) (*store.Stats, error) {
	if !sq.Until.After(sq.Since) || sq.Step <= 0 || sq.Until.Sub(sq.Since)/sq.Step > maxBuckets {
		return nil, e.errf(store.ErrInvalid, "stats: bad range or step")
	}
	if sq.Top <= 0 {
		sq.Top = 10
	}
	if sq.Now.IsZero() {
		sq.Now = time.Now()
	}
	out := &store.Stats{}
	q := e.b.Read()
	since, until, step := sq.Since.UnixNano(), sq.Until.UnixNano(), int64(sq.Step)
	ph := e.b.Placeholder
	sim := ""
	if !sq.IncludeSimulated {
		sim = " AND simulated = " + ph(3)
	}
	args := []any{since, until}
	if !sq.IncludeSimulated {
		args = append(args, false)
	}
	table, col, count := "alerts", "created_at", "COUNT(*)"
	dtable, dcol, dcount := "decisions", "created_at", "COUNT(*)"
	switch {
	case sq.Step%time.Hour == 0 && since%hourNS == 0:
		// Whole hours: read the per-hour rollups.
		table, col, count = "alert_rollup", "hour", "CAST(SUM(n) AS BIGINT)"
		dtable, dcol, dcount = "decision_rollup", "hour", "CAST(SUM(n) AS BIGINT)"
	case sq.Step%time.Minute == 0 && since%minuteNS == 0 && !sq.Since.Before(sq.Now.Add(-MinuteRollupKeep+time.Hour)):
		// Whole minutes of the last day or so: the per-minute rollups
		// (Flush keeps MinuteRollupKeep of them).
		table, col, count = "alert_rollup_minute", "minute", "CAST(SUM(n) AS BIGINT)"
		dtable, dcol, dcount = "decision_rollup_minute", "minute", "CAST(SUM(n) AS BIGINT)"
	}
	rng := " WHERE " + col + " >= " + ph(1) + " AND " + col + " < " + ph(2) + sim
	// One pass over the range: per bucket, scenario, country and AS.
	type key struct {
		bucket        int64
		scen, cn, asn string
		asName        string
	}
	bucketExpr := "(" + col + " - " + ph(len(args)+1) + ") / " + ph(len(args)+2)
	sql := "SELECT " + bucketExpr + " AS b, scenario, source_cn, source_as_number, source_as_name, " + count + " FROM " + table + rng +
		" GROUP BY b, scenario, source_cn, source_as_number, source_as_name"
	series := map[[2]any]int64{}
	scen, cn, as := map[string]int64{}, map[string]int64{}, map[string]int64{}
	err := queryAll(ctx, q, sql, append(args[:len(args):len(args)], since, step), func(r Rows) error {
		var k key
		var n int64
		if err := r.Scan(&k.bucket, &k.scen, &k.cn, &k.asn, &k.asName, &n); err != nil {
			return err
		}
		series[[2]any{int(k.bucket), k.scen}] += n
		scen[k.scen] += n
		if k.cn != "" {
			cn[k.cn] += n
		}
		if k.asn != "" {
			name := "AS" + k.asn
			if k.asName != "" {
				name += " " + k.asName
			}
			as[name] += n
		}
		out.Alerts += n
		return nil
	})
	if err != nil {
		return nil, e.errf(ctxErr(ctx, err), "stats: alerts")
	}
	for k, n := range series {
		out.AlertSeries = append(out.AlertSeries, store.SeriesPoint{Bucket: k[0].(int), Key: k[1].(string), Count: n})
	}
	sortSeries(out.AlertSeries)
	out.TopScenarios, out.TopCountries, out.TopAS = top(scen, sq.Top), top(cn, sq.Top), top(as, sq.Top)

	dsql := "SELECT (" + dcol + " - " + ph(3) + ") / " + ph(4) + " AS b, origin, " + dcount + " FROM " + dtable +
		" WHERE " + dcol + " >= " + ph(1) + " AND " + dcol + " < " + ph(2) + " GROUP BY b, origin"
	err = queryAll(ctx, q, dsql, []any{since, until, since, step}, func(r Rows) error {
		var p store.SeriesPoint
		var b int64
		if err := r.Scan(&b, &p.Key, &p.Count); err != nil {
			return err
		}
		p.Bucket = int(b)
		out.DecisionSeries = append(out.DecisionSeries, p)
		return nil
	})
	if err != nil {
		return nil, e.errf(ctxErr(ctx, err), "stats: decisions")
	}
	sortSeries(out.DecisionSeries)
	if sq.SkipActive {
		return out, nil
	}
	err = queryAll(ctx, q, "SELECT origin, COUNT(*) FROM decisions WHERE until_at > "+ph(1)+" GROUP BY origin ORDER BY origin",
		[]any{sq.Now.UnixNano()}, func(r Rows) error {
			var c store.Count
			if err := r.Scan(&c.Key, &c.Count); err != nil {
				return err
			}
			out.ActiveByOrigin = append(out.ActiveByOrigin, c)
			out.ActiveDecisions += c.Count
			return nil
		})
	if err != nil {
		return nil, e.errf(ctxErr(ctx, err), "stats: active decisions")
	}
	return out, nil
}

func sortSeries(s []store.SeriesPoint) {
	sort.Slice(s, func(i, j int) bool {
		if s[i].Bucket != s[j].Bucket {
			return s[i].Bucket < s[j].Bucket
		}
		return s[i].Key < s[j].Key
	})
}

// top returns the n keys with the highest counts (ties by key).
func top(m map[string]int64, n int) []store.Count {
	out := make([]store.Count, 0, len(m))
	for k, c := range m {
		out = append(out, store.Count{Key: k, Count: c})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Key < out[j].Key
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}
