package profile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/exprenv"
	"github.com/phalanx-ids/phalanx/internal/models"
)

// counts is an in-memory exprenv.Decisions: decisions already made per value.
type counts map[string]int

func (c counts) CountDecisions(v string) (int, error) { return c[v], nil }
func (c counts) CountDecisionsSince(v string, _ time.Time) (int, error) {
	return c[v], nil
}
func (c counts) ActiveDecisionsCount(v string) (int, error) { return c[v], nil }
func (c counts) ActiveDecisionsTimeLeft(string) (time.Duration, error) {
	return 0, nil
}

type alertOpt func(*models.Alert)

func newAlert(scope, value, scenario string, opts ...alertOpt) *models.Alert {
	a := &models.Alert{
		Scenario:    &scenario,
		Remediation: true,
		EventsCount: ptr(int32(5)),
		Source:      &models.Source{Scope: &scope, Value: &value},
		Meta:        models.Meta{{Key: "service", Value: "ssh"}},
	}
	for _, o := range opts {
		o(a)
	}
	return a
}

func noRemediation(a *models.Alert)  { a.Remediation = false }
func simulatedAlert(a *models.Alert) { a.Simulated = ptr(true) }
func noSource(a *models.Alert)       { a.Source = nil }
func withDecision(a *models.Alert) {
	a.Decisions = []*models.Decision{{Type: ptr("ban"), Origin: ptr("cscli")}}
}

// show renders a decision compactly: "type scope:value duration origin scenario [sim]".
func show(ds []*models.Decision) []string {
	var out []string
	for _, d := range ds {
		s := fmt.Sprintf("%s %s:%s %s %s %s", *d.Type, *d.Scope, *d.Value, *d.Duration, *d.Origin, *d.Scenario)
		if d.Simulated != nil && *d.Simulated {
			s += " sim"
		}
		out = append(out, s)
	}
	return out
}

const ssh = "crowdsecurity/ssh-bf"

