package natexpr_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"

	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/exprenv"
	"github.com/phalanx-ids/phalanx/internal/natexpr"
)

// BenchmarkHubScenarioFilters evaluates, the way a scenario worker does,
// every scenario filter and cancel_on of the hub that compiles natively
// (one Table: shared memo slots, the fields read ahead), on benign and
// hostile requests: the cost per event of the native forms themselves.
//
//	go test ./internal/natexpr/ -run '^$' -bench HubScenarioFilters
func BenchmarkHubScenarioFilters(b *testing.B) {
	store, _ := hubDataStore(b)
	env := exprenv.New(exprenv.Deps{Data: store})
	tab := natexpr.NewTable()
	c := natexpr.New(tab, env)
	var filters []natexpr.Bool
	for _, x := range hubExprs(b, store) {
		if !x.boolean || !strings.Contains(x.where, "/scenarios/") {
			continue
		}
		if f := c.Bool(x.src); f != nil {
			filters = append(filters, f)
		}
	}
	tab.Freeze()
	reqs := []httpReq{
		{path: "/products/397?ref=home&page=2", ua: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36", referer: "https://www.example.com/", status: "200", rdns: "host-1-2-3-4.isp.example.net"},
		{path: "/wp-login.php", ua: "Mozilla/5.0 (X11; Linux x86_64; rv:122.0) Gecko/20100101 Firefox/122.0", referer: "-", status: "404"},
		{path: "/index.php?id=1%20union%20select%201,2,3--", ua: "sqlmap/1.7.2#stable (https://sqlmap.org)", referer: "-", status: "403"},
	}
	type prepared struct {
		vals []string
		ctx  *natexpr.Ctx
	}
	evs := make([]prepared, len(reqs))
	for i, r := range reqs {
		e := r.newEvent()
		vals := make([]string, tab.NumFields())
		tab.Read(e, vals)
		ctx := natexpr.NewCtx(tab)
		ctx.Reset(e, vals)
		evs[i] = prepared{vals, ctx}
	}
	b.ReportMetric(float64(len(filters)), "filters")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p := &evs[i%len(evs)]
		p.ctx.Reset(p.ctx.Event(), p.vals)
		for _, f := range filters {
			_, _ = f(p.ctx)
		}
	}
}

// BenchmarkTableRead reads ahead, as the scenario engine does for every
// event it pours, 24 fields of evt.Parsed and evt.Meta (slotted by the
// event's schema, 16 of them set) and evt.Line.Raw:
//
//	go test ./internal/natexpr/ -run '^$' -bench TableRead
func BenchmarkTableRead(b *testing.B) {
	s := event.NewSchema()
	tab := natexpr.NewTable()
	c := natexpr.New(tab, nil).WithSchema(s)
	var srcs []string
	for i := range 24 {
		part := "Parsed"
		if i%3 == 0 {
			part = "Meta"
		}
		srcs = append(srcs, fmt.Sprintf("evt.%s.f%d", part, i))
	}
	srcs = append(srcs, "evt.Line.Raw")
	for _, src := range srcs {
		f, ok := natexpr.FieldOf(mustParse(b, src))
		if !ok || c.String(src) == nil {
			b.Fatalf("%s: not a field", src)
		}
		tab.Ahead(f)
	}
	tab.Freeze()
	s.Freeze()
	e := s.New(event.Line{Raw: "raw line"})
	for i := range 16 {
		e.SetParsed(fmt.Sprintf("f%d", i), "value")
		e.SetMeta(fmt.Sprintf("f%d", i), "value")
	}
	dst := make([]string, tab.NumFields())
	b.ReportAllocs()
	for b.Loop() {
		tab.Read(e, dst)
	}
	if dst[0] != "value" || dst[len(dst)-1] != "raw line" {
		b.Fatalf("read %q", dst)
	}
}

func mustParse(b *testing.B, src string) ast.Node {
	tree, err := parser.Parse(src)
	if err != nil {
		b.Fatal(err)
	}
	return tree.Node
}

// BenchmarkGeoIPFilter evaluates the hub's geoip-enrich filter (IsIPV6 and
// seven IpInRange of one address) the way a parser does: a Ctx kept
// across events, each event with another address.
//
//	go test ./internal/natexpr/ -run '^$' -bench GeoIPFilter
func BenchmarkGeoIPFilter(b *testing.B) {
	env := exprenv.New(exprenv.Deps{})
	tab := natexpr.NewTable()
	f := natexpr.New(tab, env).Bool(geoipFilter)
	if f == nil {
		b.Fatal("the geoip filter does not compile natively")
	}
	var evs []*event.Event
	for _, ip := range []string{"83.68.16.228", "186.181.105.61", "10.1.2.3", "2001:db8::1", "218.58.206.106"} {
		e := event.New(event.Line{Raw: "a", Labels: map[string]string{}})
		e.SetMeta("source_ip", ip)
		evs = append(evs, e)
	}
	ctx := natexpr.NewCtx(tab)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ctx.Reset(evs[i%len(evs)], nil)
		if _, err := f(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
