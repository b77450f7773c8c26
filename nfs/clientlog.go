package nfs

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/zerofs-go/zerofsd/internal/ratelog"
)

// Bounds of the log lines a client can provoke without being allowed
// anything (see logClient), and of those of failing accepts.
const (
	// logInterval is how often one such line is written per client and
	// message (or at all, for failing accepts).
	logInterval = time.Minute
	// clientLogKeys is how many (client, message) pairs are remembered;
	// beyond it, the lines of the others share one allowance.
	clientLogKeys = 4096
)

// clientLogKey is what clientLog limits: one message about one client.
type clientLogKey struct {
	client netip.Addr
	msg    string
}

func newClientLog() *ratelog.Limiter[clientLogKey] {
	return ratelog.New[clientLogKey](logInterval, clientLogKeys, nil)
}

// logClient writes msg about client to log at level, at most once per
// client and message per logInterval, saying how many such lines it
// held back: any host can provoke these lines (a mount of an unknown path,
// a call on an export it may not use, an oversized record), and must not
// flood the log with them.
func (s *Server) logClient(ctx context.Context, log *slog.Logger, level slog.Level, client netip.Addr, msg string, args ...any) {
	s.clientLog.Log(ctx, log, level, clientLogKey{client, msg}, msg, args...)
}
