package centralstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Signal is a stored signal.
type Signal struct {
	ID              int64
	MachineID       string
	UUID            string
	IP              string
	Scenario        string
	ScenarioHash    string
	ScenarioVersion string
	ScenarioTrust   string
	StartAt, StopAt time.Time
	CreatedAt       time.Time // the reporter's clock
	ReceivedAt      time.Time
}

// InsertSignals stores signals in one transaction; a signal whose
// (machine id, uuid) is stored already is skipped (idempotent retries).
// It returns how many were new. When it returns nil, they are committed.
// On PostgreSQL the insert holds a transaction-scoped advisory lock, so
// that signal ids become visible in increasing order to the curator.
func (s *Store) InsertSignals(ctx context.Context, sigs []Signal) (int, error) {
	if len(sigs) == 0 {
		return 0, nil
	}
	n := 0
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if s.pg {
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock("+strconv.FormatInt(signalLock, 10)+")"); err != nil {
				return err
			}
		}
		const cols = 11
		const chunk = 500
		for start := 0; start < len(sigs); start += chunk {
			part := sigs[start:min(start+chunk, len(sigs))]
			var b strings.Builder
			b.WriteString(`INSERT INTO signals (machine_id, uuid, ip, scenario, scenario_hash, scenario_version, scenario_trust,
				start_at, stop_at, created_at, received_at) VALUES `)
			args := make([]any, 0, len(part)*cols)
			for i, sg := range part {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString("(?,?,?,?,?,?,?,?,?,?,?)")
				u := sg.UUID
				if u == "" {
					u = randomID()
				}
				args = append(args, sg.MachineID, u, sg.IP, sg.Scenario, sg.ScenarioHash, sg.ScenarioVersion, sg.ScenarioTrust,
					ms(sg.StartAt), ms(sg.StopAt), ms(sg.CreatedAt), ms(sg.ReceivedAt))
			}
			b.WriteString(" ON CONFLICT (machine_id, uuid) DO NOTHING")
			res, err := tx.ExecContext(ctx, s.q(b.String()), args...)
			if err != nil {
				return err
			}
			k, _ := res.RowsAffected()
			n += int(k)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("centralstore: insert signals: %w", err)
	}
	return n, nil
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "srv-" + hex.EncodeToString(b)
}

const signalCols = `id, machine_id, uuid, ip, scenario, scenario_hash, scenario_version, scenario_trust, start_at, stop_at, created_at, received_at`

func scanSignals(rows *sql.Rows) ([]Signal, error) {
	defer rows.Close()
	var out []Signal
	for rows.Next() {
		var sg Signal
		var st, sp, c, r int64
		if err := rows.Scan(&sg.ID, &sg.MachineID, &sg.UUID, &sg.IP, &sg.Scenario, &sg.ScenarioHash, &sg.ScenarioVersion,
			&sg.ScenarioTrust, &st, &sp, &c, &r); err != nil {
			return nil, err
		}
		sg.StartAt, sg.StopAt, sg.CreatedAt, sg.ReceivedAt = fromMS(st), fromMS(sp), fromMS(c), fromMS(r)
		out = append(out, sg)
	}
	return out, rows.Err()
}

// SignalsAfter returns up to limit signals with id > after, by id.
func (s *Store) SignalsAfter(ctx context.Context, after int64, limit int) ([]Signal, error) {
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT `+signalCols+` FROM signals WHERE id > ? ORDER BY id LIMIT ?`), after, limit)
	if err != nil {
		return nil, fmt.Errorf("centralstore: signals: %w", err)
	}
	out, err := scanSignals(rows)
	if err != nil {
		return nil, fmt.Errorf("centralstore: signals: %w", err)
	}
	return out, nil
}

// LastSignalID is the highest signal id (0: none).
func (s *Store) LastSignalID(ctx context.Context) (int64, error) {
	var id sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT MAX(id) FROM signals`).Scan(&id); err != nil {
		return 0, fmt.Errorf("centralstore: last signal: %w", err)
	}
	return id.Int64, nil
}