func TestDecide(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		profiles string // "" = the embedded defaults
		sim      Simulation
		counts   counts
		alert    *models.Alert
		want     []string
		notify   []string
		err      string
	}{
		{name: "default ip", alert: newAlert("Ip", "1.2.3.4", ssh),
			want: []string{"ban Ip:1.2.3.4 4h crowdsec " + ssh}},
		{name: "default range", alert: newAlert("Range", "1.2.3.0/24", ssh),
			want: []string{"ban Range:1.2.3.0/24 4h crowdsec " + ssh}},
		{name: "default no remediation", alert: newAlert("Ip", "1.2.3.4", ssh, noRemediation)},
		{name: "default other scope", alert: newAlert("Country", "FR", ssh)},
		{name: "default alert with decisions gets none", alert: newAlert("Ip", "1.2.3.4", ssh, withDecision)},
		{name: "two true filters duplicate the list", profiles: `
name: p
filters: [ "Alert.GetScope() == 'Ip'", "Alert.GetEventsCount() > 3" ]
decisions: [ {type: ban, duration: 1h}, {type: captcha} ]
`, alert: newAlert("Ip", "1.2.3.4", ssh), want: []string{
			"ban Ip:1.2.3.4 1h crowdsec " + ssh, "captcha Ip:1.2.3.4 4h crowdsec " + ssh,
			"ban Ip:1.2.3.4 1h crowdsec " + ssh, "captcha Ip:1.2.3.4 4h crowdsec " + ssh}},
		{name: "continue keeps only the first profile's decisions", profiles: `
name: first
filters: [ "true" ]
decisions: [ {type: captcha, duration: 1h} ]
notifications: [ slack ]
on_success: continue
---
name: second
filters: [ "true" ]
decisions: [ {type: ban, duration: 2h} ]
notifications: [ email, slack ]
`, alert: newAlert("Ip", "1.2.3.4", ssh), want: []string{"captcha Ip:1.2.3.4 1h crowdsec " + ssh},
			notify: []string{"slack", "email", "slack"}},
		{name: "a matching profile without decisions leaves room", profiles: `
name: notify-only
filters: [ "true" ]
notifications: [ http ]
---
name: ban
filters: [ "true" ]
decisions: [ {type: ban} ]
on_success: break
---
name: never reached
filters: [ "true" ]
notifications: [ late ]
`, alert: newAlert("Ip", "1.2.3.4", ssh), want: []string{"ban Ip:1.2.3.4 4h crowdsec " + ssh}, notify: []string{"http"}},
		{name: "on_failure break is a no-op", profiles: `
name: no
filters: [ "false" ]
decisions: [ {type: captcha} ]
on_failure: break
---
name: yes
filters: [ "true" ]
decisions: [ {type: ban} ]
`, alert: newAlert("Ip", "1.2.3.4", ssh), want: []string{"ban Ip:1.2.3.4 4h crowdsec " + ssh}},
		{name: "filters see meta and source fields", profiles: `
name: p
filters: [ "Alert.GetMeta('service') == 'ssh' && Alert.Source.Value startsWith '1.' && Alert.GetScenario() contains 'ssh'" ]
decisions: [ {type: ban} ]
`, alert: newAlert("Ip", "1.2.3.4", ssh), want: []string{"ban Ip:1.2.3.4 4h crowdsec " + ssh}},
		{name: "profile scope wins, value stays the source value", profiles: `
name: p
filters: [ "true" ]
decisions: [ {type: ban, scope: Range} ]
`, alert: newAlert("Ip", "1.2.3.4", ssh), want: []string{"ban Range:1.2.3.4 4h crowdsec " + ssh}},
		{name: "origin suffix", profiles: `
name: p
filters: [ "true" ]
decisions: [ {type: ban, origin: mylist} ]
`, alert: newAlert("Ip", "1.2.3.4", ssh), want: []string{"ban Ip:1.2.3.4 4h crowdsec/mylist " + ssh}},
		{name: "days are normalised", profiles: `
name: p
filters: [ "true" ]
decisions: [ {type: ban, duration: 2d}, {type: captcha, duration: 1d12h} ]
`, alert: newAlert("Ip", "1.2.3.4", ssh), want: []string{
			"ban Ip:1.2.3.4 48h0m0s crowdsec " + ssh, "captcha Ip:1.2.3.4 36h0m0s crowdsec " + ssh}},
		{name: "simulated decision in profile", profiles: `
name: p
filters: [ "true" ]
decisions: [ {type: ban, simulated: true}, {type: captcha} ]
`, alert: newAlert("Ip", "1.2.3.4", ssh), want: []string{
			"ban Ip:1.2.3.4 4h crowdsec " + ssh + " sim", "captcha Ip:1.2.3.4 4h crowdsec " + ssh}},
		{name: "simulated alert", alert: newAlert("Ip", "1.2.3.4", ssh, simulatedAlert),
			want: []string{"ban Ip:1.2.3.4 4h crowdsec " + ssh + " sim"}},
		{name: "simulation on globally", sim: Simulation{Enabled: true}, alert: newAlert("Ip", "1.2.3.4", ssh),
			want: []string{"ban Ip:1.2.3.4 4h crowdsec " + ssh + " sim"}},
		{name: "simulation on, scenario excluded", sim: Simulation{Enabled: true, Exclusions: []string{ssh}},
			alert: newAlert("Ip", "1.2.3.4", ssh), want: []string{"ban Ip:1.2.3.4 4h crowdsec " + ssh}},
		{name: "simulation off, scenario listed", sim: Simulation{Exclusions: []string{ssh}},
			alert: newAlert("Ip", "1.2.3.4", ssh), want: []string{"ban Ip:1.2.3.4 4h crowdsec " + ssh + " sim"}},
		{name: "duration_expr with decision count", counts: counts{"1.2.3.4": 2}, profiles: `
name: p
filters: [ "true" ]
decisions: [ {type: ban, duration: 4h} ]
duration_expr: Sprintf('%dh', (GetDecisionsCount(Alert.GetValue()) + 1) * 4)
`, alert: newAlert("Ip", "1.2.3.4", ssh), want: []string{"ban Ip:1.2.3.4 12h crowdsec " + ssh}},
		{name: "duration_expr returning a duration", profiles: `
name: p
filters: [ "true" ]
decisions: [ {type: ban} ]
duration_expr: duration('90m') * 2
`, alert: newAlert("Ip", "1.2.3.4", ssh), want: []string{"ban Ip:1.2.3.4 3h0m0s crowdsec " + ssh}},
		{name: "duration_expr with days", profiles: `
name: p
filters: [ "true" ]
decisions: [ {type: ban} ]
duration_expr: "'3d'"
`, alert: newAlert("Ip", "1.2.3.4", ssh), want: []string{"ban Ip:1.2.3.4 72h0m0s crowdsec " + ssh}},
		{name: "bad duration_expr result keeps the configured duration", profiles: `
name: p
filters: [ "true" ]
decisions: [ {type: ban, duration: 5h} ]
duration_expr: "'soon'"
`, alert: newAlert("Ip", "1.2.3.4", ssh), want: []string{"ban Ip:1.2.3.4 5h crowdsec " + ssh}},
		{name: "failing duration_expr keeps the configured duration", profiles: `
name: p
filters: [ "true" ]
decisions: [ {type: ban, duration: 5h} ]
duration_expr: "Alert.Events[3].Timestamp"
`, alert: newAlert("Ip", "1.2.3.4", ssh), want: []string{"ban Ip:1.2.3.4 5h crowdsec " + ssh}},
		{name: "filter error without on_error fails", profiles: `
name: broken
filters: [ "Alert.Events[3].Timestamp != nil" ]
decisions: [ {type: ban} ]
`, alert: newAlert("Ip", "1.2.3.4", ssh), err: `profile: broken: filter 1 (Alert.Events[3].Timestamp != nil)`},
		{name: "on_error apply matches without decisions", profiles: `
name: broken
filters: [ "Alert.Events[3].Timestamp != nil" ]
decisions: [ {type: ban} ]
notifications: [ n1 ]
on_error: apply
on_success: break
---
name: later
filters: [ "true" ]
decisions: [ {type: ban} ]
`, alert: newAlert("Ip", "1.2.3.4", ssh), notify: []string{"n1"}},
		{name: "on_error continue skips", profiles: `
name: broken
filters: [ "Alert.Events[3].Timestamp != nil" ]
decisions: [ {type: captcha} ]
on_error: continue
---
name: later
filters: [ "true" ]
decisions: [ {type: ban} ]
`, alert: newAlert("Ip", "1.2.3.4", ssh), want: []string{"ban Ip:1.2.3.4 4h crowdsec " + ssh}},
		{name: "on_error break without a match does not stop", profiles: `
name: broken
filters: [ "Alert.Events[3].Timestamp != nil" ]
on_error: break
---
name: later
filters: [ "true" ]
decisions: [ {type: ban} ]
`, alert: newAlert("Ip", "1.2.3.4", ssh), want: []string{"ban Ip:1.2.3.4 4h crowdsec " + ssh}},
		{name: "on_error break after a match stops, decisions dropped", profiles: `
name: broken
filters: [ "true", "Alert.Events[3].Timestamp != nil" ]
decisions: [ {type: captcha} ]
notifications: [ n1 ]
on_error: break
---
name: later
filters: [ "true" ]
decisions: [ {type: ban} ]
notifications: [ n2 ]
`, alert: newAlert("Ip", "1.2.3.4", ssh), notify: []string{"n1"}},
		{name: "alert without source: on_error ignore", profiles: `
name: p
filters: [ "true" ]
decisions: [ {type: ban} ]
on_error: ignore
---
name: q
filters: [ "true" ]
notifications: [ n ]
`, alert: newAlert("Ip", "1.2.3.4", ssh, noSource), notify: []string{"n"}},
		{name: "alert without source fails", alert: newAlert("Ip", "1.2.3.4", ssh, noSource),
			profiles: "name: p\nfilters: [ 'true' ]\ndecisions: [ {type: ban} ]\n", err: "the alert has no source value"},
		{name: "alert with decisions: notifications only, errors skip", profiles: `
name: broken
filters: [ "Alert.Events[3].Timestamp != nil" ]
notifications: [ never ]
---
name: n
filters: [ "Alert.GetScope() == 'Ip'" ]
decisions: [ {type: captcha} ]
notifications: [ slack ]
on_success: break
---
name: after
filters: [ "true" ]
notifications: [ never ]
`, alert: newAlert("Ip", "1.2.3.4", ssh, withDecision), notify: []string{"slack"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := Options{Env: exprenv.New(exprenv.Deps{Decisions: tc.counts}), Simulation: tc.sim}
			var set *Set
			var err error
			if tc.profiles == "" {
				set, err = Default(opts)
			} else {
				set, err = Load([]Source{{Name: "profiles.yaml", Data: []byte(tc.profiles)}}, opts)
			}
			require.NoError(t, err)
			before := fmt.Sprintf("%+v", *tc.alert)
			decs, notify, err := set.Decide(tc.alert)
			require.Equal(t, before, fmt.Sprintf("%+v", *tc.alert), "Decide modified the alert")
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				var ee *EvalError
				require.ErrorAs(t, err, &ee)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, show(decs))
			require.Equal(t, tc.notify, notify)
		})
	}
}

