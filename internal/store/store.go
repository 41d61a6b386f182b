// Package store is Phalanx's persistent storage for the Local API: machines
// (agents), bouncers, alerts with their events and decisions, allowlists, and
// retention. One interface, Store, has two backends that pass one shared test
// suite (package storetest): SQLite (package store/sqlite, the default) and
// PostgreSQL (package store/postgres, for several LAPI replicas on one
// database).
//
// Decisions carry a change sequence number (Decision.Seq) that every insert
// and every expiry bumps, so that a LAPI can keep an in-memory index of
// decisions and catch up with changes made by another replica
// (DecisionsChangedSince). Deleting a decision expires it (until = now)
// instead of removing the row, so that decision streams can report it; rows
// are removed only by Flush, once expired for long enough.
//
// Times are stored with nanosecond precision as UTC instants.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/phalanx-ids/phalanx/internal/models"
)

// Errors that callers test with errors.Is. Backends wrap them with the
// operation that failed ("store/sqlite: get machine \"x\": not found").
var (
	// ErrNotFound: the machine, bouncer, alert, decision or allowlist does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: a machine, bouncer or allowlist with that name already exists.
	ErrExists = errors.New("already exists")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")
	// ErrInvalid: an argument could not be stored (bad IP of an Ip decision, bad time...).
	ErrInvalid = errors.New("invalid argument")
)

