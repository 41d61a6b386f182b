package profile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/expr-lang/expr"

	"github.com/phalanx-ids/phalanx/internal/models"
)

// Outcome is the result of running the profiles over one alert.
type Outcome struct {
	// Decisions are the decisions to attach to the alert (none for an
	// alert that already carries decisions). Each has origin, type, scope,
	// value, duration (a time.ParseDuration string), scenario and, when
	// simulated, Simulated=true; the caller sets IDs, UUIDs and Until.
	Decisions []*models.Decision
	// Notifications are the notification names of every matching profile,
	// in order (a name appears once per profile that lists it: CrowdSec
	// sends the alert once per matching profile).
	Notifications []string
	// Steps says what each evaluated profile did, for explain output.
	Steps []Step
}

// Step is what one profile did with the alert.
type Step struct {
	Profile string
	// Filters lists the 1-based indexes of the filters that matched.
	Filters []int
	Matched bool
	// Decisions is the number of decisions this profile generated;
	// Kept is how many of them were attached (only the first matching
	// profile that generates decisions has its decisions kept).
	Decisions, Kept int
	// Err is a filter or decision error that on_error handled.
	Err error
	// Break is true when evaluation stopped after this profile.
	Break bool
}

// EvalError is a filter error in a profile without on_error: the alert
// cannot be decided (CrowdSec's LAPI answers HTTP 500 with Error()).
type EvalError struct {
	Profile string
	Err     error
}

func (e *EvalError) Error() string { return fmt.Sprintf("profile: %s: %v", e.Profile, e.Err) }
func (e *EvalError) Unwrap() error { return e.Err }

// Decide runs the profiles over alert and returns the decisions to make and
// the notifications to send. See Evaluate.
func (s *Set) Decide(alert *models.Alert) ([]*models.Decision, []string, error) {
	out, err := s.Evaluate(alert)
	if err != nil {
		return nil, nil, err
	}
	return out.Decisions, out.Notifications, nil
}

// Evaluate runs the profiles, in order, over alert as CrowdSec's LAPI does
// when an alert is posted. It does not modify alert.
//
//   - A profile matches when any of its filters is true. Each true filter
//     generates the profile's full decision list (two true filters: the
//     list twice).
//   - Only the first matching profile that generates decisions has them
//     attached; later matching profiles (after on_success: continue) only
//     add their notifications.
//   - on_success: break stops after a matching profile. on_failure is
//     accepted but has no effect (in CrowdSec, `break` there leaves a Go
//     switch, not the loop).
//   - A filter error (or a decision that cannot be built, e.g. an alert
//     without source) is handled by on_error: apply (the profile matches,
//     without decisions), continue / ignore (the profile is skipped, or
//     matches without decisions if a filter already matched), break (stop
//     after it if it matched). Without on_error, Evaluate returns an
//     *EvalError.
//   - An alert that already carries decisions (cscli decisions add) gets
//     no new decisions: matching profiles only add notifications, errors
//     skip the profile, on_success: break applies.
//
// A decision is simulated when its profile entry says so, the alert is
// simulated, or the Set's Simulation simulates the alert's scenario.
func (s *Set) Evaluate(alert *models.Alert) (*Outcome, error) {
	if alert == nil {
		return nil, errors.New("profile: nil alert")
	}
	manual := len(alert.Decisions) > 0
	simulated := (alert.Simulated != nil && *alert.Simulated) || s.sim.IsSimulated(alert.GetScenario())
	out := &Outcome{}
	for _, p := range s.profiles {
		st := Step{Profile: p.cfg.Name}
		decs, err := p.evaluate(alert, simulated, !manual, &st, s.log)
		forceBreak := false
		if err != nil {
			st.Err = err
			switch {
			case manual:
				s.log.Warn("profile: error while evaluating an alert with decisions; profile skipped", "profile", p.cfg.Name, "err", err)
				out.Steps = append(out.Steps, st)
				continue
			case p.cfg.OnError == "apply":
				s.log.Warn("profile: applying profile despite error", "profile", p.cfg.Name, "err", err)
				st.Matched = true
			case p.cfg.OnError == "continue" || p.cfg.OnError == "ignore":
				s.log.Warn("profile: error ignored", "profile", p.cfg.Name, "on_error", p.cfg.OnError, "err", err)
			case p.cfg.OnError == "break":
				forceBreak = true
			default:
				return nil, &EvalError{Profile: p.cfg.Name, Err: err}
			}
		}
		if !st.Matched {
			out.Steps = append(out.Steps, st)
			continue
		}
		if !manual && len(out.Decisions) == 0 {
			out.Decisions = append(out.Decisions, decs...)
			st.Kept = len(decs)
		}
		out.Notifications = append(out.Notifications, p.cfg.Notifications...)
		st.Break = p.cfg.OnSuccess == "break" || forceBreak
		out.Steps = append(out.Steps, st)
		if st.Break {
			break
		}
	}
	return out, nil
}

