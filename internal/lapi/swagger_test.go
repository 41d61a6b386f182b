package lapi_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// swagger checks JSON answers against the definitions of
// shared/contracts/lapi-swagger.yaml: required fields present and every
// present field of the declared type, recursively.
type swagger struct {
	defs map[string]*schema
}

type schema struct {
	Ref                  string             `yaml:"$ref"`
	Type                 string             `yaml:"type"`
	Required             []string           `yaml:"required"`
	Properties           map[string]*schema `yaml:"properties"`
	Items                *schema            `yaml:"items"`
	AllOf                []*schema          `yaml:"allOf"`
	AdditionalProperties any                `yaml:"additionalProperties"`
}

func loadSwagger(t testing.TB) *swagger {
	t.Helper()
	data, err := os.ReadFile(findUp(t, "shared/contracts/lapi-swagger.yaml"))
	require.NoError(t, err)
	var doc struct {
		Definitions map[string]*schema `yaml:"definitions"`
	}
	require.NoError(t, yaml.Unmarshal(data, &doc))
	require.NotEmpty(t, doc.Definitions)
	return &swagger{defs: doc.Definitions}
}

// check validates body against definition def; it fails the test with the
// JSON path of the first mismatch.
func (s *swagger) check(t testing.TB, def string, body []byte) {
	t.Helper()
	sc, ok := s.defs[def]
	require.True(t, ok, "swagger has no definition %s", def)
	var v any
	require.NoError(t, json.Unmarshal(body, &v), "answer is not JSON: %s", body)
	if err := s.validate(sc, v, def); err != nil {
		t.Fatalf("answer does not match swagger %s: %v\nbody: %.500s", def, err, body)
	}
}

func (s *swagger) resolve(sc *schema) *schema {
	for sc != nil && sc.Ref != "" {
		sc = s.defs[strings.TrimPrefix(sc.Ref, "#/definitions/")]
	}
	return sc
}

func (s *swagger) validate(sc *schema, v any, path string) error {
	sc = s.resolve(sc)
	if sc == nil {
		return fmt.Errorf("%s: unresolved schema", path)
	}
	for _, sub := range sc.AllOf {
		if err := s.validate(sub, v, path); err != nil {
			return err
		}
	}
	typ := sc.Type
	if typ == "" && sc.Properties != nil {
		typ = "object"
	}
	switch typ {
	case "":
		return nil
	case "object":
		if v == nil {
			return nil // JSON null for an optional object
		}
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want object, got %T", path, v)
		}
		for _, r := range sc.Required {
			if _, ok := m[r]; !ok {
				return fmt.Errorf("%s: required field %q missing", path, r)
			}
		}
		for k, pv := range m {
			if ps, ok := sc.Properties[k]; ok {
				if err := s.validate(ps, pv, path+"."+k); err != nil {
					return err
				}
			}
		}
	case "array":
		if v == nil {
			return nil // the LAPI answers null for empty lists
		}
		a, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: want array, got %T", path, v)
		}
		for i, x := range a {
			if err := s.validate(sc.Items, x, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case "string":
		if _, ok := v.(string); !ok {
			return fmt.Errorf("%s: want string, got %T (%v)", path, v, v)
		}
	case "integer":
		f, ok := v.(float64)
		if !ok || f != float64(int64(f)) {
			return fmt.Errorf("%s: want integer, got %T (%v)", path, v, v)
		}
	case "number":
		if _, ok := v.(float64); !ok {
			return fmt.Errorf("%s: want number, got %T", path, v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: want boolean, got %T", path, v)
		}
	default:
		return fmt.Errorf("%s: unknown swagger type %q", path, typ)
	}
	return nil
}

// The checker itself must be able to fail.
func TestSwaggerCheckerRejects(t *testing.T) {
	sw := loadSwagger(t)
	for name, tc := range map[string]struct{ def, body string }{
		"missing required":   {"ErrorResponse", `{"errors":"x"}`},
		"nbDeleted not text": {"DeleteDecisionResponse", `{"nbDeleted":3}`},
		"decision id string": {"GetDecisionsResponse", `[{"id":"1","origin":"a","type":"ban","scope":"Ip","value":"1.2.3.4","duration":"1h","scenario":"s"}]`},
		"stream new object":  {"DecisionsStreamResponse", `{"new":{},"deleted":[]}`},
	} {
		t.Run(name, func(t *testing.T) {
			var v any
			require.NoError(t, json.Unmarshal([]byte(tc.body), &v))
			require.Error(t, sw.validate(sw.defs[tc.def], v, tc.def))
		})
	}
}
