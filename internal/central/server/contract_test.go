package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/central/centralstore"
)

// sharedFile is a file of the shared directory (../shared from the
// repository's root).
func sharedFile(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join("..", "..", "..", "..", "shared", rel)
	if _, err := os.Stat(p); err != nil {
		p = filepath.Join("/work/shared", rel)
	}
	return p
}

// swagger is the CAPI contract's definitions.
type swagger map[string]any

func loadCAPISwagger(t testing.TB) swagger {
	t.Helper()
	raw, err := os.ReadFile(sharedFile(t, "contracts/capi-swagger.yaml"))
	require.NoError(t, err)
	var doc struct {
		Definitions map[string]any `yaml:"definitions"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &doc))
	require.NotEmpty(t, doc.Definitions)
	return doc.Definitions
}

// check validates the JSON value v (decoded into any) against schema,
// field by field, and returns every violation with its path: a missing
// required field, a wrong type, a date-time that does not parse, and a
// field the contract does not have.
func (sw swagger) check(schema map[string]any, v any, path string) []string {
	if ref, ok := schema["$ref"].(string); ok {
		def, ok := sw[strings.TrimPrefix(ref, "#/definitions/")].(map[string]any)
		if !ok {
			return []string{path + ": unknown $ref " + ref}
		}
		return sw.check(def, v, path)
	}
	var errs []string
	typ, _ := schema["type"].(string)
	switch typ {
	case "object", "":
		obj, ok := v.(map[string]any)
		if !ok {
			if typ == "" {
				return nil
			}
			return []string{fmt.Sprintf("%s: want an object, got %T", path, v)}
		}
		props, _ := schema["properties"].(map[string]any)
		req, _ := schema["required"].([]any)
		for _, r := range req {
			if _, ok := obj[r.(string)]; !ok {
				errs = append(errs, fmt.Sprintf("%s.%s: required, missing", path, r))
			}
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ps, ok := props[k].(map[string]any)
			if !ok {
				errs = append(errs, fmt.Sprintf("%s.%s: not in the contract", path, k))
				continue
			}
			errs = append(errs, sw.check(ps, obj[k], path+"."+k)...)
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an array, got %T", path, v)}
		}
		items, _ := schema["items"].(map[string]any)
		for i, it := range arr {
			errs = append(errs, sw.check(items, it, fmt.Sprintf("%s[%d]", path, i))...)
		}
	case "string":
		s, ok := v.(string)
		if !ok {
			return []string{fmt.Sprintf("%s: want a string, got %T", path, v)}
		}
		if schema["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339, s); err != nil {
				errs = append(errs, fmt.Sprintf("%s: %q is not a date-time", path, s))
			}
		}
	case "integer", "number":
		if _, ok := v.(float64); !ok {
			return []string{fmt.Sprintf("%s: want a number, got %T", path, v)}
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return []string{fmt.Sprintf("%s: want a boolean, got %T", path, v)}
		}
	}
	return errs
}

// The checker itself catches what it must (else the test below proves
// nothing).
func TestContractCheckerCatches(t *testing.T) {
	sw := loadCAPISwagger(t)
	root := map[string]any{"$ref": "#/definitions/GetDecisionsStreamResponse"}
	for _, tc := range []struct{ name, body, want string }{
		{"missing required", `{"new":[{"scenario":"a","decisions":[]}]}`, "$.new[0].scope: required, missing"},
		{"wrong type", `{"deleted":[{"scope":"ip","decisions":[1]}]}`, "$.deleted[0].decisions[0]: want a string"},
		{"extra field", `{"links":{"blocklists":[],"allowlists":[],"x":1}}`, "$.links.x: not in the contract"},
		{"bad date", `{"links":{"allowlists":[{"name":"a","description":"","url":"u","id":"i","created_at":"yesterday","updated_at":"2024-01-01T00:00:00Z"}]}}`, "created_at: \"yesterday\" is not a date-time"},
	} {
		var v any
		require.NoError(t, json.Unmarshal([]byte(tc.body), &v))
		errs := sw.check(root, v, "$")
		require.NotEmpty(t, errs, tc.name)
		require.Contains(t, strings.Join(errs, "\n"), tc.want, tc.name)
	}
}

// The central's stream answer (new, deleted, and links with the
// published allowlist) decodes with the CAPI contract's schema
// (GetDecisionsStreamResponse), every field checked; so does the
// incremental answer that reports a deletion.
func TestStreamAnswerMatchesContract(t *testing.T) {
	sw := loadCAPISwagger(t)
	root := map[string]any{"$ref": "#/definitions/GetDecisionsStreamResponse"}
	c := startCentral(t, Config{PublishAllowlist: true})
	require.NoError(t, c.st.AddAllow(context.Background(), []centralstore.AllowEntry{{CIDR: "66.249.64.0/19", Reason: "googlebot"}}))
	seed, b, d, consumer := crowd(t, c)
	for _, in := range []*install{seed, b, d} {
		in.report("1.2.3.4")
	}
	require.True(t, consumer.listedSoon("1.2.3.4", 5*time.Second))
	time.Sleep(100 * time.Millisecond) // the allowlist cache (poll 50 ms)

	checked := func(path string) map[string]any {
		t.Helper()
		code, body := c.do(t, "GET", path, consumer.egress, consumer.token, nil)
		require.Equal(t, 200, code, string(body))
		var v map[string]any
		require.NoError(t, json.Unmarshal(body, &v))
		require.Empty(t, sw.check(root, v, "$"), string(body))
		return v
	}
	full := checked("/v3/decisions/stream?startup=true")
	// What a stock CrowdSec LAPI reads, by name.
	nw := full["new"].([]any)
	require.Len(t, nw, 1)
	g := nw[0].(map[string]any)
	require.Equal(t, sshBF, g["scenario"])
	require.Equal(t, "ip", g["scope"])
	dec := g["decisions"].([]any)[0].(map[string]any)
	require.Equal(t, "1.2.3.4", dec["value"])
	dur, err := time.ParseDuration(dec["duration"].(string))
	require.NoError(t, err, "a Go duration, as CrowdSec parses it")
	require.Greater(t, dur, time.Hour)
	links := full["links"].(map[string]any)
	require.Empty(t, links["blocklists"])
	al := links["allowlists"].([]any)
	require.Len(t, al, 1)
	link := al[0].(map[string]any)
	require.Equal(t, AllowlistLinkName, link["name"])
	require.Equal(t, AllowlistLinkName, link["id"])
	require.True(t, strings.HasPrefix(link["url"].(string), c.url+allowlistPath+"?"), link["url"])

	// The linked content: one JSON item a line, {value, description}.
	resp, err := http.Get(link["url"].(string))
	require.NoError(t, err)
	var item map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&item))
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, map[string]any{"value": "66.249.64.0/19", "description": "googlebot"}, item)

	require.NoError(t, c.st.AddDelist(context.Background(), "1.2.3.4", "appeal upheld"))
	var inc map[string]any
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if inc = checked("/v3/decisions/stream"); len(inc["deleted"].([]any)) > 0 {
			break
		}
	}
	del := inc["deleted"].([]any)
	require.Len(t, del, 1)
	require.Equal(t, map[string]any{"scope": "ip", "decisions": []any{"1.2.3.4"}}, del[0])
}

// Links are never built on the request's Host header (a client controls
// it: the answer would send the install's LAPI, which fetches links
// without its token, to the client's host). They use public_url, or the
// listening address when it names one host; publish_allowlist on an
// unspecified address without public_url is refused at start.
func TestLinksIgnoreHostHeader(t *testing.T) {
	for _, tc := range []struct {
		name, publicURL, want string
	}{
		{"public_url", "https://central.example.net:8443/crowd/", "https://central.example.net:8443/crowd" + allowlistPath + "?"},
		{"derived from the listening address", "", ""}, // c.url
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCentral(t, Config{PublishAllowlist: true, PublicURL: tc.publicURL})
			require.NoError(t, c.st.AddAllow(context.Background(), []centralstore.AllowEntry{{CIDR: "66.249.64.0/19", Reason: "googlebot"}}))
			in := c.newInstall(t, "11.1.1.10")
			want := tc.want
			if want == "" {
				want = c.url + allowlistPath + "?"
			}
			time.Sleep(100 * time.Millisecond) // the allowlist cache
			req, err := http.NewRequest("GET", c.url+"/v3/decisions/stream?startup=true", nil)
			require.NoError(t, err)
			req.Host = "evil.example.com"
			req.Header.Set("X-Forwarded-Host", "evil.example.com")
			req.Header.Set("X-Forwarded-Proto", "https")
			req.Header.Set("X-Forwarded-For", in.egress)
			req.Header.Set("Authorization", "Bearer "+in.token)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, 200, resp.StatusCode)
			var st struct {
				Links struct {
					Allowlists []struct {
						URL string `json:"url"`
					} `json:"allowlists"`
				} `json:"links"`
			}
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
			require.Len(t, st.Links.Allowlists, 1)
			u := st.Links.Allowlists[0].URL
			require.NotContains(t, u, "evil")
			require.True(t, strings.HasPrefix(u, want), u)
		})
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"every address, no public_url", Config{Listen: "0.0.0.0:0", PublishAllowlist: true}, "needs public_url"},
		{"no host, no public_url", Config{Listen: ":0", PublishAllowlist: true}, "needs public_url"},
		{"IPv6 any, no public_url", Config{Listen: "[::]:0", PublishAllowlist: true}, "needs public_url"},
		{"not http", Config{Listen: "127.0.0.1:0", PublicURL: "ftp://central.example.net/"}, "http:// or https://"},
		{"no host", Config{Listen: "127.0.0.1:0", PublicURL: "https:///x"}, "no host"},
		{"credentials", Config{Listen: "127.0.0.1:0", PublicURL: "https://u:p@central.example.net/"}, "scheme, host, port and path only"},
		{"query", Config{Listen: "127.0.0.1:0", PublicURL: "https://central.example.net/?a=b"}, "scheme, host, port and path only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.DataDir = t.TempDir()
			_, err := New(context.Background(), tc.cfg, Deps{PasswordCost: bcrypt.MinCost})
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
	// Not publishing: no public URL needed, whatever the address.
	s, err := New(context.Background(), Config{DataDir: t.TempDir(), Listen: "0.0.0.0:0"}, Deps{PasswordCost: bcrypt.MinCost})
	require.NoError(t, err)
	require.NoError(t, s.ln.Close())
	require.NoError(t, s.st.Close())
}

// A change of the allowlist that adds no entry (a reason updated) still
// moves the link's updated_at (a CrowdSec LAPI fetches an allowlist again
// when it does) and its URL.
func TestAllowlistLinkUpdatedAtMoves(t *testing.T) {
	c := startCentral(t, Config{PublishAllowlist: true})
	ctx := context.Background()
	require.NoError(t, c.st.AddAllow(ctx, []centralstore.AllowEntry{{CIDR: "66.249.64.0/19", Reason: "googlebot"}}))
	in := c.newInstall(t, "11.1.1.10")
	link := func() (url, updated string) {
		t.Helper()
		code, body := c.do(t, "GET", "/v3/decisions/stream?startup=true", in.egress, in.token, nil)
		require.Equal(t, 200, code, string(body))
		var st struct {
			Links struct {
				Allowlists []struct {
					URL       string `json:"url"`
					UpdatedAt string `json:"updated_at"`
				} `json:"allowlists"`
			} `json:"links"`
		}
		require.NoError(t, json.Unmarshal(body, &st))
		require.Len(t, st.Links.Allowlists, 1)
		return st.Links.Allowlists[0].URL, st.Links.Allowlists[0].UpdatedAt
	}
	time.Sleep(100 * time.Millisecond) // the allowlist cache (poll 50 ms)
	u1, t1 := link()
	require.NoError(t, c.st.AddAllow(ctx, []centralstore.AllowEntry{{CIDR: "66.249.64.0/19", Reason: "googlebot (verified)"}}))
	time.Sleep(100 * time.Millisecond)
	u2, t2 := link()
	require.NotEqual(t, u1, u2, "the URL names the content")
	p1, err := time.Parse(time.RFC3339, t1)
	require.NoError(t, err)
	p2, err := time.Parse(time.RFC3339, t2)
	require.NoError(t, err)
	require.True(t, p2.After(p1), "updated_at moved: %s then %s", t1, t2)
}
