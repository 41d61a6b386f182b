package scenario

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/event"
)

// qitems makes queue items as itemFor does for a scenario that packs.
type qitems struct {
	keys    *keySets
	origins *lineOrigins // nil: no raw line kept
}

func newQItems(lines bool) *qitems {
	q := &qitems{keys: newKeySets()}
	if lines {
		q.origins = newLineOrigins()
	}
	return q
}

// make returns the item of a log event of raw (from src) at etime whose
// Meta is meta, where a value "@a:b" is raw[a:b] (a grok capture).
func (q *qitems) make(raw, src string, meta map[string]string, mt string, etime, lineT time.Time) *item {
	e := event.New(event.Line{Raw: raw, Src: src, Module: "file", Labels: map[string]string{"type": "nginx"}, Time: lineT})
	for k, v := range meta {
		var a, b int
		if n, _ := fmt.Sscanf(v, "@%d:%d", &a, &b); n == 2 {
			v = raw[a:b]
		}
		e.SetMeta(k, v)
	}
	e.Put(event.Enriched, "MarshaledTime", mt)
	e.MarshaledTime = mt
	e.Time = etime
	it := newItem(e, q.origins)
	it.rec = q.keys.record(e, it.rec.raw, nil)
	return it
}

// requireSameItem checks that got holds what want holds, as every reader
// of an item sees it.
func requireSameItem(t testing.TB, want, got *item) {
	t.Helper()
	require.Equal(t, want.rec.raw, got.rec.raw)
	require.Same(t, want.rec.keys, got.rec.keys)
	wm, we, wmt := want.rec.maps()
	gm, ge, gmt := got.rec.maps()
	require.Equal(t, wm, gm)
	require.Equal(t, we, ge)
	require.Equal(t, wmt, gmt)
	require.True(t, want.etime == got.etime, "time %v (%#v), got %v (%#v)", want.etime, want.etime, got.etime, got.etime)
	require.Equal(t, want.lineT, got.lineT)
	require.Same(t, want.line, got.line)
	require.Nil(t, got.full)
	require.Nil(t, got.view)
}