// evaluate runs the filters; on error it returns no decisions and leaves
// st.Matched as it was when the error happened.
func (p *compiled) evaluate(alert *models.Alert, simulated, generate bool, st *Step, log *slog.Logger) ([]*models.Decision, error) {
	env := exprEnv{Alert: alert}
	level := slog.LevelDebug
	if p.cfg.Debug {
		level = slog.LevelInfo
	}
	var decs []*models.Decision
	for i, prog := range p.filters {
		v, err := expr.Run(prog, env)
		if err != nil {
			return nil, fmt.Errorf("filter %d (%s): %w", i+1, p.cfg.Filters[i], err)
		}
		ok, isBool := v.(bool)
		if !isBool {
			return nil, fmt.Errorf("filter %d (%s): result %T is not a bool", i+1, p.cfg.Filters[i], v)
		}
		log.Log(context.Background(), level, "profile: filter", "profile", p.cfg.Name, "filter", p.cfg.Filters[i], "result", ok)
		if !ok {
			continue
		}
		st.Matched = true
		st.Filters = append(st.Filters, i+1)
		if !generate {
			continue
		}
		d, err := p.generate(alert, simulated, log, level)
		if err != nil {
			return nil, err
		}
		st.Decisions += len(d)
		decs = append(decs, d...)
	}
	return decs, nil
}

// generate builds the profile's decision list for alert.
func (p *compiled) generate(alert *models.Alert, simulated bool, log *slog.Logger, level slog.Level) ([]*models.Decision, error) {
	if len(p.decisions) == 0 {
		return nil, nil
	}
	if alert.Source == nil || alert.Source.Value == nil {
		return nil, errors.New("decision: the alert has no source value")
	}
	dur := ""
	if p.duration != nil {
		dur = p.runDuration(alert, log, level)
	}
	out := make([]*models.Decision, 0, len(p.decisions))
	for _, d := range p.decisions {
		scope := d.Scope
		if scope == "" {
			scope = alert.Source.GetScope()
		}
		duration := d.Duration
		if dur != "" {
			duration = dur
		}
		origin := Origin
		if d.Origin != "" {
			origin += "/" + d.Origin
		}
		dec := &models.Decision{
			Origin:   ptr(origin),
			Type:     ptr(d.Type),
			Scope:    ptr(scope),
			Value:    ptr(alert.Source.GetValue()),
			Duration: ptr(duration),
			Scenario: ptr(alert.GetScenario()),
		}
		if d.Simulated || simulated {
			dec.Simulated = ptr(true)
		}
		out = append(out, dec)
	}
	return out, nil
}

// runDuration evaluates duration_expr; "" (keep the configured duration)
// when it fails or does not give a positive duration.
func (p *compiled) runDuration(alert *models.Alert, log *slog.Logger, level slog.Level) string {
	v, err := expr.Run(p.duration, exprEnv{Alert: alert})
	if err != nil {
		log.Warn("profile: duration_expr failed; using the configured duration", "profile", p.cfg.Name, "err", err)
		return ""
	}
	var s string
	switch x := v.(type) {
	case time.Duration:
		s = x.String()
	default:
		s = fmt.Sprint(v)
	}
	norm, err := normDuration(s)
	if err != nil {
		log.Warn("profile: duration_expr result is not a duration; using the configured duration", "profile", p.cfg.Name, "result", s, "err", err)
		return ""
	}
	log.Log(context.Background(), level, "profile: duration_expr", "profile", p.cfg.Name, "duration", norm)
	return norm
}

func ptr[T any](v T) *T { return &v }
