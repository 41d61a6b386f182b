package allowlist

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// benchSet builds 100,000 items over 4 lists: IPv4 addresses, IPv4 ranges
// and IPv6 ranges, about a third each.
func benchSet(b *testing.B) (*Set, []string) {
	r := rand.New(rand.NewPCG(7, 7))
	lists := make([]List, 4)
	for i := range lists {
		lists[i].Name = fmt.Sprintf("list%d", i)
	}
	for i := range 100_000 {
		var v string
		switch i % 3 {
		case 0:
			v = netip.AddrFrom4([4]byte{byte(r.IntN(224)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))}).String()
		case 1:
			a := netip.AddrFrom4([4]byte{byte(r.IntN(224)), byte(r.IntN(256)), byte(r.IntN(256)), 0})
			v = netip.PrefixFrom(a, 16+r.IntN(9)).Masked().String()
		default:
			var x [16]byte
			x[0], x[1] = 0x20, 0x01
			for k := 2; k < 8; k++ {
				x[k] = byte(r.IntN(256))
			}
			v = netip.PrefixFrom(netip.AddrFrom16(x), 48+r.IntN(17)).Masked().String()
		}
		lists[i%4].Items = append(lists[i%4].Items, Item{Value: v})
	}
	set, err := New(lists...)
	if err != nil {
		b.Fatal(err)
	}
	qs := make([]string, 1024)
	for i := range qs {
		if i%2 == 0 {
			qs[i] = netip.AddrFrom4([4]byte{byte(r.IntN(224)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))}).String()
		} else {
			var x [16]byte
			x[0], x[1] = 0x20, 0x01
			for k := 2; k < 16; k++ {
				x[k] = byte(r.IntN(256))
			}
			qs[i] = netip.AddrFrom16(x).String()
		}
	}
	return set, qs
}

func BenchmarkCheck100k(b *testing.B) {
	set, qs := benchSet(b)
	hits := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, ok := set.Check(qs[i%len(qs)], t0); ok {
			hits++
		}
	}
	b.ReportMetric(float64(hits)/float64(b.N), "hit-ratio")
}

func BenchmarkCheckParallel100k(b *testing.B) {
	set, qs := benchSet(b)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			set.Check(qs[i%len(qs)], t0)
			i++
		}
	})
}

func BenchmarkBuild100k(b *testing.B) {
	set, _ := benchSet(b)
	lists := set.Lists()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := set.Replace(lists); err != nil {
			b.Fatal(err)
		}
	}
}
