package exprenv

import (
	"testing"

	"github.com/expr-lang/expr"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/event"
)

func BenchmarkHelpers(b *testing.B) {
	s := dataStore(b)
	e := New(Deps{Data: s})
	evt := event.New(event.Line{Raw: winEvent})
	evt.SetParsed("json", `{"req":{"uri":"/wp-login.php","ua":"curl/8"}}`)
	evt.SetMeta("source_ip", "10.1.2.3")
	for _, c := range []struct{ name, src string }{
		{"Lower+in", `Lower(evt.Parsed.json) contains "wp-login"`},
		{"IpInRange", `IpInRange(evt.Meta.source_ip, "10.0.0.0/8")`},
		{"Match", `Match("*cmd.exe /c*", evt.Line.Raw)`},
		{"JsonExtract", `JsonExtract(evt.Parsed.json, "req.uri")`},
		{"RegexpInFile", `RegexpInFile(JsonExtract(evt.Parsed.json, "req.ua"), "bad_user_agents.regex.txt")`},
		{"XMLGetNodeValue", `XMLGetNodeValue(evt.Line.Raw, "/Event/System[1]/EventID")`},
	} {
		env := map[string]any{"evt": evt}
		prog, err := e.Compile(c.src, env)
		require.NoError(b, err)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := expr.Run(prog, env); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
