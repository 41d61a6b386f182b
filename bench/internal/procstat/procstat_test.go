package procstat

import (
	"os"
	"testing"
)

// This process has a resident set and has used CPU; a process that does
// not exist has neither.
func TestSelf(t *testing.T) {
	sum := 0
	for i := range 20_000_000 {
		sum += i
	}
	if PeakRSSKiB(os.Getpid()) <= 0 {
		t.Fatal("no peak RSS for this process")
	}
	if CPU(os.Getpid()) <= 0 {
		t.Fatalf("no CPU time for this process (sum %d)", sum)
	}
	if PeakRSSKiB(-1) != 0 || CPU(-1) != 0 {
		t.Fatal("figures for a process that does not exist")
	}
}
