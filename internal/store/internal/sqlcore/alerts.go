package sqlcore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
)

const alertCols = "uuid, machine_id, created_at, scenario, scenario_hash, scenario_version, message, events_count, " +
	"started_at, stopped_at, capacity, leakspeed, simulated, remediation, kind, " +
	"source_scope, source_value, source_ip, source_range, source_as_number, source_as_name, source_cn, " +
	"source_latitude, source_longitude, source_start_ip, source_end_ip, labels, meta, events, profile"

const alertNCols = 30

const decisionCols = "uuid, alert_id, change_seq, created_at, until_at, origin, type, scope, value, scenario, simulated, start_ip, end_ip"

const decisionNCols = 13

// decisionSelect reads decisions (no address columns).
const decisionSelect = "id, uuid, alert_id, change_seq, created_at, until_at, origin, type, scope, value, scenario, simulated"

// decisionChunk bounds multi-row inserts (bind-parameter limits).
const decisionChunk = 200

func deref[T any](p *T) T {
	var z T
	if p == nil {
		return z
	}
	return *p
}

// parseTime parses a wire time for storage ("" is 0).
func parseTime(s string) (int64, error) {
	t, err := store.ParseTime(s)
	if err != nil || t.IsZero() {
		return 0, err
	}
	return t.UnixNano(), nil
}

func fmtTime(n int64) string {
	if n == 0 {
		return ""
	}
	return time.Unix(0, n).UTC().Format(time.RFC3339)
}

func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// alertRange picks the address range an alert is about, if any.
func alertRange(src *models.Source) (start, end []byte) {
	if src == nil {
		return nil, nil
	}
	for _, s := range []string{rangeValue(src), src.Range, src.IP} {
		if s == "" {
			continue
		}
		if r, err := store.ParseIPRange(s); err == nil {
			return r.Start[:], r.End[:]
		}
	}
	return nil, nil
}

func rangeValue(src *models.Source) string {
	if sc := src.GetScope(); strings.EqualFold(sc, "ip") || strings.EqualFold(sc, "range") {
		return src.GetValue()
	}
	return ""
}

// newDecision is a decision ready to insert.
type newDecision struct {
	uuid                            string
	until                           int64
	origin, typ, scope, value, scen string
	simulated                       bool
	start, end                      []byte
	alertIndex                      int
}

func prepareDecision(d *models.Decision, stopAt string, alertSim bool, now time.Time, idx int) (newDecision, error) {
	nd := newDecision{
		uuid: d.UUID, origin: deref(d.Origin), typ: deref(d.Type), scope: deref(d.Scope),
		value: deref(d.Value), scen: deref(d.Scenario), simulated: alertSim, alertIndex: idx,
	}
	if nd.uuid == "" {
		nd.uuid = models.NewUUID()
	}
	if d.Simulated != nil {
		nd.simulated = *d.Simulated || alertSim
	}
	until, err := store.DecisionUntil(stopAt, d, now)
	if err != nil {
		return nd, fmt.Errorf("decision on %q: %w", nd.value, err)
	}
	nd.until = until.UnixNano()
	r, ok, err := store.DecisionRange(nd.scope, nd.value)
	if err != nil {
		return nd, err
	}
	if ok {
		nd.start, nd.end = r.Start[:], r.End[:]
	}
	return nd, nil
}