// Store is the storage of the Local API.
//
// Concurrency: every implementation is safe for concurrent use by any number
// of goroutines, and by several processes on the same database (SQLite file
// or PostgreSQL database): writes are transactional and the decision change
// sequence is allocated by the database. Methods honour ctx: a call whose
// context ends before its write was started returns ctx.Err() and changes
// nothing; a write already started completes or rolls back as a whole.
// A database that goes away makes calls return errors, never panic.
// Returned values are owned by the caller; arguments are not retained.
type Store interface {
	// CreateMachine adds a machine (agent); ErrExists if the id is taken.
	// CreatedAt/UpdatedAt are set by the store when zero.
	CreateMachine(ctx context.Context, m *Machine) error
	// GetMachine returns one machine or ErrNotFound.
	GetMachine(ctx context.Context, id string) (*Machine, error)
	// ListMachines returns every machine ordered by id.
	ListMachines(ctx context.Context) ([]*Machine, error)
	// UpdateMachine loads the machine, calls fn on it, and saves it in one
	// transaction (fn must not call the store). The id cannot change.
	// ErrNotFound if absent; fn's error aborts the update and is returned.
	UpdateMachine(ctx context.Context, id string, fn func(m *Machine) error) (*Machine, error)
	// TouchMachines records heartbeats in bulk: last_heartbeat is raised to
	// the given time for each existing machine (never lowered).
	TouchMachines(ctx context.Context, heartbeats map[string]time.Time) error
	// DeleteMachine removes a machine (its alerts are kept); ErrNotFound if absent.
	DeleteMachine(ctx context.Context, id string) error

	// CreateBouncer adds a bouncer; ErrExists if the name is taken.
	CreateBouncer(ctx context.Context, b *Bouncer) error
	// GetBouncer returns one bouncer by name or ErrNotFound.
	GetBouncer(ctx context.Context, name string) (*Bouncer, error)
	// BouncersByKeyHash returns the bouncers whose API key hash is hash
	// (HashAPIKey), ordered by name: the original and the rows auto-created
	// for other IPs. Empty (no error) when none.
	BouncersByKeyHash(ctx context.Context, hash string) ([]*Bouncer, error)
	// ListBouncers returns every bouncer ordered by name.
	ListBouncers(ctx context.Context) ([]*Bouncer, error)
	// UpdateBouncer is UpdateMachine for bouncers.
	UpdateBouncer(ctx context.Context, name string, fn func(b *Bouncer) error) (*Bouncer, error)
	// TouchBouncers records pulls in bulk: last_pull is raised to the given
	// time for each existing bouncer (never lowered).
	TouchBouncers(ctx context.Context, pulls map[string]time.Time) error
	// DeleteBouncer removes a bouncer; ErrNotFound if absent.
	DeleteBouncer(ctx context.Context, name string) error

	// CreateAlerts stores alerts pushed by machineID ("" for none) with their
	// events, meta, source and decisions, all in one transaction, and
	// returns the alert ids in input order. A decision's end is
	// DecisionUntil (the alert's stop_at + Duration, as CrowdSec; or an
	// explicit Until); decisions of scope Ip/Range must carry a valid
	// IP/CIDR; times must pass CheckTime. The machine's last_push is set to
	// now. Empty alert UUIDs are generated.
	//
	// Idempotent by alert UUID (unique in the schema): an alert whose UUID
	// is already stored, by the same machine, is not stored again, nor are
	// its decisions; its existing id is returned. So a push retried after
	// its answer was lost creates nothing twice. The same UUID pushed by
	// another machine is ErrExists (the whole batch fails).
	CreateAlerts(ctx context.Context, machineID string, alerts []*models.Alert) ([]int64, error)
	// GetAlert returns one alert with events, meta and decisions, or ErrNotFound.
	GetAlert(ctx context.Context, id int64) (*models.Alert, error)
	// ListAlerts returns the alerts matching f, with their decisions.
	ListAlerts(ctx context.Context, f AlertFilter) ([]*models.Alert, error)
	// AlertRawLines returns the raw log lines stored with an alert (pushed
	// in Alert.RawLines; empty when none, or no such alert). CreateAlerts
	// stores them and the alert's Profile; ListAlerts and GetAlert return
	// the Profile but never the raw lines.
	AlertRawLines(ctx context.Context, id int64) ([]*models.RawLine, error)
	// DeleteAlerts deletes the alerts matching f (Limit and Sort ignored)
	// and returns how many. Their still-active decisions are expired first
	// (and kept, detached from the alert) so that streams report them.
	DeleteAlerts(ctx context.Context, f AlertFilter) (int64, error)
	// DeleteAlert deletes one alert as DeleteAlerts does; ErrNotFound if absent.
	DeleteAlert(ctx context.Context, id int64) error

	// ListDecisions returns the decisions matching f ordered by id.
	ListDecisions(ctx context.Context, f DecisionFilter) ([]*Decision, error)
	// ListActiveDecisions calls fn for every decision active at now
	// (until > now), simulated ones included, in id order, reading in pages:
	// it is not one snapshot (see DecisionSeq for rebuilding an index).
	// fn's error stops the walk and is returned.
	ListActiveDecisions(ctx context.Context, now time.Time, fn func(*Decision) error) error
	// ExpireDecisions sets until = now on the decisions matching f that are
	// still active at now, bumping their change sequence, and returns how many.
	ExpireDecisions(ctx context.Context, now time.Time, f DecisionFilter) (int64, error)
	// ExpireDecision expires one decision by id; ErrNotFound if it does not
	// exist. Expiring an already expired decision changes nothing.
	ExpireDecision(ctx context.Context, now time.Time, id int64) error
	// DecisionSeq returns the highest change sequence number committed so
	// far (0 on an empty store). To rebuild an index: seq := DecisionSeq,
	// then ListActiveDecisions, then follow DecisionsChangedSince(seq).
	DecisionSeq(ctx context.Context) (int64, error)
	// DecisionsChangedSince returns up to limit decisions (limit <= 0: all)
	// whose change sequence is above seq, in sequence order: new decisions
	// and expired ones alike. Sequence numbers are unique and grow, and a
	// change becomes visible only after every change with a lower number
	// (on both backends), so following the last Seq returned misses nothing.
	// Rows removed by Flush or alert retention are not reported.
	DecisionsChangedSince(ctx context.Context, seq int64, limit int) ([]*Decision, error)

	// CreateAllowlist adds an allowlist with its items; ErrExists if the name is taken.
	CreateAllowlist(ctx context.Context, a *Allowlist) error
	// GetAllowlist returns one allowlist with its items, or ErrNotFound.
	GetAllowlist(ctx context.Context, name string) (*Allowlist, error)
	// ListAllowlists returns every allowlist ordered by name, with items when withItems.
	ListAllowlists(ctx context.Context, withItems bool) ([]*Allowlist, error)
	// AddAllowlistItems adds items (an existing value is replaced) and
	// returns how many were added or replaced; ErrNotFound for no allowlist.
	AddAllowlistItems(ctx context.Context, name string, items []AllowlistItem) (int64, error)
	// RemoveAllowlistItems removes items by value and returns how many.
	RemoveAllowlistItems(ctx context.Context, name string, values []string) (int64, error)
	// DeleteAllowlist removes an allowlist and its items; ErrNotFound if absent.
	DeleteAllowlist(ctx context.Context, name string) error
	// CheckAllowlists returns the items, of all allowlists, not expired at
	// now, that contain the IP or range ipOrRange (an IPv4 or IPv6 address
	// or CIDR; mapped IPv4 is IPv4). ErrInvalid if it is neither.
	CheckAllowlists(ctx context.Context, ipOrRange string, now time.Time) ([]AllowlistMatch, error)

	// CreateDashboardUser adds a dashboard user; ErrExists if the name is taken.
	CreateDashboardUser(ctx context.Context, u *DashboardUser) error
	// GetDashboardUser returns one dashboard user or ErrNotFound.
	GetDashboardUser(ctx context.Context, name string) (*DashboardUser, error)
	// ListDashboardUsers returns every dashboard user ordered by name.
	ListDashboardUsers(ctx context.Context) ([]*DashboardUser, error)
	// TouchDashboardUser sets a user's last login; ErrNotFound if absent.
	TouchDashboardUser(ctx context.Context, name string, at time.Time) error
	// DeleteDashboardUser removes a dashboard user; ErrNotFound if absent.
	DeleteDashboardUser(ctx context.Context, name string) error
	// Stats counts alerts and decisions for the dashboard's overview;
	// ErrInvalid for an empty range or a Step that makes more than 1000
	// buckets.
	Stats(ctx context.Context, q StatsQuery) (*Stats, error)

	// Flush applies the retention policy p at now and says what it removed.
	Flush(ctx context.Context, now time.Time, p FlushPolicy) (FlushResult, error)

	// OutboxAdd queues items for the central API (signals, decision
	// deletions, usage metrics: OutboxItem.Kind) and returns how many
	// were new: an item whose UUID is already in the outbox for its kind
	// (pending or sent, until purged) is skipped, so queueing twice sends
	// once.
	OutboxAdd(ctx context.Context, items []OutboxItem) (int, error)
	// OutboxPending returns up to limit unsent items of kind (""
	// is OutboxSignal), oldest first.
	OutboxPending(ctx context.Context, kind string, limit int) ([]OutboxItem, error)
	// OutboxMarkSent records that the items with these ids were accepted
	// by the central at time at.
	OutboxMarkSent(ctx context.Context, ids []int64, at time.Time) error
	// OutboxMarkRefused sets the item with this id aside: the central
	// refused it for its content at time at (reason: its answer). It is
	// no longer pending, and purged as sent items are.
	OutboxMarkRefused(ctx context.Context, id int64, reason string, at time.Time) error
	// OutboxPurge removes the items (of every kind) sent or refused
	// before sentBefore and returns how many; pending items are never
	// removed.
	OutboxPurge(ctx context.Context, sentBefore time.Time) (int64, error)
	// OutboxStats counts pending and sent signals (refused ones are
	// neither; other kinds are not counted).
	OutboxStats(ctx context.Context) (pending, sent int64, err error)

	// Close stops the store; calls made after (or pending in a write batch
	// at) Close return ErrClosed. Close is idempotent.
	Close() error
}

