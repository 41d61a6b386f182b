package sqlcore

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/phalanx-ids/phalanx/internal/store"
)

const machineCols = "machine_id, password_hash, ip_address, version, scenarios, is_validated, auth_type, " +
	"os_name, os_version, feature_flags, created_at, updated_at, last_push, last_heartbeat"

func machineArgs(m *store.Machine) []any {
	return []any{m.ID, m.PasswordHash, m.IPAddress, m.Version, strings.Join(m.Scenarios, ","), boolArg(m.IsValidated),
		m.AuthType, m.OSName, m.OSVersion, m.FeatureFlags, ns(m.CreatedAt), ns(m.UpdatedAt), ns(m.LastPush), ns(m.LastHeartbeat)}
}

func scanMachine(r Rows) (*store.Machine, error) {
	var m store.Machine
	var scen string
	var created, updated, push, hb int64
	if err := r.Scan(&m.ID, &m.PasswordHash, &m.IPAddress, &m.Version, &scen, &m.IsValidated, &m.AuthType,
		&m.OSName, &m.OSVersion, &m.FeatureFlags, &created, &updated, &push, &hb); err != nil {
		return nil, err
	}
	if scen != "" {
		m.Scenarios = strings.Split(scen, ",")
	}
	m.CreatedAt, m.UpdatedAt, m.LastPush, m.LastHeartbeat = fromNS(created), fromNS(updated), fromNS(push), fromNS(hb)
	return &m, nil
}

// placeholders returns the n bind parameters of a VALUES list (the only
// parameters of its statement).
func (e *Engine) placeholders(n int) string {
	return e.seqPlaceholders(n, 0)
}

// seqPlaceholders returns "p(first+1), ..., p(first+n)" in the sequential
// form (SeqPlaceholder).
func (e *Engine) seqPlaceholders(n, first int) string {
	var sb strings.Builder
	for i := range n {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(e.b.SeqPlaceholder(first + i + 1))
	}
	return sb.String()
}

// setList returns "a = $1, b = $2..." for the columns.
func (e *Engine) setList(cols string) string {
	names := strings.Split(cols, ", ")
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + " = " + e.b.Placeholder(i+1)
	}
	return strings.Join(parts, ", ")
}

// CreateMachine implements store.Store.
func (e *Engine) CreateMachine(ctx context.Context, m *store.Machine) error {
	if m.ID == "" {
		return e.errf(store.ErrInvalid, "create machine: empty id")
	}
	c := *m
	stampNew(e.now(), &c.CreatedAt, &c.UpdatedAt)
	if c.AuthType == "" {
		c.AuthType = "password"
	}
	err := e.b.Write(ctx, func(q Querier) error {
		_, err := q.Exec(ctx, "INSERT INTO machines ("+machineCols+") VALUES ("+e.placeholders(14)+")", machineArgs(&c)...)
		return err
	})
	return e.createErr(ctx, err, "machine", m.ID)
}

func (e *Engine) getMachine(ctx context.Context, q Querier, id string, forUpdate string) (*store.Machine, error) {
	var m *store.Machine
	err := queryAll(ctx, q, "SELECT "+machineCols+" FROM machines WHERE machine_id = "+e.b.Placeholder(1)+forUpdate, []any{id},
		func(r Rows) (err error) { m, err = scanMachine(r); return err })
	if err == nil && m == nil {
		err = store.ErrNotFound
	}
	return m, err
}

// GetMachine implements store.Store.
func (e *Engine) GetMachine(ctx context.Context, id string) (*store.Machine, error) {
	m, err := e.getMachine(ctx, e.b.Read(), id, "")
	if err != nil {
		return nil, e.errf(ctxErr(ctx, err), "get machine %q", id)
	}
	return m, nil
}

// ListMachines implements store.Store.
func (e *Engine) ListMachines(ctx context.Context) ([]*store.Machine, error) {
	var out []*store.Machine
	err := queryAll(ctx, e.b.Read(), "SELECT "+machineCols+" FROM machines ORDER BY machine_id", nil, func(r Rows) error {
		m, err := scanMachine(r)
		out = append(out, m)
		return err
	})
	if err != nil {
		return nil, e.errf(ctxErr(ctx, err), "list machines")
	}
	return out, nil
}

// errFn marks an error returned by a caller's update function.
type errFn struct{ err error }