func TestEvaluateSteps(t *testing.T) {
	t.Parallel()
	set, err := Load([]Source{{Name: "p.yaml", Data: []byte(`
name: a
filters: [ "false", "true" ]
decisions: [ {type: ban} ]
on_success: continue
---
name: b
filters: [ "true" ]
decisions: [ {type: captcha} ]
on_success: break
---
name: c
filters: [ "true" ]
`)}}, Options{})
	require.NoError(t, err)
	out, err := set.Evaluate(newAlert("Ip", "1.2.3.4", ssh))
	require.NoError(t, err)
	require.Equal(t, []Step{
		{Profile: "a", Filters: []int{2}, Matched: true, Decisions: 1, Kept: 1},
		{Profile: "b", Filters: []int{1}, Matched: true, Decisions: 1, Break: true},
	}, out.Steps)
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, in, err string }{
		{name: "unknown key", in: "name: p\nfilters: [ 'true' ]\nfilter: x\n",
			err: "profile: profiles.yaml:3: field filter: unknown field in profile (known: debug, decisions, duration_expr, filters, name, notifications, on_error, on_failure, on_success)"},
		{name: "unknown decision key", in: "name: p\ndecisions:\n  - type: ban\n    durtion: 4h\n",
			err: "profile: profiles.yaml:4: field durtion: unknown field in decision"},
		{name: "unknown key in second doc", in: "name: p\n---\nname: q\nonsuccess: break\n",
			err: "profile: profiles.yaml:4: field onsuccess: unknown field in profile"},
		{name: "wrong type", in: "name: p\ndebug: maybe\n",
			err: "profile: profiles.yaml:2: cannot unmarshal !!str `maybe` into bool"},
		{name: "filters not a list", in: "name: p\nfilters: true\n",
			err: "profile: profiles.yaml:2: cannot unmarshal"},
		{name: "syntax error", in: "name: p\nfilters: [\n",
			err: "profile: profiles.yaml:2: did not find expected node content"},
		{name: "not a mapping", in: "- a\n- b\n", err: "profile: profiles.yaml:1: a profile must be a mapping"},
		{name: "no profiles", in: "# nothing\n---\n", err: "profile: no profiles loaded"},
		{name: "bad on_success", in: "name: p\non_success: stop\n",
			err: `profile: profiles.yaml:1: profile "p": on_success: "stop" is not continue or break`},
		{name: "bad on_failure", in: "name: p\non_failure: stop\n", err: `on_failure: "stop" is not continue, break or apply`},
		{name: "bad on_error", in: "name: p\non_error: panic\n", err: `on_error: "panic" is not apply, continue, break or ignore`},
		{name: "bad duration", in: "name: p\ndecisions: [ {type: ban, duration: 4 hours} ]\n", err: "decision 1: duration:"},
		{name: "zero duration", in: "name: p\ndecisions: [ {type: ban, duration: 0s} ]\n", err: `decision 1: duration: "0s": not positive`},
		{name: "negative duration", in: "name: p\ndecisions: [ {type: ban, duration: -5h} ]\n", err: `decision 1: duration: "-5h": not positive`},
		{name: "NaN duration", in: "name: p\ndecisions: [ {type: ban, duration: NaNd} ]\n", err: `decision 1: duration: "NaNd": not a duration`},
		{name: "Inf duration", in: "name: p\ndecisions: [ {type: ban, duration: Infd} ]\n", err: `decision 1: duration: "Infd": not a duration`},
		{name: "exponent duration", in: "name: p\ndecisions: [ {type: ban, duration: 1e308d} ]\n", err: `decision 1: duration: "1e308d": not a duration`},
		{name: "overflowing duration", in: "name: p\ndecisions: [ {type: ban, duration: 9999999999d} ]\n", err: `decision 1: duration: "9999999999d": out of range`},
		{name: "duration beyond 100 years", in: "name: p\ndecisions: [ {type: ban, duration: 36501d} ]\n", err: `decision 1: duration: "36501d": out of range`},
		{name: "missing type", in: "name: p\ndecisions: [ {duration: 1h} ]\n", err: "decision 1: type is required"},
		{name: "filter syntax", in: "name: p\nfilters: [ 'true', 'Alert.GetScope( ==' ]\n", err: `profile "p": filter 2:`},
		{name: "filter unknown field", in: "name: p\nfilters: [ 'Alert.Nope == 1' ]\n", err: "filter 1:"},
		{name: "filter not bool", in: "name: p\nfilters: [ 'Alert.GetScope()' ]\n", err: "filter 1: expected bool"},
		{name: "duration_expr syntax", in: "name: p\nduration_expr: 'Sprintf('\n", err: "duration_expr:"},
		{name: "unnamed profile located by index", in: "filters: [ 'true' ]\n---\non_success: x\n",
			err: `profile: profiles.yaml:3: profile "#2": on_success`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load([]Source{{Name: "profiles.yaml", Data: []byte(tc.in)}}, Options{})
			require.ErrorContains(t, err, tc.err)
		})
	}
}

