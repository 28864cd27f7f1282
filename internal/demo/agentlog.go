package demo

import (
	"context"
	"log/slog"
)

// agentLog is the demo's log for its agents: their "replaying" and
// "ready" lines go to debug, since the demo logs both for all of its
// agents, in order.
type agentLog struct{ slog.Handler }

func (h agentLog) Enabled(ctx context.Context, l slog.Level) bool {
	return l == slog.LevelInfo || h.Handler.Enabled(ctx, l) // Info may become Debug in Handle
}

func (h agentLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelInfo && (r.Message == "agent replaying revocations" || r.Message == "agent ready") {
		r.Level = slog.LevelDebug
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h agentLog) WithAttrs(as []slog.Attr) slog.Handler {
	return agentLog{h.Handler.WithAttrs(as)}
}

func (h agentLog) WithGroup(name string) slog.Handler {
	return agentLog{h.Handler.WithGroup(name)}
}
