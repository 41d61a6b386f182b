package install_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/hub"
	"github.com/phalanx-ids/phalanx/internal/hub/install"
	"github.com/phalanx-ids/phalanx/internal/hub/source"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

func newInstall(t *testing.T, url string) *install.Install {
	t.Helper()
	src, err := source.New(url)
	require.NoError(t, err)
	return install.New(t.TempDir(), src)
}

func refs(typ string, names ...string) []hub.Ref {
	out := make([]hub.Ref, len(names))
	for i, n := range names {
		out[i] = hub.Ref{Type: typ, Name: n}
	}
	return out
}

// apply scans, plans with plan and applies, failing the test on error.
func apply(t *testing.T, in *install.Install, plan func(*install.State) (*install.Plan, error)) (*install.Plan, *install.Result) {
	t.Helper()
	st, err := in.Scan()
	require.NoError(t, err)
	p, err := plan(st)
	require.NoError(t, err)
	res, err := in.Apply(context.Background(), p)
	require.NoError(t, err)
	return p, res
}

func installCollections(t *testing.T, in *install.Install, force bool, names ...string) (*install.Plan, *install.Result) {
	t.Helper()
	require.NoError(t, in.EnsureIndex(context.Background()))
	return apply(t, in, func(st *install.State) (*install.Plan, error) {
		return in.PlanInstall(st, refs(hub.Collections, names...), force)
	})
}

func state(t *testing.T, in *install.Install, typ, name string) *install.ItemState {
	t.Helper()
	st, err := in.Scan()
	require.NoError(t, err)
	s := st.Item(hub.Ref{Type: typ, Name: name})
	require.NotNil(t, s, "%s %s", typ, name)
	return s
}

// TestInstallLinuxAndNginx: the two collections and everything they list
// are linked in CrowdSec's layout, every cached file has the index's
// sha256, the grok patterns and the data files (GeoLite2 databases
// included) are there; a second install changes nothing.
func TestInstallLinuxAndNginx(t *testing.T) {
	srv := testutil.NewHubServer(t)
	in := newInstall(t, srv.URL)
	_, res := installCollections(t, in, false, "crowdsecurity/linux", "crowdsecurity/nginx")
	require.Empty(t, res.DataErrors)

	idx, err := in.Index()
	require.NoError(t, err)
	items, err := idx.Closure(refs(hub.Collections, "crowdsecurity/linux", "crowdsecurity/nginx")...)
	require.NoError(t, err)
	require.Greater(t, len(items), 30)
	for _, it := range items {
		link := filepath.Join(in.Dir(), it.InstallPath())
		fi, err := os.Lstat(link)
		require.NoError(t, err, it.Name)
		require.True(t, fi.Mode()&os.ModeSymlink != 0, "%s is a symlink", link)
		target, err := os.Readlink(link)
		require.NoError(t, err)
		require.False(t, filepath.IsAbs(target), "relative link: the data dir can move")
		h, err := hub.Hash(link)
		require.NoError(t, err)
		require.Equal(t, it.Digest(), h, it.Name)
	}
	for _, p := range []string{
		"parsers/s01-parse/sshd-logs.yaml", "parsers/s01-parse/nginx-logs.yaml", "parsers/s02-enrich/geoip-enrich.yaml",
		"scenarios/ssh-bf.yaml", "scenarios/http-probing.yaml", "collections/linux.yaml", "collections/base-http-scenarios.yaml",
		"postoverflows/s01-whitelist/cdn-whitelist.yaml", "contexts/bf_base.yaml",
		"hub/index.json", "hub/patterns/nginx", "hub/patterns/linux-syslog",
		"data/GeoLite2-City.mmdb", "data/GeoLite2-ASN.mmdb", "data/http_path_traversal.txt", "data/bad_user_agents.regex.txt",
	} {
		require.FileExists(t, filepath.Join(in.Dir(), p))
	}
	st, err := in.Scan()
	require.NoError(t, err)
	for _, s := range st.Installed("") {
		require.Equal(t, "enabled", s.Status(), s.Ref.String())
	}
	require.Contains(t, state(t, in, hub.Parsers, "crowdsecurity/sshd-logs").BelongsTo, "crowdsecurity/sshd")

	again, _ := installCollections(t, in, false, "crowdsecurity/linux", "crowdsecurity/nginx")
	require.True(t, again.Empty(), "a second install has nothing to do: %v", again.Actions)
}

