// Package defaults holds the content Phalanx ships: its own parsers (and,
// later, scenarios) in the hub's YAML format, embedded in the binary, so that
// replay and explain work with no hub installed.
package defaults

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/phalanx-ids/phalanx/internal/alertctx"
	"github.com/phalanx-ids/phalanx/internal/parse"
	"github.com/phalanx-ids/phalanx/internal/scenario"
)

//go:embed content
var files embed.FS

// FS returns the embedded content tree (parsers/<stage>/<author>/<file>).
func FS() fs.FS {
	sub, err := fs.Sub(files, "content")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}

// Parsers returns the embedded parser files with their stages, sorted.
func Parsers() ([]parse.File, error) { return list("parsers") }

// Contexts returns the embedded alert context files.
func Contexts() ([]alertctx.Source, error) {
	var out []alertctx.Source
	err := fs.WalkDir(FS(), "contexts", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(FS(), p)
		if err != nil {
			return err
		}
		out = append(out, alertctx.Source{Name: "embedded:" + p, Data: b})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("defaults: %w", err)
	}
	return out, nil
}

// Version is the version given to embedded scenarios in alerts.
const Version = "1.0"

// Scenarios returns the embedded scenario files, and the hash (sha256 of the
// file, as the hub's) and version of each scenario by name.
func Scenarios() ([]scenario.Source, map[string]scenario.HubInfo, error) {
	var out []scenario.Source
	info := map[string]scenario.HubInfo{}
	err := fs.WalkDir(FS(), "scenarios", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ext := path.Ext(p); ext != ".yaml" && ext != ".yml" {
			return nil
		}
		b, err := fs.ReadFile(FS(), p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		specs, err := scenario.ParseSpecs("embedded:"+p, b)
		if err != nil {
			return err
		}
		for _, s := range specs {
			info[s.Name] = scenario.HubInfo{Hash: hex.EncodeToString(sum[:]), Version: Version}
		}
		out = append(out, scenario.Source{Name: "embedded:" + p, Data: b})
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("defaults: %w", err)
	}
	return out, info, nil
}

func list(kind string) ([]parse.File, error) {
	var out []parse.File
	err := fs.WalkDir(FS(), kind, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ext := path.Ext(p); ext != ".yaml" && ext != ".yml" {
			return nil
		}
		parts := strings.Split(p, "/")
		if len(parts) < 4 {
			return fmt.Errorf("defaults: %s: want %s/<stage>/<author>/<file>", p, kind)
		}
		b, err := fs.ReadFile(FS(), p)
		if err != nil {
			return err
		}
		out = append(out, parse.File{Stage: parts[1], Path: "embedded:" + p, Content: b})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("defaults: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Stage != out[j].Stage {
			return out[i].Stage < out[j].Stage
		}
		return path.Base(out[i].Path) < path.Base(out[j].Path)
	})
	return out, nil
}