func TestDelta(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 3, 1, 0, 0, 40, 0, time.UTC)
	paris := time.FixedZone("CET", 3600)
	line := func(ip, path string, sec int) string {
		return fmt.Sprintf(`%s - - [01/Mar/2024:00:00:%02d +0000] "GET %s HTTP/1.1" 404 153 "-" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/122.0.0.0 Safari/537.36"`, ip, sec, path)
	}
	nginx := func(q *qitems, path string, sec int, etime time.Time) *item {
		raw := line("103.138.67.80", path, sec)
		p := strings.Index(raw, "GET ") + 4
		ts := fmt.Sprintf("2024-03-01T00:00:%02dZ", sec)
		return q.make(raw, "/var/log/nginx/access.log", map[string]string{
			"source_ip": "@0:13", "http_path": fmt.Sprintf("@%d:%d", p, p+len(path)), "http_verb": fmt.Sprintf("@%d:%d", p-4, p-1),
			"log_type": "http_access-log", "service": "http", "timestamp": ts, "datasource_path": "/var/log/nginx/access.log",
		}, ts, etime, etime)
	}
	for _, tc := range []struct {
		name    string
		lines   bool
		mk      func(q *qitems) (o, n *item)
		encodes bool
		maxLen  int // the delta's bound, when it encodes
	}{
		{"same source, another path", true, func(q *qitems) (*item, *item) {
			return nginx(q, "/shell.php", 40, at), nginx(q, "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", 41, at.Add(time.Second))
		}, true, 44},
		{"no line kept", false, func(q *qitems) (*item, *item) {
			return nginx(q, "/a", 40, at), nginx(q, "/b", 40, at)
		}, true, 40},
		{"identical events", true, func(q *qitems) (*item, *item) {
			return nginx(q, "/a", 40, at), nginx(q, "/a", 40, at)
		}, true, 20},
		{"newer event earlier in time", true, func(q *qitems) (*item, *item) {
			return nginx(q, "/a", 50, at.Add(time.Hour)), nginx(q, "/ab", 40, at)
		}, true, 56},
		{"zero time", true, func(q *qitems) (*item, *item) {
			return nginx(q, "/a", 40, time.Time{}), nginx(q, "/b", 40, at)
		}, true, 48},
		{"newer event with zero time", true, func(q *qitems) (*item, *item) {
			return nginx(q, "/a", 40, at), nginx(q, "/b", 40, time.Time{})
		}, true, 48},
		{"same zone", true, func(q *qitems) (*item, *item) {
			return nginx(q, "/a", 40, at.In(paris)), nginx(q, "/b", 40, at.In(paris))
		}, true, 48},
		{"another zone", true, func(q *qitems) (*item, *item) {
			return nginx(q, "/a", 40, at.In(paris)), nginx(q, "/b", 40, at)
		}, false, 0},
		{"monotonic reading", true, func(q *qitems) (*item, *item) {
			return nginx(q, "/a", 40, time.Now()), nginx(q, "/b", 40, at)
		}, false, 0},
		{"zero time in a zone", true, func(q *qitems) (*item, *item) {
			return nginx(q, "/a", 40, time.Time{}.In(paris)), nginx(q, "/b", 40, at)
		}, false, 0},
		{"other keys", true, func(q *qitems) (*item, *item) {
			return q.make("a b", "f", map[string]string{"x": "@0:1"}, "", at, at), q.make("a c", "f", map[string]string{"y": "@0:1"}, "", at, at)
		}, false, 0},
		{"another file", true, func(q *qitems) (*item, *item) {
			return q.make("a b", "f", map[string]string{"x": "@0:1"}, "", at, at), q.make("a c", "g", map[string]string{"x": "@0:1"}, "", at, at)
		}, false, 0},
		{"values: empty, repeated, edits of the next", true, func(q *qitems) (*item, *item) {
			o := q.make("line one", "f", map[string]string{"e": "", "r1": "same twice", "r2": "same twice", "ed": "prefix-1234-suffix", "sp": "@5:8", "lit": "ab"}, "mt", at, at)
			n := q.make("line two", "f", map[string]string{"e": "x", "r1": "other", "r2": "other", "ed": "prefix-5678-suffix", "sp": "@0:4", "lit": "cd"}, "", at, time.Time{})
			return o, n
		}, true, 60},
		{"empty lines", true, func(q *qitems) (*item, *item) {
			return q.make("", "f", map[string]string{"a": "1"}, "", at, at), q.make("", "f", map[string]string{"a": "2"}, "", at, at)
		}, true, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q := newQItems(tc.lines)
			o, n := tc.mk(q)
			var buf []byte
			d, ok := encodeDelta(o, n, &buf)
			require.Equal(t, tc.encodes, ok)
			if !ok {
				return
			}
			t.Logf("%d bytes (line %d)", len(d), len(o.rec.raw))
			require.LessOrEqual(t, len(d), tc.maxLen)
			requireSameItem(t, o, decodeDelta(string(d), n))
		})
	}
}

// TestQueue: a bucket's queue gives back the items pushed, the newest
// qs+1, whether it packs them or not, and whatever each can be encoded as.
func TestQueue(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, qs := range []int{-1, 0, 1, 5, 40} {
		for _, pack := range []bool{false, true} {
			t.Run(fmt.Sprintf("qs %d pack %v", qs, pack), func(t *testing.T) {
				t.Parallel()
				q := newQItems(true)
				var all []*item
				var qq queue
				var buf []byte
				for i := range 60 {
					var it *item
					switch i % 7 {
					case 3: // a whole event
						it = &item{full: event.New(event.Line{Raw: "x"}), etime: at}
					case 5: // other keys
						it = q.make(fmt.Sprintf("10.0.0.1 GET /p/%d", i), "f", map[string]string{"ip": "@0:8", "other": "1"}, "", at, at)
					default:
						it = q.make(fmt.Sprintf("10.0.0.1 GET /p/%d", i), "f", map[string]string{"ip": "@0:8", "path": "@13:17"}, "", at.Add(time.Duration(i)*time.Second), at)
					}
					all = append(all, it)
					qq.push(it, qs, pack, &buf)
					want := all
					if qs >= 0 && len(want) > qs+1 {
						want = want[len(want)-qs-1:]
					}
					got := qq.items()
					require.Len(t, got, len(want))
					require.Equal(t, len(want), qq.len())
					deltas := 0
					for j := range want {
						if slices.Contains(qq.its, got[j]) {
							require.Same(t, want[j], got[j])
						} else {
							deltas++
							requireSameItem(t, want[j], got[j])
						}
					}
					if !pack {
						require.Zero(t, deltas)
					} else if len(want) >= 3 {
						require.Positive(t, deltas)
					}
				}
			})
		}
	}
}

