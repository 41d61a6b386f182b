package profile

import (
	"testing"

	"github.com/phalanx-ids/phalanx/internal/exprenv"
)

func BenchmarkDecideDefault(b *testing.B) {
	set, err := Default(Options{Env: exprenv.New(exprenv.Deps{})})
	if err != nil {
		b.Fatal(err)
	}
	a := newAlert("Range", "1.2.3.0/24", ssh)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := set.Decide(a); err != nil {
			b.Fatal(err)
		}
	}
}
