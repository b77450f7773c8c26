package nfs

import (
	"encoding/binary"
	"time"

	"github.com/zerofs-go/zerofsd/nfs/rpc"
)

// Observer receives one CallInfo per answered call (for metrics: calls by
// procedure and status, latency, bytes). It is called on the call's
// goroutine after the reply is built: it must be fast and safe for
// concurrent use.
type Observer interface {
	CallDone(CallInfo)
}

// CallInfo describes one answered call. A retransmission answered from
// the duplicate request cache is described as its first transmission was
// (export, status); records that get no reply (not a call, or a
// retransmission of a call still running) are not reported.
type CallInfo struct {
	// Export is the name of the export the call acted on ("" when it named
	// none: NULL, EXPORT, an unknown path or handle...).
	Export string
	// Program is ProgramNFS or ProgramMount (or what the client asked for).
	Program uint32
	// Proc is the procedure name ("GETATTR", "MNT", ...), or "" when the
	// call was refused before a procedure was chosen.
	Proc string
	// Accept is the RPC outcome: rpc.Success when the procedure ran.
	Accept rpc.AcceptStat
	// AuthFailed is set when the credential was refused (Accept is then meaningless).
	AuthFailed bool
	// RPCMismatch is set when the call was refused for its RPC version
	// (MSG_DENIED RPC_MISMATCH; Accept is then meaningless).
	RPCMismatch bool
	// Status is the nfsstat3 (or mountstat3 for MNT) the procedure answered;
	// 0 for procedures without a status (NULL, DUMP, EXPORT, UMNT...).
	Status uint32
	// Duration is the time from the call's arrival to its reply being built.
	Duration time.Duration
	// RequestBytes and ReplyBytes are the sizes of the call and reply records.
	RequestBytes, ReplyBytes int
}

// ServerStats is a snapshot of the server's load.
type ServerStats struct {
	Connections int
	// InFlight counts the calls being handled (at most MaxInFlight).
	InFlight int
	// QueuedReplies counts the replies built and not yet written or
	// dropped.
	QueuedReplies int
	// QueuedReplyBytes counts the bytes of the replies waiting to be
	// written on connections still served: past MaxQueuedReplyBytes, the
	// stalled connection holding the most is closed.
	QueuedReplyBytes int64
	// MaxQueuedReplyBytes is the bound on QueuedReplyBytes (see
	// ServerOptions.MaxInFlight).
	MaxQueuedReplyBytes int64
}

// Stats returns the current number of connections, calls in flight and
// replies waiting to be written.
func (s *Server) Stats() ServerStats {
	s.mu.Lock()
	n := len(s.conns)
	s.mu.Unlock()
	s.qmu.Lock()
	queuedBytes := s.queuedBytes
	s.qmu.Unlock()
	return ServerStats{Connections: n, InFlight: len(s.inflight), QueuedReplies: int(s.queuedReplies.Load()),
		QueuedReplyBytes: queuedBytes, MaxQueuedReplyBytes: s.maxQueuedBytes}
}

// resultStatus reads the status word at the start of a procedure's results.
func resultStatus(reply []byte, resultStart int) uint32 {
	if len(reply) < resultStart+4 {
		return 0
	}
	return binary.BigEndian.Uint32(reply[resultStart:])
}