func FuzzDelta(f *testing.F) {
	f.Add("1.2.3.4 - GET /a", "1.2.3.4 - GET /b", "ip\x00path", "1.2.3.4\x00/a", "1.2.3.4\x00/b", int64(0), int64(1e9), uint8(3))
	f.Add("", "", "", "", "", int64(-5), int64(5), uint8(0))
	f.Add(`1.2.3.4 - - [01/Mar/2024:00:00:40 +0000] "GET /search?q=a HTTP/1.1" 200 8796 "-" "curl/8"`,
		`1.2.3.4 - - [01/Mar/2024:00:00:45 +0000] "GET /products/12 HTTP/1.1" 304 0 "-" "curl/8"`,
		"ip\x00ts", "1.2.3.4\x002024-03-01T00:00:40Z", "1.2.3.4\x002024-03-01T00:00:45Z", int64(40e9), int64(45e9), uint8(1))
	f.Add("a b c d e f g h i", "a x c y e z g w i", "k", "a b", "a c", int64(1), int64(2), uint8(0))
	f.Fuzz(func(t *testing.T, oraw, nraw, keys, ovals, nvals string, ot, nt int64, spans uint8) {
		q := newQItems(true)
		mk := func(raw, vals string, ns int64) *item {
			meta := map[string]string{}
			vs := strings.Split(vals, "\x00")
			for i, k := range strings.Split(keys, "\x00") {
				v := ""
				if i < len(vs) {
					v = vs[i]
				}
				if spans&(1<<(i%8)) != 0 && len(raw) > 0 {
					j := len(v) % len(raw)
					v = fmt.Sprintf("@%d:%d", j, len(raw))
				}
				meta[k] = v
			}
			return q.make(raw, "f", meta, vals, time.Unix(0, ns).UTC(), time.Unix(0, ns/3).UTC())
		}
		o, n := mk(oraw, ovals, ot), mk(nraw, nvals, nt)
		var buf []byte
		d, ok := encodeDelta(o, n, &buf)
		if !ok {
			require.NotSame(t, o.line, n.line, "only a line kept by one and not the other stops a delta here")
			return
		}
		requireSameItem(t, o, decodeDelta(string(d), n))
	})
}

// TestCommonEnds: the word-at-a-time commonEnds agrees with a byte loop,
// on named cases around the eight-byte steps and on random pairs of
// similar strings.
func TestCommonEnds(t *testing.T) {
	naive := func(a, b string) (p, s int) {
		m := min(len(a), len(b))
		for p < m && a[p] == b[p] {
			p++
		}
		for s < m-p && a[len(a)-1-s] == b[len(b)-1-s] {
			s++
		}
		return p, s
	}
	cases := []struct {
		name, a, b string
		p, s       int
	}{
		{"empty", "", "", 0, 0},
		{"one empty", "abc", "", 0, 0},
		{"equal, 7 bytes", "abcdefg", "abcdefg", 7, 0},
		{"equal, 16 bytes", "abcdefghijklmnop", "abcdefghijklmnop", 16, 0},
		{"prefix of the other", "abcdefghij", "abcdefghijkl", 10, 0},
		{"differ at 8", "abcdefghXjklmnopq", "abcdefghYjklmnopq", 8, 8},
		{"differ at 9", "abcdefghiXklmnopq", "abcdefghiYklmnopq", 9, 7},
		{"overlap cut by the prefix", "aaaaaaaaaa", "aaaaaaaaaaaaaaaaaaaa", 10, 0},
		{"log lines", `1.2.3.4 - - [01/Mar/2024:00:00:01 +0000] "GET /a HTTP/1.1" 200 12 "-" "curl"`,
			`1.2.3.4 - - [01/Mar/2024:00:00:02 +0000] "GET /bc HTTP/1.1" 404 0 "-" "curl"`, 32, 11},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, s := commonEnds(tc.a, tc.b)
			require.Equal(t, [2]int{tc.p, tc.s}, [2]int{p, s})
			np, ns := naive(tc.a, tc.b)
			require.Equal(t, [2]int{np, ns}, [2]int{p, s}, "the byte loop")
		})
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		base := make([]byte, rnd.IntN(64))
		for i := range base {
			base[i] = "ab"[rnd.IntN(2)]
		}
		a, b := []byte(string(base)), []byte(string(base))
		for range rnd.IntN(3) {
			if len(a) > 0 {
				a[rnd.IntN(len(a))] = 'c'
			}
		}
		b = b[:rnd.IntN(len(b)+1)]
		p, s := commonEnds(string(a), string(b))
		np, ns := naive(string(a), string(b))
		require.Equal(t, [2]int{np, ns}, [2]int{p, s}, "%q %q", a, b)
	}
}
