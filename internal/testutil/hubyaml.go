package testutil

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// HubYAMLs lists the .yaml and .yml files under root, sorted.
func HubYAMLs(t testing.TB, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	sort.Strings(files)
	return files
}

// YAMLDocs decodes every non-empty document of a YAML file as a map.
func YAMLDocs(t testing.TB, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
}

// ParserNodeExprs calls add for every expression of a hub parser node (as
// YAMLDocs decodes it), children included: where says where it stands
// (prefix + "filter", "statics[0].expression", "nodes[1].grok.expression"...),
// filter whether it is a condition (filter, whitelist expression) rather
// than a value (statics, grok input, stash key and value). Blank
// expressions are skipped.
func ParserNodeExprs(prefix string, node map[string]any, add func(where, src string, filter bool)) {
	emit := func(w string, v any, filter bool) {
		if src, _ := v.(string); strings.TrimSpace(src) != "" {
			add(prefix+w, src, filter)
		}
	}
	mp := func(v any) map[string]any { m, _ := v.(map[string]any); return m }
	list := func(v any) []any { l, _ := v.([]any); return l }
	itoa := strconv.Itoa
	emit("filter", node["filter"], true)
	statics := func(w string, l []any) {
		for i, s := range l {
			emit(w+"statics["+itoa(i)+"].expression", mp(s)["expression"], false)
		}
	}
	statics("", list(node["statics"]))
	if g := mp(node["grok"]); g != nil {
		emit("grok.expression", g["expression"], false)
		statics("grok.", list(g["statics"]))
	}
	if w := mp(node["whitelist"]); w != nil {
		for i, x := range list(w["expression"]) {
			emit("whitelist.expression["+itoa(i)+"]", x, true)
		}
	}
	for i, s := range list(node["stash"]) {
		emit("stash["+itoa(i)+"].key", mp(s)["key"], false)
		emit("stash["+itoa(i)+"].value", mp(s)["value"], false)
	}
	for i, c := range list(node["nodes"]) {
		ParserNodeExprs(prefix+"nodes["+itoa(i)+"].", mp(c), add)
	}
}