// Machine is an agent registered with the LAPI.
type Machine struct {
	ID string // machine_id
	// PasswordHash is the bcrypt hash of the password (hashed by the caller).
	PasswordHash  string
	IPAddress     string
	Version       string
	Scenarios     []string
	IsValidated   bool
	AuthType      string // "password" or "tls"
	OSName        string
	OSVersion     string
	FeatureFlags  string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	LastPush      time.Time
	LastHeartbeat time.Time
}

// Bouncer is a remediation component authenticated by API key or certificate.
type Bouncer struct {
	Name string
	// KeyHash is HashAPIKey(key): SHA-512 hex of the API key, as CrowdSec stores it.
	KeyHash      string
	IPAddress    string
	Type         string // from the User-Agent "type/version"
	Version      string
	AuthType     string // "api-key" or "tls"
	AutoCreated  bool
	OSName       string
	OSVersion    string
	FeatureFlags string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	LastPull     time.Time
}

// Decision is a stored decision.
type Decision struct {
	ID        int64
	UUID      string
	AlertID   int64 // 0 when detached (its alert was deleted)
	Seq       int64 // change sequence number: bumped by insert and expiry
	Origin    string
	Type      string
	Scope     string
	Value     string
	Scenario  string
	Simulated bool
	CreatedAt time.Time
	Until     time.Time
}

// Active says whether the decision is in force at now.
func (d *Decision) Active(now time.Time) bool { return d.Until.After(now) }

// Model returns the LAPI wire form at now: duration is the time left
// (negative once expired), rounded to the second, as CrowdSec prints it.
func (d *Decision) Model(now time.Time) *models.Decision {
	dur := d.Until.Sub(now).Round(time.Second).String()
	sim := d.Simulated
	return &models.Decision{
		ID:        d.ID,
		UUID:      d.UUID,
		Origin:    ptr(d.Origin),
		Type:      ptr(d.Type),
		Scope:     ptr(d.Scope),
		Value:     ptr(d.Value),
		Duration:  &dur,
		Until:     d.Until.UTC().Format(time.RFC3339),
		Scenario:  ptr(d.Scenario),
		Simulated: &sim,
	}
}

func ptr(s string) *string { return &s }

// Allowlist is a named list of IPs and ranges exempt from decisions.
type Allowlist struct {
	ID          int64
	Name        string
	Description string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Items       []AllowlistItem
}

