package netguard

import (
	"net"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkRefused floods a listener that is at max_conns with
// connections it must refuse, as bench/hostile's slow attack does, and
// reports what the accept loop spends per refused connection (server-us/op:
// CPU time, user and system, of the thread running it), accepting through
// net ("net", the former path) and from the descriptor ("raw"). ns/op also
// counts the clients' dials.
//
//	go test -run '^$' -bench Refused -benchtime 20000x ./internal/netguard/
func BenchmarkRefused(b *testing.B) {
	for _, tc := range []struct {
		name   string
		viaNet bool
	}{{"net", true}, {"raw", false}} {
		b.Run(tc.name, func(b *testing.B) {
			g, err := New(Config{MaxConns: 1, MaxConnsPerAddress: -1, Exempt: []string{}}, Deps{Name: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			base, err := Listen(b.Context(), "tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			ln := g.newLimitListener(base, tc.viaNet)
			if !tc.viaNet && ln.raw == nil && runtime.GOOS == "linux" {
				b.Fatal("no raw accept on linux")
			}
			addr := ln.Addr().String()
			held := make(chan net.Conn, 1)
			cpu := make(chan time.Duration, 1)
			go func() {
				// The accept loop alone on its thread: the thread's CPU
				// time is what accepting and refusing cost.
				runtime.LockOSThread()
				t0 := threadCPU()
				for {
					c, err := ln.Accept()
					if err != nil {
						cpu <- threadCPU() - t0
						return
					}
					held <- c // the one admitted connection fills max_conns
				}
			}()
			keep, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer keep.Close()
			defer (<-held).Close()
			b.ResetTimer()
			var wg sync.WaitGroup
			work := make(chan struct{}, b.N)
			for range b.N {
				work <- struct{}{}
			}
			close(work)
			for range 16 {
				wg.Go(func() {
					var buf [1]byte
					for range work {
						c, err := net.Dial("tcp", addr)
						if err != nil {
							continue // the backlog was full: a refusal too
						}
						if _, err := c.Read(buf[:]); err == nil {
							b.Error("a connection over max_conns was served")
						}
						c.Close()
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			_ = ln.Close()
			b.ReportMetric(float64((<-cpu).Microseconds())/float64(b.N), "server-us/op")
			if got := g.OpenConns(); got != 1 {
				b.Errorf("open connections: %d, want 1", got)
			}
		})
	}
}

// threadCPU is the CPU time (user and system) of the calling thread.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
