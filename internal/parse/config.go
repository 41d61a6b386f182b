package parse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/datafile"
	"github.com/phalanx-ids/phalanx/internal/yamlerr"
)

// NodeConfig is one parser node as written in YAML (a top-level document or
// a child under `nodes:`). It is a pure config type: Load compiles it into a
// runtime node.
type NodeConfig struct {
	Format        string           `yaml:"format"`
	Debug         bool             `yaml:"debug"`
	Profiling     bool             `yaml:"profiling"`
	Name          string           `yaml:"name"`
	Author        string           `yaml:"author"`
	Description   string           `yaml:"description"`
	References    []string         `yaml:"references"`
	Stage         string           `yaml:"stage"`
	OnSuccess     string           `yaml:"onsuccess"`
	Filter        string           `yaml:"filter"`
	Nodes         []NodeConfig     `yaml:"nodes"`
	PatternSyntax yaml.Node        `yaml:"pattern_syntax"`
	Grok          *GrokConfig      `yaml:"grok"`
	Statics       []StaticConfig   `yaml:"statics"`
	Stash         []StashConfig    `yaml:"stash"`
	Whitelist     *WhitelistConfig `yaml:"whitelist"`
	Data          []datafile.Spec  `yaml:"data"`

	pos position
}

// GrokConfig is a node's `grok:` section.
type GrokConfig struct {
	ApplyOn    string         `yaml:"apply_on"`
	Name       string         `yaml:"name"`
	Pattern    string         `yaml:"pattern"`
	Expression string         `yaml:"expression"`
	Statics    []StaticConfig `yaml:"statics"`

	pos position
}

// StaticConfig is one entry of `statics:`.
type StaticConfig struct {
	Target     string `yaml:"target"`
	Parsed     string `yaml:"parsed"`
	Meta       string `yaml:"meta"`
	Enriched   string `yaml:"enriched"`
	Value      string `yaml:"value"`
	Expression string `yaml:"expression"`
	Method     string `yaml:"method"`

	pos position
}

// StashConfig is one entry of `stash:`.
type StashConfig struct {
	Name     string `yaml:"name"`
	Key      string `yaml:"key"`
	Value    string `yaml:"value"`
	TTL      string `yaml:"ttl"`
	Size     int    `yaml:"size"`
	Strategy string `yaml:"strategy"`

	pos position
}

// WhitelistConfig is a node's `whitelist:` section.
type WhitelistConfig struct {
	Reason     string   `yaml:"reason"`
	IP         []string `yaml:"ip"`
	CIDR       []string `yaml:"cidr"`
	Expression []string `yaml:"expression"`

	pos position
}

// position records where a mapping and its keys (and sequence items, under
// "key[i]") are in the source file.
type position struct {
	line int
	keys map[string]int
}

func (p position) at(key string) int {
	if l, ok := p.keys[key]; ok {
		return l
	}
	return p.line
}

func (p position) item(key string, i int) int {
	if l, ok := p.keys[key+"["+strconv.Itoa(i)+"]"]; ok {
		return l
	}
	return p.at(key)
}

func positionOf(n *yaml.Node) position {
	p := position{line: n.Line, keys: map[string]int{}}
	if n.Kind != yaml.MappingNode {
		return p
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p.keys[k.Value] = k.Line
		if v.Kind == yaml.SequenceNode {
			for j, it := range v.Content {
				p.keys[k.Value+"["+strconv.Itoa(j)+"]"] = it.Line
			}
		}
	}
	return p
}

func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func items(n *yaml.Node) []*yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}

// annotate copies line information from the YAML tree onto the decoded
// config, so later (semantic) errors can name lines.
func (c *NodeConfig) annotate(n *yaml.Node) {
	c.pos = positionOf(n)
	if g := child(n, "grok"); g != nil && c.Grok != nil {
		c.Grok.pos = positionOf(g)
		c.Grok.pos.line = c.pos.at("grok")
		for i, s := range items(child(g, "statics")) {
			if i < len(c.Grok.Statics) {
				c.Grok.Statics[i].pos = positionOf(s)
			}
		}
	}
	for i, s := range items(child(n, "statics")) {
		if i < len(c.Statics) {
			c.Statics[i].pos = positionOf(s)
		}
	}
	for i, s := range items(child(n, "stash")) {
		if i < len(c.Stash) {
			c.Stash[i].pos = positionOf(s)
		}
	}
	if w := child(n, "whitelist"); w != nil && c.Whitelist != nil {
		c.Whitelist.pos = positionOf(w)
		c.Whitelist.pos.line = c.pos.at("whitelist")
	}
	for i, s := range items(child(n, "nodes")) {
		if i < len(c.Nodes) {
			c.Nodes[i].annotate(s)
		}
	}
}

// DecodeFile decodes the parser documents of one file, strictly (unknown
// fields are errors). Documents with no name, description and author are
// skipped. Errors name the file and the line.
func DecodeFile(path string, data []byte) ([]NodeConfig, error) {
	trees := yaml.NewDecoder(bytes.NewReader(data))
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	var out []NodeConfig
	for doc := 1; ; doc++ {
		var tree yaml.Node
		err := trees.Decode(&tree)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, yamlError(path, err)
		}
		var cfg NodeConfig
		if err := strict.Decode(&cfg); err != nil {
			return nil, yamlError(path, err)
		}
		root := &tree
		if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
			root = root.Content[0]
		}
		if cfg.Name == "" && cfg.Description == "" && cfg.Author == "" {
			continue
		}
		cfg.annotate(root)
		out = append(out, cfg)
	}
}

// yamlError turns a yaml.v3 error into "parse: file:line: msg".
func yamlError(path string, err error) error { return yamlerr.New("parse", path, err, "parse.") }

// YAMLError is a YAML syntax or schema error (unknown field, wrong type),
// with file and line. It unwraps to the yaml.v3 error.
type YAMLError = yamlerr.Error

// checkFormat reports whether format (default "1.0") is within [1.0, 3.0].
func checkFormat(format string) (bool, error) {
	if format == "" {
		format = "1.0"
	}
	parts := strings.SplitN(format, ".", 3)
	major, err := strconv.Atoi(parts[0])
	if err != nil {
		return false, fmt.Errorf("bad format %q", format)
	}
	minor := 0
	if len(parts) > 1 {
		if minor, err = strconv.Atoi(parts[1]); err != nil {
			return false, fmt.Errorf("bad format %q", format)
		}
	}
	v := major*1000 + minor
	return v >= 1000 && v <= 3000, nil
}