func (e errFn) Error() string { return e.err.Error() }
func (e errFn) Unwrap() error { return e.err }

// UpdateMachine implements store.Store.
func (e *Engine) UpdateMachine(ctx context.Context, id string, fn func(*store.Machine) error) (*store.Machine, error) {
	var out *store.Machine
	err := e.b.Write(ctx, func(q Querier) error {
		m, err := e.getMachine(ctx, q, id, e.forUpdate())
		if err != nil {
			return err
		}
		if err := fn(m); err != nil {
			return errFn{err}
		}
		m.ID = id
		m.UpdatedAt = e.now()
		args := machineArgs(m)
		if _, err := q.Exec(ctx, "UPDATE machines SET "+e.setList(machineCols)+" WHERE machine_id = "+e.b.Placeholder(15),
			append(args, id)...); err != nil {
			return err
		}
		out = m
		return nil
	})
	if err != nil {
		var fe errFn
		if errors.As(err, &fe) {
			return nil, fe.err
		}
		return nil, e.errf(ctxErr(ctx, err), "update machine %q", id)
	}
	return out, nil
}

// forUpdate returns the row-locking suffix for read-modify-write selects.
func (e *Engine) forUpdate() string { return e.b.LockSuffix() }

// touch raises a time column for many rows.
func (e *Engine) touch(ctx context.Context, table, key, col string, stamps map[string]time.Time) error {
	if len(stamps) == 0 {
		return nil
	}
	keys := make([]string, 0, len(stamps))
	for k := range stamps {
		keys = append(keys, k)
	}
	sort.Strings(keys) // a stable lock order between concurrent writers
	sql := "UPDATE " + table + " SET " + col + " = " + e.b.Placeholder(1) + " WHERE " + key + " = " + e.b.Placeholder(2) +
		" AND " + col + " < " + e.b.Placeholder(1)
	return e.b.Write(ctx, func(q Querier) error {
		for _, k := range keys {
			if _, err := q.Exec(ctx, sql, ns(stamps[k]), k); err != nil {
				return err
			}
		}
		return nil
	})
}

// TouchMachines implements store.Store.
func (e *Engine) TouchMachines(ctx context.Context, hb map[string]time.Time) error {
	if err := e.touch(ctx, "machines", "machine_id", "last_heartbeat", hb); err != nil {
		return e.errf(ctxErr(ctx, err), "touch machines")
	}
	return nil
}

func (e *Engine) deleteOne(ctx context.Context, table, key, val string) error {
	return e.b.Write(ctx, func(q Querier) error {
		n, err := q.Exec(ctx, "DELETE FROM "+table+" WHERE "+key+" = "+e.b.Placeholder(1), val)
		if err == nil && n == 0 {
			err = store.ErrNotFound
		}
		return err
	})
}

// DeleteMachine implements store.Store.
func (e *Engine) DeleteMachine(ctx context.Context, id string) error {
	if err := e.deleteOne(ctx, "machines", "machine_id", id); err != nil {
		return e.errf(ctxErr(ctx, err), "delete machine %q", id)
	}
	return nil
}

const bouncerCols = "name, api_key_hash, ip_address, type, version, auth_type, auto_created, " +
	"os_name, os_version, feature_flags, created_at, updated_at, last_pull"

func bouncerArgs(b *store.Bouncer) []any {
	return []any{b.Name, b.KeyHash, b.IPAddress, b.Type, b.Version, b.AuthType, boolArg(b.AutoCreated),
		b.OSName, b.OSVersion, b.FeatureFlags, ns(b.CreatedAt), ns(b.UpdatedAt), ns(b.LastPull)}
}

func scanBouncer(r Rows) (*store.Bouncer, error) {
	var b store.Bouncer
	var created, updated, pull int64
	if err := r.Scan(&b.Name, &b.KeyHash, &b.IPAddress, &b.Type, &b.Version, &b.AuthType, &b.AutoCreated,
		&b.OSName, &b.OSVersion, &b.FeatureFlags, &created, &updated, &pull); err != nil {
		return nil, err
	}
	b.CreatedAt, b.UpdatedAt, b.LastPull = fromNS(created), fromNS(updated), fromNS(pull)
	return &b, nil
}

