package datafile

import (
	"bufio"
	"cmp"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// Reference answers: the plain loops the indexes replace.

func anyContains(pats []string, s string, fold bool) bool {
	if fold {
		s = asciiLower(s)
	}
	for _, p := range pats {
		if fold {
			p = asciiLower(p)
		}
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = foldByte(c, true)
	}
	return string(b)
}

func anyPrefix(pats []string, s string) bool {
	for _, p := range pats {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func anySuffix(pats []string, s string) bool {
	for _, p := range pats {
		if strings.HasSuffix(s, p) {
			return true
		}
	}
	return false
}

func anyRegexp(res []*regexp.Regexp, s string) bool {
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// occurrence is a pattern id and the end offset of one of its occurrences.
type occurrence struct{ id, end int }

// allOccurrences lists every occurrence of pats in s (empty patterns once,
// at end 0), sorted by end then id.
func allOccurrences(pats []string, s string, fold bool) []occurrence {
	if fold {
		s = asciiLower(s)
	}
	out := []occurrence{}
	for id, p := range pats {
		if fold {
			p = asciiLower(p)
		}
		if p == "" {
			out = append(out, occurrence{id, 0})
			continue
		}
		for i := 0; i+len(p) <= len(s); i++ {
			if s[i:i+len(p)] == p {
				out = append(out, occurrence{id, i + len(p)})
			}
		}
	}
	slices.SortFunc(out, func(a, b occurrence) int { return cmp.Or(cmp.Compare(a.end, b.end), cmp.Compare(a.id, b.id)) })
	return out
}

// eachOccurrences lists what m.Each reports, checking that it comes in
// order of end, sorted by end then id.
func eachOccurrences(t testing.TB, m *Substrings, s string) []occurrence {
	out := []occurrence{}
	m.Each(s, func(id, end int) bool {
		if n := len(out); n > 0 && out[n-1].end > end {
			t.Fatalf("Each on %q: end %d after %d", s, end, out[n-1].end)
		}
		out = append(out, occurrence{id, end})
		return true
	})
	slices.SortFunc(out, func(a, b occurrence) int { return cmp.Or(cmp.Compare(a.end, b.end), cmp.Compare(a.id, b.id)) })
	return out
}

// checkMatchers compares every matcher built from pats with the reference.
func checkMatchers(t *testing.T, pats []string, inputs []string) {
	t.Helper()
	sub, subF := NewSubstrings(pats, false), NewSubstrings(pats, true)
	pre, suf, set := NewPrefixes(pats), NewSuffixes(pats), NewSet(pats)
	for _, s := range inputs {
		require.Equal(t, anyContains(pats, s, false), sub.MatchString(s), "contains %q in %q", pats, s)
		require.Equal(t, anyContains(pats, s, true), subF.MatchString(s), "fold contains %q in %q", pats, s)
		require.Equal(t, anyPrefix(pats, s), pre.MatchString(s), "prefix %q of %q", pats, s)
		require.Equal(t, anySuffix(pats, s), suf.MatchString(s), "suffix %q of %q", pats, s)
		in := false
		for _, p := range pats {
			in = in || p == s
		}
		require.Equal(t, in, set.MatchString(s), "set %q has %q", pats, s)
		// Each reports exactly the occurrences, in order of end.
		require.Equal(t, allOccurrences(pats, s, false), eachOccurrences(t, sub, s), "occurrences of %q in %q", pats, s)
		require.Equal(t, allOccurrences(pats, s, true), eachOccurrences(t, subF, s), "fold occurrences of %q in %q", pats, s)
	}
}

func TestMatchers(t *testing.T) {
	for _, c := range []struct {
		name   string
		pats   []string
		inputs []string
	}{
		{"none", nil, []string{"", "abc"}},
		{"empty pattern matches all", []string{"", "x"}, []string{"", "abc", "x"}},
		{"classic", []string{"he", "she", "his", "hers"}, []string{"ushers", "h", "hi", "his", "sh", "HERS", ""}},
		{"overlap and dup", []string{"aa", "aa", "aaa", "a"}, []string{"b", "ba", "aaaa"}},
		{"case", []string{"Admin", "/PHPMYADMIN"}, []string{"/admin", "/ADMIN", "/phpmyadmin/", "/Admin"}},
		{"non ascii", []string{"é", "ſ", "K"}, []string{"e", "É", "s", "S", "k", "K", "aéb"}},
		{"binary", []string{"\x00\xff", "\xff"}, []string{"\x00", "a\xff", "\x00\xffz"}},
		{"suffixes", []string{".sql", ".sql.gz", ".git/config", "~"}, []string{"/a.sql", "/a.sql.gz", "/a.sql.gzz", "x~", ".git/config", "config"}},
		{"prefixes", []string{"/admin", "/a", "/wp-"}, []string{"/", "/b", "/admin", "/a", "/wp", "/wp-login"}},
		// Inputs longer than MatchString's blocks of 8 and 4 bytes, the
		// match in each position of a block, after it, at the very end.
		{"blocks", []string{"${jndi:", "%24%7b", "zq"}, blockInputs("${jndi:", "%24%7B", "zq", "${jnd", "zQ")},
		{"one start byte", []string{"/.git/", "/.env"}, blockInputs("/.git/", "/.ENV", "/.gi", "/.en")},
		{"many start bytes", []string{"union", "select", "../", "%00"}, blockInputs("UNION", "select", "../", "%00", "..%2f")},
	} {
		t.Run(c.name, func(t *testing.T) { checkMatchers(t, c.pats, c.inputs) })
	}
}

// blockInputs embeds each needle at every offset of a 40-byte filler
// (also cut at every length), and adds the filler alone.
func blockInputs(needles ...string) []string {
	const filler = "/products/397?ref=home&page=2 Mozilla/5.0"
	out := []string{filler}
	for _, n := range needles {
		for i := 0; i <= len(filler); i++ {
			out = append(out, filler[:i]+n+filler[i:], filler[:i]+n)
		}
	}
	return out
}

// TestSubstringsSkipRoot checks which automata let Each skip the bytes
// that keep them at the root, and that Each then finds every occurrence
// (at the start and end of the input, after a return to the root).
func TestSubstringsSkipRoot(t *testing.T) {
	var many []string // 100 bytes leave the root
	for b := byte(' '); b < ' '+100; b++ {
		many = append(many, string([]byte{b, 'q'}))
	}
	for _, c := range []struct {
		name   string
		pats   []string
		fold   bool
		skip   bool
		inputs []string
	}{
		{"sshd literals", sshdLiterals, false, true, append(blockInputs("Failed ", "Invalid user", ": message authentication code incorrect [preauth]", "refused connect from"), sshdMessages...)},
		{"folded", []string{"ab", "Cd"}, true, true, blockInputs("AB", "cD", "aC", "abcd")},
		{"root self loop", []string{"aab", "b"}, false, true, []string{"aaab", "aaaa", "ab", "b", "xaabx", "aabaab"}},
		{"too many", many, false, false, blockInputs("!q", "qq", "q")},
		{"none", nil, false, true, []string{"", "abc"}},
		{"empty pattern", []string{"", "a"}, false, true, []string{"", "a", "ba"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := NewSubstrings(c.pats, c.fold)
			skips := slices.Contains(m.leaves[:], false)
			require.Equal(t, c.skip, skips)
			for _, s := range c.inputs {
				require.Equal(t, allOccurrences(c.pats, s, c.fold), eachOccurrences(t, m, s), "%q", s)
			}
		})
	}
}

// TestSubstringsStarts checks which automata start at the first byte
// leaving their root (the other cases are in TestMatchers).
func TestSubstringsStarts(t *testing.T) {
	for _, c := range []struct {
		name   string
		pats   []string
		fold   bool
		starts string
	}{
		{"two bytes", []string{"${a", "%24"}, false, "$%"},
		{"folded letter", []string{"ab", "Ac"}, true, "Aa"},
		{"too many", []string{"a", "b", "c", "d"}, false, ""},
		{"folded too many", []string{"a", "b"}, true, ""},
		{"none", nil, false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := NewSubstrings(c.pats, c.fold)
			require.Equal(t, c.starts, string(m.starts[:m.nstarts]))
		})
	}
}

func TestSubstringsAllBytes(t *testing.T) {
	// 256 distinct bytes: the alphabet falls back to one class per byte.
	var pats []string
	for b := range 256 {
		pats = append(pats, string([]byte{byte(b), 'z'}))
	}
	checkMatchers(t, pats, []string{"", "z", "\x00z", "\xffz", "aZ", "Az", "zz"})
}

func FuzzMatchers(f *testing.F) {
	f.Add("he\nshe\nhis\nhers", "ushers")
	f.Add("\n.sql", "a.SQL")
	f.Add("ab\nb\nabc", "xabcab")
	f.Fuzz(func(t *testing.T, pats, s string) {
		if len(pats) > 200 || len(s) > 200 {
			return
		}
		checkMatchers(t, strings.Split(pats, "\n"), []string{s})
	})
}

func TestRequiredLiterals(t *testing.T) {
	for _, c := range []struct {
		name, re string
		want     []string
	}{
		{"word", `\bAhrefsBot\b`, []string{"AhrefsBot"}},
		{"escaped space", `\bName\ Intelligence\b`, []string{"Name Intelligence"}},
		{"dot splits", `\bFirefox/7.0\b`, []string{"Firefox/7"}},
		{"alternation", `foo|barbaz`, []string{"foo", "barbaz"}},
		{"alternation with no literal", `foo|.*`, nil},
		{"star drops", `(abc)*def`, []string{"def"}},
		{"plus keeps", `(abcd)+x`, []string{"abcd"}},
		{"repeat min 0", `(abcd){0,2}`, nil},
		{"repeat min 2", `(abcd){2,3}`, []string{"abcd"}},
		{"class only", `[a-z]+`, nil},
		{"fold ascii", `(?i)sqlmap`, []string{"qlmap"}}, // s folds to the long s
		{"fold cut at k", `(?i)nikto`, []string{"ni"}},
		{"fold plain", `(?i)curl/`, []string{"curl/"}},
		{"anchors", `^/admin$`, []string{"/admin"}},
		{"empty", ``, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := RequiredLiterals(regexp.MustCompile(c.re))
			require.Equal(t, c.want, got)
		})
	}
}

// hubLines reads the entries of a hub data file.
func hubLines(t testing.TB, rel string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(testutil.Hub(t), "data", rel))
	require.NoError(t, err)
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := sc.Text(); l != "" && l[0] != '#' {
			out = append(out, l)
		}
	}
	require.NoError(t, sc.Err())
	return out
}

