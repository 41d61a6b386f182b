package acquire_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/acquire"
)

// A wait on Listening ends when Run binds, when Run ends first (with its
// error), or when the caller's ctx ends; never only by ctx when Run has
// returned.
func TestListening(t *testing.T) {
	t.Parallel()
	bindFailed := errors.New("syslog: listen tcp 127.0.0.1:514: address already in use")
	cases := []struct {
		name    string
		run     func(l *acquire.Listening)
		ctxDone bool
		want    string // "" : nil
	}{
		{"bound", func(l *acquire.Listening) { l.Bound() }, false, ""},
		{"bound then ended", func(l *acquire.Listening) { l.Bound(); l.Ended(nil) }, false, ""},
		{"bound then failed", func(l *acquire.Listening) { l.Bound(); l.Ended(bindFailed) }, false, ""},
		{"failed before binding", func(l *acquire.Listening) { l.Ended(bindFailed) }, false, bindFailed.Error()},
		{"returned nil before binding", func(l *acquire.Listening) { l.Ended(nil) }, false, "acquire: the datasource stopped before its sockets were bound"},
		{"still binding, ctx done", func(*acquire.Listening) {}, true, context.Canceled.Error()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := acquire.NewListening()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			wctx, wcancel := context.WithCancel(ctx)
			defer wcancel()
			res := make(chan error, 1)
			go func() { res <- l.Wait(wctx) }() // waiting before Run's news
			go tc.run(l)
			if tc.ctxDone {
				wcancel()
			}
			check := func(err error, what string) {
				if tc.want == "" {
					require.NoError(t, err, what)
				} else {
					require.EqualError(t, err, tc.want, what)
				}
			}
			select {
			case err := <-res:
				check(err, "a Wait started before")
			case <-ctx.Done():
				t.Fatal("Wait did not return within 10 s")
			}
			if !tc.ctxDone {
				check(l.Wait(ctx), "a Wait started after")
			}
		})
	}
}
