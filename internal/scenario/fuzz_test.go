package scenario

import (
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the scenario loader: it must return
// a Set or an error, never panic.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("type: leaky\nname: a\ndescription: d\nfilter: evt.Meta.x == 'y'\ncapacity: 1\nleakspeed: 1s\n"))
	f.Add([]byte("type: trigger\nname: a\ndescription: d\nfilter: 'true'\n---\ntype: counter\nname: b\ndescription: d\nfilter: 'true'\ncapacity: -1\nduration: 1s\n"))
	f.Add([]byte("type: bayesian\nname: a\ndescription: d\nfilter: 'true'\ncapacity: -1\nleakspeed: 1s\nbayesian_prior: 0.5\nbayesian_threshold: 0.9\nbayesian_conditions: [{condition: 'true', prob_given_evil: 0.5, prob_given_benign: 0.5}]\n"))
	f.Add([]byte("nope: 1\n"))
	f.Add([]byte("type: leaky\nname: a\ndescription: d\nfilter: evt.Meta.x ==\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := LoadBytes("fuzz.yaml", data, Options{})
		if err == nil && set == nil {
			t.Fatal("nil set without error")
		}
	})
}

func TestLoadErrors(t *testing.T) {
	cases := map[string]struct {
		yaml string
		want string
	}{
		"unknown field":   {"type: leaky\nname: a\ndescription: d\nfilter: 'true'\ncapacity: 1\nleakspeed: 1s\nbogus: 1\n", "bad.yaml:7: field bogus: unknown field (in Spec)"},
		"unknown type":    {"type: leakyy\nname: a\ndescription: d\nfilter: 'true'\n", "type: unknown bucket type"},
		"bad filter":      {"type: trigger\nname: a\ndescription: d\nfilter: evt.Meta.x ==\n", "bad.yaml: a: filter:"},
		"non-bool filter": {"type: trigger\nname: a\ndescription: d\nfilter: evt.Meta.x\n", "filter:"},
		"bad leakspeed":   {"type: leaky\nname: a\ndescription: d\nfilter: 'true'\ncapacity: 1\nleakspeed: soon\n", "leakspeed:"},
		"leaky capacity":  {"type: leaky\nname: a\ndescription: d\nfilter: 'true'\ncapacity: 0\nleakspeed: 1s\n", "capacity:"},
		"trigger capa":    {"type: trigger\nname: a\ndescription: d\nfilter: 'true'\ncapacity: 3\n", "capacity:"},
		"counter dur":     {"type: counter\nname: a\ndescription: d\nfilter: 'true'\ncapacity: -1\n", "duration:"},
		"no description":  {"type: trigger\nname: a\nfilter: 'true'\n", "description: missing"},
		"scope no expr":   {"type: trigger\nname: a\ndescription: d\nfilter: 'true'\nscope: {type: user}\n", "scope.expression"},
		"second doc":      {"type: trigger\nname: a\ndescription: d\nfilter: 'true'\n---\ntype: trigger\nname: b\ndescription: d\nfilter: \"1 +\"\n", "bad.yaml: b: filter:"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := LoadBytes("bad.yaml", []byte(tc.yaml), Options{})
			if err == nil {
				t.Fatal("expected an error")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "scenario: bad.yaml") {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestFormatSkipped(t *testing.T) {
	set, err := LoadBytes("f.yaml", []byte("format: 9.0\ntype: trigger\nname: a\ndescription: d\nfilter: 'true'\n"), Options{})
	if err != nil || set.Len() != 0 || len(set.Skipped) != 1 {
		t.Fatalf("got %v %v", set, err)
	}
}
