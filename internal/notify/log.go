package notify

import (
	"context"
	"log/slog"
)

// levelHandler drops the records below min (a notification's log_level).
// It can only make a notification quieter than the daemon's handler.
type levelHandler struct {
	min slog.Level
	h   slog.Handler
}

func (l *levelHandler) Enabled(ctx context.Context, lvl slog.Level) bool {
	return lvl >= l.min && l.h.Enabled(ctx, lvl)
}

func (l *levelHandler) Handle(ctx context.Context, r slog.Record) error { return l.h.Handle(ctx, r) }

func (l *levelHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &levelHandler{min: l.min, h: l.h.WithAttrs(as)}
}

func (l *levelHandler) WithGroup(name string) slog.Handler {
	return &levelHandler{min: l.min, h: l.h.WithGroup(name)}
}
