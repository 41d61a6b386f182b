// Package centralstore is the storage of the Phalanx central: installs,
// organisations, signals, the community list and its change feed, the
// allowlist, canaries, pending delistings, and the curator's own state
// (installs' reputations, holds, the last signal it took). One SQLite
// file by default (modernc.org/sqlite, WAL), PostgreSQL (pgx) for scale:
// several central
// replicas over one PostgreSQL database share everything here, and one of
// them (the holder of the curator lock) writes the list.
//
// What is stored of a signal: the reporter's machine id, the reported
// address, the scenario with its hash, version and trust label, the
// reporter's times and the reception time. An install's egress address is
// kept only as its /24 (IPv6 /48) and a salted hash.
//
// Times are stored as Unix milliseconds.
package centralstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"
)

// ErrNotFound: no such row.
var ErrNotFound = errors.New("not found")

// ErrExists: the row exists already.
var ErrExists = errors.New("already exists")

// Store is the central's database.
//
// Concurrency: safe for concurrent use, and by several processes (the
// central and the operator CLI; central replicas on PostgreSQL).
type Store struct {
	w, r *sql.DB // SQLite: one writer connection, a read pool; PostgreSQL: the same pool
	pg   bool
}

// IsPostgres reports whether dsn names a PostgreSQL database (a
// postgres:// or postgresql:// URL, or a key=value string with host= or
// dbname=).
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") ||
		strings.Contains(dsn, "host=") || strings.Contains(dsn, "dbname=")
}

