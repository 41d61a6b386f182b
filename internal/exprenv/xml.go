package exprenv

import (
	"strings"
	"sync"

	"github.com/antchfx/xmlquery"
	"github.com/antchfx/xpath"
)

// docCache keeps the last few parsed XML documents: Windows event parsers
// call XMLGetNodeValue dozens of times on the same line. Safe for
// concurrent use; parsed documents are only read.
type docCache struct {
	mu   sync.Mutex
	size int
	keys []string
	docs []*xmlquery.Node // nil: the text did not parse
}

func newDocCache(size int) *docCache { return &docCache{size: size} }

func (c *docCache) get(s string) (*xmlquery.Node, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.keys) - 1; i >= 0; i-- {
		if c.keys[i] == s {
			return c.docs[i], true
		}
	}
	return nil, false
}

func (c *docCache) put(s string, doc *xmlquery.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.keys) >= c.size {
		copy(c.keys, c.keys[1:])
		copy(c.docs, c.docs[1:])
		c.keys, c.docs = c.keys[:len(c.keys)-1], c.docs[:len(c.docs)-1]
	}
	c.keys = append(c.keys, s)
	c.docs = append(c.docs, doc)
}

func (e *Env) xmlDoc(s string) *xmlquery.Node {
	if doc, ok := e.xmlDocs.get(s); ok {
		return doc
	}
	doc, err := xmlquery.Parse(strings.NewReader(s))
	if err != nil {
		e.log.Debug("XML helper: cannot parse document", "err", err)
		doc = nil
	}
	e.xmlDocs.put(s, doc)
	return doc
}

func (e *Env) xpath(path string) *xpath.Expr {
	if v, ok := e.xpaths.Load(path); ok {
		x, _ := v.(*xpath.Expr)
		return x
	}
	x, err := xpath.Compile(path)
	if err != nil {
		e.log.Debug("XML helper: bad xpath", "path", path, "err", err)
		e.xpaths.Store(path, false)
		return nil
	}
	e.xpaths.Store(path, x)
	return x
}

func (e *Env) xmlFind(p []any) *xmlquery.Node {
	x := e.xpath(argStr(p, 1))
	if x == nil {
		return nil
	}
	doc := e.xmlDoc(argStr(p, 0))
	if doc == nil {
		return nil
	}
	return xmlquery.QuerySelector(doc, x)
}

// XMLGetNodeValue(xml, xpath) string: the text of the first matching
// element (its own leading text, before any child element), "" if none.
func (e *Env) xmlGetNodeValue(p ...any) (any, error) {
	n := e.xmlFind(p)
	if n == nil {
		return "", nil
	}
	if n.Type != xmlquery.ElementNode {
		return n.InnerText(), nil
	}
	var b strings.Builder
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == xmlquery.ElementNode {
			break
		}
		if c.Type == xmlquery.TextNode || c.Type == xmlquery.CharDataNode {
			b.WriteString(c.Data)
		}
	}
	return b.String(), nil
}

// XMLGetAttributeValue(xml, xpath, attr) string: "" if there is no such
// element or attribute.
func (e *Env) xmlGetAttributeValue(p ...any) (any, error) {
	n := e.xmlFind(p)
	if n == nil {
		return "", nil
	}
	name := argStr(p, 2)
	for _, a := range n.Attr {
		if a.Name.Local == name || (a.Name.Space != "" && a.Name.Space+":"+a.Name.Local == name) {
			return a.Value, nil
		}
	}
	return "", nil
}
