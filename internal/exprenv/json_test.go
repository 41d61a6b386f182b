package exprenv

import (
	"testing"

	"github.com/expr-lang/expr"
	"github.com/stretchr/testify/require"
)

const winEvent = `<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing' Guid='{54849625}'/><EventID>4625</EventID><TimeCreated SystemTime='2022-11-14T15:16:09.2Z'/><Channel>Security</Channel></System><EventData><Data Name='TargetUserName'>bob</Data><Data Name='IpAddress'>10.0.0.1</Data></EventData></Event>`

func TestJSONHelpers(t *testing.T) {
	runCases(t, New(Deps{}), []exprCase{
		{"extract nested index", `JsonExtract(evt.Line.Raw, "a.b[0]")`, "1", false},
		{"extract string stays escaped", `JsonExtract(evt.Line.Raw, "a.b[1]")`, `x\"y`, false},
		{"extract object raw", `JsonExtract(evt.Line.Raw, "a")`, `{"b":[1,"x\"y"]}`, false},
		{"extract null", `JsonExtract(evt.Line.Raw, "n")`, "null", false},
		{"extract missing", `JsonExtract(evt.Line.Raw, "zz")`, "", false},
		{"extract bad json", `JsonExtract("{nope", "a")`, "", false},
		{"extract top-level index", `JsonExtract("[5,6]", "[1]")`, "6", false},
		{"unescape", `JsonExtractUnescape(evt.Line.Raw, "a", "b", "[1]")`, `x"y`, false},
		{"lib", `JsonExtractLib(evt.Line.Raw, "a", "b", "[0]")`, "1", false},
		{"slice", `JsonExtractSlice(evt.Line.Raw, "a.b")`, []any{1.0, `x"y`}, false},
		{"slice not array", `JsonExtractSlice(evt.Line.Raw, "a")`, []any(nil), false},
		{"object", `JsonExtractObject(evt.Line.Raw, "a")`, map[string]any{"b": []any{1.0, `x"y`}}, false},
		{"object missing", `JsonExtractObject(evt.Line.Raw, "q")`, map[string]any(nil), false},
		{"to json", `ToJsonString(JsonExtractSlice(evt.Line.Raw, "a.b"))`, `[1,"x\"y"]`, false},
		{"unmarshal", `UnmarshalJSON(evt.Line.Raw, evt.Unmarshaled, "j") ?? evt.Unmarshaled.j.a.b[0]`, 1.0, false},
		{"unmarshal bad json errors", `UnmarshalJSON("{", evt.Unmarshaled, "j")`, nil, true},
		{"parsekv", `ParseKV(evt.Parsed.kv, evt.Unmarshaled, "kv") ?? evt.Unmarshaled.kv`,
			map[string]string{"user": "bob", "msg": "hello world", "empty": "", "x": "1"}, false},
		{"parsekv escaped quote kept", `ParseKV("a=\"x\\\"y\" b=2", evt.Unmarshaled, "kv") ?? evt.Unmarshaled.kv.a`, `x\"y`, false},
		{"parsekv nothing errors", `ParseKV("no pairs here", evt.Unmarshaled, "kv")`, nil, true},
		{"parsekvlax", `ParseKVLax("msg=hello big world user=bob q=\"a b=c\"", evt.Unmarshaled, "kv") ?? evt.Unmarshaled.kv`,
			map[string]string{"msg": "hello big world", "user": "bob", "q": "a b=c"}, false},
		{"parsekvlax unclosed quote", `ParseKVLax("a=\"open", evt.Unmarshaled, "kv") ?? evt.Unmarshaled.kv.a`, "open", false},
		{"xml node", `XMLGetNodeValue("` + winEvent + `", "/Event/System[1]/EventID")`, "4625", false},
		{"xml node by attribute", `XMLGetNodeValue("` + winEvent + `", "/Event/EventData[1]/Data[@Name='IpAddress']")`, "10.0.0.1", false},
		{"xml attribute", `XMLGetAttributeValue("` + winEvent + `", "/Event/System[1]/Provider", "Name")`, "Microsoft-Windows-Security-Auditing", false},
		{"xml missing node", `XMLGetNodeValue("` + winEvent + `", "/Event/Nope")`, "", false},
		{"xml missing attribute", `XMLGetAttributeValue("` + winEvent + `", "/Event/System[1]/Provider", "Nope")`, "", false},
		{"xml bad document", `XMLGetNodeValue("<a><b>", "/a/b")`, "", false},
		{"xml bad xpath", `XMLGetNodeValue("<a/>", "/a[")`, "", false},
	})
}

func TestParseKVTargetNotStringMap(t *testing.T) {
	e := New(Deps{})
	env := map[string]any{"m": map[string]any{"kv": 1}}
	prog, err := e.Compile(`ParseKV("a=b", m, "kv")`, env)
	require.NoError(t, err)
	_, err = expr.Run(prog, env)
	require.ErrorContains(t, err, "map[string]string")
}

func FuzzParseKV(f *testing.F) {
	for _, s := range []string{`a=b c="d e"`, `x= y=\"`, `k="a\"b" z`, `=`, `a.b-c=1 d="`} {
		f.Add(s)
	}
	e := New(Deps{})
	f.Fuzz(func(t *testing.T, s string) {
		for _, fn := range []func(...any) (any, error){e.parseKV, e.parseKVLax} {
			target := map[string]any{}
			if _, err := fn(s, target, "p"); err == nil {
				_, ok := target["p"].(map[string]string)
				require.True(t, ok)
			}
		}
	})
}

func FuzzJsonExtract(f *testing.F) {
	f.Add(`{"a":{"b":[1,2]}}`, "a.b[1]")
	f.Add(`[1,{"x":"y"}]`, "[1].x")
	e := New(Deps{})
	f.Fuzz(func(t *testing.T, blob, path string) {
		_, _ = e.jsonExtract(blob, path)
		_, _ = e.jsonExtractSlice(blob, path)
		_, _ = e.jsonExtractObject(blob, path)
		_, _ = e.jsonExtractUnescape(blob, path)
	})
}

func FuzzXML(f *testing.F) {
	f.Add(winEvent, "/Event/System[1]/EventID")
	e := New(Deps{})
	f.Fuzz(func(t *testing.T, doc, path string) {
		_, _ = e.xmlGetNodeValue(doc, path)
		_, _ = e.xmlGetAttributeValue(doc, path, "Name")
	})
}
