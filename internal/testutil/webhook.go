package testutil

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Webhook is a real HTTP receiver on loopback for notification tests. It
// answers each request with the status its status function gives (by
// request number, from 1; nil: 200) and records the requests it answered
// with a 2xx. While held, requests wait before being answered.
//
// Concurrency: safe for concurrent use.
type Webhook struct {
	*httptest.Server
	mu        sync.Mutex
	n         int
	status    func(n int) int
	gate      chan struct{}
	delivered []Request
}

// Request is what the receiver got.
type Request struct {
	Path string
	Body string
}

// NewWebhook starts a receiver, closed at the end of the test.
func NewWebhook(t testing.TB, status func(n int) int) *Webhook {
	w := &Webhook{status: status}
	w.Server = httptest.NewServer(http.HandlerFunc(w.serve))
	t.Cleanup(w.Close)
	return w
}

func (w *Webhook) serve(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.mu.Lock()
	w.n++
	n, gate := w.n, w.gate
	w.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	code := http.StatusOK
	w.mu.Lock()
	if w.status != nil {
		code = w.status(n)
	}
	if code/100 == 2 {
		w.delivered = append(w.delivered, Request{Path: r.URL.Path, Body: string(body)})
	}
	w.mu.Unlock()
	rw.WriteHeader(code)
}

// SetStatus replaces the status function.
func (w *Webhook) SetStatus(f func(n int) int) {
	w.mu.Lock()
	w.status = f
	w.mu.Unlock()
}

// Hold makes requests wait until release is called (idempotent).
func (w *Webhook) Hold() (release func()) {
	g := make(chan struct{})
	w.mu.Lock()
	w.gate = g
	w.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			w.mu.Lock()
			w.gate = nil
			w.mu.Unlock()
			close(g)
		})
	}
}

// Requests counts the requests received, answered or not.
func (w *Webhook) Requests() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// Delivered returns the requests answered with a 2xx, in order.
func (w *Webhook) Delivered() []Request {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Request(nil), w.delivered...)
}

// Bodies returns the bodies of Delivered.
func (w *Webhook) Bodies() []string {
	var out []string
	for _, r := range w.Delivered() {
		out = append(out, r.Body)
	}
	return out
}