// FirstSignalSince is the id just before the first signal received at or
// after t (where a replay starts).
func (s *Store) FirstSignalSince(ctx context.Context, t time.Time) (int64, error) {
	var id sql.NullInt64
	if err := s.r.QueryRowContext(ctx, s.q(`SELECT MIN(id) FROM signals WHERE received_at >= ?`), ms(t)).Scan(&id); err != nil {
		return 0, fmt.Errorf("centralstore: first signal: %w", err)
	}
	if !id.Valid {
		return s.LastSignalID(ctx)
	}
	return id.Int64 - 1, nil
}

// SignalsOf returns the signals reported on ip received at or after since.
func (s *Store) SignalsOf(ctx context.Context, ip string, since time.Time) ([]Signal, error) {
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT `+signalCols+` FROM signals WHERE ip = ? AND received_at >= ? ORDER BY id`), ip, ms(since))
	if err != nil {
		return nil, fmt.Errorf("centralstore: signals of ip: %w", err)
	}
	out, err := scanSignals(rows)
	if err != nil {
		return nil, fmt.Errorf("centralstore: signals of ip: %w", err)
	}
	return out, nil
}

// CountSignals is the number of stored signals.
func (s *Store) CountSignals(ctx context.Context) (int64, error) {
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM signals`).Scan(&n)
	return n, err
}

// Listing is an entry of the community list.
type Listing struct {
	IP             string
	Tier           string
	Scenarios      []string
	ListedAt       time.Time
	ExpiresAt      time.Time
	Level          int
	LastEscalation time.Time
}

// FeedEvent is one change of the list; IDs grow in commit order.
type FeedEvent struct {
	ID        int64
	Op        string // add, delete
	IP        string
	Tier      string
	Scenarios []string
	ExpiresAt time.Time
	Reason    string
	At        time.Time
}

// Hold is an address the curator keeps off the list (see curate.Hold).
type Hold struct {
	IP       string
	Since    time.Time
	Until    time.Time
	Appealed bool
}

// Changes is what one curator step writes, in one transaction.
type Changes struct {
	// Listings upserted by the add events of Events (by address).
	Listings []Listing
	// Events: one feed event each, in order; a delete removes the listing.
	Events []FeedEvent
	// Reputations of the installs whose reputation changed.
	Reputations []Reputation
	// Holds set or extended.
	Holds []Hold
	// Delists are the pending delistings (ids) this step applied.
	Delists []int64
	// Curated, when positive, is the id of the last signal the curator
	// took (see CuratedSignal).
	Curated int64
}

func (c Changes) empty() bool {
	return len(c.Events) == 0 && len(c.Reputations) == 0 && len(c.Holds) == 0 && len(c.Delists) == 0 && c.Curated <= 0
}