// Open opens (creating and migrating) the database: dsn for PostgreSQL,
// else the SQLite file path.
func Open(ctx context.Context, dsnOrPath string) (*Store, error) {
	if IsPostgres(dsnOrPath) {
		db, err := sql.Open("pgx", dsnOrPath)
		if err != nil {
			return nil, errors.New("centralstore: open: invalid connection string")
		}
		db.SetMaxOpenConns(16)
		db.SetMaxIdleConns(16)
		s := &Store{w: db, r: db, pg: true}
		if err := s.migrate(ctx); err != nil {
			_ = db.Close()
			return nil, err
		}
		return s, nil
	}
	path := dsnOrPath
	if path == "" {
		return nil, errors.New("centralstore: open: empty path")
	}
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		_ = f.Close()
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("centralstore: open %s: %w", path, err)
	}
	common := "file:" + path + "?_pragma=busy_timeout(30000)&_pragma=synchronous(NORMAL)&_pragma=journal_mode(WAL)"
	w, err := sql.Open("sqlite", common+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("centralstore: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite", common)
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("centralstore: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	s := &Store{w: w, r: r}
	if err := s.migrate(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	err := s.w.Close()
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	return err
}

// Postgres reports whether the store is PostgreSQL.
func (s *Store) Postgres() bool { return s.pg }

// q rewrites ? placeholders as $n for PostgreSQL.
func (s *Store) q(query string) string {
	if !s.pg {
		return query
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

const (
	migrateLock = 0x5048_414c_0c01 // schema migrations
	signalLock  = 0x5048_414c_0c02 // signal ids become visible in order
	curatorLock = 0x5048_414c_0c03 // one curator among replicas
)

func (s *Store) migrate(ctx context.Context) error {
	auto := "INTEGER PRIMARY KEY AUTOINCREMENT"
	if s.pg {
		auto = "BIGSERIAL PRIMARY KEY"
	}
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS orgs (id ` + auto + `, name TEXT NOT NULL UNIQUE, seed INTEGER NOT NULL,
			key_hash TEXT NOT NULL UNIQUE, created_at BIGINT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS installs (machine_id TEXT PRIMARY KEY, password_hash TEXT NOT NULL,
			created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, org_id BIGINT, name TEXT NOT NULL DEFAULT '',
			net TEXT NOT NULL DEFAULT '', egress_hash TEXT NOT NULL DEFAULT '', scenarios TEXT NOT NULL DEFAULT '[]',
			alpha DOUBLE PRECISION NOT NULL DEFAULT 0, beta DOUBLE PRECISION NOT NULL DEFAULT 0,
			confirmed INTEGER NOT NULL DEFAULT 0, quarantined_until BIGINT NOT NULL DEFAULT 0,
			forgot_at BIGINT NOT NULL DEFAULT 0, last_seen BIGINT NOT NULL DEFAULT 0, pull_cursor BIGINT NOT NULL DEFAULT 0)`,
		`CREATE INDEX IF NOT EXISTS installs_updated ON installs (updated_at)`,
		`CREATE TABLE IF NOT EXISTS signals (id ` + auto + `, machine_id TEXT NOT NULL, uuid TEXT NOT NULL,
			ip TEXT NOT NULL, scenario TEXT NOT NULL, scenario_hash TEXT NOT NULL, scenario_version TEXT NOT NULL,
			scenario_trust TEXT NOT NULL, start_at BIGINT NOT NULL, stop_at BIGINT NOT NULL, created_at BIGINT NOT NULL,
			received_at BIGINT NOT NULL, UNIQUE (machine_id, uuid))`,
		`CREATE INDEX IF NOT EXISTS signals_ip ON signals (ip)`,
		`CREATE INDEX IF NOT EXISTS signals_received ON signals (received_at)`,
		`CREATE TABLE IF NOT EXISTS listings (ip TEXT PRIMARY KEY, tier TEXT NOT NULL, scenarios TEXT NOT NULL,
			listed_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, level INTEGER NOT NULL, last_escalation BIGINT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS feed (id ` + auto + `, op TEXT NOT NULL, ip TEXT NOT NULL, tier TEXT NOT NULL,
			scenarios TEXT NOT NULL, expires_at BIGINT NOT NULL, reason TEXT NOT NULL, at BIGINT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS allowlist (cidr TEXT PRIMARY KEY, reason TEXT NOT NULL, created_at BIGINT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS canaries (ip TEXT PRIMARY KEY, created_at BIGINT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS delists (id ` + auto + `, ip TEXT NOT NULL, reason TEXT NOT NULL,
			created_at BIGINT NOT NULL, done_at BIGINT NOT NULL DEFAULT 0)`,
		`CREATE TABLE IF NOT EXISTS install_reports (machine_id TEXT PRIMARY KEY, bouncers INTEGER NOT NULL DEFAULT 0,
			machines INTEGER NOT NULL DEFAULT 0, version TEXT NOT NULL DEFAULT '', metrics_at BIGINT NOT NULL DEFAULT 0,
			deletions BIGINT NOT NULL DEFAULT 0, deleted_at BIGINT NOT NULL DEFAULT 0)`,
		// The uuids of decision deletions an install reported (counted once
		// each; pruned with the signals).
		`CREATE TABLE IF NOT EXISTS deletions (machine_id TEXT NOT NULL, uuid TEXT NOT NULL, at BIGINT NOT NULL,
			PRIMARY KEY (machine_id, uuid))`,
		`CREATE INDEX IF NOT EXISTS deletions_at ON deletions (at)`,
		// An install's last usage metrics (POST /v3/usage-metrics): counts only.
		`CREATE TABLE IF NOT EXISTS install_usage (machine_id TEXT PRIMARY KEY, remediation_components INTEGER NOT NULL,
			log_processors INTEGER NOT NULL, windows INTEGER NOT NULL, lapi_version TEXT NOT NULL,
			console_options TEXT NOT NULL, reports BIGINT NOT NULL, at BIGINT NOT NULL)`,
		// Addresses the curator holds off the list (an upheld appeal, a
		// clique burn) until until, unless a seed reports them; since: when
		// the hold began (evidence received before an appeal never counts
		// again). Kept so that a restart does not forget them.
		`CREATE TABLE IF NOT EXISTS holds (ip TEXT PRIMARY KEY, held_since BIGINT NOT NULL, held_until BIGINT NOT NULL,
			appealed INTEGER NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS holds_until ON holds (held_until)`,
		// The last signal the curator took (CuratedSignal). A database of
		// an older central starts at its last signal (it took them all),
		// a new one at 0.
		`INSERT INTO meta (k, v) SELECT 'curated_signal', CAST(COALESCE(MAX(id), 0) AS TEXT) FROM signals WHERE true
			ON CONFLICT (k) DO NOTHING`,
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if s.pg {
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock("+strconv.FormatInt(migrateLock, 10)+")"); err != nil {
				return err
			}
		}
		for _, st := range stmts {
			if _, err := tx.ExecContext(ctx, st); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("centralstore: migrate: %w", err)
	}
	return nil
}

// tx runs fn in a write transaction.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// Secret returns the value of meta key k, creating it with n random bytes
// (hex) when missing; every replica gets the same value.
func (s *Store) Secret(ctx context.Context, k string, n int) (string, error) {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	_, err := s.w.ExecContext(ctx, s.q(`INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO NOTHING`), k, hex.EncodeToString(b))
	if err != nil {
		return "", fmt.Errorf("centralstore: secret: %w", err)
	}
	var v string
	if err := s.w.QueryRowContext(ctx, s.q(`SELECT v FROM meta WHERE k = ?`), k).Scan(&v); err != nil {
		return "", fmt.Errorf("centralstore: secret: %w", err)
	}
	return v, nil
}

// ConfigVersion is a counter the operator commands bump when they change
// the allowlist, canaries, organisations or delistings: the running
// central reloads when it moves.
func (s *Store) ConfigVersion(ctx context.Context) (int64, error) {
	var v string
	err := s.r.QueryRowContext(ctx, s.q(`SELECT v FROM meta WHERE k = 'config_version'`)).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("centralstore: config version: %w", err)
	}
	n, _ := strconv.ParseInt(v, 10, 64)
	return n, nil
}

func (s *Store) bump(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO meta (k, v) VALUES ('config_version', ?)
		ON CONFLICT (k) DO UPDATE SET v = ?`), strconv.FormatInt(time.Now().UnixNano(), 10), strconv.FormatInt(time.Now().UnixNano(), 10))
	return err
}

// Org is an organisation.
type Org struct {
	ID        int64
	Name      string
	Seed      bool
	CreatedAt time.Time
}

// AddOrg creates an organisation whose attachment key hashes to keyHash.
func (s *Store) AddOrg(ctx context.Context, name string, seed bool, keyHash string) (int64, error) {
	var id int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, s.q(`INSERT INTO orgs (name, seed, key_hash, created_at) VALUES (?, ?, ?, ?) RETURNING id`),
			name, b2i(seed), keyHash, ms(time.Now())).Scan(&id)
		if err != nil {
			if isUnique(err) {
				return fmt.Errorf("organisation %q: %w", name, ErrExists)
			}
			return err
		}
		return s.bump(ctx, tx)
	})
	if err != nil {
		return 0, fmt.Errorf("centralstore: add org: %w", err)
	}
	return id, nil
}

// OrgByKey finds the organisation of an attachment key hash.
func (s *Store) OrgByKey(ctx context.Context, keyHash string) (Org, error) {
	var o Org
	var seed int
	var c int64
	err := s.r.QueryRowContext(ctx, s.q(`SELECT id, name, seed, created_at FROM orgs WHERE key_hash = ?`), keyHash).Scan(&o.ID, &o.Name, &seed, &c)
	if errors.Is(err, sql.ErrNoRows) {
		return o, ErrNotFound
	}
	o.Seed, o.CreatedAt = seed != 0, fromMS(c)
	return o, err
}

// Orgs lists the organisations by id.
func (s *Store) Orgs(ctx context.Context) ([]Org, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, name, seed, created_at FROM orgs ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("centralstore: orgs: %w", err)
	}
	defer rows.Close()
	var out []Org
	for rows.Next() {
		var o Org
		var seed int
		var c int64
		if err := rows.Scan(&o.ID, &o.Name, &seed, &c); err != nil {
			return nil, err
		}
		o.Seed, o.CreatedAt = seed != 0, fromMS(c)
		out = append(out, o)
	}
	return out, rows.Err()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func isUnique(err error) bool {
	m := strings.ToLower(err.Error())
	return strings.Contains(m, "unique") || strings.Contains(m, "duplicate key")
}

// Install is a registered install (a LAPI).
type Install struct {
	MachineID        string
	PasswordHash     string
	CreatedAt        time.Time
	UpdatedAt        time.Time
	OrgID            int64 // 0: anonymous
	OrgName          string
	Seed             bool
	Name             string
	Net              string // egress /24 or /48
	EgressHash       string // hex of the salted egress hash
	Scenarios        []string
	Alpha, Beta      float64
	Confirmed        int
	QuarantinedUntil time.Time
	ForgotAt         time.Time
	LastSeen         time.Time
	PullCursor       int64
}

// Register creates an install (ErrExists when the id is taken).
func (s *Store) Register(ctx context.Context, id, passwordHash string, now time.Time) error {
	_, err := s.w.ExecContext(ctx, s.q(`INSERT INTO installs (machine_id, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?)`),
		id, passwordHash, ms(now), ms(now))
	if err != nil {
		if isUnique(err) {
			return ErrExists
		}
		return fmt.Errorf("centralstore: register: %w", err)
	}
	return nil
}

const installCols = `i.machine_id, i.password_hash, i.created_at, i.updated_at, COALESCE(i.org_id, 0), COALESCE(o.name, ''),
	COALESCE(o.seed, 0), i.name, i.net, i.egress_hash, i.scenarios, i.alpha, i.beta, i.confirmed, i.quarantined_until,
	i.forgot_at, i.last_seen, i.pull_cursor`

func scanInstall(sc interface{ Scan(...any) error }) (Install, error) {
	var in Install
	var c, u, q, f, l int64
	var seed int
	var scen string
	err := sc.Scan(&in.MachineID, &in.PasswordHash, &c, &u, &in.OrgID, &in.OrgName, &seed, &in.Name, &in.Net,
		&in.EgressHash, &scen, &in.Alpha, &in.Beta, &in.Confirmed, &q, &f, &l, &in.PullCursor)
	if err != nil {
		return in, err
	}
	in.CreatedAt, in.UpdatedAt, in.QuarantinedUntil, in.ForgotAt, in.LastSeen = fromMS(c), fromMS(u), fromMS(q), fromMS(f), fromMS(l)
	in.Seed = seed != 0
	_ = json.Unmarshal([]byte(scen), &in.Scenarios)
	return in, nil
}

// GetInstall returns an install.
func (s *Store) GetInstall(ctx context.Context, id string) (Install, error) {
	in, err := scanInstall(s.r.QueryRowContext(ctx, s.q(`SELECT `+installCols+` FROM installs i LEFT JOIN orgs o ON o.id = i.org_id
		WHERE i.machine_id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return in, ErrNotFound
	}
	if err != nil {
		return in, fmt.Errorf("centralstore: get install: %w", err)
	}
	return in, nil
}

// Installs lists installs updated at or after since (zero: all), by
// update time.
func (s *Store) Installs(ctx context.Context, since time.Time) ([]Install, error) {
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT `+installCols+` FROM installs i LEFT JOIN orgs o ON o.id = i.org_id
		WHERE i.updated_at >= ? ORDER BY i.updated_at, i.machine_id`), ms(since))
	if err != nil {
		return nil, fmt.Errorf("centralstore: installs: %w", err)
	}
	defer rows.Close()
	var out []Install
	for rows.Next() {
		in, err := scanInstall(rows)
		if err != nil {
			return nil, fmt.Errorf("centralstore: installs: %w", err)
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

// Login records a login: the egress network and hash, the declared
// scenarios, the time.
func (s *Store) Login(ctx context.Context, id, net, egressHash string, scenarios []string, now time.Time) error {
	b, _ := json.Marshal(scenarios)
	_, err := s.w.ExecContext(ctx, s.q(`UPDATE installs SET net = ?, egress_hash = ?, scenarios = ?, last_seen = ?, updated_at = ?
		WHERE machine_id = ?`), net, egressHash, string(b), ms(now), ms(now), id)
	if err != nil {
		return fmt.Errorf("centralstore: login: %w", err)
	}
	return nil
}

// Enroll attaches an install to an organisation.
func (s *Store) Enroll(ctx context.Context, id string, orgID int64, name string, now time.Time) error {
	_, err := s.w.ExecContext(ctx, s.q(`UPDATE installs SET org_id = ?, name = ?, updated_at = ? WHERE machine_id = ?`), orgID, name, ms(now), id)
	if err != nil {
		return fmt.Errorf("centralstore: enroll: %w", err)
	}
	return nil
}

// Reputation is the curator-owned part of an install.
type Reputation struct {
	MachineID        string
	Alpha, Beta      float64
	Confirmed        int
	QuarantinedUntil time.Time
	ForgotAt         time.Time
}

// SaveReputations writes reputations (without touching updated_at: the
// curator wrote them itself).
func (s *Store) SaveReputations(ctx context.Context, reps []Reputation) error {
	if len(reps) == 0 {
		return nil
	}
	if err := s.tx(ctx, func(tx *sql.Tx) error { return s.saveReputations(ctx, tx, reps) }); err != nil {
		return fmt.Errorf("centralstore: save reputations: %w", err)
	}
	return nil
}

// saveReputations writes reps in tx.
func (s *Store) saveReputations(ctx context.Context, tx *sql.Tx, reps []Reputation) error {
	st, err := tx.PrepareContext(ctx, s.q(`UPDATE installs SET alpha = ?, beta = ?, confirmed = ?, quarantined_until = ?, forgot_at = ? WHERE machine_id = ?`))
	if err != nil {
		return err
	}
	defer st.Close()
	for _, r := range reps {
		if _, err := st.ExecContext(ctx, r.Alpha, r.Beta, r.Confirmed, ms(r.QuarantinedUntil), ms(r.ForgotAt), r.MachineID); err != nil {
			return err
		}
	}
	return nil
}

// SetPullCursors records the feed position each install's last pull reached.
func (s *Store) SetPullCursors(ctx context.Context, cursors map[string]int64) error {
	if len(cursors) == 0 {
		return nil
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, s.q(`UPDATE installs SET pull_cursor = ? WHERE machine_id = ?`))
		if err != nil {
			return err
		}
		defer st.Close()
		for id, c := range cursors {
			if _, err := st.ExecContext(ctx, c, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("centralstore: pull cursors: %w", err)
	}
	return nil
}

// Report is what an install says about itself besides signals: its last
// metrics (how many bouncers and machines, its version) and how many
// decision deletions it reported. Nothing else of those requests is kept.
type Report struct {
	Bouncers, Machines int
	Version            string
	MetricsAt          time.Time
	Deletions          int64
	DeletedAt          time.Time
}

// SetMetrics records an install's metrics.
func (s *Store) SetMetrics(ctx context.Context, id string, bouncers, machines int, version string, now time.Time) error {
	_, err := s.w.ExecContext(ctx, s.q(`INSERT INTO install_reports (machine_id, bouncers, machines, version, metrics_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (machine_id) DO UPDATE SET bouncers = excluded.bouncers,
		machines = excluded.machines, version = excluded.version, metrics_at = excluded.metrics_at`),
		id, bouncers, machines, version, ms(now))
	if err != nil {
		return fmt.Errorf("centralstore: metrics: %w", err)
	}
	return nil
}

// AddDeletions records the decision deletions (uuids) an install
// reported and returns how many were new: a uuid is counted once (an
// install sending a batch again after a lost answer adds nothing).
func (s *Store) AddDeletions(ctx context.Context, id string, uuids []string, now time.Time) (int, error) {
	added := 0
	err := s.tx(ctx, func(tx *sql.Tx) error {
		added = 0
		for _, u := range uuids {
			res, err := tx.ExecContext(ctx, s.q(`INSERT INTO deletions (machine_id, uuid, at) VALUES (?, ?, ?)
				ON CONFLICT (machine_id, uuid) DO NOTHING`), id, u, ms(now))
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			added += int(n)
		}
		if added == 0 {
			return nil
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO install_reports (machine_id, deletions, deleted_at) VALUES (?, ?, ?)
			ON CONFLICT (machine_id) DO UPDATE SET deletions = install_reports.deletions + excluded.deletions,
			deleted_at = excluded.deleted_at`), id, added, ms(now))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("centralstore: deletions: %w", err)
	}
	return added, nil
}

// Usage is what the central keeps of an install's usage metrics: counts.
type Usage struct {
	RemediationComponents, LogProcessors int
	Windows                              int // metric windows in the last report
	LAPIVersion                          string
	ConsoleOptions                       []string
	Reports                              int64 // usage reports received
	At                                   time.Time
}

// SetUsage records an install's usage report (u.Reports is ignored: the
// store counts them).
func (s *Store) SetUsage(ctx context.Context, id string, u Usage) error {
	opts, _ := json.Marshal(u.ConsoleOptions)
	_, err := s.w.ExecContext(ctx, s.q(`INSERT INTO install_usage (machine_id, remediation_components, log_processors, windows,
		lapi_version, console_options, reports, at) VALUES (?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT (machine_id) DO UPDATE SET
		remediation_components = excluded.remediation_components, log_processors = excluded.log_processors,
		windows = excluded.windows, lapi_version = excluded.lapi_version, console_options = excluded.console_options,
		reports = install_usage.reports + 1, at = excluded.at`),
		id, u.RemediationComponents, u.LogProcessors, u.Windows, u.LAPIVersion, string(opts), ms(u.At))
	if err != nil {
		return fmt.Errorf("centralstore: usage: %w", err)
	}
	return nil
}

// Usages returns every install's last usage report, by machine id.
func (s *Store) Usages(ctx context.Context) (map[string]Usage, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT machine_id, remediation_components, log_processors, windows, lapi_version,
		console_options, reports, at FROM install_usage`)
	if err != nil {
		return nil, fmt.Errorf("centralstore: usages: %w", err)
	}
	defer rows.Close()
	out := map[string]Usage{}
	for rows.Next() {
		var id, opts string
		var u Usage
		var at int64
		if err := rows.Scan(&id, &u.RemediationComponents, &u.LogProcessors, &u.Windows, &u.LAPIVersion, &opts, &u.Reports, &at); err != nil {
			return nil, fmt.Errorf("centralstore: usages: %w", err)
		}
		if err := json.Unmarshal([]byte(opts), &u.ConsoleOptions); err != nil {
			return nil, fmt.Errorf("centralstore: usages: %w", err)
		}
		u.At = fromMS(at)
		out[id] = u
	}
	return out, rows.Err()
}

// GetUsage returns an install's last usage report (zero when none).
func (s *Store) GetUsage(ctx context.Context, id string) (Usage, error) {
	var u Usage
	var opts string
	var at int64
	err := s.r.QueryRowContext(ctx, s.q(`SELECT remediation_components, log_processors, windows, lapi_version, console_options,
		reports, at FROM install_usage WHERE machine_id = ?`), id).Scan(&u.RemediationComponents, &u.LogProcessors, &u.Windows,
		&u.LAPIVersion, &opts, &u.Reports, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return u, nil
	}
	if err != nil {
		return u, fmt.Errorf("centralstore: usage: %w", err)
	}
	if err := json.Unmarshal([]byte(opts), &u.ConsoleOptions); err != nil {
		return u, fmt.Errorf("centralstore: usage: %w", err)
	}
	u.At = fromMS(at)
	return u, nil
}

// GetReport returns an install's report (zero when it sent none).
func (s *Store) GetReport(ctx context.Context, id string) (Report, error) {
	var r Report
	var m, d int64
	err := s.r.QueryRowContext(ctx, s.q(`SELECT bouncers, machines, version, metrics_at, deletions, deleted_at
		FROM install_reports WHERE machine_id = ?`), id).Scan(&r.Bouncers, &r.Machines, &r.Version, &m, &r.Deletions, &d)
	if errors.Is(err, sql.ErrNoRows) {
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("centralstore: report: %w", err)
	}
	r.MetricsAt, r.DeletedAt = fromMS(m), fromMS(d)
	return r, nil
}

// Reports returns every install's report, by machine id.
func (s *Store) Reports(ctx context.Context) (map[string]Report, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT machine_id, bouncers, machines, version, metrics_at, deletions, deleted_at FROM install_reports`)
	if err != nil {
		return nil, fmt.Errorf("centralstore: reports: %w", err)
	}
	defer rows.Close()
	out := map[string]Report{}
	for rows.Next() {
		var id string
		var r Report
		var m, d int64
		if err := rows.Scan(&id, &r.Bouncers, &r.Machines, &r.Version, &m, &r.Deletions, &d); err != nil {
			return nil, fmt.Errorf("centralstore: reports: %w", err)
		}
		r.MetricsAt, r.DeletedAt = fromMS(m), fromMS(d)
		out[id] = r
	}
	return out, rows.Err()
}
