package exprenv

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/expr-lang/expr"
	"github.com/stretchr/testify/require"
)

func TestMiscHelpers(t *testing.T) {
	e := New(Deps{Hostname: func() (string, error) { return "box", nil }})
	runCases(t, e, []exprCase{
		{"key exists", `KeyExists("a", {"a": 1})`, true, false},
		{"key missing", `KeyExists("b", {"a": 1})`, false, false},
		{"b64", `B64Decode("aGVsbG8=")`, "hello", false},
		{"b64 bad", `B64Decode("!!")`, nil, true},
		{"loginfo", `LogInfo("x=%d", 1)`, true, false},
		{"hostname", `Hostname()`, "box", false},
		{"sqli", `LibInjectionIsSQLI("1' OR '1'='1")`, true, false},
		{"not sqli", `LibInjectionIsSQLI("hello")`, false, false},
		{"xss", `LibInjectionIsXSS("<script>alert(1)</script>")`, true, false},
		{"not xss", `LibInjectionIsXSS("hello")`, false, false},
		{"http disabled", `HTTPGet("http://127.0.0.1:1/")`, nil, true},
	})
}

func TestAssertOptionsBasename(t *testing.T) {
	e := New(Deps{})
	env := map[string]any{"p": "/var/log/nginx/access.log"}
	prog, err := expr.Compile(`basename(p) == "access.log"`, append([]expr.Option{expr.Env(env)}, e.AssertOptions()...)...)
	require.NoError(t, err)
	got, err := expr.Run(prog, env)
	require.NoError(t, err)
	require.Equal(t, true, got)
	_, err = e.Compile(`basename(p)`, env)
	require.Error(t, err, "basename is only in the assertion options")
}

func TestHTTPHelpers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Method", r.Method)
		_, _ = w.Write([]byte(r.Header.Get("Content-Type") + "|" + r.Header.Get("X-A") + "|" + string(b)))
	}))
	defer srv.Close()
	e := New(Deps{HTTP: srv.Client()})
	u := `"` + srv.URL + `"`
	runCases(t, e, []exprCase{
		{"get", `HTTPGet(` + u + `).StatusCode`, 200, false},
		{"head", `HTTPHead(` + u + `).Headers["X-Method"][0]`, "HEAD", false},
		{"post", `HTTPPost(` + u + `, "text/plain", "hi").Body`, "text/plain||hi", false},
		{"request", `HTTPRequest("PUT", ` + u + `, {"X-A": 1}, "b").Body`, "|1|b", false},
		{"bad url", `HTTPGet("://")`, nil, true},
	})
	require.True(t, strings.HasPrefix(srv.URL, "http://127.0.0.1"))
}