// ApplyChanges writes a curator step in one transaction: listings
// upserted or deleted with one feed event each, reputations, holds, the
// delistings marked done and the curated signal id. A crash leaves
// either all of it or none: a delisting is never applied twice, and the
// effects of a signal (refutations, confirmations) are written with the
// cursor that says it was taken.
func (s *Store) ApplyChanges(ctx context.Context, c Changes) error {
	if c.empty() {
		return nil
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		byIP := map[string]Listing{}
		for _, l := range c.Listings {
			byIP[l.IP] = l
		}
		for _, ev := range c.Events {
			sc, _ := json.Marshal(ev.Scenarios)
			if ev.Op == "delete" {
				if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM listings WHERE ip = ?`), ev.IP); err != nil {
					return err
				}
			} else {
				l := byIP[ev.IP]
				if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO listings (ip, tier, scenarios, listed_at, expires_at, level, last_escalation)
					VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ip) DO UPDATE SET tier = excluded.tier, scenarios = excluded.scenarios,
					expires_at = excluded.expires_at, level = excluded.level, last_escalation = excluded.last_escalation`),
					ev.IP, ev.Tier, string(sc), ms(l.ListedAt), ms(ev.ExpiresAt), l.Level, ms(l.LastEscalation)); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO feed (op, ip, tier, scenarios, expires_at, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?)`),
				ev.Op, ev.IP, ev.Tier, string(sc), ms(ev.ExpiresAt), ev.Reason, ms(ev.At)); err != nil {
				return err
			}
		}
		if len(c.Reputations) > 0 {
			if err := s.saveReputations(ctx, tx, c.Reputations); err != nil {
				return err
			}
		}
		for _, h := range c.Holds {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO holds (ip, held_since, held_until, appealed) VALUES (?, ?, ?, ?)
				ON CONFLICT (ip) DO UPDATE SET held_since = excluded.held_since, held_until = excluded.held_until, appealed = excluded.appealed`),
				h.IP, ms(h.Since), ms(h.Until), b2i(h.Appealed)); err != nil {
				return err
			}
		}
		for _, id := range c.Delists {
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE delists SET done_at = ? WHERE id = ?`), ms(time.Now()), id); err != nil {
				return err
			}
		}
		if c.Curated > 0 {
			v := strconv.FormatInt(c.Curated, 10)
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO meta (k, v) VALUES ('curated_signal', ?) ON CONFLICT (k) DO UPDATE SET v = ?`), v, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("centralstore: apply changes: %w", err)
	}
	return nil
}

// CuratedSignal is the id of the last signal the curator took (its
// effects are written): a new curator replays the signals up to it
// without changing reputations and takes the later ones as new.
func (s *Store) CuratedSignal(ctx context.Context) (int64, error) {
	var v string
	err := s.w.QueryRowContext(ctx, s.q(`SELECT v FROM meta WHERE k = 'curated_signal'`)).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("centralstore: curated signal: %w", err)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("centralstore: curated signal: %q: %w", v, err)
	}
	return n, nil
}

const holdCols = `ip, held_since, held_until, appealed`

func scanHold(sc interface{ Scan(...any) error }) (Hold, error) {
	var h Hold
	var since, until int64
	var appealed int
	if err := sc.Scan(&h.IP, &since, &until, &appealed); err != nil {
		return h, err
	}
	h.Since, h.Until, h.Appealed = fromMS(since), fromMS(until), appealed != 0
	return h, nil
}

