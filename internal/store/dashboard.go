package store

import "time"

// DashboardUser is a user of the dashboard (internal/ui).
type DashboardUser struct {
	Name string
	// PasswordHash is the bcrypt hash of the password (hashed by the caller).
	PasswordHash string
	// Role is "admin" (may change things) or "viewer" (reads only).
	Role      string
	CreatedAt time.Time
	UpdatedAt time.Time
	LastLogin time.Time
}

// StatsQuery selects what Stats counts: alerts and decisions created in
// [Since, Until), in buckets of Step starting at Since, and the Top most
// frequent scenarios, countries and AS.
type StatsQuery struct {
	Since, Until time.Time
	Step         time.Duration // > 0
	Top          int           // 0: 10
	// IncludeSimulated counts simulated alerts too.
	IncludeSimulated bool
	// Now is the time for the active decisions count (zero: time.Now()).
	Now time.Time
	// SkipActive leaves ActiveByOrigin and ActiveDecisions out (the
	// caller counts them elsewhere: counting reads every active decision).
	SkipActive bool
}

// Stats are the dashboard overview's aggregates.
type Stats struct {
	Alerts          int64         // alerts in the range
	AlertSeries     []SeriesPoint // alerts per bucket and scenario (Key)
	DecisionSeries  []SeriesPoint // decisions created per bucket and origin (Key)
	TopScenarios    []Count       // in the range
	TopCountries    []Count       // source country, when known
	TopAS           []Count       // "AS number name", when known
	ActiveByOrigin  []Count       // decisions active at Now, by origin
	ActiveDecisions int64         // their sum
}

// SeriesPoint is a count in the Bucket-th step of a range, for Key.
type SeriesPoint struct {
	Bucket int
	Key    string
	Count  int64
}

// Count is a key and how many times it occurs.
type Count struct {
	Key   string
	Count int64
}