// AllowlistItem is one IP or CIDR of an allowlist.
type AllowlistItem struct {
	Value      string // IP or CIDR, IPv4 or IPv6
	Comment    string
	CreatedAt  time.Time
	Expiration time.Time // zero: never expires
}

// Expired says whether the item has expired at now.
func (i AllowlistItem) Expired(now time.Time) bool {
	return !i.Expiration.IsZero() && !i.Expiration.After(now)
}

// AllowlistMatch is an allowlist item that contains a checked address.
type AllowlistMatch struct {
	Allowlist string
	Item      AllowlistItem
}

// AlertFilter selects alerts; the zero value selects every non-simulated
// alert. String fields are exact matches, ignored when empty.
type AlertFilter struct {
	Scope    string // source scope (case-insensitive)
	Value    string // source value
	Scenario string
	// IP or Range (an IP or CIDR, v4 or v6) select through the alert's
	// decisions, as CrowdSec does: alerts having a decision of scope
	// Ip/Range whose range contains it (Contains nil or true) or is
	// contained in it (Contains false). The alert's own source is not
	// looked at (an alert without decisions never matches).
	IP       string
	Range    string
	Contains *bool
	Since    time.Time // started_at >= Since
	Until    time.Time // started_at <= Until
	// CreatedBefore: created_at < CreatedBefore.
	CreatedBefore    time.Time
	IncludeSimulated bool // false: simulated alerts are left out
	// HasActiveDecision: true keeps alerts with a decision active at Now,
	// false alerts without one.
	HasActiveDecision *bool
	DecisionType      string // alerts with a decision of this type
	Origin            string // alerts with a decision of this origin
	// ExcludeOrigins leaves out alerts having a decision of one of these
	// origins (CrowdSec's include_capi=false is {"CAPI", "lists"}).
	ExcludeOrigins []string
	Kind           string
	// Country (source country code) and ASNumber select on the alert's source.
	Country  string
	ASNumber string
	// BeforeID keeps alerts with id < BeforeID (paging, newest first).
	BeforeID int64
	IDs      []int64
	Now      time.Time // time for HasActiveDecision; zero: time.Now()
	Limit    int       // 0: no limit
	// SortAsc orders by id ascending; default is newest first.
	SortAsc bool
}

// DecisionFilter selects decisions. The zero value selects every decision,
// active or not, simulated or not.
type DecisionFilter struct {
	IDs      []int64
	AlertID  int64
	Scope    string // case-insensitive
	Value    string
	Type     string
	Scenario string // exact
	// IP or Range (an IP or CIDR) select decisions of scope Ip/Range whose
	// range contains it (Contains nil or true) or is contained in it.
	IP       string
	Range    string
	Contains *bool
	Origins  []string // any of
	// ScenariosContaining keeps decisions whose scenario contains any of
	// the words; ScenariosNotContaining drops those containing any.
	ScenariosContaining    []string
	ScenariosNotContaining []string
	ExcludeSimulated       bool
	ActiveAt               time.Time // non-zero: only decisions with until > ActiveAt
	AfterID                int64     // id > AfterID, for paging
	BeforeID               int64     // id < BeforeID, for paging newest first
	Desc                   bool      // newest (highest id) first
	Limit                  int       // 0: no limit
}

// Kinds of outbox items.
const (
	OutboxSignal   = "signal"   // a signal (POST /v3/signals); UUID: the alert's
	OutboxDeletion = "deletion" // a decision deleted locally (POST /v3/decisions/delete); UUID: the decision's
	OutboxUsage    = "usage"    // usage metrics a component sent (POST /v3/usage-metrics); UUID: unique per report
)

// OutboxItem is one item waiting for (or sent to) the central API.
type OutboxItem struct {
	ID        int64
	Kind      string // OutboxSignal (also ""), OutboxDeletion, OutboxUsage
	UUID      string // the item's identity within its kind
	Payload   []byte // the signal as the central receives it (JSON)
	CreatedAt time.Time
	SentAt    time.Time // zero while pending
}

// FlushPolicy is the retention policy; zero fields disable their rule.
type FlushPolicy struct {
	// DecisionsExpiredFor removes decisions expired for longer than this.
	DecisionsExpiredFor time.Duration
	// AlertsMaxAge removes alerts created longer ago than this.
	AlertsMaxAge time.Duration
	// AlertsMaxItems keeps at most this many alerts (the newest).
	AlertsMaxItems int
	// Alerts that still have an active decision are never removed.
	// Expired allowlist items are always removed.
}

// FlushResult counts what Flush removed.
type FlushResult struct {
	Decisions      int64
	Alerts         int64
	AllowlistItems int64
}