// GetHold returns the hold on ip in force at now (ErrNotFound: none).
func (s *Store) GetHold(ctx context.Context, ip string, now time.Time) (Hold, error) {
	h, err := scanHold(s.r.QueryRowContext(ctx, s.q(`SELECT `+holdCols+` FROM holds WHERE ip = ? AND held_until > ?`), ip, ms(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return h, ErrNotFound
	}
	if err != nil {
		return h, fmt.Errorf("centralstore: hold: %w", err)
	}
	return h, nil
}

// Holds returns the holds in force at now, by address.
func (s *Store) Holds(ctx context.Context, now time.Time) ([]Hold, error) {
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT `+holdCols+` FROM holds WHERE held_until > ? ORDER BY ip`), ms(now))
	if err != nil {
		return nil, fmt.Errorf("centralstore: holds: %w", err)
	}
	defer rows.Close()
	var out []Hold
	for rows.Next() {
		h, err := scanHold(rows)
		if err != nil {
			return nil, fmt.Errorf("centralstore: holds: %w", err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// Listings returns the whole current list.
func (s *Store) Listings(ctx context.Context) ([]Listing, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT ip, tier, scenarios, listed_at, expires_at, level, last_escalation FROM listings ORDER BY ip`)
	if err != nil {
		return nil, fmt.Errorf("centralstore: listings: %w", err)
	}
	defer rows.Close()
	var out []Listing
	for rows.Next() {
		var l Listing
		var sc string
		var la, ex, le int64
		if err := rows.Scan(&l.IP, &l.Tier, &sc, &la, &ex, &l.Level, &le); err != nil {
			return nil, fmt.Errorf("centralstore: listings: %w", err)
		}
		_ = json.Unmarshal([]byte(sc), &l.Scenarios)
		l.ListedAt, l.ExpiresAt, l.LastEscalation = fromMS(la), fromMS(ex), fromMS(le)
		out = append(out, l)
	}
	return out, rows.Err()
}

// GetListing returns the listing of ip.
func (s *Store) GetListing(ctx context.Context, ip string) (Listing, error) {
	var l Listing
	var sc string
	var la, ex, le int64
	err := s.r.QueryRowContext(ctx, s.q(`SELECT ip, tier, scenarios, listed_at, expires_at, level, last_escalation FROM listings WHERE ip = ?`), ip).
		Scan(&l.IP, &l.Tier, &sc, &la, &ex, &l.Level, &le)
	if errors.Is(err, sql.ErrNoRows) {
		return l, ErrNotFound
	}
	if err != nil {
		return l, fmt.Errorf("centralstore: listing: %w", err)
	}
	_ = json.Unmarshal([]byte(sc), &l.Scenarios)
	l.ListedAt, l.ExpiresAt, l.LastEscalation = fromMS(la), fromMS(ex), fromMS(le)
	return l, nil
}

// FeedAfter returns up to limit feed events with id > after, by id.
func (s *Store) FeedAfter(ctx context.Context, after int64, limit int) ([]FeedEvent, error) {
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT id, op, ip, tier, scenarios, expires_at, reason, at FROM feed WHERE id > ? ORDER BY id LIMIT ?`), after, limit)
	if err != nil {
		return nil, fmt.Errorf("centralstore: feed: %w", err)
	}
	defer rows.Close()
	var out []FeedEvent
	for rows.Next() {
		var ev FeedEvent
		var sc string
		var ex, at int64
		if err := rows.Scan(&ev.ID, &ev.Op, &ev.IP, &ev.Tier, &sc, &ex, &ev.Reason, &at); err != nil {
			return nil, fmt.Errorf("centralstore: feed: %w", err)
		}
		_ = json.Unmarshal([]byte(sc), &ev.Scenarios)
		ev.ExpiresAt, ev.At = fromMS(ex), fromMS(at)
		out = append(out, ev)
	}
	return out, rows.Err()
}

// FeedBounds returns the lowest and highest feed ids kept (0, 0: none).
func (s *Store) FeedBounds(ctx context.Context) (lo, hi int64, err error) {
	var a, b sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT MIN(id), MAX(id) FROM feed`).Scan(&a, &b); err != nil {
		return 0, 0, fmt.Errorf("centralstore: feed bounds: %w", err)
	}
	return a.Int64, b.Int64, nil
}

// Prune deletes feed events older than feedBefore, and signals, reported
// deletions and holds that ended before signalsBefore.
func (s *Store) Prune(ctx context.Context, feedBefore, signalsBefore time.Time) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM feed WHERE at < ?`), ms(feedBefore)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM deletions WHERE at < ?`), ms(signalsBefore)); err != nil {
			return err
		}
		// Holds outlive no signal they were judged on.
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM holds WHERE held_until < ?`), ms(signalsBefore)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`DELETE FROM signals WHERE received_at < ?`), ms(signalsBefore))
		return err
	})
	if err != nil {
		return fmt.Errorf("centralstore: prune: %w", err)
	}
	return nil
}

// AllowEntry is an allowlisted network.
type AllowEntry struct {
	CIDR      string
	Reason    string
	CreatedAt time.Time
}

// AddAllow adds (or updates the reason of) allowlist entries.
func (s *Store) AddAllow(ctx context.Context, entries []AllowEntry) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, e := range entries {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO allowlist (cidr, reason, created_at) VALUES (?, ?, ?)
				ON CONFLICT (cidr) DO UPDATE SET reason = excluded.reason`), e.CIDR, e.Reason, ms(time.Now())); err != nil {
				return err
			}
		}
		return s.bump(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("centralstore: allowlist add: %w", err)
	}
	return nil
}