// CreateBouncer implements store.Store.
func (e *Engine) CreateBouncer(ctx context.Context, b *store.Bouncer) error {
	if b.Name == "" {
		return e.errf(store.ErrInvalid, "create bouncer: empty name")
	}
	c := *b
	stampNew(e.now(), &c.CreatedAt, &c.UpdatedAt)
	if c.AuthType == "" {
		c.AuthType = "api-key"
	}
	err := e.b.Write(ctx, func(q Querier) error {
		_, err := q.Exec(ctx, "INSERT INTO bouncers ("+bouncerCols+") VALUES ("+e.placeholders(13)+")", bouncerArgs(&c)...)
		return err
	})
	return e.createErr(ctx, err, "bouncer", b.Name)
}

func (e *Engine) listBouncers(ctx context.Context, q Querier, where string, args ...any) ([]*store.Bouncer, error) {
	return e.listBouncersLock(ctx, q, where, "", args...)
}

func (e *Engine) listBouncersLock(ctx context.Context, q Querier, where, lock string, args ...any) ([]*store.Bouncer, error) {
	var out []*store.Bouncer
	err := queryAll(ctx, q, "SELECT "+bouncerCols+" FROM bouncers"+where+" ORDER BY name"+lock, args, func(r Rows) error {
		b, err := scanBouncer(r)
		out = append(out, b)
		return err
	})
	return out, err
}

// GetBouncer implements store.Store.
func (e *Engine) GetBouncer(ctx context.Context, name string) (*store.Bouncer, error) {
	bs, err := e.listBouncers(ctx, e.b.Read(), " WHERE name = "+e.b.Placeholder(1), name)
	if err == nil && len(bs) == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, e.errf(ctxErr(ctx, err), "get bouncer %q", name)
	}
	return bs[0], nil
}

// BouncersByKeyHash implements store.Store.
func (e *Engine) BouncersByKeyHash(ctx context.Context, hash string) ([]*store.Bouncer, error) {
	bs, err := e.listBouncers(ctx, e.b.Read(), " WHERE api_key_hash = "+e.b.Placeholder(1), hash)
	if err != nil {
		return nil, e.errf(ctxErr(ctx, err), "bouncers by key")
	}
	return bs, nil
}

// ListBouncers implements store.Store.
func (e *Engine) ListBouncers(ctx context.Context) ([]*store.Bouncer, error) {
	bs, err := e.listBouncers(ctx, e.b.Read(), "")
	if err != nil {
		return nil, e.errf(ctxErr(ctx, err), "list bouncers")
	}
	return bs, nil
}

// UpdateBouncer implements store.Store.
func (e *Engine) UpdateBouncer(ctx context.Context, name string, fn func(*store.Bouncer) error) (*store.Bouncer, error) {
	var out *store.Bouncer
	err := e.b.Write(ctx, func(q Querier) error {
		bs, err := e.listBouncersLock(ctx, q, " WHERE name = "+e.b.Placeholder(1), e.forUpdate(), name)
		if err != nil {
			return err
		}
		if len(bs) == 0 {
			return store.ErrNotFound
		}
		b := bs[0]
		if err := fn(b); err != nil {
			return errFn{err}
		}
		b.Name = name
		b.UpdatedAt = e.now()
		if _, err := q.Exec(ctx, "UPDATE bouncers SET "+e.setList(bouncerCols)+" WHERE name = "+e.b.Placeholder(14),
			append(bouncerArgs(b), name)...); err != nil {
			return err
		}
		out = b
		return nil
	})
	if err != nil {
		var fe errFn
		if errors.As(err, &fe) {
			return nil, fe.err
		}
		return nil, e.errf(ctxErr(ctx, err), "update bouncer %q", name)
	}
	return out, nil
}

// TouchBouncers implements store.Store.
func (e *Engine) TouchBouncers(ctx context.Context, pulls map[string]time.Time) error {
	if err := e.touch(ctx, "bouncers", "name", "last_pull", pulls); err != nil {
		return e.errf(ctxErr(ctx, err), "touch bouncers")
	}
	return nil
}

// DeleteBouncer implements store.Store.
func (e *Engine) DeleteBouncer(ctx context.Context, name string) error {
	if err := e.deleteOne(ctx, "bouncers", "name", name); err != nil {
		return e.errf(ctxErr(ctx, err), "delete bouncer %q", name)
	}
	return nil
}