// publish serves a new version of an item: new content at its path and an
// index whose entry has the version and digest.
func publish(t *testing.T, srv *testutil.HubServer, typ, name, version string, content []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testutil.Hub(t), "index.json"))
	require.NoError(t, err)
	var doc map[string]map[string]map[string]any
	require.NoError(t, json.Unmarshal(raw, &doc))
	it := doc[typ][name]
	it["version"] = version
	it["versions"].(map[string]any)[version] = map[string]any{"digest": hub.HashBytes(content), "deprecated": false}
	b, err := json.Marshal(doc)
	require.NoError(t, err)
	srv.Set("index.json", b)
	srv.Set(it["path"].(string), content)
}

// TestTaintedItemNotOverwritten: an installed file edited by hand is
// tainted; upgrade leaves it without --force and overwrites it with it,
// while an untouched item is upgraded.
func TestTaintedItemNotOverwritten(t *testing.T) {
	srv := testutil.NewHubServer(t)
	in := newInstall(t, srv.URL)
	installCollections(t, in, false, "crowdsecurity/sshd")

	link := filepath.Join(in.Dir(), "parsers/s01-parse/sshd-logs.yaml")
	orig, err := os.ReadFile(link)
	require.NoError(t, err)
	edited := append(append([]byte{}, orig...), []byte("# my change\n")...)
	require.NoError(t, os.WriteFile(link, edited, 0o644))
	s := state(t, in, hub.Parsers, "crowdsecurity/sshd-logs")
	require.True(t, s.Tainted)
	require.Equal(t, "enabled,tainted", s.Status())

	// New versions of the tainted parser and of an untouched scenario.
	_, err = in.Update(context.Background())
	require.NoError(t, err)
	newParser := append(append([]byte{}, orig...), []byte("# upstream 9.9\n")...)
	publish(t, srv, hub.Parsers, "crowdsecurity/sshd-logs", "9.9", newParser)
	_, err = in.Update(context.Background())
	require.NoError(t, err)
	require.Equal(t, "enabled,tainted", state(t, in, hub.Parsers, "crowdsecurity/sshd-logs").Status(), "tainted wins over update-available")
	require.Equal(t, "enabled", state(t, in, hub.Scenarios, "crowdsecurity/ssh-bf").Status())

	p, _ := apply(t, in, func(st *install.State) (*install.Plan, error) {
		return in.PlanUpgrade(st, refs(hub.Collections, "crowdsecurity/sshd"), false)
	})
	require.Contains(t, strings.Join(p.Notes, "\n"), "sshd-logs is tainted")
	got, err := os.ReadFile(link)
	require.NoError(t, err)
	require.Equal(t, edited, got, "a tainted item is not overwritten without --force")

	apply(t, in, func(st *install.State) (*install.Plan, error) {
		return in.PlanUpgrade(st, refs(hub.Collections, "crowdsecurity/sshd"), true)
	})
	got, err = os.ReadFile(link)
	require.NoError(t, err)
	require.Equal(t, newParser, got, "--force overwrites it with the new version")
	s = state(t, in, hub.Parsers, "crowdsecurity/sshd-logs")
	require.Equal(t, "enabled", s.Status())
	require.Equal(t, "9.9", s.LocalVersion)
}