// Allowlist returns the allowlist.
func (s *Store) Allowlist(ctx context.Context) ([]AllowEntry, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT cidr, reason, created_at FROM allowlist ORDER BY cidr`)
	if err != nil {
		return nil, fmt.Errorf("centralstore: allowlist: %w", err)
	}
	defer rows.Close()
	var out []AllowEntry
	for rows.Next() {
		var e AllowEntry
		var c int64
		if err := rows.Scan(&e.CIDR, &e.Reason, &c); err != nil {
			return nil, err
		}
		e.CreatedAt = fromMS(c)
		out = append(out, e)
	}
	return out, rows.Err()
}

// AddCanary adds a canary address.
func (s *Store) AddCanary(ctx context.Context, ip string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO canaries (ip, created_at) VALUES (?, ?) ON CONFLICT (ip) DO NOTHING`), ip, ms(time.Now())); err != nil {
			return err
		}
		return s.bump(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("centralstore: canary add: %w", err)
	}
	return nil
}

// Canaries returns the canary addresses.
func (s *Store) Canaries(ctx context.Context) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT ip FROM canaries ORDER BY ip`)
	if err != nil {
		return nil, fmt.Errorf("centralstore: canaries: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var ip string
		if err := rows.Scan(&ip); err != nil {
			return nil, err
		}
		out = append(out, ip)
	}
	return out, rows.Err()
}

// Delist is a pending delisting.
type Delist struct {
	ID     int64
	IP     string
	Reason string
}

// AddDelist queues a delisting for the curator.
func (s *Store) AddDelist(ctx context.Context, ip, reason string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO delists (ip, reason, created_at) VALUES (?, ?, ?)`), ip, reason, ms(time.Now())); err != nil {
			return err
		}
		return s.bump(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("centralstore: delist: %w", err)
	}
	return nil
}

// PendingDelists returns the delistings not applied yet.
func (s *Store) PendingDelists(ctx context.Context) ([]Delist, error) {
	rows, err := s.w.QueryContext(ctx, `SELECT id, ip, reason FROM delists WHERE done_at = 0 ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("centralstore: delists: %w", err)
	}
	defer rows.Close()
	var out []Delist
	for rows.Next() {
		var d Delist
		if err := rows.Scan(&d.ID, &d.IP, &d.Reason); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// CuratorLock is held by the one replica that curates.
type CuratorLock struct {
	conn *sql.Conn
}

// TryCuratorLock takes the curator lock if free: always on SQLite (one
// process serves a file); on PostgreSQL a session advisory lock on a
// dedicated connection, released when it is closed or the process dies.
func (s *Store) TryCuratorLock(ctx context.Context) (*CuratorLock, bool, error) {
	if !s.pg {
		return &CuratorLock{}, true, nil
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("centralstore: curator lock: %w", err)
	}
	var ok bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock("+strconv.FormatInt(curatorLock, 10)+")").Scan(&ok); err != nil {
		_ = conn.Close()
		return nil, false, fmt.Errorf("centralstore: curator lock: %w", err)
	}
	if !ok {
		_ = conn.Close()
		return nil, false, nil
	}
	return &CuratorLock{conn: conn}, true, nil
}

// Alive checks the lock's connection is still up (false: the lock is lost).
func (l *CuratorLock) Alive(ctx context.Context) bool {
	if l.conn == nil {
		return true
	}
	return l.conn.PingContext(ctx) == nil
}

// Release releases the lock.
func (l *CuratorLock) Release() {
	if l.conn != nil {
		_, _ = l.conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock("+strconv.FormatInt(curatorLock, 10)+")")
		_ = l.conn.Close()
	}
}