func TestLoadMultiDoc(t *testing.T) {
	t.Parallel()
	set, err := Load([]Source{
		{Name: "a.yaml", Data: []byte("---\nname: one\nfilters: ['true']\n---\n# empty\n---\nname: two\ndebug: yes\n")},
		{Name: "b.yaml", Data: []byte("name: three\n")},
	}, Options{})
	require.NoError(t, err)
	cfgs := set.Configs()
	require.Len(t, cfgs, 3)
	require.Equal(t, []string{"one", "two", "three"}, []string{cfgs[0].Name, cfgs[1].Name, cfgs[2].Name})
	require.Equal(t, 7, cfgs[1].Line)
	require.True(t, cfgs[1].Debug)
	require.Equal(t, "b.yaml", cfgs[2].File)
	cfgs[0].Filters[0] = "changed"
	require.Equal(t, "true", set.Configs()[0].Filters[0])
}

func TestLoadFileLocalOverlay(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "profiles.yaml")
	require.NoError(t, os.WriteFile(path, DefaultYAML(), 0o600))

	set, err := LoadFile(path, Options{})
	require.NoError(t, err)
	require.Len(t, set.Configs(), 2)

	local := "name: local_captcha\nfilters: [ \"Alert.GetScope() == 'Ip'\" ]\ndecisions: [ {type: captcha, duration: 1h} ]\non_success: break\n"
	require.NoError(t, os.WriteFile(path+".local", []byte(local), 0o600))
	set, err = LoadFile(path, Options{})
	require.NoError(t, err)
	require.Equal(t, "local_captcha", set.Configs()[0].Name)
	decs, _, err := set.Decide(newAlert("Ip", "1.2.3.4", ssh))
	require.NoError(t, err)
	require.Equal(t, []string{"captcha Ip:1.2.3.4 1h crowdsec " + ssh}, show(decs))

	require.NoError(t, os.WriteFile(path+".local", []byte("name: x\nbogus: 1\n"), 0o600))
	_, err = LoadFile(path, Options{})
	require.ErrorContains(t, err, "profiles.yaml.local:2: field bogus")

	_, err = LoadFile(filepath.Join(dir, "missing.yaml"), Options{})
	require.ErrorContains(t, err, "profile: open ")
}

