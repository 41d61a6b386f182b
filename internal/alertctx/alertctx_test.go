package alertctx

import (
	"strings"
	"testing"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/models"
)

type plain struct{}

func (plain) Compile(src string, env any, extra ...expr.Option) (*vm.Program, error) {
	return expr.Compile(src, append(extra, expr.Env(env))...)
}

func ev(meta map[string]string) *event.Event { return event.FromMaps(meta, nil) }

func TestMeta(t *testing.T) {
	set, warns, err := Load([]Source{
		{Name: "a.yaml", Data: []byte("context:\n  target_user:\n    - evt.Meta.target_user\n  uri:\n    - evt.Meta.http_path\n")},
		{Name: "b.yaml", Data: []byte("context:\n  uri:\n    - evt.Meta.other\n  host:\n    - \"req != nil ? req.Host : ''\"\n")},
	}, plain{}, 0)
	require.NoError(t, err)
	require.Len(t, warns, 1, "the WAF expression does not compile and is skipped")
	require.Equal(t, 2, set.Len())
	got := set.Meta([]*event.Event{
		ev(map[string]string{"target_user": "root", "http_path": "/a"}),
		ev(map[string]string{"target_user": "root", "http_path": "/b", "other": "/c"}),
		ev(map[string]string{"target_user": ""}),
	})
	require.Equal(t, models.Meta{
		{Key: "target_user", Value: `["root"]`},
		{Key: "uri", Value: `["/a","/b","/c"]`},
	}, got)
}

func TestEncodeBound(t *testing.T) {
	s := &Set{maxLen: 20}
	require.Equal(t, `["aaaa","bbbb"]`, s.encode([]string{"aaaa", "bbbb", "cccc"}))
	long := s.encode([]string{strings.Repeat("x", 100)})
	require.LessOrEqual(t, len(long), 20)
	require.True(t, strings.HasPrefix(long, `["xx`))
}

func TestLoadErrors(t *testing.T) {
	_, _, err := Load([]Source{{Name: "bad.yaml", Data: []byte("contxt:\n  a: [x]\n")}}, plain{}, 0)
	require.ErrorContains(t, err, "bad.yaml")
	require.ErrorContains(t, err, "contxt")
}

func TestFromAlert(t *testing.T) {
	ts := "2024-01-01T00:00:00Z"
	a := &models.Alert{Events: []*models.Event{{Timestamp: &ts, Meta: models.Meta{{Key: "k", Value: "v"}}}, nil}}
	evs := FromAlert(a)
	require.Len(t, evs, 1)
	require.Equal(t, "v", evs[0].Map(event.Meta)["k"])
}