// TestRemoveKeepsWhatAnotherCollectionNeeds: nginx and apache2 share
// base-http-scenarios and its http-logs parser: removing nginx removes
// nginx-logs and keeps those; removing a parser a collection lists needs
// --force.
func TestRemoveKeepsWhatAnotherCollectionNeeds(t *testing.T) {
	srv := testutil.NewHubServer(t)
	in := newInstall(t, srv.URL)
	installCollections(t, in, false, "crowdsecurity/nginx", "crowdsecurity/apache2")

	st, err := in.Scan()
	require.NoError(t, err)
	_, err = in.PlanRemove(st, refs(hub.Parsers, "crowdsecurity/http-logs"), false)
	require.ErrorContains(t, err, "belongs to the installed collection crowdsecurity/base-http-scenarios")

	p, _ := apply(t, in, func(st *install.State) (*install.Plan, error) {
		return in.PlanRemove(st, refs(hub.Collections, "crowdsecurity/nginx"), false)
	})
	require.Contains(t, strings.Join(p.Notes, "\n"), "collection crowdsecurity/base-http-scenarios stays: collection crowdsecurity/apache2 needs it")
	for typ, gone := range map[string][]string{
		hub.Collections: {"crowdsecurity/nginx"},
		hub.Parsers:     {"crowdsecurity/nginx-logs"},
		hub.Scenarios:   {"crowdsecurity/nginx-req-limit-exceeded"},
	} {
		for _, n := range gone {
			require.False(t, state(t, in, typ, n).Installed, "%s %s removed", typ, n)
		}
	}
	for typ, kept := range map[string][]string{
		hub.Collections: {"crowdsecurity/apache2", "crowdsecurity/base-http-scenarios"},
		hub.Parsers:     {"crowdsecurity/http-logs", "crowdsecurity/apache2-logs"},
		hub.Scenarios:   {"crowdsecurity/http-probing"},
	} {
		for _, n := range kept {
			require.True(t, state(t, in, typ, n).Installed, "%s %s kept", typ, n)
		}
	}
	require.NoFileExists(t, filepath.Join(in.Dir(), "parsers/s01-parse/nginx-logs.yaml"))
	require.FileExists(t, filepath.Join(in.Dir(), "parsers/s02-enrich/http-logs.yaml"))

	apply(t, in, func(st *install.State) (*install.Plan, error) {
		return in.PlanRemove(st, refs(hub.Collections, "crowdsecurity/apache2"), false)
	})
	st, err = in.Scan()
	require.NoError(t, err)
	require.Empty(t, st.Installed(""), "nothing left once both are removed")
}

// TestCorruptDownloadRefused: an item file whose sha256 is not the index's
// is refused and nothing of the install changes.
func TestCorruptDownloadRefused(t *testing.T) {
	srv := testutil.NewHubServer(t)
	in := newInstall(t, srv.URL)
	require.NoError(t, in.EnsureIndex(context.Background()))
	srv.Set("parsers/s01-parse/crowdsecurity/sshd-logs.yaml", []byte("filter: 1 == 1\nname: evil\n"))
	st, err := in.Scan()
	require.NoError(t, err)
	p, err := in.PlanInstall(st, refs(hub.Collections, "crowdsecurity/sshd"), false)
	require.NoError(t, err)
	_, err = in.Apply(context.Background(), p)
	require.ErrorContains(t, err, "sshd-logs")
	require.ErrorContains(t, err, "download refused")
	for _, d := range []string{"parsers", "scenarios", "collections", "hub/parsers", "hub/scenarios", "data"} {
		require.NoDirExists(t, filepath.Join(in.Dir(), d), "nothing written")
	}
}

// TestBadIndexRefused: an index that does not parse, or names a path out
// of the hub, is refused and the cached one kept.
func TestBadIndexRefused(t *testing.T) {
	srv := testutil.NewHubServer(t)
	in := newInstall(t, srv.URL)
	_, err := in.Update(context.Background())
	require.NoError(t, err)
	cached, err := os.ReadFile(filepath.Join(in.Dir(), "hub/index.json"))
	require.NoError(t, err)
	for name, body := range map[string]string{
		"truncated": `{"parsers": {"a/b": {"path": "parsers/s01-parse/a/b.yaml"`,
		"escaping path": `{"parsers": {"a/b": {"path": "parsers/s01-parse/../../../etc/passwd.yaml", "version": "0.1",
			"versions": {"0.1": {"digest": "` + strings.Repeat("a", 64) + `"}}}}}`,
	} {
		srv.Set("index.json", []byte(body))
		_, err := in.Update(context.Background())
		require.Error(t, err, name)
		now, err := os.ReadFile(filepath.Join(in.Dir(), "hub/index.json"))
		require.NoError(t, err)
		require.Equal(t, cached, now, "%s: the cached index is kept", name)
	}
}

