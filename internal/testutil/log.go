package testutil

import (
	"log/slog"
	"strings"
	"testing"
)

// LogWriter writes what it is given to the test log, one entry per Write
// (a daemon's log, a child process's output).
type LogWriter struct{ T testing.TB }

func (w LogWriter) Write(p []byte) (int, error) {
	w.T.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Logger is a text logger at info level writing to the test log.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(LogWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