// CreateAlerts implements store.Store.
func (e *Engine) CreateAlerts(ctx context.Context, machineID string, alerts []*models.Alert) ([]int64, error) {
	if len(alerts) == 0 {
		return nil, nil
	}
	now := e.now()
	nowNS := now.UnixNano()
	rows := make([][]any, len(alerts))
	var decs []newDecision
	for i, a := range alerts {
		if a == nil {
			return nil, e.errf(store.ErrInvalid, "create alerts: alert %d is nil", i)
		}
		args, err := alertArgs(a, machineID, nowNS)
		if err != nil {
			return nil, e.errf(err, "create alerts: alert %d", i)
		}
		rows[i] = args
		for _, d := range a.Decisions {
			if d == nil {
				continue
			}
			nd, err := prepareDecision(d, deref(a.StopAt), deref(a.Simulated), now, i)
			if err != nil {
				return nil, e.errf(err, "create alerts: alert %d", i)
			}
			decs = append(decs, nd)
		}
	}
	// An alert whose uuid is already stored is not stored again (nor its
	// decisions): a retry of a push whose answer was lost gets the ids of
	// the first one.
	insAlert := "INSERT INTO alerts (" + alertCols + ") VALUES (" + e.placeholders(alertNCols) +
		") ON CONFLICT (uuid) DO NOTHING RETURNING id"
	byUUID := "SELECT id, machine_id FROM alerts WHERE uuid = " + e.b.Placeholder(1)
	var ids []int64
	err := e.b.Write(ctx, func(q Querier) error {
		ids = make([]int64, len(alerts))
		known := make([]bool, len(alerts))
		for i, args := range rows {
			id, err := queryInt(ctx, q, insAlert, args...)
			if errors.Is(err, store.ErrNotFound) {
				id, err = e.existingAlert(ctx, q, byUUID, args[0].(string), machineID)
				known[i] = true
			}
			if err != nil {
				return err
			}
			ids[i] = id
		}
		fresh := decs
		if slices.Contains(known, true) {
			fresh = make([]newDecision, 0, len(decs))
			for _, d := range decs {
				if !known[d.alertIndex] {
					fresh = append(fresh, d)
				}
			}
		}
		if len(fresh) > 0 {
			first, err := e.b.AllocSeq(ctx, q, int64(len(fresh)))
			if err != nil {
				return err
			}
			if err := e.insertDecisions(ctx, q, fresh, ids, first, nowNS); err != nil {
				return err
			}
		}
		if err := e.rollup(ctx, q, rows, known); err != nil {
			return err
		}
		if err := e.insertRawLines(ctx, q, alerts, ids, known); err != nil {
			return err
		}
		if machineID != "" {
			if _, err := q.Exec(ctx, "UPDATE machines SET last_push = "+e.b.Placeholder(1)+" WHERE machine_id = "+e.b.Placeholder(2),
				nowNS, machineID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, e.errf(ctxErr(ctx, err), "create alerts")
	}
	return ids, nil
}

// insertRawLines stores the raw lines of the newly stored alerts.
func (e *Engine) insertRawLines(ctx context.Context, q Querier, alerts []*models.Alert, ids []int64, known []bool) error {
	sql := "INSERT INTO alert_raw_lines (alert_id, lines) VALUES (" + e.placeholders(2) + ")"
	for i, a := range alerts {
		if known[i] || len(a.RawLines) == 0 {
			continue
		}
		lines, err := jsonText(a.RawLines)
		if err != nil {
			return err
		}
		if _, err := q.Exec(ctx, sql, ids[i], lines); err != nil {
			return err
		}
	}
	return nil
}

// AlertRawLines implements store.Store.
func (e *Engine) AlertRawLines(ctx context.Context, id int64) ([]*models.RawLine, error) {
	var out []*models.RawLine
	err := queryAll(ctx, e.b.Read(), "SELECT lines FROM alert_raw_lines WHERE alert_id = "+e.b.Placeholder(1), []any{id},
		func(r Rows) error {
			var lines string
			if err := r.Scan(&lines); err != nil {
				return err
			}
			return json.Unmarshal([]byte(lines), &out)
		})
	if err != nil {
		return nil, e.errf(ctxErr(ctx, err), "alert %d raw lines", id)
	}
	return out, nil
}

// existingAlert returns the id of the stored alert with that uuid, pushed
// by machineID; ErrExists when another machine pushed it.
func (e *Engine) existingAlert(ctx context.Context, q Querier, sql, uuid, machineID string) (int64, error) {
	var id int64
	owner := ""
	found := false
	err := queryAll(ctx, q, sql, []any{uuid}, func(r Rows) error {
		found = true
		return r.Scan(&id, &owner)
	})
	switch {
	case err != nil:
		return 0, err
	case !found:
		return 0, fmt.Errorf("alert uuid %q: conflicting insert vanished: %w", uuid, store.ErrInvalid)
	case owner != machineID:
		return 0, fmt.Errorf("alert uuid %q: pushed by another machine: %w", uuid, store.ErrExists)
	}
	return id, nil
}

func (e *Engine) insertDecisions(ctx context.Context, q Querier, decs []newDecision, alertIDs []int64, firstSeq, nowNS int64) error {
	const cols = 13
	var sb strings.Builder
	args := make([]any, 0, cols*min(decisionChunk, len(decs)))
	for off := 0; off < len(decs); off += decisionChunk {
		chunk := decs[off:min(off+decisionChunk, len(decs))]
		sb.Reset()
		args = args[:0]
		sb.WriteString("INSERT INTO decisions (" + decisionCols + ") VALUES ")
		for i, d := range chunk {
			if i > 0 {
				sb.WriteString(", ")
			}
			var alertID any
			if alertIDs != nil {
				alertID = alertIDs[d.alertIndex]
			}
			sb.WriteByte('(')
			sb.WriteString(e.seqPlaceholders(cols, len(args)))
			sb.WriteByte(')')
			args = append(args, d.uuid, alertID, firstSeq+int64(off+i), nowNS, d.until, d.origin, d.typ, d.scope,
				d.value, d.scen, boolArg(d.simulated), blob(d.start), blob(d.end))
		}
		if _, err := q.Exec(ctx, sb.String(), args...); err != nil {
			return err
		}
	}
	// The per-hour and per-minute rollups of decisions created, by origin.
	byOrigin := map[string]int64{}
	for _, d := range decs {
		byOrigin[d.origin]++
	}
	for _, t := range []struct {
		table, col string
		res        int64
	}{{"decision_rollup", "hour", hourNS}, {"decision_rollup_minute", "minute", minuteNS}} {
		sql := "INSERT INTO " + t.table + " (" + t.col + ", origin, n) VALUES (" + e.placeholders(3) + ") ON CONFLICT (" + t.col +
			", origin) DO UPDATE SET n = " + t.table + ".n + excluded.n"
		for o, n := range byOrigin {
			if _, err := q.Exec(ctx, sql, nowNS/t.res*t.res, o, n); err != nil {
				return err
			}
		}
	}
	return nil
}

func alertArgs(a *models.Alert, machineID string, nowNS int64) ([]any, error) {
	start, err := parseTime(deref(a.StartAt))
	if err != nil {
		return nil, fmt.Errorf("start_at: %w", err)
	}
	stop, err := parseTime(deref(a.StopAt))
	if err != nil {
		return nil, fmt.Errorf("stop_at: %w", err)
	}
	labels, err := jsonText(a.Labels)
	if err != nil {
		return nil, err
	}
	meta, err := jsonText(a.Meta)
	if err != nil {
		return nil, err
	}
	events, err := jsonText(a.Events)
	if err != nil {
		return nil, err
	}
	uuid := a.UUID
	if uuid == "" {
		uuid = models.NewUUID()
	}
	src := a.Source
	if src == nil {
		src = &models.Source{}
	}
	sStart, sEnd := alertRange(a.Source)
	return []any{uuid, machineID, nowNS, deref(a.Scenario), deref(a.ScenarioHash), deref(a.ScenarioVersion), deref(a.Message),
		int64(deref(a.EventsCount)), start, stop, int64(deref(a.Capacity)), deref(a.Leakspeed), boolArg(deref(a.Simulated)),
		boolArg(a.Remediation), a.Kind, src.GetScope(), src.GetValue(), src.IP, src.Range, src.AsNumber, src.AsName, src.Cn,
		float64(src.Latitude), float64(src.Longitude), blob(sStart), blob(sEnd), labels, meta, events, a.Profile}, nil
}

// alertSelect reads alerts: id then alertCols without the address columns.
const alertSelect = "id, uuid, machine_id, created_at, scenario, scenario_hash, scenario_version, message, events_count, " +
	"started_at, stopped_at, capacity, leakspeed, simulated, remediation, kind, " +
	"source_scope, source_value, source_ip, source_range, source_as_number, source_as_name, source_cn, " +
	"source_latitude, source_longitude, labels, meta, events, profile"

func scanAlert(r Rows) (*models.Alert, error) {
	var (
		a                                          models.Alert
		created, started, stopped, count, capacity int64
		scen, hash, ver, msg, leak, labels, meta   string
		events                                     string
		sim                                        bool
		src                                        models.Source
		scope, value                               string
		lat, lon                                   float64
	)
	if err := r.Scan(&a.ID, &a.UUID, &a.MachineID, &created, &scen, &hash, &ver, &msg, &count, &started, &stopped,
		&capacity, &leak, &sim, &a.Remediation, &a.Kind, &scope, &value, &src.IP, &src.Range, &src.AsNumber,
		&src.AsName, &src.Cn, &lat, &lon, &labels, &meta, &events, &a.Profile); err != nil {
		return nil, err
	}
	a.CreatedAt = fmtTime(created)
	a.Scenario, a.ScenarioHash, a.ScenarioVersion, a.Message, a.Leakspeed = &scen, &hash, &ver, &msg, &leak
	c32, cap32 := int32(count), int32(capacity)
	a.EventsCount, a.Capacity = &c32, &cap32
	st, sp := fmtTime(started), fmtTime(stopped)
	a.StartAt, a.StopAt = &st, &sp
	a.Simulated = &sim
	src.Scope, src.Value = &scope, &value
	src.Latitude, src.Longitude = float32(lat), float32(lon)
	a.Source = &src
	if err := json.Unmarshal([]byte(labels), &a.Labels); err != nil {
		return nil, fmt.Errorf("alert %d labels: %w", a.ID, err)
	}
	if err := json.Unmarshal([]byte(meta), &a.Meta); err != nil {
		return nil, fmt.Errorf("alert %d meta: %w", a.ID, err)
	}
	if err := json.Unmarshal([]byte(events), &a.Events); err != nil {
		return nil, fmt.Errorf("alert %d events: %w", a.ID, err)
	}
	return &a, nil
}

func scanDecision(r Rows) (*store.Decision, error) {
	var d store.Decision
	var alertID *int64
	var created, until int64
	if err := r.Scan(&d.ID, &d.UUID, &alertID, &d.Seq, &created, &until, &d.Origin, &d.Type, &d.Scope, &d.Value,
		&d.Scenario, &d.Simulated); err != nil {
		return nil, err
	}
	if alertID != nil {
		d.AlertID = *alertID
	}
	d.CreatedAt, d.Until = fromNS(created), fromNS(until)
	return &d, nil
}

// alertWhere turns an alert filter into conditions on table alerts.
func (e *Engine) alertWhere(b *builder, f store.AlertFilter) error {
	if f.Scope != "" {
		b.where("LOWER(source_scope) = LOWER(" + b.arg(f.Scope) + ")")
	}
	if f.Value != "" {
		b.where("source_value = " + b.arg(f.Value))
	}
	if f.Scenario != "" {
		b.where("scenario = " + b.arg(f.Scenario))
	}
	// ip/range match through the alert's decisions, as CrowdSec does: an
	// imported decision (whose alert's source is something else) is found
	// by its own address.
	inner := &builder{ph: b.ph, args: b.args}
	if err := rangeWhere(inner, "d.start_ip", "d.end_ip", f.IP, f.Range, f.Contains); err != nil {
		return err
	}
	if len(inner.conds) > 0 {
		b.args = inner.args
		b.where("EXISTS (SELECT 1 FROM decisions d WHERE d.alert_id = alerts.id AND " + strings.Join(inner.conds, " AND ") + ")")
	}
	if !f.Since.IsZero() {
		b.where("started_at >= " + b.arg(f.Since.UnixNano()))
	}
	if !f.Until.IsZero() {
		b.where("started_at <= " + b.arg(f.Until.UnixNano()))
	}
	if !f.CreatedBefore.IsZero() {
		b.where("created_at < " + b.arg(f.CreatedBefore.UnixNano()))
	}
	if !f.IncludeSimulated {
		b.where("simulated = " + b.arg(false))
	}
	if f.HasActiveDecision != nil {
		now := f.Now
		if now.IsZero() {
			now = time.Now()
		}
		cond := "EXISTS (SELECT 1 FROM decisions d WHERE d.alert_id = alerts.id AND d.until_at > " + b.arg(now.UnixNano()) + ")"
		if !*f.HasActiveDecision {
			cond = "NOT " + cond
		}
		b.where(cond)
	}
	if f.DecisionType != "" {
		b.where("EXISTS (SELECT 1 FROM decisions d WHERE d.alert_id = alerts.id AND d.type = " + b.arg(f.DecisionType) + ")")
	}
	if f.Origin != "" {
		b.where("EXISTS (SELECT 1 FROM decisions d WHERE d.alert_id = alerts.id AND d.origin = " + b.arg(f.Origin) + ")")
	}
	if len(f.ExcludeOrigins) > 0 {
		b.where("NOT EXISTS (SELECT 1 FROM decisions d WHERE d.alert_id = alerts.id AND d.origin IN " + b.in(anys(f.ExcludeOrigins)) + ")")
	}
	if f.Kind != "" {
		b.where("kind = " + b.arg(f.Kind))
	}
	if f.Country != "" {
		b.where("source_cn = " + b.arg(f.Country))
	}
	if f.ASNumber != "" {
		b.where("source_as_number = " + b.arg(f.ASNumber))
	}
	if f.BeforeID > 0 {
		b.where("id < " + b.arg(f.BeforeID))
	}
	if f.IDs != nil {
		if len(f.IDs) == 0 {
			b.where("1 = 0")
		} else {
			b.where("id IN " + b.in(anys(f.IDs)))
		}
	}
	return nil
}

func anys[T any](v []T) []any {
	out := make([]any, len(v))
	for i, x := range v {
		out[i] = x
	}
	return out
}

// rangeWhere adds address containment on start/end columns.
func rangeWhere(b *builder, startCol, endCol, ip, rng string, contains *bool) error {
	val := ip
	if val == "" {
		val = rng
	}
	if val == "" {
		return nil
	}
	r, err := store.ParseIPRange(val)
	if err != nil {
		return err
	}
	if contains == nil || *contains {
		b.where(startCol + " <= " + b.arg(r.Start[:]) + " AND " + endCol + " >= " + b.arg(r.End[:]))
	} else {
		b.where(startCol + " >= " + b.arg(r.Start[:]) + " AND " + endCol + " <= " + b.arg(r.End[:]))
	}
	return nil
}

// ListAlerts implements store.Store.
func (e *Engine) ListAlerts(ctx context.Context, f store.AlertFilter) ([]*models.Alert, error) {
	out, err := e.listAlerts(ctx, f)
	if err != nil {
		return nil, e.errf(ctxErr(ctx, err), "list alerts")
	}
	return out, nil
}

func (e *Engine) listAlerts(ctx context.Context, f store.AlertFilter) ([]*models.Alert, error) {
	b := e.builder()
	if err := e.alertWhere(b, f); err != nil {
		return nil, err
	}
	sql := "SELECT " + alertSelect + " FROM alerts" + b.clause()
	if f.SortAsc {
		sql += " ORDER BY id ASC"
	} else {
		sql += " ORDER BY id DESC"
	}
	if f.Limit > 0 {
		sql += " LIMIT " + b.arg(int64(f.Limit))
	}
	q := e.b.Read()
	var out []*models.Alert
	err := queryAll(ctx, q, sql, b.args, func(r Rows) error {
		a, err := scanAlert(r)
		out = append(out, a)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, e.attachDecisions(ctx, q, out)
}

// attachDecisions loads the decisions of the alerts.
func (e *Engine) attachDecisions(ctx context.Context, q Querier, alerts []*models.Alert) error {
	byID := make(map[int64]*models.Alert, len(alerts))
	for _, a := range alerts {
		byID[a.ID] = a
	}
	now := time.Now()
	for off := 0; off < len(alerts); off += 500 {
		chunk := alerts[off:min(off+500, len(alerts))]
		ids := make([]any, len(chunk))
		for i, a := range chunk {
			ids[i] = a.ID
		}
		b := e.builder()
		sql := "SELECT " + decisionSelect + " FROM decisions WHERE alert_id IN " + b.in(ids) + " ORDER BY id"
		err := queryAll(ctx, q, sql, b.args, func(r Rows) error {
			d, err := scanDecision(r)
			if err != nil {
				return err
			}
			a := byID[d.AlertID]
			a.Decisions = append(a.Decisions, d.Model(now))
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// GetAlert implements store.Store.
func (e *Engine) GetAlert(ctx context.Context, id int64) (*models.Alert, error) {
	as, err := e.listAlerts(ctx, store.AlertFilter{IDs: []int64{id}, IncludeSimulated: true})
	if err == nil && len(as) == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, e.errf(ctxErr(ctx, err), "get alert %d", id)
	}
	return as[0], nil
}

// DeleteAlerts implements store.Store.
func (e *Engine) DeleteAlerts(ctx context.Context, f store.AlertFilter) (int64, error) {
	n, err := e.deleteAlerts(ctx, f)
	if err != nil {
		return 0, e.errf(ctxErr(ctx, err), "delete alerts")
	}
	return n, nil
}

func (e *Engine) deleteAlerts(ctx context.Context, f store.AlertFilter) (int64, error) {
	b := e.builder()
	if err := e.alertWhere(b, f); err != nil {
		return 0, err
	}
	var n int64
	err := e.b.Write(ctx, func(q Querier) error {
		now := e.now().UnixNano()
		// Expire the active decisions of the doomed alerts first, so that
		// decision streams report them; the rows survive, detached.
		if _, err := e.b.AllocSeq(ctx, q, 0); err != nil {
			return err
		}
		db := e.builder()
		db.args = append(db.args, b.args...)
		db.where("alert_id IN (SELECT id FROM alerts" + b.clause() + ")")
		db.where("until_at > " + db.arg(now))
		if _, err := e.expireWhere(ctx, q, db, now); err != nil {
			return err
		}
		var err error
		n, err = q.Exec(ctx, "DELETE FROM alerts"+b.clause(), b.args...)
		return err
	})
	return n, err
}

// DeleteAlert implements store.Store.
func (e *Engine) DeleteAlert(ctx context.Context, id int64) error {
	n, err := e.deleteAlerts(ctx, store.AlertFilter{IDs: []int64{id}, IncludeSimulated: true})
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return e.errf(ctxErr(ctx, err), "delete alert %d", id)
	}
	return nil
}

// rollupKey is a row of alert_rollup.
type rollupKey struct {
	hour                 int64
	scen, cn, asn, asNam string
	sim                  bool
}

// hourNS is an hour in nanoseconds (alert_rollup's resolution).
const hourNS = int64(3600_000_000_000)

// minuteNS is a minute in nanoseconds (the minute rollups' resolution).
const minuteNS = int64(60_000_000_000)

// MinuteRollupKeep is how long Flush keeps the per-minute rollups.
const MinuteRollupKeep = 48 * time.Hour

// rollup counts the newly stored alerts (rows not known) in alert_rollup
// and alert_rollup_minute.
func (e *Engine) rollup(ctx context.Context, q Querier, rows [][]any, known []bool) error {
	for _, t := range []struct {
		table, col string
		res        int64
	}{{"alert_rollup", "hour", hourNS}, {"alert_rollup_minute", "minute", minuteNS}} {
		counts := map[rollupKey]int64{}
		for i, r := range rows {
			if known[i] {
				continue
			}
			sim, _ := r[12].(bool)
			k := rollupKey{hour: r[2].(int64) / t.res * t.res, scen: r[3].(string), cn: r[21].(string),
				asn: r[19].(string), asNam: r[20].(string), sim: sim}
			counts[k]++
		}
		cols := t.col + ", scenario, source_cn, source_as_number, source_as_name, simulated"
		sql := "INSERT INTO " + t.table + " (" + cols + ", n) VALUES (" + e.placeholders(7) + ") ON CONFLICT (" + cols +
			") DO UPDATE SET n = " + t.table + ".n + excluded.n"
		for k, n := range counts {
			if _, err := q.Exec(ctx, sql, k.hour, k.scen, k.cn, k.asn, k.asNam, boolArg(k.sim), n); err != nil {
				return err
			}
		}
	}
	return nil
}