func compileAll(t testing.TB, pats []string) []*regexp.Regexp {
	var res []*regexp.Regexp
	for _, p := range pats {
		res = append(res, regexp.MustCompile(p))
	}
	return res
}

// userAgents: real and odd inputs for the regexp sets.
func userAgents(t testing.TB, pats []string) []string {
	uas := []string{
		"", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
		"curl/8.4.0", "sqlmap/1.7", "SQLMAP", "ſqlmap", "Nikto", "NIKTO", "niKto", "python-requests/2.31",
		"Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
		"Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "Firefox/7.0", "Firefox/7x0",
		"googlebot.com", "crawl-66-249-66-1.googlebot.com", "x.search.msn.com", "msnbot-1.search.msn.com",
	}
	// Every literal pattern, as is, upper-cased, embedded, and cut short.
	for i, p := range pats {
		if i%3 != 0 {
			continue
		}
		lit := strings.NewReplacer(`\b`, "", `\ `, " ", `\.`, ".", `\`, "").Replace(p)
		uas = append(uas, lit, strings.ToUpper(lit), "x "+lit+" y", "x"+lit+"y", lit[:len(lit)/2])
	}
	return uas
}

func TestRegexpSetHubFiles(t *testing.T) {
	for _, rel := range []string{"web/bad_user_agents.regex.txt", "whitelists/benign_bots/search_engine_crawlers/rnds_seo_bots.regex"} {
		t.Run(filepath.Base(rel), func(t *testing.T) {
			pats := hubLines(t, rel)
			res := compileAll(t, pats)
			set := NewRegexpSet(res)
			t.Logf("%d regexps, %d without literal", set.Len(), set.Always())
			for _, ua := range userAgents(t, pats) {
				require.Equal(t, anyRegexp(res, ua), set.MatchString(ua), "%q", ua)
			}
		})
	}
}

func TestRegexpSetCases(t *testing.T) {
	pats := []string{`(?i)sqlmap`, `(?i)\bnikto\b`, `^curl/`, `(?i)é+tude`, `x{0,3}`, `(?i)K`}
	res := compileAll(t, pats)
	set := NewRegexpSet(res)
	for _, s := range []string{"", "sqlmap", "ſqlmap", "SQLMAP", "niKto", "ni\u212ato", "curl/1", "xcurl/", "ÉTUDE", "éétude", "\u212a", "k", "y"} {
		require.Equal(t, anyRegexp(res, s), set.MatchString(s), "%q", s)
	}
	// A set with a never-literal regexp still answers through it.
	res2 := compileAll(t, []string{`[0-9]{3}`, `abc`})
	set2 := NewRegexpSet(res2)
	require.Equal(t, 1, set2.Always())
	require.True(t, set2.MatchString("x123"))
	require.True(t, set2.MatchString("ABC") == anyRegexp(res2, "ABC"))
}

func FuzzRegexpSet(f *testing.F) {
	f.Add(`(?i)sqlmap`, "ſQLmap")
	f.Add(`\bfoo\ bar\b|baz+`, "xx foo bar")
	f.Add(`(a|bc)+d`, "bcbcd")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if len(pattern) > 64 || len(s) > 128 {
			return
		}
		var res []*regexp.Regexp
		for _, p := range strings.Split(pattern, "\n") {
			re, err := regexp.Compile(p)
			if err != nil {
				return
			}
			res = append(res, re)
		}
		require.Equal(t, anyRegexp(res, s), NewRegexpSet(res).MatchString(s), "%q on %q", pattern, s)
	})
}

func TestMapLookupIndexMatchesPlain(t *testing.T) {
	s := NewStore(t.TempDir())
	s.SetMirror(filepath.Join(testutil.Hub(t), "data"))
	require.NoError(t, s.Load(Spec{SourceURL: "https://hub-data.crowdsec.net/web/technology_probing.json", DestFile: "tp.json", Type: "map"}))
	idx := s.get("tp.json").index
	inputs := []string{"", "/", "/ampps/", "/x/ampps/ampps-admin/index.php", "/wp-content/plugins/x", "/phpmyadmin/index.php"}
	for _, p := range idx.contains {
		inputs = append(inputs, p, "/pre"+p+"post", strings.ToUpper(p), p[:len(p)/2])
	}
	for i := 0; i+1 < len(idx.contains); i += 2 {
		inputs = append(inputs, idx.contains[i+1]+idx.contains[i], idx.contains[i]+idx.contains[i+1])
	}
	for _, h := range inputs {
		wt, wok := idx.lookupPlain(h)
		gt, gok := idx.lookup(h)
		require.Equal(t, wok, gok, "%q", h)
		require.Equal(t, wt, gt, "%q", h)
	}
}

func BenchmarkRegexpSet(b *testing.B) {
	pats := hubLines(b, "web/bad_user_agents.regex.txt")
	res := compileAll(b, pats)
	set := NewRegexpSet(res)
	ua := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36"
	b.Run("plain", func(b *testing.B) {
		for b.Loop() {
			anyRegexp(res, ua)
		}
	})
	b.Run("set", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			set.MatchString(ua)
		}
	})
}

func BenchmarkLookup(b *testing.B) {
	s := NewStore(b.TempDir())
	s.SetMirror(filepath.Join(testutil.Hub(b), "data"))
	require.NoError(b, s.Load(Spec{SourceURL: "https://hub-data.crowdsec.net/web/technology_probing.json", DestFile: "tp.json", Type: "map"}))
	idx := s.get("tp.json").index
	const path = "/products/397?ref=home&page=2"
	b.Run("plain", func(b *testing.B) {
		for b.Loop() {
			idx.lookupPlain(path)
		}
	})
	b.Run("indexed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			idx.lookup(path)
		}
	})
}

// BenchmarkSubstrings scans the values the hub's http scenarios scan with
// the automata of their data files (exact and ASCII-folded), none matching:
// the common case of a line.
func BenchmarkSubstrings(b *testing.B) {
	const (
		ua   = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36"
		path = "/products/397?ref=home&page=2"
	)
	for _, c := range []struct {
		name, file, value string
		fold              bool
	}{
		{"log4j-ua-fold", "web/log4j2_cve_2021_44228.txt", ua, true},
		{"log4j-path-fold", "web/log4j2_cve_2021_44228.txt", path, true},
		{"admin-path-fold", "web/admin_interfaces.txt", path, true},
		{"sqli-path-fold", "web/sqli_probe_patterns.txt", path, true},
		{"traversal-path", "web/path_traversal.txt", path, false},
	} {
		m := NewSubstrings(hubLines(b, c.file), c.fold)
		require.False(b, m.MatchString(c.value))
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.value)))
			for b.Loop() {
				m.MatchString(c.value)
			}
		})
	}
}

// FuzzHubSubstrings checks the automata of the hub's string data files
// (exact and ASCII-folded, as the http scenarios scan them) against the
// plain loop on arbitrary values.
func FuzzHubSubstrings(f *testing.F) {
	type auto struct {
		pats []string
		m, f *Substrings
	}
	var autos []auto
	for _, rel := range []string{"web/log4j2_cve_2021_44228.txt", "web/admin_interfaces.txt", "web/sqli_probe_patterns.txt",
		"web/xss_probe_patterns.txt", "web/path_traversal.txt", "web/jira_cve_2021-26086.txt", "web/backdoors.txt", "web/sensitive_data.txt"} {
		pats := hubLines(f, rel)
		autos = append(autos, auto{pats, NewSubstrings(pats, false), NewSubstrings(pats, true)})
	}
	for _, s := range []string{"", "/products/397?ref=home&page=2", "${jndi:ldap://x}", "/%24%7Bjndi:", "/phpMyAdmin/", "/a/../../etc/passwd",
		"1 UNION SELECT", "<script>", "/_/;/WEB-INF/web.xml", "/.git/config", "Mozilla/5.0 ${${::-j}ndi"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, a := range autos {
			if want := anyContains(a.pats, s, false); a.m.MatchString(s) != want {
				t.Fatalf("contains %q: want %v", s, want)
			}
			if want := anyContains(a.pats, s, true); a.f.MatchString(s) != want {
				t.Fatalf("folded contains %q: want %v", s, want)
			}
			if want, got := allOccurrences(a.pats, s, false), eachOccurrences(t, a.m, s); !slices.Equal(want, got) {
				t.Fatalf("occurrences in %q: want %v, got %v", s, want, got)
			}
			if want, got := allOccurrences(a.pats, s, true), eachOccurrences(t, a.f, s); !slices.Equal(want, got) {
				t.Fatalf("folded occurrences in %q: want %v, got %v", s, want, got)
			}
		}
	})
}

// sshdLiterals are the required literals of the sshd message groks that
// the parser scans in one Each pass per message (parse.litGroup).
var sshdLiterals = []string{"Failed ", "Disconnected from ", "Connection ", "Bad protocol version identification '",
	"Invalid user", "Failed keyboard-interactive/pam for invalid user ", " not allowed because not listed in AllowUsers",
	"banner exchange: Connection from ", "Failed password for invalid user ", "(sshd:auth): authentication failure; logname= uid=",
	") on obfuscated handshake from ", "Unable to negotiate with ", "Timeout before authentication for ",
	": message authentication code incorrect [preauth]", "refused connect from"}

// sshdMessages are the common sshd messages of the bench corpus: none
// holds a literal of the group but the last.
var sshdMessages = []string{
	"Accepted publickey for erin from 162.48.80.153 port 46564 ssh2: ED25519 SHA256:Yq+UsGiAgCmM0eK4oaOE82ywwy28EOao4Ke0MmCgAiG",
	"pam_unix(sshd:session): session closed for user erin",
	"Received disconnect from 1.207.73.220 port 29898:11: disconnected by user",
	"pam_unix(sshd:session): session opened for user dave(uid=1003) by (uid=0)",
	"Failed password for invalid user admin from 1.207.73.220 port 29898 ssh2",
}

// BenchmarkSubstringsEach scans sshd messages for the literals of the
// sshd groks, as the parser's literal groups do.
func BenchmarkSubstringsEach(b *testing.B) {
	m := NewSubstrings(sshdLiterals, false)
	n := 0
	for _, s := range sshdMessages {
		n += len(s)
	}
	b.SetBytes(int64(n))
	found := 0
	for b.Loop() {
		for _, s := range sshdMessages {
			m.Each(s, func(id, _ int) bool {
				found |= 1 << id
				return true
			})
		}
	}
	require.NotZero(b, found)
}
