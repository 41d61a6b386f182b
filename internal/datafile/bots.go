package datafile

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	"github.com/phalanx-ids/phalanx/internal/models"
)

// Bot is one entry of a "bots" data file (one JSON line): a known crawler
// and how to verify it. A request matches when the optional user_agent and
// paths regexps (case-insensitive) match AND the source is verified by an
// exact IP, a CIDR range, or a forward-confirmed reverse DNS name matching
// one of the rdns regexps. Immutable once loaded.
type Bot struct {
	Name      string   `json:"name"`
	UserAgent string   `json:"user_agent,omitempty"`
	Paths     []string `json:"paths,omitempty"`
	IPs       []string `json:"ips,omitempty"`
	Ranges    []string `json:"ranges,omitempty"`
	RDNS      []string `json:"rdns,omitempty"`

	ua     *regexp.Regexp
	paths  []*regexp.Regexp
	ips    map[netip.Addr]struct{}
	ranges []netip.Prefix
	rdns   []*regexp.Regexp
}

func compileCI(p string) (*regexp.Regexp, error) { return regexp.Compile("(?i)" + p) }

func parseBot(line string) (*Bot, error) {
	b := &Bot{}
	dec := json.NewDecoder(strings.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(b); err != nil {
		return nil, fmt.Errorf("bad json line: %w", err)
	}
	if b.Name == "" {
		return nil, errors.New("missing mandatory \"name\" field")
	}
	if len(b.IPs)+len(b.Ranges)+len(b.RDNS) == 0 {
		return nil, fmt.Errorf("bot %q: no identity check (need ips, ranges or rdns)", b.Name)
	}
	var err error
	if b.UserAgent != "" {
		if b.ua, err = compileCI(b.UserAgent); err != nil {
			return nil, fmt.Errorf("bot %q: user_agent: %w", b.Name, err)
		}
	}
	for _, p := range b.Paths {
		re, err := compileCI(p)
		if err != nil {
			return nil, fmt.Errorf("bot %q: path: %w", b.Name, err)
		}
		b.paths = append(b.paths, re)
	}
	b.ips = make(map[netip.Addr]struct{}, len(b.IPs))
	for _, s := range b.IPs {
		a, err := models.ParseIP(s)
		if err != nil {
			return nil, fmt.Errorf("bot %q: ip: %w", b.Name, err)
		}
		b.ips[a] = struct{}{}
	}
	for _, s := range b.Ranges {
		p, err := models.ParseRange(s)
		if err != nil {
			return nil, fmt.Errorf("bot %q: range: %w", b.Name, err)
		}
		b.ranges = append(b.ranges, p)
	}
	for _, s := range b.RDNS {
		if s == "" {
			return nil, fmt.Errorf("bot %q: empty rdns pattern", b.Name)
		}
		re, err := compileCI(s)
		if err != nil {
			return nil, fmt.Errorf("bot %q: rdns: %w", b.Name, err)
		}
		b.rdns = append(b.rdns, re)
	}
	return b, nil
}

// ParseBotAddr parses a source as HTTP contexts give it ("ip", "ip:port",
// "[v6]", "[v6]:port"): models.ParseHostAddr, under the name the expr
// helpers call.
func ParseBotAddr(s string) (netip.Addr, bool) { return models.ParseHostAddr(s) }

// Preconditions reports whether ua and path pass the bot's optional
// user_agent and paths regexps.
func (b *Bot) Preconditions(ua, path string) bool {
	if b.ua != nil && !b.ua.MatchString(ua) {
		return false
	}
	if len(b.paths) == 0 {
		return true
	}
	for _, re := range b.paths {
		if re.MatchString(path) {
			return true
		}
	}
	return false
}

// MatchAddr reports whether addr is one of the bot's IPs or in its ranges.
func (b *Bot) MatchAddr(addr netip.Addr) bool {
	if _, ok := b.ips[addr]; ok {
		return true
	}
	for _, p := range b.ranges {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// NeedsRDNS reports whether the bot can be verified by reverse DNS.
func (b *Bot) NeedsRDNS() bool { return len(b.rdns) > 0 }

// MatchName reports whether a forward-confirmed DNS name (lower case, no
// trailing dot) matches one of the bot's rdns regexps.
func (b *Bot) MatchName(name string) bool {
	for _, re := range b.rdns {
		if re.MatchString(name) {
			return true
		}
	}
	return false
}