func TestDefaultProfiles(t *testing.T) {
	t.Parallel()
	set, err := Default(Options{})
	require.NoError(t, err)
	cfgs := set.Configs()
	require.Len(t, cfgs, 2)
	for _, c := range cfgs {
		require.Equal(t, "break", c.OnSuccess)
		require.Equal(t, []DecisionConfig{{Type: "ban", Duration: "4h"}}, c.Decisions)
	}
	require.True(t, strings.Contains(string(DefaultYAML()), "default_ip_remediation"))
}

func TestSimulation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in string
		want     Simulation
		err      string
	}{
		{name: "cscli default", in: "simulation: off\n# exclusions:\n#  - crowdsecurity/ssh-bf\n", want: Simulation{}},
		{name: "on with exclusions", in: "simulation: on\nexclusions:\n  - a\n  - b\n", want: Simulation{Enabled: true, Exclusions: []string{"a", "b"}}},
		{name: "true", in: "simulation: true\n", want: Simulation{Enabled: true}},
		{name: "empty", in: "", want: Simulation{}},
		{name: "unknown key", in: "simulation: off\nexclude: [a]\n", err: "simulation: simulation.yaml:2: field exclude: unknown field (in Simulation)"},
		{name: "bad bool", in: "simulation: sometimes\n", err: "simulation: simulation.yaml:1: cannot unmarshal"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := ParseSimulation("simulation.yaml", []byte(tc.in))
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, s)
			back, err := ParseSimulation("x", s.Marshal())
			require.NoError(t, err)
			require.Equal(t, s, back)
		})
	}
	s := Simulation{Enabled: false, Exclusions: []string{"a"}}
	require.True(t, s.IsSimulated("a"))
	require.False(t, s.IsSimulated("b"))
	s.Enabled = true
	require.False(t, s.IsSimulated("a"))
	require.True(t, s.IsSimulated("b"))
}

func FuzzLoad(f *testing.F) {
	f.Add(string(DefaultYAML()))
	f.Add("name: p\nfilters: [ 'true' ]\ndecisions: [ {type: ban, duration: 2d, scope: Range, origin: x, simulated: true} ]\nduration_expr: \"'1h'\"\non_error: apply\n")
	f.Add("---\n---\nname: [\n")
	env := exprenv.New(exprenv.Deps{})
	alerts := []*models.Alert{newAlert("Ip", "1.2.3.4", ssh), newAlert("Ip", "1.2.3.4", ssh, noSource), {}}
	f.Fuzz(func(t *testing.T, in string) {
		set, err := Load([]Source{{Name: "f.yaml", Data: []byte(in)}}, Options{Env: env})
		if err != nil {
			require.True(t, strings.HasPrefix(err.Error(), "profile: "), err.Error())
			return
		}
		for _, a := range alerts {
			out, err := set.Evaluate(a)
			if err != nil {
				continue
			}
			for _, d := range out.Decisions {
				_, perr := time.ParseDuration(*d.Duration)
				require.NoError(t, perr)
			}
		}
	})
}
