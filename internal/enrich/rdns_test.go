package enrich

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/phalanx-ids/phalanx/internal/event"
)

// fakeResolver answers from a map and counts queries.
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string][]string
	calls   map[string]int
	delay   time.Duration
	// budgets: for each call with a deadline, the time its context had
	// left when the call began.
	budgets []time.Duration
}

func (f *fakeResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	dl, hasDeadline := ctx.Deadline()
	f.mu.Lock()
	f.calls[addr]++
	if hasDeadline {
		f.budgets = append(f.budgets, time.Until(dl))
	}
	names, ok := f.answers[addr]
	delay := f.delay
	f.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if !ok {
		return nil, errors.New("no such host")
	}
	return names, nil
}

func (f *fakeResolver) count(addr string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[addr]
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestRDNSCache(t *testing.T) {
	t.Parallel()
	type step struct {
		advance time.Duration
		ip      string
		want    string
		calls   int // queries for ip so far
	}
	cases := []struct {
		name  string
		size  int
		steps []step
	}{
		{name: "positive answer is cached for ttl", steps: []step{
			{ip: "1.2.3.4", want: "host.example.", calls: 1},
			{advance: 9 * time.Minute, ip: "1.2.3.4", want: "host.example.", calls: 1},
			{advance: 2 * time.Minute, ip: "1.2.3.4", want: "host.example.", calls: 2},
		}},
		{name: "failure is cached for negative ttl", steps: []step{
			{ip: "5.6.7.8", want: "", calls: 1},
			{advance: 30 * time.Second, ip: "5.6.7.8", want: "", calls: 1},
			{advance: 31 * time.Second, ip: "5.6.7.8", want: "", calls: 2},
		}},
		{name: "lru evicts the oldest", size: 2, steps: []step{
			{ip: "1.2.3.4", want: "host.example.", calls: 1},
			{ip: "1.1.1.1", want: "one.one.", calls: 1},
			{ip: "1.2.3.4", want: "host.example.", calls: 1},
			{ip: "5.6.7.8", want: "", calls: 1},
			{ip: "1.1.1.1", want: "one.one.", calls: 2},
			{ip: "1.2.3.4", want: "host.example.", calls: 2},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := &fakeResolver{calls: map[string]int{}, answers: map[string][]string{
				"1.2.3.4": {"host.example.", "alias.example."},
				"1.1.1.1": {"one.one."},
			}}
			clock := &fakeClock{now: testNow}
			c := newRDNSCache(res, 0, 10*time.Minute, time.Minute, tc.size, clock.Now, discardLogger())
			for i, s := range tc.steps {
				clock.Add(s.advance)
				require.Equal(t, s.want, c.lookup(s.ip), "step %d", i)
				require.Equal(t, s.calls, res.count(s.ip), "step %d", i)
			}
			if tc.size > 0 {
				require.LessOrEqual(t, c.len(), tc.size)
			}
		})
	}
}

func TestRDNSTimeoutAndSharedQuery(t *testing.T) {
	t.Parallel()
	res := &fakeResolver{calls: map[string]int{}, answers: map[string][]string{"1.2.3.4": {"slow."}}, delay: 5 * time.Second}
	c := newRDNSCache(res, 50*time.Millisecond, time.Minute, time.Minute, 10, time.Now, discardLogger())
	var wg sync.WaitGroup
	var empty atomic.Int32
	for range 8 {
		wg.Go(func() {
			if c.lookup("1.2.3.4") == "" {
				empty.Add(1)
			}
		})
	}
	wg.Wait()
	// The timeout bounds the lookup, checked without a wall-clock bound
	// (which a loaded machine can break): the query carried a deadline at
	// most the 50 ms timeout away, and every lookup came back empty, so
	// none waited for the resolver's answer ("slow.", 5 s later).
	require.Equal(t, int32(8), empty.Load(), "the timeout ends the lookup before the answer")
	require.Equal(t, 1, res.count("1.2.3.4"), "concurrent lookups share one query and the failure is cached")
	res.mu.Lock()
	defer res.mu.Unlock()
	require.Len(t, res.budgets, 1, "the query has a deadline")
	require.LessOrEqual(t, res.budgets[0], 50*time.Millisecond, "the query's deadline is the lookup timeout")
}

// serveFakeDNS answers PTR queries on a 127.0.0.1 UDP socket from ptr
// (reverse name -> target); anything else gets NXDOMAIN. It stops with the test.
func serveFakeDNS(t *testing.T, ptr map[string]string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
			b.EnableCompression()
			_ = b.StartQuestions()
			_ = b.Question(q)
			target, ok := ptr[q.Name.String()]
			if ok && q.Type == dnsmessage.TypePTR {
				_ = b.StartAnswers()
				_ = b.PTRResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60},
					dnsmessage.PTRResource{PTR: dnsmessage.MustNewName(target)})
			}
			msg, err := b.Finish()
			if err != nil {
				continue
			}
			if !ok {
				msg[3] = (msg[3] &^ 0x0f) | byte(dnsmessage.RCodeNameError)
			}
			_, _ = pc.WriteTo(msg, addr)
		}
	}()
	return pc.LocalAddr().String()
}

func TestReverseDNSMethodWithResolver(t *testing.T) {
	t.Parallel()
	server := serveFakeDNS(t, map[string]string{"4.3.2.1.in-addr.arpa.": "crawl-1-2-3-4.ptr.discord.com."})
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", server)
	}}
	set, err := New(Config{ReverseDNS: true, Resolver: resolver, DNSTimeout: 2 * time.Second})
	require.NoError(t, err)
	m, ok := set.Method(MethodReverseDNS)
	require.True(t, ok)

	cases := []struct {
		name, in string
		want     map[string]string
	}{
		{name: "ptr found", in: "1.2.3.4", want: map[string]string{"reverse_dns": "crawl-1-2-3-4.ptr.discord.com."}},
		{name: "nxdomain", in: "5.6.7.8"},
		{name: "not an ip", in: "example.com"},
		{name: "empty", in: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := results(m, tc.in, event.New(event.Line{}))
			require.NoError(t, err)
			if tc.want == nil {
				require.Empty(t, got)
				return
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestReverseDNSDisabled(t *testing.T) {
	t.Parallel()
	res := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("must not be called")
	}}
	set, err := New(Config{Resolver: res})
	require.NoError(t, err)
	m, ok := set.Method(MethodReverseDNS)
	require.True(t, ok, "the method exists even when disabled")
	got, err := results(m, "1.2.3.4", event.New(event.Line{}))
	require.NoError(t, err)
	require.Empty(t, got)
}