// TestDataFilesConditional: an upgrade asks for data files with their
// validators and keeps them on 304; a new file on the server is fetched;
// a corrupt database is refused and the old one kept.
func TestDataFilesConditional(t *testing.T) {
	srv := testutil.NewHubServer(t)
	in := newInstall(t, srv.URL)
	installCollections(t, in, false, "crowdsecurity/linux")
	city := filepath.Join(in.Dir(), "data/GeoLite2-City.mmdb")
	before, err := os.ReadFile(city)
	require.NoError(t, err)
	require.Len(t, srv.Requests(testutil.HubCityMMDB), 1)

	upgrade := func() *install.Result {
		_, res := apply(t, in, func(st *install.State) (*install.Plan, error) {
			return in.PlanUpgrade(st, refs(hub.Collections, "crowdsecurity/linux"), false)
		})
		return res
	}
	status := func(res *install.Result, file string) string {
		for _, d := range res.Data {
			if d.File == file {
				return d.Status
			}
		}
		return ""
	}
	res := upgrade()
	require.Equal(t, install.DataNotModified, status(res, "GeoLite2-City.mmdb"))
	reqs := srv.Requests(testutil.HubCityMMDB)
	require.Len(t, reqs, 2)
	require.True(t, reqs[1].Conditional)
	require.Equal(t, 304, reqs[1].Status)
	after, err := os.ReadFile(city)
	require.NoError(t, err)
	require.Equal(t, before, after)

	srv.Set(testutil.HubCityMMDB, []byte("not a database"))
	res = upgrade()
	require.Contains(t, strings.Join(res.DataErrors, "\n"), "not a MaxMind database")
	after, err = os.ReadFile(city)
	require.NoError(t, err)
	require.Equal(t, before, after, "a corrupt download does not replace the database")

	asn, err := os.ReadFile(filepath.Join(in.Dir(), "data/GeoLite2-ASN.mmdb"))
	require.NoError(t, err)
	srv.Set(testutil.HubCityMMDB, asn) // a valid database, new content
	res = upgrade()
	require.Equal(t, install.DataFetched, status(res, "GeoLite2-City.mmdb"))
	after, err = os.ReadFile(city)
	require.NoError(t, err)
	require.Equal(t, asn, after)
}

// TestLocalItems: a file of the user in an item folder is a local item; a
// copy of a hub item edited in place is that item, tainted; a local item
// is never removed or replaced without --force.
func TestLocalItems(t *testing.T) {
	srv := testutil.NewHubServer(t)
	in := newInstall(t, srv.URL)
	installCollections(t, in, false, "crowdsecurity/sshd")
	mine := filepath.Join(in.Dir(), "parsers/s02-enrich/my-enrich.yaml")
	require.NoError(t, os.MkdirAll(filepath.Dir(mine), 0o755))
	require.NoError(t, os.WriteFile(mine, []byte("name: me/my-enrich\nfilter: 1 == 1\n"), 0o644))
	// A copy of ssh-bf (instead of the link), edited.
	bf := filepath.Join(in.Dir(), "scenarios/ssh-bf.yaml")
	b, err := os.ReadFile(bf)
	require.NoError(t, err)
	require.NoError(t, os.Remove(bf))
	require.NoError(t, os.WriteFile(bf, append(b, "# tuned\n"...), 0o644))

	s := state(t, in, hub.Parsers, "me/my-enrich")
	require.True(t, s.Local)
	require.Equal(t, "enabled,local", s.Status())
	s = state(t, in, hub.Scenarios, "crowdsecurity/ssh-bf")
	require.True(t, s.Tainted)
	require.False(t, s.Linked)

	st, err := in.Scan()
	require.NoError(t, err)
	_, err = in.PlanRemove(st, refs(hub.Parsers, "me/my-enrich"), false)
	require.ErrorContains(t, err, "local item")
	// A hub item whose place is taken by a local file of another name.
	require.NoError(t, os.WriteFile(filepath.Join(in.Dir(), "parsers/s01-parse/nginx-logs.yaml"), []byte("name: me/nginx\n"), 0o644))
	st, err = in.Scan()
	require.NoError(t, err)
	_, err = in.PlanInstall(st, refs(hub.Collections, "crowdsecurity/nginx"), false)
	require.ErrorContains(t, err, "is a local item")
}

// TestDirectorySource: a local copy of the hub works as a source; data
// files it lacks (GeoLite2) are reported, the items are installed.
func TestDirectorySource(t *testing.T) {
	in := newInstall(t, testutil.Hub(t))
	_, res := installCollections(t, in, false, "crowdsecurity/linux")
	require.Contains(t, strings.Join(res.DataErrors, "\n"), "GeoLite2-City.mmdb")
	require.True(t, state(t, in, hub.Parsers, "crowdsecurity/sshd-logs").UpToDate())
}
